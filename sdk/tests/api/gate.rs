//! The synchronous gate, `execute_with_gate`, path by path.

use crate::fake::{Fake, Policy, Then};
use askfirst_sdk::{GateOutcome, ProposedCall, Status};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs the gate with a tool that counts its runs and echoes its arguments.
async fn gate(fake: &Fake, call: ProposedCall) -> (GateOutcome<Value>, usize, Vec<String>) {
    let runs = AtomicUsize::new(0);
    let mut pending = Vec::new();
    let outcome = fake
        .client()
        .execute_with_gate_notify(
            call,
            |p| pending.push(p.id.clone()),
            |args| {
                runs.fetch_add(1, Ordering::SeqCst);
                async move { json!({ "ran_with": args }) }
            },
        )
        .await
        .unwrap();
    (outcome, runs.into_inner(), pending)
}

#[tokio::test]
async fn allowed_calls_run_at_once() {
    let fake = Fake::start().await;
    fake.policy("read_logs", Policy::Allow);
    let call = ProposedCall::new("s1", "read_logs").args(json!({ "since": "1h" }));
    let (outcome, runs, pending) = gate(&fake, call).await;
    match outcome {
        GateOutcome::Executed { id, args, output } => {
            assert_eq!(args, json!({ "since": "1h" }));
            assert_eq!(output, json!({ "ran_with": { "since": "1h" } }));
            assert_eq!(fake.call(&id)["status"], "executed");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((runs, pending.len()), (1, 0));
    assert_eq!(fake.count("POST", "/execute"), 1);
}

#[tokio::test]
async fn approved_calls_run_with_the_arguments_people_approved() {
    let fake = Fake::start().await;
    fake.policy(
        "deploy",
        Policy::Gate(Then::Approve(Some(json!({ "env": "staging" })))),
    );
    let call = ProposedCall::new("s1", "deploy").args(json!({ "env": "production" }));
    let (outcome, runs, pending) = gate(&fake, call).await;
    match outcome {
        GateOutcome::Executed { id, args, output } => {
            assert_eq!(
                args,
                json!({ "env": "staging" }),
                "the approver's edit wins"
            );
            assert_eq!(output, json!({ "ran_with": { "env": "staging" } }));
            assert_eq!(pending, [id]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn denials_come_back_as_feedback_and_nothing_runs() {
    let fake = Fake::start().await;
    fake.policy(
        "send_email",
        Policy::Gate(Then::Deny(Some("not on a Friday"))),
    )
    .policy("wipe", Policy::Gate(Then::Deny(None)))
    .policy(
        "export_credentials",
        Policy::Deny("out of scope for this agent"),
    );
    let cases = [
        ("send_email", Status::Denied, "not on a Friday", 1),
        (
            "wipe",
            Status::Denied,
            "ana denied the call without feedback",
            1,
        ),
        (
            "export_credentials",
            Status::Denied,
            "out of scope for this agent",
            0,
        ),
    ];
    for (tool, status, feedback, waited) in cases {
        let (outcome, runs, pending) = gate(&fake, ProposedCall::new("s1", tool)).await;
        assert_eq!(
            outcome,
            GateOutcome::Denied {
                id: outcome.id().to_string(),
                status,
                feedback: feedback.into()
            },
            "{tool}"
        );
        assert_eq!((runs, pending.len()), (0, waited), "{tool}");
    }
    assert_eq!(fake.count("POST", "/execute"), 0);
}

#[tokio::test]
async fn expired_calls_say_so() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Expire));
    let (outcome, runs, _) = gate(&fake, ProposedCall::new("s1", "deploy")).await;
    match outcome {
        GateOutcome::Denied {
            status, feedback, ..
        } => {
            assert_eq!(status, Status::Expired);
            assert!(feedback.starts_with("the call expired"), "{feedback}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn a_call_nobody_decides_is_withdrawn_after_the_deadline() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Never));
    fake.deadline_in(-10);
    let started = Instant::now();
    let (outcome, runs, _) = gate(&fake, ProposedCall::new("s1", "deploy")).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
    match outcome {
        GateOutcome::Denied {
            id,
            status,
            feedback,
        } => {
            assert_eq!(status, Status::Expired);
            assert!(feedback.starts_with("the call expired"), "{feedback}");
            assert_eq!(
                fake.call(&id)["status"],
                "cancelled",
                "withdrawn, not left pending"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn a_stale_approval_is_proposed_again_once_with_a_new_key() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Approve(None)))
        .stale("deploy", 1);
    let call = ProposedCall::new("s1", "deploy")
        .args(json!({ "env": "production" }))
        .idempotency_key("run-1/step-2");
    let (outcome, runs, pending) = gate(&fake, call).await;
    assert!(outcome.is_executed(), "{outcome:?}");
    assert_eq!(runs, 1);
    let keys: Vec<_> = fake
        .proposals()
        .into_iter()
        .map(|p| p.idempotency_key.unwrap())
        .collect();
    assert_eq!(keys, ["run-1/step-2", "run-1/step-2:again"]);
    assert_eq!(pending.len(), 2);
    assert_ne!(pending[0], pending[1]);
    assert_eq!(fake.call(&pending[0])["status"], "stale");
    assert_eq!(fake.call(&pending[1])["status"], "executed");
}

#[tokio::test]
async fn a_second_stale_approval_gives_up() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Approve(None)))
        .stale("deploy", 2);
    let (outcome, runs, _) = gate(&fake, ProposedCall::new("s1", "deploy")).await;
    match outcome {
        GateOutcome::Denied { status, .. } => assert_eq!(status, Status::Stale),
        other => panic!("{other:?}"),
    }
    assert_eq!((runs, fake.proposals().len()), (0, 2));
}

#[tokio::test]
async fn an_idempotency_key_makes_one_call() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Never));
    let client = fake.client();
    let call = ProposedCall::new("s1", "deploy").idempotency_key("k-1");
    let first = client.propose(&call).await.unwrap();
    let again = client.propose(&call).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.status, Status::Pending);
    assert!(first.deadline_at().is_some());
    assert_eq!(fake.calls(), 1);
    let body = &fake.proposals()[0].body;
    assert!(
        body.get("idempotency_key").is_none(),
        "a header, not a field: {body}"
    );
}
