//! Notifications end to end: a Slack-shaped receiver on 127.0.0.1 gets the Block Kit
//! summary of a gated call and its reminder at the right time on the injected clock; a
//! failing receiver is retried with backoff and the failures are in the delivery log; a
//! decided call is not reminded; arguments reach private channels only; secrets never come
//! back in full; an SMTP sink (Python's aiosmtpd) receives the mail.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use axum::{extract::State, http::HeaderMap, routing::post, Router};
use chrono::Duration;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What a receiver saw: each request's headers and JSON body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Value, String)>>>);

impl Seen {
    fn bodies(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b, _)| b.clone())
            .collect()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A receiver on 127.0.0.1 answering every POST with `status`; its URL and what it saw.
async fn receiver(status: u16) -> (String, Seen) {
    let seen = Seen::default();
    let app =
        Router::new()
            .route(
                "/hook/{*rest}",
                post(
                    |State((seen, status)): State<(Seen, u16)>,
                     headers: HeaderMap,
                     body: String| async move {
                        let value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        seen.0.lock().unwrap().push((headers, value, body));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state((seen.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// Waits (real time, at most 10 s) until `seen` holds `n` requests.
async fn wait_for(seen: &Seen, n: usize) {
    for _ in 0..200 {
        if seen.len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} requests, got {}: {:?}",
        seen.len(),
        seen.bodies()
    );
}

/// Gives the dispatcher time to act (it looks every 50 ms in tests).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
}

/// A server gating `deploy*` with a 10-minute deadline, an agent, and a signed-in admin
/// who allowed `origin` as a destination.
async fn setup(origin: &str) -> (TestApp, String, reqwest::Client) {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("deploy-bot").await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "gate-prod", "match": { "tool": "deploy*" },
              "effect": { "kind": "gate", "deadline_secs": 600 } }
        ]
    }))
    .await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let res = app
        .rpc(
            &admin,
            "notify_settings",
            &[("reminder_percent", "20"), ("allowed_origins", origin)],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    (app, key, admin)
}

