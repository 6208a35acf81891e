//! Hostile input: deep nesting, invalid UTF-8, huge headers, slow clients. The server
//! answers each with a clear error (or closes the connection), records nothing, and keeps
//! serving everyone else.

use crate::support::{error_of, TestApp};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for "the server gave up on this client" (its limits are 1–2 s in tests);
/// only a server that never times out comes near it.
const PATIENCE: Duration = Duration::from_secs(30);

fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

async fn calls_recorded(app: &TestApp) -> i64 {
    askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls"
    )
    .fetch_one(cn)
    .await)
    .unwrap()
}

/// Sends raw bytes and reads until the server closes the connection (or `PATIENCE`).
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

async fn still_serving(app: &TestApp) {
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    // Deeper than the parser allows: malformed (400). Deeper than our limit: invalid (422).
    let cases = [
        (100_000, 400, "bad_request"),
        (200, 400, "bad_request"),
        (100, 422, "invalid"),
        (40, 422, "invalid"),
    ];
    for (levels, status, code) in cases {
        for field in ["args", "context"] {
            let body = format!(
                r#"{{"session":"s","tool":"t","{field}":{{"deep":{}}}}}"#,
                nested(levels)
            );
            let res = app.propose_raw(&key, body).await;
            let (got_status, got_code, message) = error_of(res).await;
            assert_eq!(
                (got_status, got_code.as_str()),
                (status, code),
                "{levels} levels in {field}: {message}"
            );
        }
    }
    // Within the limit it is accepted.
    let ok = app
        .propose(
            &key,
            json!({ "session": "s", "tool": "t", "args": { "deep": serde_json::from_str::<serde_json::Value>(&nested(20)).unwrap() } }),
        )
        .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(calls_recorded(&app).await, 1);
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_a_clear_400() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let client = reqwest::Client::new();
    let mut body = br#"{"session":"s","tool":"t","reason":""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#""}"#);
    let res = app.propose_raw(&key, body).await;
    assert_eq!(error_of(res).await.1, "bad_request");

    // In a header the server reads (the key), and in the path and query.
    let request = b"GET /api/v1/calls/\xff\xfe?wait=\xc3 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(&app, request).await;
    let status_line = answer.lines().next().unwrap_or_default().to_string();
    assert!(
        status_line.starts_with("HTTP/1.1 400") || status_line.starts_with("HTTP/1.1 401"),
        "{status_line}"
    );
    assert!(!answer.contains(" 500 "), "{answer}");
    let res = client
        .post(app.url("/api/v1/calls"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .json(&json!({ "session": "s", "tool": "t" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "unauthenticated");
    assert_eq!(calls_recorded(&app).await, 0);
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_are_refused() {
    let app = TestApp::spawn().await;
    // One enormous header: 431, and the connection is closed.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let answer = raw_exchange(&app, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{:.80}", answer);
    // Too many headers.
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw_exchange(&app, many.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{:.80}", answer);
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_are_served() {
    let app = TestApp::spawn_impatient(Duration::from_secs(1), Duration::from_secs(2)).await;
    let (key, _) = app.agent("bot").await;

    // Headers that never finish: the connection is closed (after the 1 s header timeout).
    let mut slow_headers = TcpStream::connect(app.running.addr).await.unwrap();
    slow_headers
        .write_all(b"POST /api/v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // A body that never finishes: 408 in our error format (after the 2 s body timeout).
    let mut slow_body = TcpStream::connect(app.running.addr).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /api/v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"session\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    // Meanwhile everyone else is served.
    let ok = app
        .propose(&key, json!({ "session": "s", "tool": "t" }))
        .await;
    assert_eq!(ok.status(), 201);

    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow_headers.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "a client stuck in its headers was never cut off"
    );

    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow_body.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "a client stuck in its body was never cut off");
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert_eq!(calls_recorded(&app).await, 1);
    app.stop().await;
}
