//! `POST /api/v1/policy/preview`: what policy would do with calls of some tools, for the
//! MCP proxy's `tools/list` — agents only, each for its own name, recording nothing.

use crate::support::{error_of, TestApp};
use askfirst_sdk::{PreviewDecision, PreviewTool};
use serde_json::{json, Value};

async fn preview(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/policy/preview"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_previewed_for_proxied_tools() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let res = preview(
        &app,
        &key,
        json!({ "tools": [
            { "tool": "files.read_text_file", "params": ["path", "head", "tail"] },
            { "tool": "files.write_file", "risk": ["destructive"], "params": ["path", "content"] },
            { "tool": "files.create_directory", "params": ["path"] },
            { "tool": "vault.export_credentials" },
            { "tool": "files.read_text_file" },
            // Claude Code's names for MCP tools: the same rule as `server.tool`.
            { "tool": "mcp__vault__export_credentials" },
            { "tool": "mcp__files__write_file", "risk": ["destructive"] },
        ] }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let got: Vec<(&str, &str, Vec<&str>)> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let outcomes = t["outcomes"].as_array().unwrap();
            (
                t["tool"].as_str().unwrap(),
                t["decision"].as_str().unwrap(),
                outcomes.iter().map(|o| o.as_str().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("files.read_text_file", "allow", vec!["allow"]),
            ("files.write_file", "gate", vec!["gate"]),
            // First use gated as novel, later ones allowed.
            ("files.create_directory", "depends", vec!["allow", "gate"]),
            ("vault.export_credentials", "deny", vec!["deny"]),
            // Any argument (an `env` naming production) could make the read a gated one.
            ("files.read_text_file", "depends", vec!["allow", "gate"]),
            ("mcp__vault__export_credentials", "deny", vec!["deny"]),
            ("mcp__files__write_file", "gate", vec!["gate"]),
        ]
    );
    // Nothing was proposed or recorded.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM calls WHERE $1 = $1", "")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_sees_only_its_own_view() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "ops-no-wipe", "match": { "agent": "ops-*", "tool": "wipe" },
              "effect": { "kind": "deny", "message": "never" } },
            { "name": "files-gated", "match": { "tool": "files.*" },
              "effect": { "kind": "gate", "approvals_required": 1, "approver_role": "approver",
                          "deadline_secs": 600, "approval_ttl_secs": 600 } },
        ]
    }))
    .await;
    let (ops, _) = app.agent("ops-1").await;
    let (dev, _) = app.agent("dev-1").await;
    let tools = [
        PreviewTool {
            tool: "db.wipe".into(),
            risk: vec![],
            params: None,
        },
        PreviewTool {
            tool: "files.read_text_file".into(),
            risk: vec![],
            params: None,
        },
    ];
    let decisions = |key: String| {
        let tools = tools.clone();
        let url = app.url("");
        async move {
            let client = askfirst_sdk::Client::new(url, key).unwrap();
            let answers = client.preview(&tools).await.unwrap();
            answers.into_iter().map(|a| a.decision).collect::<Vec<_>>()
        }
    };
    use PreviewDecision::*;
    assert_eq!(decisions(ops).await, [Deny, Gate]);
    assert_eq!(decisions(dev).await, [Allow, Gate]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_previews_get_clear_errors() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let many: Vec<Value> = (0..201)
        .map(|i| json!({ "tool": format!("t{i}") }))
        .collect();
    let params: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
    let cases = [
        ("no tools", json!({ "tools": [] }), 422, "1 to 200"),
        ("201 tools", json!({ "tools": many }), 422, "1 to 200"),
        ("missing tools", json!({}), 422, "tools"),
        (
            "empty name",
            json!({ "tools": [{ "tool": "" }] }),
            422,
            "tools[0].tool",
        ),
        (
            "long name",
            json!({ "tools": [{ "tool": "x".repeat(201) }] }),
            422,
            "longer than",
        ),
        (
            "control character",
            json!({ "tools": [{ "tool": "a\u{7}b" }] }),
            422,
            "control",
        ),
        (
            "unknown risk",
            json!({ "tools": [{ "tool": "t", "risk": ["spooky"] }] }),
            422,
            "spooky",
        ),
        (
            "unknown field",
            json!({ "tools": [{ "tool": "t", "args": {} }] }),
            422,
            "args",
        ),
        (
            "101 params",
            json!({ "tools": [{ "tool": "t", "params": params }] }),
            422,
            "100",
        ),
        ("wrong type", json!({ "tools": "files.*" }), 422, "tools"),
    ];
    for (name, body, status, needle) in cases {
        let (got, code, message) = error_of(preview(&app, &key, body).await).await;
        assert_eq!(
            (got, code.as_str()),
            (status, "invalid"),
            "{name}: {message}"
        );
        assert!(message.contains(needle), "{name}: {message}");
    }
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/policy/preview"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 400);
    for bad_key in ["", "af_not_a_key"] {
        let (status, code, _) =
            error_of(preview(&app, bad_key, json!({ "tools": [{ "tool": "t" }] })).await).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "unauthenticated"),
            "{bad_key:?}"
        );
    }
    // The route is in the OpenAPI document with its schemas.
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/policy/preview"]["post"].is_object());
    assert!(doc["components"]["schemas"]["PreviewResponse"].is_object());
}
