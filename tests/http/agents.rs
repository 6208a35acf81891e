//! Agents' keys and webhook secrets: rotation with a grace period on the injected clock,
//! webhooks signed with both secrets during it, callback origins, the CLI and the page's
//! server functions.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use axum::{routing::post, Router};
use chrono::Duration;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

async fn status_for(app: &TestApp, key: &str) -> u16 {
    app.propose(key, json!({ "session": "s", "tool": "read_x" }))
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_until_the_instant_its_grace_ends() {
    let app = TestApp::spawn().await;
    let (old, _) = app.agent("bot").await;
    assert_eq!(
        status_for(&app, &old).await,
        201,
        "cached before the rotation"
    );
    let rotated = app
        .gate()
        .rotate_key("bot", Duration::hours(1), "test")
        .await
        .unwrap();
    assert!(rotated.secret.starts_with("af_"));
    assert_eq!(status_for(&app, &rotated.secret).await, 201);
    assert_eq!(
        status_for(&app, &old).await,
        201,
        "both keys work during the grace"
    );
    app.clock
        .advance(Duration::hours(1) - Duration::milliseconds(1));
    assert_eq!(status_for(&app, &old).await, 201, "1 ms before the end");
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(status_for(&app, &old).await, 401, "at the instant it ends");
    assert_eq!(status_for(&app, &rotated.secret).await, 201);

    // Without a grace the old key stops at once, even where it was cached.
    let newer = app
        .gate()
        .rotate_key("bot", Duration::zero(), "test")
        .await
        .unwrap();
    assert_eq!(newer.previous_valid_until, None);
    assert_eq!(status_for(&app, &rotated.secret).await, 401);
    assert_eq!(status_for(&app, &newer.secret).await, 201);
    let err = app
        .gate()
        .rotate_key("bot", Duration::hours(25), "test")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    let kinds: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE kind LIKE 'agent.%' ORDER BY id"
    )
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(
        kinds,
        ["agent.created", "agent.key_rotated", "agent.key_rotated"]
    );
    app.stop().await;
}

/// A delivery as received: its signature header and body.
type Delivery = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<Delivery>>>);

