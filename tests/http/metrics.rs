//! `GET /metrics`: what it serves parses as OpenMetrics with the official Prometheus client's
//! parser, its counters and gauges move as calls are proposed, waited on and decided (also
//! by the CLI, from another process), and with a token configured only that token gets in.
//!
//! The parse is done by the official Python client (`tests/prometheus/parse_metrics.py`,
//! pinned in `tests/prometheus/requirements.txt`, installed by `scripts/setup.sh --test`):
//! it is what the Prometheus project maintains, and its OpenMetrics parser is strict, where
//! the Rust parser crates are small, lenient and thinly maintained.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "a-metrics-token-of-some-length";

#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// One parsed scrape.
struct Scrape(Vec<Family>);

impl Scrape {
    /// The value of the sample named `name` with exactly these labels, if present.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// [`Scrape::get`], absent counting as zero.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    fn kind(&self, family: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|f| f.name == family)
            .map(|f| f.kind.as_str())
    }
}

/// The Python holding the pinned Prometheus client.
fn python() -> PathBuf {
    let venv = std::env::var_os("ASKFIRST_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/askfirst-test-venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python with the pinned Prometheus client at {}: run scripts/setup.sh --test",
        python.display()
    );
    python
}

/// Parses an exposition with the official client; panics with the parser's message if it
/// does not parse.
async fn parse(text: &str) -> Scrape {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/prometheus/parse_metrics.py"
    );
    let out = tokio::process::Command::new(python())
        .arg(script)
        .arg(&file)
        .output()
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Scrape(serde_json::from_slice(&out.stdout).expect("the script prints JSON"))
}

/// `GET /metrics` (with the token, when given), asserting `200` and OpenMetrics.
async fn scrape(app: &TestApp, token: Option<&str>) -> Scrape {
    let mut req = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        kind.starts_with("application/openmetrics-text; version=1.0.0"),
        "{kind}"
    );
    parse(&res.text().await.unwrap()).await
}

