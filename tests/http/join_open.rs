//! `join_open` on a proposal: a client's retry of a gated call (same agent, tool and
//! canonical arguments, any session) finds the earlier call while it is pending or
//! approved and not yet executed — the MCP proxy and permission prompt rely on it so one
//! tool call makes one proposal. And Claude Code's `mcp__server__tool` names.

use crate::support::TestApp;
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use chrono::Duration;
use serde_json::{json, Value};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "no-secrets", "match": { "tool": "read_secret" },
              "effect": { "kind": "deny", "message": "no secrets" } },
            { "name": "restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "deadline_secs": 60, "approval_ttl_secs": 30 } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    (app, key)
}

fn restart(session: &str, args: Value) -> Value {
    json!({ "session": session, "tool": "restart", "args": args, "join_open": true })
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_finds_the_open_identical_call() {
    let (app, key) = setup().await;
    let first = app
        .propose_ok(&key, restart("s1", json!({ "svc": "api", "n": 1 })))
        .await;
    assert_eq!(first["status"], "pending");
    // Another session, the keys in another order: the same call.
    let again = app
        .propose_ok(&key, restart("s2", json!({ "n": 1, "svc": "api" })))
        .await;
    assert_eq!(
        (id(&again), again["status"].clone()),
        (id(&first), json!("pending"))
    );
    assert_eq!(again["deadline"], first["deadline"]);
    // Other arguments, another tool or another agent: new calls.
    let other = app
        .propose_ok(&key, restart("s1", json!({ "svc": "web", "n": 1 })))
        .await;
    assert_ne!(id(&other), id(&first));
    let (key2, _) = app.agent("bot2").await;
    let theirs = app
        .propose_ok(&key2, restart("s1", json!({ "svc": "api", "n": 1 })))
        .await;
    assert_ne!(id(&theirs), id(&first));

    // Approved and not yet executed: found, approved.
    let approver = app.person("apu", Role::Approver).await;
    app.decide(
        &id(&first),
        &approver,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let approved = app
        .propose_ok(&key, restart("s3", json!({ "svc": "api", "n": 1 })))
        .await;
    assert_eq!(
        (id(&approved), approved["status"].clone()),
        (id(&first), json!("approved"))
    );
    assert_eq!(
        app.call_action(&key, &id(&first), "execute").await.status(),
        200
    );

    // Executed: the same call again is a new proposal.
    let fresh = app
        .propose_ok(&key, restart("s1", json!({ "svc": "api", "n": 1 })))
        .await;
    assert_ne!(id(&fresh), id(&first));
    assert_eq!(fresh["status"], "pending");

    // Past its deadline (whether or not the sweeper ran): not found.
    app.clock.advance(Duration::seconds(61));
    let after = app
        .propose_ok(&key, restart("s1", json!({ "svc": "api", "n": 1 })))
        .await;
    assert_ne!(id(&after), id(&fresh));
    assert_eq!(after["status"], "pending");

    // Without `join_open`, a proposal is always new.
    let mut plain = restart("s1", json!({ "svc": "api", "n": 1 }));
    plain["join_open"] = json!(false);
    let separate = app.propose_ok(&key, plain).await;
    assert_ne!(id(&separate), id(&after));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_codes_mcp_names_are_server_dot_tool() {
    let (app, key) = setup().await;
    let denied = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "mcp__vault__read_secret", "args": {} }),
        )
        .await;
    assert_eq!(
        (denied["status"].clone(), denied["rule"].clone()),
        (json!("denied"), json!("no-secrets"))
    );
    let view = app.get_call(&key, &id(&denied), None).await;
    assert_eq!(view["tool"], "vault.read_secret");
    // Built-in tools keep their names.
    let bash = app
        .propose_ok(&key, json!({ "session": "s", "tool": "Bash", "args": {} }))
        .await;
    assert_eq!(app.get_call(&key, &id(&bash), None).await["tool"], "Bash");
    app.stop().await;
}
