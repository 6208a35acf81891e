//! The gate state machine through HTTP: every transition and every 409.

use crate::support::{decide_seen, error_of, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use chrono::Duration;
use serde_json::{json, Value};

/// A policy that gates `deploy` (2 approvals from managers, typed confirmation), gates
/// `restart` (1 approval, 60 s deadline, 30 s approval TTL), denies `rm_rf`, allows the rest.
fn test_policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "no-rm", "match": { "tool": "rm_rf" },
              "effect": { "kind": "deny", "message": "rm_rf is out of scope" } },
            { "name": "deploy", "match": { "tool": "deploy" }, "add_risk": ["production"],
              "effect": { "kind": "gate", "approvals_required": 2, "approver_role": "manager",
                          "deadline_secs": 3600, "approval_ttl_secs": 600, "confirm": "deploy {/service}" } },
            { "name": "restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "deadline_secs": 60, "approval_ttl_secs": 30 } }
        ]
    })
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.policy(test_policy()).await;
    let (key, _) = app.agent("bot").await;
    (app, key)
}

fn approve() -> DecisionInput {
    DecisionInput {
        approve: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_calls_execute_once() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read_file", "args": { "path": "a" } }),
        )
        .await;
    assert_eq!(p["status"], "allowed");
    assert!(p["rule"].is_null(), "the default effect decided");
    let id = p["id"].as_str().unwrap();
    let res = app.call_action(&key, id, "execute").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["status"].clone(), body["args"].clone()),
        (json!("executed"), json!({ "path": "a" }))
    );
    let (status, code, _) = error_of(app.call_action(&key, id, "execute").await).await;
    assert_eq!((status, code.as_str()), (409, "already_executed"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_by_policy_says_why_and_cannot_execute() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(&key, json!({ "session": "s", "tool": "rm_rf", "args": {} }))
        .await;
    assert_eq!(p["status"], "denied");
    assert_eq!(p["rule"], "no-rm");
    assert_eq!(p["message"], "rm_rf is out of scope");
    let (status, code, _) = error_of(
        app.call_action(&key, p["id"].as_str().unwrap(), "execute")
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "not_approved"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_n_needs_two_distinct_managers_and_the_typed_phrase() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(&key, json!({ "session": "s", "tool": "deploy", "args": { "service": "api" }, "risk": ["destructive"] }))
        .await;
    assert_eq!(p["status"], "pending");
    assert_eq!(p["approvals_required"], 2);
    assert_eq!(
        p["risk"],
        json!(["destructive", "production"]),
        "policy adds risk; the claim stays"
    );
    let id = p["id"].as_str().unwrap();

    let approver = app.person("apu", Role::Approver).await;
    let m1 = app.person("mia", Role::Manager).await;
    let m2 = app.person("max", Role::Admin).await;
    let gate = app.gate();

    // Role below the rule's approver role.
    let e = decide_seen(
        gate,
        id,
        &approver,
        DecisionInput {
            confirm: Some("deploy api".into()),
            ..approve()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "not_eligible");
    // The phrase must match.
    let e = decide_seen(
        gate,
        id,
        &m1,
        DecisionInput {
            confirm: Some("deploy API".into()),
            ..approve()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "confirmation_mismatch");
    let e = decide_seen(gate, id, &m1, approve()).await.unwrap_err();
    assert_eq!(e.code(), "confirmation_mismatch");

    let v = decide_seen(
        gate,
        id,
        &m1,
        DecisionInput {
            confirm: Some("deploy api".into()),
            ..approve()
        },
    )
    .await
    .unwrap();
    assert_eq!((v.status.as_str(), v.approvals), ("pending", 1));
    // The same person never counts twice.
    let e = decide_seen(
        gate,
        id,
        &m1,
        DecisionInput {
            confirm: Some("deploy api".into()),
            ..approve()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "duplicate_reviewer");
    // Agents waiting see it still pending.
    assert_eq!(app.get_call(&key, id, None).await["status"], "pending");

    let v = decide_seen(
        gate,
        id,
        &m2,
        DecisionInput {
            confirm: Some("deploy api".into()),
            ..approve()
        },
    )
    .await
    .unwrap();
    assert_eq!((v.status.as_str(), v.approvals), ("approved", 2));
    let res = app.call_action(&key, id, "execute").await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deny_vetoes_and_its_feedback_reaches_the_agent_verbatim() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "service": "api" } }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let m1 = app.person("mia", Role::Manager).await;
    let m2 = app.person("max", Role::Manager).await;
    app.decide(
        id,
        &m1,
        DecisionInput {
            confirm: Some("deploy api".into()),
            ..approve()
        },
    )
    .await
    .unwrap();

    // Denying needs feedback.
    let e = app
        .decide(
            id,
            &m2,
            DecisionInput {
                approve: false,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid");
    let feedback = "Not on a Friday <b>please</b> — use the canary first.";
    app.decide(
        id,
        &m2,
        DecisionInput {
            approve: false,
            feedback: Some(feedback.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let view = app.get_call(&key, id, Some(1)).await;
    assert_eq!(view["status"], "denied");
    assert_eq!(view["message"], feedback);
    let deny = view["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision"] == "deny")
        .unwrap();
    assert_eq!(
        (deny["user"].as_str(), deny["feedback"].as_str()),
        (Some("max"), Some(feedback))
    );

    let (status, code, _) = error_of(app.call_action(&key, id, "execute").await).await;
    assert_eq!((status, code.as_str()), (409, "not_approved"));
    let e = app
        .decide(id, &app.person("ann", Role::Admin).await, approve())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_pending");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_expires_the_call_at_the_second() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let approver = app.person("apu", Role::Approver).await;

    app.clock.advance(Duration::seconds(59));
    assert_eq!(app.get_call(&key, &id, None).await["status"], "pending");
    app.clock.advance(Duration::seconds(1));
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["status"], "expired", "expiry is applied on read");
    let e = app.decide(&id, &approver, approve()).await.unwrap_err();
    assert_eq!(e.code(), "not_pending");
    let (status, code, _) = error_of(app.call_action(&key, &id, "execute").await).await;
    assert_eq!((status, code.as_str()), (409, "not_approved"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_at_the_deadline_loses() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    app.clock.advance(Duration::seconds(60));
    let e = app
        .decide(id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "deadline_passed");
    assert_eq!(app.get_call(&key, id, None).await["status"], "expired");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_go_stale_after_their_ttl() {
    let (app, key) = setup().await;
    let approver = app.person("apu", Role::Approver).await;

    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    app.decide(id, &approver, approve()).await.unwrap();
    app.clock.advance(Duration::seconds(29));
    assert_eq!(
        app.call_action(&key, id, "execute").await.status(),
        200,
        "one second before the TTL"
    );

    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let v = app.decide(id, &approver, approve()).await.unwrap();
    assert!(v.approval_expires_at.is_some());
    app.clock.advance(Duration::seconds(30));
    let (status, code, _) = error_of(app.call_action(&key, id, "execute").await).await;
    assert_eq!((status, code.as_str()), (409, "approval_stale"));
    assert_eq!(app.get_call(&key, id, None).await["status"], "stale");
    let (_, code, _) = error_of(app.call_action(&key, id, "execute").await).await;
    assert_eq!(code, "approval_stale");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_arguments_are_what_the_agent_executes() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": { "host": "db-1", "force": true } }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let edited = json!({ "host": "db-1", "force": false });
    let approver = app.person("apu", Role::Approver).await;
    let e = app
        .decide(
            id,
            &approver,
            DecisionInput {
                edited_args: Some(json!([1])),
                ..approve()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid");
    app.decide(
        id,
        &approver,
        DecisionInput {
            edited_args: Some(edited.clone()),
            ..approve()
        },
    )
    .await
    .unwrap();
    let view = app.get_call(&key, id, None).await;
    assert_eq!(view["args"], edited);
    assert_eq!(
        view["proposed_args"],
        json!({ "host": "db-1", "force": true })
    );
    assert_eq!(view["decisions"][0]["edited_args"], true);
    let body: Value = app
        .call_action(&key, id, "execute")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["args"], edited);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_withdraws_only_pending_calls() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let res = app.call_action(&key, id, "cancel").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    let (status, code, _) = error_of(app.call_action(&key, id, "cancel").await).await;
    assert_eq!((status, code.as_str()), (409, "not_pending"));
    let e = app
        .decide(id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_pending");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_executes_yield_exactly_one_success() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    app.decide(&id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (url, key) = (app.url(&format!("/api/v1/calls/{id}/execute")), key.clone());
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409));
    let executed = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND to_status = 'executed'",
            &id,
        )
        .await;
    assert_eq!(executed, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_deciders_make_exactly_one_transition() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut clients = Vec::new();
    for i in 0..100 {
        clients.push(app.session_for(&format!("p{i}"), Role::Approver).await);
    }
    let hash = app.candidate_hash(&id).await;
    let deciders = clients
        .into_iter()
        .map(|client| (app.url("/rpc/decide"), client))
        .collect();
    crate::support::race_decisions(deciders, &id, &hash).await;
    let events: Vec<(String, Option<String>)> = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT kind, from_status FROM audit_events WHERE call_id = $1 ORDER BY id"
    )
    .bind(&id)
    .fetch_all(cn)
    .await)
    .unwrap();
    let transitions = events
        .iter()
        .filter(|(_, from)| from.as_deref() == Some("pending"))
        .count();
    assert_eq!(transitions, 1, "{events:?}");
    assert_eq!(events.len(), 2, "proposed + one decision: {events:?}");
    let decisions = app
        .count("SELECT COUNT(*) FROM reviews WHERE call_id = $1", &id)
        .await;
    assert_eq!(decisions, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_agents_cannot_see_or_touch_a_call() {
    let (app, key) = setup().await;
    let (other, _) = app.agent("other-bot").await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    for action in ["execute", "cancel"] {
        let (status, code, _) = error_of(app.call_action(&other, id, action).await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{action}");
    }
    let res = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/calls/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_proposals_create_nothing_new() {
    let (app, key) = setup().await;
    let body = json!({ "session": "s", "tool": "restart", "args": {} });
    let send = || {
        reqwest::Client::new()
            .post(app.url("/api/v1/calls"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "step-3")
            .json(&body)
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let res = send().await.unwrap();
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    assert_eq!(first, second);
    let count: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(count, 1);
    // Another agent's identical key is its own.
    let (other, _) = app.agent("other-bot").await;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "step-3")
        .json(&body)
        .send()
        .await
        .unwrap();
    let third: Value = res.json().await.unwrap();
    assert_ne!(third["id"], first["id"]);
    // The same key for another call — another tool, other arguments, another session — is
    // refused: the first call's verdict is not this one's. The same arguments written in
    // another key order are the same call.
    #[rustfmt::skip]
    let others = [
        json!({ "session": "s", "tool": "deploy", "args": {} }),
        json!({ "session": "s", "tool": "restart", "args": { "host": "db-1" } }),
        json!({ "session": "t", "tool": "restart", "args": {} }),
    ];
    for other in others {
        let res = reqwest::Client::new()
            .post(app.url("/api/v1/calls"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "step-3")
            .json(&other)
            .send()
            .await
            .unwrap();
        let (status, code, message) = error_of(res).await;
        assert_eq!(
            (status, code.as_str()),
            (409, "idempotency_key_reused"),
            "{other}"
        );
        assert!(message.contains("new key"), "{message}");
    }
    let count: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(count, 2, "nothing new was filed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_a_decision_made_before_or_while_waiting() {
    let (app, key) = setup().await;
    let approver = app.person("apu", Role::Approver).await;

    // Decided before the agent starts waiting: returns at once.
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    app.decide(&id, &approver, approve()).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        app.get_call(&key, &id, Some(30)).await["status"],
        "approved"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Decided while waiting: the waiter wakes.
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let waiter = app.long_poll(&key, &id, 30);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.decide(&id, &approver, approve()).await.unwrap();
    let (view, _) = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(view["status"], "approved");

    // Nobody decides: the long-poll ends with the call still pending.
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    assert_eq!(
        app.get_call(&key, p["id"].as_str().unwrap(), Some(1)).await["status"],
        "pending"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_from_the_cli_reaches_a_waiting_agent_within_a_second() {
    let (app, key) = setup().await;
    // The CLI runs on the real clock: bring the server's clock to now.
    app.clock.advance(chrono::Utc::now() - app.now());
    app.add_user("cleo", Role::Approver, "a long enough password")
        .await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let waiter = app.long_poll(&key, &id, 30);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .env("ASKFIRST_PASSWORD", "a long enough password")
        .args([
            "--db",
            app.db.as_str(),
            "calls",
            "approve",
            &id,
            "--user",
            "cleo",
            "--json",
        ])
        .output()
        .await
        .unwrap();
    let decided = std::time::Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["status"], "approved");
    let (view, woke) = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(view["status"], "approved");
    assert!(
        woke.duration_since(decided) < std::time::Duration::from_secs(1),
        "{:?}",
        woke.duration_since(decided)
    );

    // The CLI applies the same checks: an unknown user, a second decision.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .env("ASKFIRST_PASSWORD", "a long enough password")
        .args([
            "--db",
            app.db.as_str(),
            "calls",
            "deny",
            &id,
            "--user",
            "cleo",
            "--feedback",
            "late",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_pending"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn novelty_and_the_default_policy() {
    let app = TestApp::spawn().await; // the default policy
    let (key, _) = app.agent("bot").await;
    let cases = [
        (
            json!({ "session": "s1", "tool": "read_logs", "args": {} }),
            "allowed",
        ),
        (
            json!({ "session": "s1", "tool": "read_logs", "args": {}, "risk": ["destructive"] }),
            "pending",
        ),
        (
            json!({ "session": "s1", "tool": "deploy", "args": { "env": "production" } }),
            "pending",
        ),
        (
            json!({ "session": "s1", "tool": "send_email", "args": { "to": "c@example.com" } }),
            "pending",
        ),
        (
            json!({ "session": "s1", "tool": "export_credentials", "args": {} }),
            "denied",
        ),
        (
            json!({ "session": "s1", "tool": "resize_image", "args": {} }),
            "pending",
        ),
    ];
    for (body, expected) in cases {
        let p = app.propose_ok(&key, body.clone()).await;
        assert_eq!(p["status"], expected, "{body}");
    }
    // Once resize_image has run in a session it is no longer novel there.
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s1", "tool": "resize_image", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    app.decide(id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap();
    assert_eq!(app.call_action(&key, id, "execute").await.status(), 200);
    let again = app
        .propose_ok(
            &key,
            json!({ "session": "s1", "tool": "resize_image", "args": {} }),
        )
        .await;
    assert_eq!(again["status"], "allowed");
    let other_session = app
        .propose_ok(
            &key,
            json!({ "session": "s2", "tool": "resize_image", "args": {} }),
        )
        .await;
    assert_eq!(other_session["status"], "pending");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_is_audited_and_the_chain_verifies() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    app.decide(id, &app.person("apu", Role::Approver).await, approve())
        .await
        .unwrap();
    app.call_action(&key, id, "execute").await;
    let kinds: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE call_id = $1 ORDER BY id"
    )
    .bind(id)
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(kinds, ["call.proposed", "call.approved", "call.executed"]);
    crate::support::assert_chain_intact(app.pool()).await;
    let mut conn = app.pool().acquire().await.unwrap();
    // The log is append-only.
    let err = askfirst::on!(&mut *conn, |cn| sqlx::query("DELETE FROM audit_events")
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
    .unwrap_err();
    assert!(err.to_string().contains("append-only"));
    drop(conn);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_at_the_deadline_instant_loses_to_expiry() {
    let (app, key) = setup().await;
    let approver = app.session_for("apu", Role::Approver).await;
    let decide = |id: String| {
        let (client, url) = (approver.clone(), app.url("/rpc/decide"));
        // Every call here proposes `{}`: that is what the person is shown.
        let hash = askfirst::store::json::hash(&json!({}));
        async move {
            let res = client
                .post(url)
                .header("accept", "application/json")
                .form(&[
                    ("id", id.as_str()),
                    ("decision", "approve"),
                    ("hash", hash.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let propose = || {
        app.propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
    };

    // One millisecond before the deadline: the decision counts.
    let id = propose().await["id"].as_str().unwrap().to_string();
    app.clock
        .advance(Duration::seconds(60) - Duration::milliseconds(1));
    let (status, body) = decide(id.clone()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("approved")),
        "{body}"
    );

    // At the deadline instant, with the agent reading the call at the same moment: the
    // call expires exactly once and the decision is refused.
    let id = propose().await["id"].as_str().unwrap().to_string();
    app.clock.advance(Duration::seconds(60));
    let (decided, read) = tokio::join!(decide(id.clone()), async {
        app.get_call(&key, &id, None).await
    });
    let (status, body) = decided;
    assert_eq!(status, 409, "{body}");
    let code = body["error"]["code"].as_str().unwrap();
    assert!(code == "deadline_passed" || code == "not_pending", "{body}");
    assert_eq!(read["status"], "expired");
    assert_eq!(app.get_call(&key, &id, None).await["status"], "expired");
    let transitions = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND from_status = 'pending'",
            &id,
        )
        .await;
    assert_eq!(transitions, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_answers_long_polls_at_once() {
    let (app, key) = setup().await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let waiter = app.long_poll(&key, &id, 60);
    // Let the long-poll reach the server and start waiting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let stopping = std::time::Instant::now();
    app.stop().await;
    let (view, answered) = tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
        .await
        .expect("the long-poll was answered before its 60 s were up")
        .unwrap();
    assert_eq!(
        view["status"], "pending",
        "the call as it stands; the agent asks again"
    );
    assert!(
        answered.duration_since(stopping) < askfirst::server::run::SHUTDOWN_GRACE,
        "answered within the shutdown grace period, not cut off after it"
    );
}