async fn hook(
    axum::extract::State(hits): axum::extract::State<Hits>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> &'static str {
    let sig = headers["askfirst-signature"].to_str().unwrap().to_string();
    hits.0.lock().unwrap().push((sig, body.to_vec()));
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_with_both_secrets_during_the_grace() {
    let app = TestApp::spawn().await;
    let (key, old_secret) = app.agent("bot").await;
    let hits = Hits::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(hits.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // The receiver is on 127.0.0.1: an admin allows its origin for the agent.
    app.allow_callbacks("bot", &url).await;
    let new_secret = app
        .gate()
        .rotate_secret("bot", Duration::minutes(15), "test")
        .await
        .unwrap()
        .secret;

    let deliver = |n: usize| {
        let (app, key, url, hits) = (&app, key.clone(), url.clone(), hits.clone());
        async move {
            let p = app
                .propose_ok(&key, json!({ "session": "s", "tool": "deploy", "args": { "env": "production" }, "callback_url": url }))
                .await;
            let id = p["id"].as_str().unwrap().to_string();
            app.call_action(&key, &id, "cancel").await;
            for _ in 0..200 {
                if hits.0.lock().unwrap().len() >= n {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            hits.0.lock().unwrap()[n - 1].clone()
        }
    };
    let verify = |secret: &str, (sig, body): &(String, Vec<u8>), now: i64| {
        let headers = vec![("askfirst-signature".to_string(), sig.clone())];
        crate::sdk_support::verify(secret, &headers, body, now).is_ok()
    };
    let during = deliver(1).await;
    assert_eq!(during.0.matches("v1=").count(), 2, "{}", during.0);
    let now = app.now().timestamp();
    assert!(verify(&old_secret, &during, now) && verify(&new_secret, &during, now));

    app.clock.advance(Duration::minutes(15));
    let after = deliver(2).await;
    let now = app.now().timestamp();
    assert_eq!(after.0.matches("v1=").count(), 1);
    assert!(verify(&new_secret, &after, now) && !verify(&old_secret, &after, now));
    server.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_page_functions_and_the_cli_manage_agents() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let created: Value = app
        .rpc(&admin, "agent_create", &[("name", "web-bot")])
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(status_for(&app, &key).await, 201);
    app.running.state.gate.flush_last_seen().await.unwrap();

    let list: Value = app.rpc(&admin, "agents", &[]).await.json().await.unwrap();
    let bot = &list[0];
    assert_eq!(bot["name"], "web-bot");
    assert!(bot.get("key").is_none());
    assert!(bot["last_seen"].is_string(), "{bot}");
    assert_eq!(bot["last_24h"], json!([["allowed", 1]]));

    let (status, _, message) = error_of(
        app.rpc(
            &admin,
            "agent_callbacks",
            &[
                ("name", "web-bot"),
                ("origins", "https://hooks.example.com/path"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(message.contains("not an origin"), "{message}");
    let set: Value = app
        .rpc(
            &admin,
            "agent_callbacks",
            &[
                ("name", "web-bot"),
                (
                    "origins",
                    "https://Hooks.example.com:8443\nhttp://10.0.0.5:9000\n",
                ),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        set,
        json!(["https://hooks.example.com:8443", "http://10.0.0.5:9000"])
    );

    let rotated: Value = app
        .rpc(
            &admin,
            "agent_rotate_key",
            &[("name", "web-bot"), ("grace", "0")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status_for(&app, &key).await, 401);
    assert_eq!(
        status_for(&app, rotated["secret"].as_str().unwrap()).await,
        201
    );
    let (status, _, _) = error_of(
        app.rpc(
            &admin,
            "agent_rotate_key",
            &[("name", "web-bot"), ("grace", "2d")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    app.rpc(
        &admin,
        "agent_enabled",
        &[("name", "web-bot"), ("enabled", "false")],
    )
    .await;
    assert_eq!(
        status_for(&app, rotated["secret"].as_str().unwrap()).await,
        401
    );

    // The CLI, against the same database.
    let cli = |args: &[&str]| {
        let mut full = vec!["--db".to_string(), app.db.clone()];
        full.extend(args.iter().map(|s| s.to_string()));
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
                .args(full)
                .output()
                .await
                .unwrap()
        }
    };
    let out = cli(&["agent", "enable", "web-bot"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["agent", "rotate-key", "web-bot", "--grace", "1h", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["secret"].as_str().unwrap().starts_with("af_"));
    assert!(r["previous_valid_until"].is_string());
    let out = cli(&[
        "agent",
        "set-callbacks",
        "web-bot",
        "https://a.example",
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["agent", "show", "web-bot", "--json"]).await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["callback_origins"], json!(["https://a.example"]));
    assert!(shown["previous_key_until"].is_string());
    assert_eq!(shown["disabled"], false);
    let out = cli(&["agent", "rotate-secret", "web-bot", "--grace", "25h"]).await;
    assert!(!out.status.success());
    app.stop().await;
}

/// A plain form (no JavaScript) that makes a secret: the page it comes back to shows the
/// secret once — never in the URL — and only to the session that made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_by_a_plain_form_is_shown_once_on_the_page_it_comes_back_to() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let other_admin = app.signed_in("bea", Role::Admin).await;
    let res = admin
        .post(app.url("/rpc/agent_create"))
        .header("accept", "text/html")
        .header("referer", app.url("/agents"))
        .form(&[("name", "plain-bot")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/agents?done=agent_create");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("askfirst_once="))
        .expect("the secret travels in a cookie for the page");
    assert!(
        cookie.contains("Path=/agents") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("af_"),
        "sealed, not in the clear: {cookie}"
    );

    // Another admin's session cannot open it, even with the cookie copied over.
    let sealed = cookie.split(';').next().unwrap().to_string();
    let copied = other_admin
        .get(app.url(&location))
        .header("accept", "text/html")
        .header("cookie", &sealed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!copied.contains("af_"), "another session sees no key");

    let page = app.page(&admin, &location).await;
    assert_eq!(
        page.headers()["cache-control"],
        "no-store",
        "kept in no cache"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Created plain-bot."), "{html}");
    let key = html
        .split("value=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|v| v.starts_with("af_"))
        .expect("the key on the page")
        .to_string();
    assert_eq!(status_for(&app, &key).await, 201, "it is the agent's key");
    // Shown once: the page cleared the cookie.
    let again = app.page(&admin, "/agents").await.text().await.unwrap();
    assert!(!again.contains(&key));

    // Replayed later (a copy of the cookie), the server itself refuses it.
    let res = admin
        .post(app.url("/rpc/agent_create"))
        .header("accept", "text/html")
        .header("referer", app.url("/agents"))
        .form(&[("name", "late-bot")])
        .send()
        .await
        .unwrap();
    let sealed = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("askfirst_once="))
        .unwrap();
    let sealed = sealed.split(';').next().unwrap().to_string();
    app.clock.advance(Duration::minutes(3));
    let late = admin
        .get(app.url("/agents"))
        .header("accept", "text/html")
        .header("cookie", &sealed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!late.contains("Created late-bot."), "too old to be shown");

    // A script calling the server function has the key in its answer: no cookie.
    let res = app
        .rpc(&admin, "agent_create", &[("name", "script-bot")])
        .await;
    assert!(res
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("askfirst_once=")));
    app.stop().await;
}

/// A plain form that worked comes back to its page with `done=<server function>`; one
/// that failed with the error, and neither carries over to the next form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_comes_back_saying_what_it_did() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    app.agent("bot").await;
    let post = |name: &'static str, referer: String, form: Vec<(&'static str, &'static str)>| {
        let admin = admin.clone();
        let url = app.url(&format!("/rpc/{name}"));
        async move {
            let res = admin
                .post(url)
                .header("accept", "text/html")
                .header("referer", referer)
                .form(&form)
                .send()
                .await
                .unwrap();
            res.headers()["location"].to_str().unwrap().to_string()
        }
    };
    let failed = post(
        "agent_enabled",
        app.url("/agents?done=agent_receipts"),
        vec![("name", "no-such-bot"), ("enabled", "false")],
    )
    .await;
    assert!(
        failed.starts_with("/agents?") && failed.contains("__err=") && !failed.contains("done="),
        "{failed}"
    );
    let page = app.page(&admin, &failed).await.text().await.unwrap();
    assert!(page.contains("role=\"alert\""), "the error is shown");
    let worked = post(
        "agent_enabled",
        app.url(&failed),
        vec![("name", "bot"), ("enabled", "false")],
    )
    .await;
    assert_eq!(worked, "/agents?done=agent_enabled");
    let page = app.page(&admin, &worked).await.text().await.unwrap();
    assert!(page.contains("Saved."), "{page}");
    assert!(
        !page.contains("role=\"alert\""),
        "the earlier error is gone"
    );
    app.stop().await;
}