/// Scrapes until `done` holds (the watcher and the pending count's cache lag a little).
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let start = Instant::now();
    loop {
        let s = scrape(app, None).await;
        if done(&s) {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_with_proposals_and_decisions() {
    let app = TestApp::spawn().await; // the default policy
                                      // The CLI decides on the real clock: bring the server's clock to now.
    app.clock.advance(chrono::Utc::now() - app.now());
    let (key, _) = app.agent("bot").await;
    let approver = app.person("ada", Role::Approver).await;
    app.add_user("cleo", Role::Approver, "a long enough password")
        .await;

    // Every series with bounded labels is there from the start, at zero; proposals appear
    // per rule once a rule decides one.
    let before = scrape(&app, None).await;
    assert_eq!(before.kind("askfirst_calls_proposed"), None);
    for outcome in ["approved", "denied", "expired", "cancelled"] {
        let labels = [("outcome", outcome)];
        assert_eq!(
            before.get("askfirst_calls_decided_total", &labels),
            Some(0.0)
        );
    }
    for result in ["delivered", "retrying", "failed", "refused"] {
        let labels = [("result", result)];
        assert_eq!(
            before.get("askfirst_webhook_deliveries_total", &labels),
            Some(0.0)
        );
    }
    for (family, kind) in [
        ("askfirst_calls_decided", "counter"),
        ("askfirst_calls_pending", "gauge"),
        ("askfirst_decision_seconds", "histogram"),
        ("askfirst_gate_check_seconds", "histogram"),
        ("askfirst_long_polls_open", "gauge"),
        ("askfirst_event_streams_open", "gauge"),
        ("askfirst_webhook_deliveries", "counter"),
        ("askfirst_notification_deliveries", "counter"),
        ("askfirst_writer_batch_size", "histogram"),
        ("askfirst_writer_commit_seconds", "histogram"),
        ("askfirst_build", "info"),
        ("askfirst_process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(before.kind(family), Some(kind), "{family}");
    }
    assert_eq!(before.value("askfirst_gate_check_seconds_count", &[]), 0.0);
    assert_eq!(before.value("askfirst_calls_pending", &[]), 0.0);

    // One allowed call and three gated ones; the last one's webhook will be refused
    // (`localhost` resolves inside the network).
    let allowed = app
        .propose_ok(&key, json!({ "session": "s", "tool": "read_logs" }))
        .await;
    assert_eq!(allowed["status"], "allowed");
    let gated = json!({ "session": "s", "tool": "deploy", "args": { "env": "production" } });
    let mut ids = Vec::new();
    let mut gate_rule = String::new();
    for callback in [None, None, Some("http://localhost:9/hook")] {
        let mut body = gated.clone();
        if let Some(url) = callback {
            body["callback_url"] = json!(url);
        }
        let p = app.propose_ok(&key, body).await;
        assert_eq!(p["status"], "pending");
        gate_rule = p["rule"].as_str().expect("a rule gated it").to_string();
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    let allow_rule = allowed["rule"].as_str().unwrap_or("(default)").to_string();

    // A long-poll and an event stream are open while the calls wait.
    let poll = app.long_poll(&key, &ids[0], 30);
    let stream = reqwest::Client::new()
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let waiting = scrape_until(&app, "a long-poll and three pending calls", |s| {
        s.value("askfirst_long_polls_open", &[]) == 1.0
            && s.value("askfirst_calls_pending", &[]) == 3.0
    })
    .await;
    assert_eq!(waiting.value("askfirst_event_streams_open", &[]), 1.0);
    assert_eq!(waiting.kind("askfirst_calls_proposed"), Some("counter"));
    assert_eq!(
        waiting.value(
            "askfirst_calls_proposed_total",
            &[("outcome", "allowed"), ("rule", &allow_rule)]
        ),
        1.0
    );
    assert_eq!(
        waiting.value(
            "askfirst_calls_proposed_total",
            &[("outcome", "pending"), ("rule", &gate_rule)]
        ),
        3.0
    );
    assert_eq!(waiting.value("askfirst_gate_check_seconds_count", &[]), 4.0);
    assert!(waiting.value("askfirst_writer_batch_size_count", &[]) >= 1.0);
    assert!(waiting.value("askfirst_writer_commit_seconds_count", &[]) >= 1.0);

    // 40 s later a person approves the first; the CLI (another process) denies the second;
    // the agent withdraws the third.
    app.clock.advance(chrono::Duration::seconds(40));
    app.decide(
        &ids[0],
        &approver,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .expect("approved");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .env("ASKFIRST_PASSWORD", "a long enough password")
        .args(["--db", app.db.as_str(), "calls", "deny", &ids[1]])
        .args(["--user", "cleo", "--feedback", "not today"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.call_action(&key, &ids[2], "cancel").await.status(), 200);
    let (view, _) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the long-poll answered")
        .unwrap();
    assert_eq!(view["status"], "approved");

    let after = scrape_until(
        &app,
        "three decisions, a refused webhook, nothing pending",
        |s| {
            s.value("askfirst_calls_decided_total", &[("outcome", "denied")]) == 1.0
                && s.value("askfirst_calls_decided_total", &[("outcome", "cancelled")]) == 1.0
                && s.value(
                    "askfirst_webhook_deliveries_total",
                    &[("result", "refused")],
                ) == 1.0
                && s.value("askfirst_calls_pending", &[]) == 0.0
                && s.value("askfirst_long_polls_open", &[]) == 0.0
        },
    )
    .await;
    assert_eq!(
        after.value("askfirst_calls_decided_total", &[("outcome", "approved")]),
        1.0
    );
    let approved = [("outcome", "approved")];
    assert_eq!(
        after.value("askfirst_decision_seconds_count", &approved),
        1.0
    );
    let waited = after.value("askfirst_decision_seconds_sum", &approved);
    assert!((40.0..45.0).contains(&waited), "{waited}");
    assert_eq!(
        after.value("askfirst_decision_seconds_count", &[("outcome", "denied")]),
        1.0
    );
    assert_eq!(
        after.get(
            "askfirst_decision_seconds_count",
            &[("outcome", "cancelled")]
        ),
        None,
        "a withdrawal is no decision"
    );
    assert_eq!(
        after.value(
            "askfirst_calls_proposed_total",
            &[("outcome", "pending"), ("rule", &gate_rule)]
        ),
        3.0,
        "deciding proposes nothing"
    );
    // No label carries what an agent wrote.
    for family in &after.0 {
        for sample in &family.samples {
            for value in sample.labels.values() {
                assert!(
                    !["deploy", "read_logs", "s", "bot"].contains(&value.as_str())
                        && !ids.contains(value),
                    "{} has the label value {value:?}",
                    sample.name
                );
            }
        }
    }
    drop(stream);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_only_the_token_gets_in() {
    let app = TestApp::spawn_with(|s| s.metrics_token = Some(TOKEN.into())).await;
    let (key, _) = app.agent("bot").await;
    let admin = app.signed_in("root", Role::Admin).await;

    let cases: [(&str, reqwest::RequestBuilder); 5] = [
        ("nobody", reqwest::Client::new().get(app.url("/metrics"))),
        (
            "an agent key",
            reqwest::Client::new()
                .get(app.url("/metrics"))
                .bearer_auth(&key),
        ),
        ("a signed-in admin", admin.get(app.url("/metrics"))),
        (
            "a wrong token",
            reqwest::Client::new()
                .get(app.url("/metrics"))
                .bearer_auth("a-metrics-token-of-some-lengtH"),
        ),
        (
            "the token as a query",
            reqwest::Client::new().get(app.url(&format!("/metrics?token={TOKEN}"))),
        ),
    ];
    for (who, req) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer realm=\"metrics\""),
            "{who}"
        );
        let (status, code, _) = error_of(res).await;
        assert_eq!((status, code.as_str()), (401, "unauthenticated"), "{who}");
    }
    let s = scrape(&app, Some(TOKEN)).await;
    assert_eq!(s.kind("askfirst_calls_decided"), Some("counter"));
    app.stop().await;
}
