//! Webhook callbacks cannot be aimed inside the network unless an admin allowed their
//! origin for that agent; one agent's receiver that never answers does not hold up another
//! agent's webhooks.

use crate::support::{error_of, TestApp};
use axum::{extract::State, routing::post, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pending call with `url` as its callback, cancelled at once so its webhook is due.
async fn cancelled_with_callback(app: &TestApp, key: &str, url: &str) -> String {
    let p = app
        .propose_ok(
            key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "production" }, "callback_url": url }),
        )
        .await;
    assert_eq!(p["status"], "pending");
    let id = p["id"].as_str().unwrap().to_string();
    app.call_action(key, &id, "cancel").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_internal_addresses_are_refused_at_proposal_unless_allowed() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("other").await;
    let cases = [
        ("http://127.0.0.1:9/hook", 422),
        ("http://10.0.0.1/hook", 422),
        ("http://169.254.169.254/latest/meta-data/", 422),
        ("http://100.64.1.1/h", 422),
        ("http://192.168.0.10:8080/h", 422),
        ("http://0.0.0.0:80/h", 422),
        ("http://8.8.8.8/hook", 201),
        ("https://hooks.example.com/x", 201),
    ];
    for (url, want) in cases {
        let res = app
            .propose(
                &key,
                json!({ "session": "s", "tool": "read_x", "callback_url": url }),
            )
            .await;
        assert_eq!(res.status().as_u16(), want, "{url}");
        if want == 422 {
            let (_, code, message) = error_of(res).await;
            assert_eq!(code, "invalid");
            assert!(message.contains("inside the network"), "{message}");
        }
    }
    // An admin allows one origin for one agent: that exact origin, for that agent only.
    app.allow_callbacks("bot", "http://127.0.0.1:9").await;
    let ok = |key: &str, url: &str| {
        let (app, key, url) = (&app, key.to_string(), url.to_string());
        async move {
            app.propose(
                &key,
                json!({ "session": "s", "tool": "read_x", "callback_url": url }),
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(ok(&key, "http://127.0.0.1:9/hook").await, 201);
    assert_eq!(ok(&key, "http://127.0.0.1:10/hook").await, 422);
    assert_eq!(ok(&other, "http://127.0.0.1:9/hook").await, 422);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_inside_is_refused_when_delivering_and_not_retried() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let hits = Arc::new(Mutex::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new()
        .route(
            "/hook",
            post(|State(h): State<Arc<Mutex<i32>>>| async move {
                *h.lock().unwrap() += 1;
                "ok"
            }),
        )
        .with_state(hits.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // `localhost` resolves to loopback: accepted at proposal (a name), refused on delivery.
    let url = format!("http://localhost:{port}/hook");
    let id = cancelled_with_callback(&app, &key, &url).await;
    let mut outcome = None;
    for _ in 0..100 {
        outcome = askfirst::on!(app.pool(), |cn| sqlx::query_as::<
            _,
            (i64, Option<i64>, Option<String>),
        >(
            "SELECT w.attempts, w.gave_up_at, a.error FROM webhooks w
             JOIN webhook_attempts a ON a.webhook_id = w.id WHERE w.call_id = $1",
        )
        .bind(&id)
        .fetch_optional(cn)
        .await)
        .unwrap();
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (attempts, gave_up, error) = outcome.expect("the attempt is recorded");
    assert_eq!(attempts, 1, "not retried");
    assert!(gave_up.is_some(), "given up at once");
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("inside the network"),
        "{error:?}"
    );
    assert_eq!(*hits.lock().unwrap(), 0, "nothing reached the receiver");

    // Allowed for this agent, the same name is delivered.
    app.allow_callbacks("bot", &url).await;
    cancelled_with_callback(&app, &key, &url).await;
    let start = Instant::now();
    while *hits.lock().unwrap() == 0 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*hits.lock().unwrap(), 1);
    server.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_delay_another_agents_webhooks() {
    let app = TestApp::spawn().await;
    let (slow_key, _) = app.agent("slow").await;
    let (fast_key, _) = app.agent("fast").await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            if let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        }
    });
    let arrived = Arc::new(Mutex::new(None::<Instant>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fast_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = Router::new()
        .route(
            "/hook",
            post(|State(a): State<Arc<Mutex<Option<Instant>>>>| async move {
                a.lock().unwrap().get_or_insert_with(Instant::now);
                "ok"
            }),
        )
        .with_state(arrived.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    app.allow_callbacks("slow", &silent_url).await;
    app.allow_callbacks("fast", &fast_url).await;

    for _ in 0..20 {
        cancelled_with_callback(&app, &slow_key, &silent_url).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await; // the slow ones are in flight
    let sent = Instant::now();
    cancelled_with_callback(&app, &fast_key, &fast_url).await;
    let mut waited = None;
    while sent.elapsed() < Duration::from_secs(5) {
        if let Some(at) = *arrived.lock().unwrap() {
            waited = Some(at - sent);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = waited.expect("the other agent's webhook arrived");
    assert!(
        waited < Duration::from_secs(1),
        "delivered after {waited:?} despite a silent receiver elsewhere"
    );
    held.abort();
    server.abort();
    app.stop().await;
}
