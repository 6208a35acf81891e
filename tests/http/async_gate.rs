//! Async gates: the event stream with replay, and signed webhooks with retries.

use crate::support::TestApp;
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use axum::{extract::State, http::HeaderMap, routing::post, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn approve() -> DecisionInput {
    DecisionInput {
        approve: true,
        ..Default::default()
    }
}

/// Reads SSE events (id, data) from a response until `n` arrived.
async fn read_events(res: reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                events.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_live_and_replay_with_last_event_id() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("other").await;
    let approver = app.person("apu", Role::Approver).await;
    let gated = json!({ "session": "s", "tool": "deploy", "args": { "env": "production" } });

    // Decided before anyone listened: replay from 0 returns it.
    let first = app.propose_ok(&key, gated.clone()).await;
    let first_id = first["id"].as_str().unwrap().to_string();
    app.decide(&first_id, &approver, approve()).await.unwrap();
    // Another agent's call never shows up in this agent's stream.
    let theirs = app.propose_ok(&other, gated.clone()).await;
    app.decide(theirs["id"].as_str().unwrap(), &approver, approve())
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let res = client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let replayed = read_events(res, 1).await;
    assert_eq!(replayed[0].1["id"], first_id.as_str());
    assert_eq!(replayed[0].1["status"], "approved");
    // The approved call's view carries its receipt, for the agent to hand the tool server.
    let receipt = replayed[0].1["receipt"].as_str().expect("a receipt");
    assert_eq!(
        askfirst_sdk::receipt::unverified_claims(receipt)
            .unwrap()
            .sub,
        first_id
    );
    let first_event = replayed[0].0;

    // Live: a stream opened now receives the next decision.
    let live = client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let reader = tokio::spawn(read_events(live, 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = app.propose_ok(&key, gated.clone()).await;
    let second_id = second["id"].as_str().unwrap().to_string();
    app.decide(
        &second_id,
        &approver,
        DecisionInput {
            approve: false,
            feedback: Some("not today".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let got = reader.await.unwrap();
    assert_eq!(got[0].1["id"], second_id.as_str());
    assert_eq!(got[0].1["status"], "denied");
    assert!(got[0].1.get("receipt").is_none());
    assert!(got[0].0 > first_event);

    // Reconnecting with the first event's id replays only what came after it.
    let res = client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .header("last-event-id", first_event.to_string())
        .send()
        .await
        .unwrap();
    let replayed = read_events(res, 1).await;
    assert_eq!(replayed[0].1["id"], second_id.as_str());
    app.stop().await;
}

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    let mut hits = r.hits.lock().unwrap();
    hits.push((headers, body));
    if hits.len() == 1 {
        axum::http::StatusCode::SERVICE_UNAVAILABLE // the first delivery fails
    } else {
        axum::http::StatusCode::OK
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_recorded() {
    let app = TestApp::spawn().await;
    let (key, secret) = app.agent("bot").await;
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // The receiver is on 127.0.0.1: an admin allows its origin for the agent.
    app.allow_callbacks("bot", &url).await;

    let p = app
        .propose_ok(
            &key,
            json!({
                "session": "s", "tool": "deploy", "args": { "env": "production" },
                "checkpoint": { "step": 2, "plan": ["read", "deploy"] }, "callback_url": url
            }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    app.decide(&id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap();

    // The first attempt fails; once the retry is due (on the test clock) it is delivered.
    wait_until(|| !receiver.hits.lock().unwrap().is_empty()).await;
    app.clock.advance(chrono::Duration::seconds(2));
    wait_until(|| receiver.hits.lock().unwrap().len() >= 2).await;

    let (headers, body) = receiver.hits.lock().unwrap()[1].clone();
    let header_map: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signature = headers["askfirst-signature"].to_str().unwrap().to_string();
    assert!(signature.starts_with("t="), "{signature}");
    let now = app.now().timestamp();
    let view = crate::sdk_support::verify(&secret, &header_map, body.as_bytes(), now)
        .expect("the SDK accepts the signature");
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["status"], "approved");
    assert_eq!(
        view["checkpoint"],
        json!({ "step": 2, "plan": ["read", "deploy"] })
    );
    assert!(crate::sdk_support::verify("whsec_wrong", &header_map, body.as_bytes(), now).is_err());
    let mut tampered = body.clone().into_bytes();
    tampered[10] ^= 1;
    assert!(crate::sdk_support::verify(&secret, &header_map, &tampered, now).is_err());

    // The attempt is recorded just after the receiver answers it.
    let mut codes = Vec::new();
    for _ in 0..200 {
        let attempts = askfirst::store::webhooks::attempts_for_call(app.pool(), &id)
            .await
            .unwrap();
        codes = attempts.iter().map(|a| a.status_code).collect();
        if codes.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(codes, [Some(503), Some(200)]);
    server.abort();
    app.stop().await;
}

async fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met in 10 s");
}
