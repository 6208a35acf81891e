//! An honest record of execution: a call an agent starts with `report_outcome` (or
//! proposes with `run_if_allowed`) is `running` until the agent reports how it went —
//! `executed` when the tool returned a result (a success or its own error), `failed` when
//! it did not — and a run nobody reports on is recorded failed after a day.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use chrono::Duration;
use reqwest::Client;
use serde_json::{json, Value};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "deadline_secs": 600, "approval_ttl_secs": 600 } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    (app, key)
}

async fn post(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = Client::new().post(app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("request")
}

async fn outcome(app: &TestApp, key: &str, id: &str, body: Value) -> reqwest::Response {
    post(app, key, &format!("/api/v1/calls/{id}/outcome"), Some(body)).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_call_runs_at_once_and_is_executed_only_with_its_result() {
    let (app, key) = setup().await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read", "args": { "p": 1 }, "run_if_allowed": true }),
        )
        .await;
    assert_eq!(call["status"], "running");
    let id = id(&call);
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["status"], "running");
    assert!(view["executed_at"].is_string());
    assert!(view.get("outcome").is_none());
    // Running is not runnable again.
    let again = post(&app, &key, &format!("/api/v1/calls/{id}/execute"), None).await;
    assert_eq!(error_of(again).await.1, "already_executed");

    let res = outcome(
        &app,
        &key,
        &id,
        json!({ "result": "tool_error", "detail": "disk full" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        (&view["status"], &view["outcome"], &view["outcome_detail"]),
        (
            &json!("executed"),
            &json!("tool_error"),
            &json!("disk full")
        )
    );
    assert!(view["finished_at"].is_string());
    // Once.
    let twice = outcome(&app, &key, &id, json!({ "result": "succeeded" })).await;
    assert_eq!(error_of(twice).await, (409, "not_running".into(), "the call is executed, not running (an outcome is reported once, after `execute` with `report_outcome`)".into()));
    let events = app.audit_details("call.executed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["outcome"], "tool_error");
    // A `null` body is no body: executed at once, as the API document allows.
    let plain_null = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read", "args": { "n": 2 } }),
        )
        .await;
    let null_body = post(
        &app,
        &key,
        &format!(
            "/api/v1/calls/{}/execute",
            plain_null["id"].as_str().unwrap()
        ),
        Some(Value::Null),
    )
    .await;
    assert_eq!(null_body.status(), 200);
    assert_eq!(
        null_body.json::<Value>().await.unwrap()["status"],
        "executed"
    );
    // Without `run_if_allowed`: allowed, as before.
    let plain = app
        .propose_ok(&key, json!({ "session": "s", "tool": "read", "args": {} }))
        .await;
    assert_eq!(plain["status"], "allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_started_with_report_outcome_can_fail() {
    let (app, key) = setup().await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": { "svc": "api" }, "run_if_allowed": true }),
        )
        .await;
    // Gated calls wait as ever: `run_if_allowed` is about policy's allow only.
    assert_eq!(call["status"], "pending");
    let id = id(&call);
    let approver = app.person("apu", Role::Approver).await;
    app.decide(
        &id,
        &approver,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Not running yet: an outcome is refused.
    let early = outcome(&app, &key, &id, json!({ "result": "succeeded" })).await;
    assert_eq!(error_of(early).await.1, "not_running");

    let started = post(
        &app,
        &key,
        &format!("/api/v1/calls/{id}/execute"),
        Some(json!({ "report_outcome": true })),
    )
    .await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    assert_eq!(started["status"], "running");
    assert_eq!(started["args"], json!({ "svc": "api" }));

    let res = outcome(
        &app,
        &key,
        &id,
        json!({ "result": "failed", "detail": "  the upstream MCP server stopped  " }),
    )
    .await;
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        (&view["status"], &view["outcome"], &view["outcome_detail"]),
        (
            &json!("failed"),
            &json!("failed"),
            &json!("the upstream MCP server stopped")
        )
    );
    // The approval was used: it cannot run again.
    let rerun = post(&app, &key, &format!("/api/v1/calls/{id}/execute"), None).await;
    assert_eq!(error_of(rerun).await.1, "already_executed");
    let failed = app.audit_details("call.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.as_deref(), Some(id.as_str()));
    assert_eq!(
        failed[0].1,
        json!({ "outcome": "failed", "detail": "the upstream MCP server stopped" })
    );
    // The card says so.
    let viewer = app.signed_in("vera", Role::Viewer).await;
    let page = app
        .page(&viewer, &format!("/calls/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("failed without a result"), "{page}");
    assert!(page.contains("the upstream MCP server stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_input_is_checked_and_only_the_calls_agent_reports() {
    let (app, key) = setup().await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read", "args": {}, "run_if_allowed": true }),
        )
        .await;
    let id = id(&call);
    let cases = [
        (json!({}), 422),
        (json!({ "result": "exploded" }), 422),
        (json!({ "result": "succeeded", "extra": 1 }), 422),
        (
            json!({ "result": "failed", "detail": "x".repeat(2_001) }),
            422,
        ),
    ];
    for (body, status) in cases {
        let res = outcome(&app, &key, &id, body.clone()).await;
        assert_eq!(res.status().as_u16(), status, "{body}");
    }
    let malformed = Client::new()
        .post(app.url(&format!("/api/v1/calls/{id}/outcome")))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(malformed).await.0, 400);
    // A JSON array is not an object, whatever serde would make of it.
    let array = outcome(&app, &key, &id, json!(["tool_error", "via array"])).await;
    assert_eq!(error_of(array).await.0, 422);
    let array = post(
        &app,
        &key,
        &format!("/api/v1/calls/{id}/execute"),
        Some(json!([true])),
    )
    .await;
    assert_eq!(error_of(array).await.0, 422);
    let bad_execute = post(
        &app,
        &key,
        &format!("/api/v1/calls/{id}/execute"),
        Some(json!({ "report_outcome": "yes" })),
    )
    .await;
    assert_eq!(bad_execute.status(), 422);
    // Another agent cannot see it, let alone report on it.
    let (other, _) = app.agent("other").await;
    let theirs = outcome(&app, &other, &id, json!({ "result": "succeeded" })).await;
    assert_eq!(theirs.status(), 404);
    // Text the database could not store anyway is refused where it is sent, in every field.
    let nul = app
        .propose(
            &key,
            json!({ "session": "s", "tool": "read", "args": { "a\u{0}": "b\u{0}" }, "reason": "r\u{0}",
                    "alternatives": ["x\u{0}"], "context": { "summary": "s\u{0}" } }),
        )
        .await;
    assert!(
        nul.status().is_client_error() || nul.status() == 201,
        "{}",
        nul.status()
    );
    assert_eq!(app.get_call(&key, &id, None).await["status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_nobody_reports_on_is_recorded_failed_after_a_day() {
    let (app, key) = setup().await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read", "args": {}, "run_if_allowed": true }),
        )
        .await;
    let id = id(&call);
    app.clock.advance(Duration::hours(23));
    app.gate().sweep().await.unwrap();
    assert_eq!(app.get_call(&key, &id, None).await["status"], "running");
    app.clock.advance(Duration::hours(1));
    app.gate().sweep().await.unwrap();
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["status"], "failed");
    assert_eq!(
        view["outcome_detail"],
        "nobody reported how it went within 24 hours of its start"
    );
    let failed = app.audit_details("call.failed").await;
    assert_eq!(failed.len(), 1);
}