async fn add_slack(app: &TestApp, admin: &reqwest::Client, name: &str, url: &str, private: bool) {
    let mut form = vec![("name", name), ("kind", "slack"), ("url", url)];
    if private {
        form.push(("private", "on"));
    }
    let res = app.rpc(admin, "notify_channel_add", &form).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let res = app
        .rpc(
            admin,
            "notify_route_add",
            &[("channel", name), ("rule", "gate-*")],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
}

async fn page(app: &TestApp, admin: &reqwest::Client) -> Value {
    let res = app.rpc(admin, "notifications", &[]).await;
    assert!(res.status().is_success());
    res.json().await.unwrap()
}

fn texts(message: &Value) -> String {
    message["blocks"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_the_summary_then_the_reminder_when_a_fifth_of_the_time_is_left() {
    let (base, seen) = receiver(200).await;
    let (app, key, admin) = setup(&base).await;
    add_slack(
        &app,
        &admin,
        "ops",
        &format!("{base}/hook/T0/B0/secretsecretsecretwxyz"),
        false,
    )
    .await;

    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy_service", "args": { "env": "production", "token": "tok-123" },
                    "reason": "ship <!channel> fix\u{202E}", "risk": ["production"] }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    wait_for(&seen, 1).await;
    let first = &seen.bodies()[0];
    let blocks = texts(first);
    assert_eq!(
        first["blocks"][0]["text"]["text"],
        "Approval needed: deploy-bot wants to Deploy service"
    );
    for part in [
        "Agent: deploy-bot",
        "Risk: Production",
        "Time left: 10:00 left",
        "Rule: gate-prod",
    ] {
        assert!(blocks.contains(part), "{part} in {blocks}");
    }
    assert!(blocks.contains("Reason: ship <!channel> fix"), "{blocks}");
    assert!(!blocks.contains('\u{202E}'));
    let fallback = first["text"].as_str().unwrap();
    assert!(
        fallback.contains("&lt;") || !fallback.contains("<!channel>"),
        "{fallback}"
    );
    let link = format!("{}/calls/{id}", app.base);
    assert!(blocks.contains(&link), "{blocks}");
    assert!(!first.to_string().contains("tok-123"), "arguments stay out");

    // 20 % of ten minutes is left at 8:00: nothing at 7:59, the reminder at 8:00.
    app.clock.advance(Duration::seconds(479));
    settle().await;
    assert_eq!(seen.len(), 1, "{:?}", seen.bodies());
    app.clock.advance(Duration::seconds(1));
    wait_for(&seen, 2).await;
    let reminder = &seen.bodies()[1];
    assert_eq!(
        reminder["blocks"][0]["text"]["text"],
        "Reminder, 2:00 left: deploy-bot wants to Deploy service"
    );
    // Nobody is told twice.
    app.clock.advance(Duration::seconds(60));
    settle().await;
    assert_eq!(seen.len(), 2);
    let log = page(&app, &admin).await;
    let states: Vec<(String, String)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().into(),
                d["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("reminder".into(), "delivered".into()),
            ("gated".into(), "delivered".into())
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_backoff_and_logged() {
    let (base, seen) = receiver(500).await;
    let (app, key, admin) = setup(&base).await;
    add_slack(
        &app,
        &admin,
        "flaky",
        &format!("{base}/hook/x/y/zzzzzzzzzzzzzzzzzzzzzz"),
        false,
    )
    .await;
    app.propose_ok(
        &key,
        json!({ "session": "s", "tool": "deploy", "args": {} }),
    )
    .await;
    wait_for(&seen, 1).await;
    // The test servers retry after 200 ms, 400 ms, 800 ms on the injected clock, 4 attempts.
    // Each retry is scheduled from the clock when the failure is recorded, so the clock
    // moves on only once it has been (not merely once the receiver saw the request).
    let recorded = |n: i64| {
        let app = &app;
        async move {
            for _ in 0..200 {
                let attempts: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
                    "SELECT COUNT(*) FROM notify_attempts"
                )
                .fetch_one(cn)
                .await)
                .unwrap();
                if attempts >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("attempt {n} was never recorded");
        }
    };
    recorded(1).await;
    settle().await;
    assert_eq!(seen.len(), 1, "no retry before its time");
    for n in 2..=4 {
        app.clock.advance(Duration::seconds(1));
        wait_for(&seen, n).await;
        recorded(n as i64).await;
    }
    app.clock.advance(Duration::seconds(5));
    settle().await;
    assert_eq!(seen.len(), 4, "given up after the last attempt");
    let log = page(&app, &admin).await;
    let gated = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "gated")
        .unwrap()
        .clone();
    assert_eq!(gated["state"], "failed");
    assert_eq!(gated["attempts"], 4);
    assert_eq!(gated["last_result"], "receiver answered 500");
    let attempts = app
        .count(
            "SELECT COUNT(*) FROM notify_attempts WHERE status_code = CAST($1 AS INTEGER)",
            "500",
        )
        .await;
    assert_eq!(attempts, 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decided_call_is_not_reminded() {
    let (base, seen) = receiver(200).await;
    let (app, key, admin) = setup(&base).await;
    add_slack(
        &app,
        &admin,
        "ops",
        &format!("{base}/hook/a/b/cccccccccccccccccccccc"),
        false,
    )
    .await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    wait_for(&seen, 1).await;
    let bo = app.person("bo", Role::Approver).await;
    app.decide(
        id,
        &bo,
        askfirst::gate::decide::DecisionInput {
            approve: false,
            feedback: Some("no".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.clock.advance(Duration::seconds(500));
    settle().await;
    assert_eq!(seen.len(), 1, "{:?}", seen.bodies());
    let log = page(&app, &admin).await;
    let reminder = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "reminder")
        .unwrap()
        .clone();
    assert_eq!(reminder["state"], "skipped");
    assert!(
        reminder["last_result"].as_str().unwrap().contains("denied"),
        "{reminder}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_reach_private_channels_only_and_secrets_never_come_back() {
    let (base, seen) = receiver(200).await;
    let (app, key, admin) = setup(&base).await;
    let open_url = format!("{base}/hook/open/B/OPENSECRETTOKEN0001");
    let private_url = format!("{base}/hook/private/B/PRIVSECRETTOKEN0002");
    add_slack(&app, &admin, "open", &open_url, false).await;
    add_slack(&app, &admin, "private", &private_url, true).await;
    app.propose_ok(
        &key,
        json!({ "session": "s", "tool": "deploy", "args": { "db_password": "hunter2-value" } }),
    )
    .await;
    wait_for(&seen, 2).await;
    let requests: Vec<(String, String)> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body, _)| (body["blocks"].to_string(), body.to_string()))
        .collect();
    let (private, open): (Vec<_>, Vec<_>) = requests
        .iter()
        .partition(|(_, b)| b.contains("hunter2-value"));
    assert_eq!((private.len(), open.len()), (1, 1), "{requests:?}");
    assert!(private[0].0.contains("Arguments:"));

    // The page, the audit log and the database never hold the URLs' secret parts.
    let shown = page(&app, &admin).await.to_string();
    assert!(
        shown.contains("••••0001") && shown.contains("••••0002"),
        "{shown}"
    );
    for secret in ["OPENSECRETTOKEN", "PRIVSECRETTOKEN"] {
        assert!(!shown.contains(secret), "{shown}");
        let stored = app
            .count(
                "SELECT COUNT(*) FROM notify_channels WHERE secret || config LIKE '%' || $1 || '%'",
                secret,
            )
            .await;
        assert_eq!(stored, 0, "{secret} stored in clear");
        let audited = app
            .count(
                "SELECT COUNT(*) FROM audit_events WHERE detail LIKE '%' || $1 || '%'",
                secret,
            )
            .await;
        assert_eq!(audited, 0, "{secret} in the audit log");
    }
    let added = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = $1",
            "notify.channel.added",
        )
        .await;
    assert_eq!(added, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_inside_the_network_need_allowing_and_bad_input_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, u16, &str); 5] = [
        (
            &[
                ("name", "a"),
                ("kind", "slack"),
                ("url", "http://127.0.0.1:9/hook"),
            ],
            422,
            "inside the network",
        ),
        (
            &[
                ("name", "a"),
                ("kind", "slack"),
                ("url", "http://169.254.169.254/x"),
            ],
            422,
            "inside the network",
        ),
        (
            &[("name", "a"), ("kind", "sms"), ("url", "x")],
            422,
            "unknown channel kind",
        ),
        (
            &[("name", "a b"), ("kind", "slack"), ("url", "https://h/x")],
            422,
            "channel name",
        ),
        (
            &[
                ("name", "m"),
                ("kind", "email"),
                ("smtp_host", "10.0.0.5"),
                ("mail_from", "a@b.c"),
                ("mail_to", "d@e.f"),
                ("smtp_tls", "none"),
            ],
            422,
            "inside the network",
        ),
    ];
    for (form, status, part) in cases {
        let res = app.rpc(&admin, "notify_channel_add", form).await;
        let (got, _, message) = error_of(res).await;
        assert_eq!(got, status, "{form:?}: {message}");
        assert!(message.contains(part), "{form:?}: {message}");
    }
    let ok = app
        .rpc(
            &admin,
            "notify_channel_add",
            &[
                ("name", "env"),
                ("kind", "slack"),
                ("url", "env:SLACK_HOOK"),
            ],
        )
        .await;
    assert!(ok.status().is_success());
    let dup = app
        .rpc(
            &admin,
            "notify_channel_add",
            &[
                ("name", "env"),
                ("kind", "slack"),
                ("url", "env:SLACK_HOOK"),
            ],
        )
        .await;
    assert_eq!(error_of(dup).await.0, 409);
    let route = app
        .rpc(
            &admin,
            "notify_route_add",
            &[("channel", "env"), ("risk", "scary")],
        )
        .await;
    assert_eq!(error_of(route).await.0, 422);
    let approver = app.signed_in("al", Role::Approver).await;
    let refused = app
        .rpc(
            &approver,
            "notify_channel_add",
            &[("name", "x"), ("kind", "slack"), ("url", "https://h/x")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_channel_verifies_with_the_sdk() {
    let (base, seen) = receiver(200).await;
    let (app, key, admin) = setup(&base).await;
    let res = app
        .rpc(
            &admin,
            "notify_channel_add",
            &[
                ("name", "hook"),
                ("kind", "webhook"),
                ("url", &format!("{base}/hook/generic")),
            ],
        )
        .await;
    let secret: Option<String> = res.json().await.unwrap();
    let secret = secret.expect("a signing secret, shown once");
    app.rpc(&admin, "notify_route_add", &[("channel", "hook")])
        .await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": {} }),
        )
        .await;
    wait_for(&seen, 1).await;
    let (headers, body, raw) = seen.0.lock().unwrap()[0].clone();
    let signature = headers["askfirst-signature"].to_str().unwrap();
    let raw = raw.into_bytes();
    let t: i64 = signature.split(',').next().unwrap()[2..].parse().unwrap();
    assert_eq!(
        signature,
        askfirst::gate::webhooks::signature(&secret, t, &raw)
    );
    assert_eq!(body["event"], "notification.gated");
    assert_eq!(body["call"]["id"], p["id"]);
    assert!(!page(&app, &admin).await.to_string().contains(&secret));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installable_shell_is_served() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let manifest: Value = client
        .get(app.url("/manifest.webmanifest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["start_url"], "/inbox");
    assert_eq!(manifest["display"], "standalone");
    let sw = client.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(
        sw.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(sw.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));
    let text = sw.text().await.unwrap();
    assert!(text.contains("request.method !== \"GET\""));
    let login = app
        .page(&app.client(), "/login")
        .await
        .text()
        .await
        .unwrap();
    assert!(login.contains(r#"<link rel="manifest" href="/manifest.webmanifest""#));
    assert!(login.contains(r#"<script src="/register-sw.js" defer"#));
    app.stop().await;
}

/// The Python holding the pinned aiosmtpd (scripts/setup.sh --test installs it).
fn smtp_python() -> std::path::PathBuf {
    let venv = std::env::var_os("ASKFIRST_SMTP_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/askfirst-smtp-venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python with the pinned aiosmtpd at {}: run scripts/setup.sh --test",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_reaches_a_real_smtp_server() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut sink = tokio::process::Command::new(smtp_python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the SMTP sink starts");
    let mut lines = BufReader::new(sink.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("the sink is ready in time")
        .unwrap()
        .unwrap();
    let port = ready
        .strip_prefix("READY ")
        .expect("READY <port>")
        .to_string();
    let (app, key, admin) = setup(&format!("smtp://127.0.0.1:{port}")).await;
    let res = app
        .rpc(
            &admin,
            "notify_channel_add",
            &[
                ("name", "mail"),
                ("kind", "email"),
                ("smtp_host", "127.0.0.1"),
                ("smtp_port", &port),
                ("smtp_tls", "none"),
                ("mail_from", "askfirst@example.com"),
                ("mail_to", "ops@example.com, lead@example.com"),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    app.rpc(
        &admin,
        "notify_route_add",
        &[("channel", "mail"), ("risk", "production")],
    )
    .await;
    // Not routed: no production risk.
    app.propose_ok(
        &key,
        json!({ "session": "s", "tool": "deploy_docs", "args": {} }),
    )
    .await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy_api", "args": { "k": "v" }, "risk": ["production"],
                    "reason": "<b>urgent</b> & needed" }),
        )
        .await;
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .expect("a mail arrives")
        .unwrap()
        .unwrap();
    let mail: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(mail["from"], "askfirst@example.com");
    assert_eq!(mail["to"], json!(["ops@example.com", "lead@example.com"]));
    assert_eq!(
        mail["subject"],
        "[askfirst] Approval needed: deploy-bot wants to Deploy api"
    );
    let link = format!("{}/calls/{}", app.base, p["id"].as_str().unwrap());
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(&format!("Open the card: {link}")), "{text}");
    assert!(text.contains("Reason:    <b>urgent</b> & needed"), "{text}");
    assert!(text.contains("Time left: 10:00 left"), "{text}");
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;urgent&lt;/b&gt; &amp; needed"),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    // The reminder, by mail too.
    app.clock.advance(Duration::seconds(480));
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .expect("the reminder arrives")
        .unwrap()
        .unwrap();
    let reminder: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        reminder["subject"],
        "[askfirst] Reminder, 2:00 left: deploy-bot wants to Deploy api"
    );
    drop(sink.stdin.take());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sink.wait()).await;
    app.stop().await;
}

/// The audit log's head goes to every enabled channel once per period of the admin's
/// setting (on the injected clock), so that a copy lives outside the database: the id and
/// hash sent are the chain's newest event's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_head_is_published_to_channels_every_period() {
    let (base, seen) = receiver(200).await;
    let (app, key, admin) = setup(&base).await;
    // A channel without routes: no call reaches it, the head does.
    let res = app
        .rpc(
            &admin,
            "notify_channel_add",
            &[
                ("name", "heads"),
                ("kind", "webhook"),
                ("url", &format!("{base}/hook/heads")),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    settle().await;
    assert_eq!(seen.len(), 0, "nothing before the period changes");
    for bad in ["-1", "x", "100000"] {
        let res = app
            .rpc(
                &admin,
                "notify_settings",
                &[
                    ("allowed_origins", base.as_str()),
                    ("audit_head_minutes", bad),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "{bad}");
    }
    let res = app
        .rpc(
            &admin,
            "notify_settings",
            &[
                ("allowed_origins", base.as_str()),
                ("audit_head_minutes", "5"),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(
        page(&app, &admin).await["settings"]["audit_head_minutes"],
        5
    );

    let pool = app.pool().clone();
    let in_chain = |id: i64| {
        let pool = pool.clone();
        async move {
            askfirst::on!(&pool, |cn| sqlx::query_scalar::<_, String>(
                "SELECT hash FROM audit_events WHERE id = $1"
            )
            .bind(id)
            .fetch_one(cn)
            .await)
            .unwrap()
        }
    };
    // The new period publishes at once.
    wait_for(&seen, 1).await;
    let first = seen.bodies()[0].clone();
    assert_eq!(first["event"], "notification.audit_head", "{first}");
    let id = first["audit_head"]["id"].as_i64().unwrap();
    assert_eq!(first["audit_head"]["hash"], in_chain(id).await, "{first}");
    assert_eq!(
        first["audit_head"]["head"],
        format!("{id}:{}", in_chain(id).await)
    );

    // Within the period nothing more; the next period sends the newer head.
    app.propose_ok(&key, json!({ "session": "s", "tool": "read" }))
        .await;
    app.clock.advance(Duration::seconds(60));
    settle().await;
    assert_eq!(seen.len(), 1, "{:?}", seen.bodies());
    app.clock.advance(Duration::seconds(240));
    wait_for(&seen, 2).await;
    let second = seen.bodies()[1].clone();
    let newer = second["audit_head"]["id"].as_i64().unwrap();
    assert!(newer > id, "{second}");
    assert_eq!(second["audit_head"]["hash"], in_chain(newer).await);
    let log = page(&app, &admin).await["deliveries"].clone();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "audit_head" && d["call_id"].is_null()),
        "{log}"
    );

    // 0 turns it off.
    let res = app
        .rpc(
            &admin,
            "notify_settings",
            &[
                ("allowed_origins", base.as_str()),
                ("audit_head_minutes", "0"),
            ],
        )
        .await;
    assert!(res.status().is_success());
    app.clock.advance(Duration::seconds(600));
    settle().await;
    assert_eq!(seen.len(), 2);
    app.stop().await;
}
