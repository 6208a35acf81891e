//! Bad input to the agent API gets the documented error JSON and status.

use crate::support::{error_of, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proposals_get_clear_errors() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let mib = "x".repeat(1024 * 1024);
    let cases = [
        ("missing tool", json!({ "session": "s" }), 422, "invalid"),
        ("missing session", json!({ "tool": "t" }), 422, "invalid"),
        (
            "wrong type",
            json!({ "session": "s", "tool": 5 }),
            422,
            "invalid",
        ),
        (
            "args not an object",
            json!({ "session": "s", "tool": "t", "args": "x" }),
            422,
            "invalid",
        ),
        (
            "unknown risk class",
            json!({ "session": "s", "tool": "t", "risk": ["spooky"] }),
            422,
            "invalid",
        ),
        (
            "unknown field",
            json!({ "session": "s", "tool": "t", "tools": [] }),
            422,
            "invalid",
        ),
        (
            "empty tool",
            json!({ "session": "s", "tool": "" }),
            422,
            "invalid",
        ),
        (
            "1 MiB args",
            json!({ "session": "s", "tool": "t", "args": { "blob": mib } }),
            413,
            "payload_too_large",
        ),
        (
            "bad callback",
            json!({ "session": "s", "tool": "t", "callback_url": "javascript:alert(1)" }),
            422,
            "invalid",
        ),
        (
            "callback with a password",
            json!({ "session": "s", "tool": "t", "callback_url": "http://u:secret@hooks.example/" }),
            422,
            "invalid",
        ),
        (
            "callback host outside the documented pattern",
            json!({ "session": "s", "tool": "t", "callback_url": "http://0.A*" }),
            422,
            "invalid",
        ),
    ];
    for (name, body, status, code) in cases {
        let got = error_of(app.propose(&key, body).await).await;
        assert_eq!((got.0, got.1.as_str()), (status, code), "{name}: {}", got.2);
    }
    let count: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(count, 0, "nothing was recorded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_missing_content_type_are_400() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let client = reqwest::Client::new();
    let res = client
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"session\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "bad_request");
    let res = client
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&key)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "bad_request");
    let res = client
        .post(app.url("/api/v1/calls/%FF/execute"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await.1,
        "bad_request",
        "an id that is not UTF-8"
    );
    let res = client
        .delete(app.url("/api/v1/calls"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(allow.as_deref(), Some("POST"));
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    for wait in ["soon", "61", "-1", "9223372036854775808"] {
        let res = client
            .get(app.url(&format!("/api/v1/calls/x?wait={wait}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "bad_request", "wait={wait}");
    }
    let res = client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "bad_request");
    let res = client
        .get(app.url("/api/v1/nope"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_and_disabled_agents_are_refused() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let body = json!({ "session": "s", "tool": "read_logs" });
    let client = reqwest::Client::new();
    let cases: [(Option<&str>, u16); 4] = [
        (None, 401),
        (Some("Bearer af_not-a-real-key"), 401),
        (Some("Basic dXNlcjpwYXNz"), 401),
        (Some(&format!("Bearer {key}")), 201),
    ];
    for (auth, status) in cases {
        let mut req = client.post(app.url("/api/v1/calls")).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{auth:?}");
        if status == 401 {
            assert_eq!(error_of(res).await.1, "unauthenticated");
        }
    }
    // A person's session is not an agent key.
    let browser = app.signed_in("ada", askfirst::domain::Role::Admin).await;
    let res = browser
        .post(app.url("/api/v1/calls"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    app.gate().disable_agent("bot", "test").await.unwrap();
    assert_eq!(app.propose(&key, body).await.status(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_operation() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/api/v1/calls", "post"),
        ("/api/v1/calls/{id}", "get"),
        ("/api/v1/calls/{id}/execute", "post"),
        ("/api/v1/calls/{id}/outcome", "post"),
        ("/api/v1/calls/{id}/cancel", "post"),
        ("/api/v1/events", "get"),
        ("/api/v1/bypasses", "get"),
        ("/api/v1/policy/preview", "post"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in [
        "ProposeRequest",
        "ProposeResponse",
        "CallView",
        "ExecuteResponse",
        "ExecuteRequest",
        "OutcomeRequest",
        "ErrorBody",
        "AgentBypass",
        "ApprovedBy",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    let page = reqwest::get(app.url("/api/v1/docs")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("POST /api/v1/calls/{id}/execute"));
    app.stop().await;
}
