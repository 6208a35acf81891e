//! The Rust SDK against the real server: the sync gate, the async gate, and the demo agent.

use crate::support::{decide_seen, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use askfirst_sdk::{Client, GateOutcome, ProposedCall, Status};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

/// Decides every pending call of `tool` as it appears: approve (with edited args) or deny.
fn decider(
    app: &TestApp,
    person: askfirst::domain::UserView,
    rules: Vec<(&'static str, Option<serde_json::Value>, bool)>,
) -> tokio::task::JoinHandle<()> {
    let gate = app.gate().clone();
    tokio::spawn(async move {
        let mut done = std::collections::HashSet::new();
        for _ in 0..400 {
            let rows = askfirst::store::calls::pending(&gate.pool, 100)
                .await
                .unwrap();
            for row in rows {
                if done.contains(&row.id) {
                    continue;
                }
                if let Some((_, args, approve)) = rules.iter().find(|(t, _, _)| *t == row.tool) {
                    let input = if *approve {
                        DecisionInput {
                            approve: true,
                            edited_args: args.clone(),
                            ..Default::default()
                        }
                    } else {
                        DecisionInput {
                            approve: false,
                            feedback: Some(format!("no {}", row.tool)),
                            ..Default::default()
                        }
                    };
                    decide_seen(&gate, &row.id, &person, input).await.unwrap();
                    done.insert(row.id.clone());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn real_time_app() -> TestApp {
    let app = TestApp::spawn().await;
    // The SDK computes waits from deadlines on the real clock.
    app.clock.advance(chrono::Utc::now() - app.now());
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_gate_runs_only_approved_arguments() {
    let app = real_time_app().await;
    let (key, _) = app.agent("sdk-bot").await;
    let client = Client::new(&app.base, &key).unwrap();
    let person = app.person("apu", Role::Approver).await;
    let d = decider(
        &app,
        person,
        vec![
            ("deploy", Some(json!({ "env": "staging" })), true),
            ("send_email", None, false),
        ],
    );

    let call = ProposedCall::new("s1", "read_logs");
    let out = client
        .execute_with_gate(call, |args| async move { args })
        .await
        .unwrap();
    assert!(matches!(out, GateOutcome::Executed { .. }), "{out:?}");

    let call = ProposedCall::new("s1", "deploy").args(json!({ "env": "production" }));
    match client
        .execute_with_gate(call, |args| async move { format!("ran with {args}") })
        .await
        .unwrap()
    {
        GateOutcome::Executed { args, output, .. } => {
            assert_eq!(
                args,
                json!({ "env": "staging" }),
                "the approver's edit wins"
            );
            assert_eq!(output, r#"ran with {"env":"staging"}"#);
        }
        other => panic!("{other:?}"),
    }

    let call = ProposedCall::new("s1", "send_email").args(json!({ "to": "x@example.com" }));
    match client
        .execute_with_gate(call, |_| async { unreachable!("never runs") })
        .await
        .unwrap()
    {
        GateOutcome::<()>::Denied {
            status, feedback, ..
        } => {
            assert_eq!(
                (status, feedback.as_str()),
                (Status::Denied, "no send_email")
            );
        }
        other => panic!("{other:?}"),
    }

    let call = ProposedCall::new("s1", "export_credentials");
    match client.execute_with_gate(call, |_| async {}).await.unwrap() {
        GateOutcome::Denied {
            status, feedback, ..
        } => {
            assert_eq!(status, Status::Denied);
            assert!(feedback.contains("out of scope"), "{feedback}");
        }
        other => panic!("{other:?}"),
    }
    d.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_gate_resumes_from_the_event_stream() {
    let app = real_time_app().await;
    let (key, _) = app.agent("sdk-bot").await;
    let client = Client::new(&app.base, &key).unwrap();
    let mut events = Box::pin(client.events(None).await.unwrap());
    let call = ProposedCall::new("s1", "deploy").args(json!({ "env": "production" }));
    let proposal = client
        .submit_async(call, json!({ "step": 2 }), None)
        .await
        .unwrap();
    assert_eq!(proposal.status, Status::Pending);

    // The agent "exits"; later a person approves.
    let person = app.person("apu", Role::Approver).await;
    app.decide(
        &proposal.id,
        &person,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.call.id, proposal.id);
    assert_eq!(event.call.checkpoint, Some(json!({ "step": 2 })));
    let out = client
        .resume(&event.call, |args| async move { args })
        .await
        .unwrap();
    assert!(matches!(out, GateOutcome::Executed { .. }));
    // Resuming twice does not run twice.
    assert!(client
        .execute(&proposal.id)
        .await
        .unwrap_err()
        .is_conflict("already_executed"));

    // Replay from an id.
    let replay = client.events(Some(event.id - 1)).await.unwrap();
    let first = Box::pin(replay).next().await.unwrap().unwrap();
    assert_eq!(first.id, event.id);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_agent_plays_its_plan_in_sync_and_async_modes() {
    let app = real_time_app().await;
    let (key, secret) = app.agent("demo").await;
    let person = app.person("apu", Role::Approver).await;
    let d = decider(
        &app,
        person,
        vec![("deploy", None, true), ("send_email", None, false)],
    );
    // The demo's receiver listens on 127.0.0.1: its origin must be allowed for the agent.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app.gate()
        .set_callback_origins("demo", &[format!("http://127.0.0.1:{port}")], "test")
        .await
        .unwrap();
    for (mode, webhook) in [
        (askfirst_sdk::demo::Mode::Sync, None),
        (askfirst_sdk::demo::Mode::Async, None),
        (askfirst_sdk::demo::Mode::Async, Some(secret.clone())),
    ] {
        let config = askfirst_sdk::demo::DemoConfig {
            url: app.base.clone(),
            key: key.clone(),
            mode,
            webhook_secret: webhook.clone(),
            webhook_port: port,
            session: format!("demo-{mode:?}-{}", webhook.is_some()),
        };
        let reports =
            tokio::time::timeout(Duration::from_secs(30), askfirst_sdk::demo::run(config))
                .await
                .unwrap()
                .unwrap();
        let outcomes: Vec<_> = reports
            .iter()
            .map(|r| (r.tool.as_str(), r.outcome.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("read_logs", "executed"),
                ("deploy", "executed"),
                ("send_email", "denied"),
                ("export_credentials", "denied")
            ],
            "{mode:?} webhook={}",
            webhook.is_some()
        );
    }
    d.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sees_a_bypass_approval_and_the_bypasses_that_cover_it() {
    use askfirst::domain::bypass::Scope;
    use askfirst::domain::review::Verdict;
    use askfirst::gate::{bypass::BypassRequest, signoff::SignoffInput};
    let app = real_time_app().await;
    let (key, _) = app.agent("bot").await;
    let ria = app.person("ria", Role::Approver).await;
    let id = app
        .gate()
        .request_bypass(
            &ria,
            BypassRequest {
                scope: Scope {
                    agent: None,
                    tool: "deploy".into(),
                    args: vec![],
                },
                window_secs: 3600,
                reason: "release".into(),
                include_confirmation: true,
            },
        )
        .await
        .unwrap()
        .id;
    for name in ["ann", "bo"] {
        let m = app.person(name, Role::Manager).await;
        let hash = app.gate().bypass_page(id, &m).await.unwrap().bypass.hash;
        app.gate()
            .review_bypass(
                id,
                &m,
                SignoffInput {
                    verdict: Verdict::Approve,
                    comment: None,
                    shown_hash: hash,
                },
            )
            .await
            .unwrap();
    }
    let client = Client::new(&app.base, &key).unwrap();
    let p = client
        .propose(&ProposedCall::new("s1", "deploy").args(json!({ "env": "production" })))
        .await
        .unwrap();
    assert_eq!(p.status, Status::Approved);
    assert_eq!(p.approved_by, Some(askfirst_sdk::ApprovedBy::Bypass(id)));
    assert_eq!(
        client.get(&p.id).await.unwrap().approved_by,
        Some(askfirst_sdk::ApprovedBy::Bypass(id))
    );
    let covering = client.bypasses().await.unwrap();
    assert_eq!(
        (
            covering.len(),
            covering[0].id,
            covering[0].approved_by.clone()
        ),
        (1, id, vec!["ann".to_string(), "bo".to_string()])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_not_retry_denial_is_a_typed_error_and_an_extension_keeps_the_gate_waiting() {
    let app = real_time_app().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [{ "name": "gate-deploy", "match": { "tool": "deploy" },
                    "effect": { "kind": "gate", "deadline_secs": 2, "extend_max_secs": 60 } }]
    }))
    .await;
    let (key, _) = app.agent("sdk-bot").await;
    let client = Client::new(&app.base, &key).unwrap();
    let person = app.person("apu", Role::Approver).await;

    // An approver extends the 2-second deadline, then approves after it first passed.
    let gate = app.gate().clone();
    let helper = person.clone();
    let decider = tokio::spawn(async move {
        let id = loop {
            let rows = askfirst::store::calls::pending(&gate.pool, 10)
                .await
                .unwrap();
            if let Some(row) = rows.first() {
                break row.id.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        gate.extend(&id, &helper, 30, "checking").await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        decide_seen(
            &gate,
            &id,
            &helper,
            DecisionInput {
                approve: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    });
    let call = ProposedCall::new("s1", "deploy").args(json!({ "env": "staging" }));
    let out = client
        .execute_with_gate(call, |args| async move { args })
        .await
        .unwrap();
    assert!(
        out.is_executed(),
        "the gate waited past the first deadline: {out:?}"
    );
    decider.await.unwrap();

    // A denial marked "do not retry" is a typed error, and so is its repeat.
    let gate = app.gate().clone();
    let denier = tokio::spawn(async move {
        loop {
            let rows = askfirst::store::calls::pending(&gate.pool, 10)
                .await
                .unwrap();
            if let Some(row) = rows.first() {
                let input = DecisionInput {
                    approve: false,
                    feedback: Some("use staging".into()),
                    reason_code: Some("wrong_target".into()),
                    do_not_retry: true,
                    ..Default::default()
                };
                decide_seen(&gate, &row.id, &person, input).await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    for attempt in 0..2 {
        let call = ProposedCall::new("s1", "deploy").args(json!({ "env": "production" }));
        match client.execute_with_gate(call, |_| async {}).await {
            Err(askfirst_sdk::Error::DoNotRetry {
                feedback,
                reason_code,
                repeat_of,
                ..
            }) => {
                assert_eq!(feedback, "use staging");
                assert_eq!(reason_code.as_deref(), Some("wrong_target"));
                assert_eq!(
                    repeat_of.is_some(),
                    attempt == 1,
                    "the repeat names the original"
                );
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    denier.await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_starts_calls_and_reports_how_they_went() {
    let app = real_time_app().await;
    app.policy(json!({ "default_effect": { "kind": "allow" }, "rules": [] }))
        .await;
    let (key, _) = app.agent("bot").await;
    let client = Client::new(app.url(""), &key).unwrap();
    // Allowed and started in one request.
    let running = client
        .propose(&ProposedCall::new("s", "read").run_if_allowed())
        .await
        .unwrap();
    assert_eq!(running.status, Status::Running);
    let view = client
        .report_outcome(&running.id, askfirst_sdk::Outcome::Succeeded, None)
        .await
        .unwrap();
    assert_eq!(
        (view.status, view.outcome),
        (Status::Executed, Some(askfirst_sdk::Outcome::Succeeded))
    );
    // Allowed, then started with `start`; it fails.
    let allowed = client
        .propose(&ProposedCall::new("s", "read"))
        .await
        .unwrap();
    assert_eq!(allowed.status, Status::Allowed);
    let started = client.start(&allowed.id).await.unwrap();
    assert_eq!(started.status, Status::Running);
    let view = client
        .report_outcome(
            &allowed.id,
            askfirst_sdk::Outcome::Failed,
            Some("timed out"),
        )
        .await
        .unwrap();
    assert_eq!(view.status, Status::Failed);
    assert_eq!(view.outcome_detail.as_deref(), Some("timed out"));
    let twice = client
        .report_outcome(&allowed.id, askfirst_sdk::Outcome::Succeeded, None)
        .await
        .unwrap_err();
    assert!(twice.is_conflict("not_running"), "{twice}");
}
