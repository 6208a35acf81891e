//! Past its capacity the server refuses at once instead of queueing without bound: a new
//! call that finds the writer's queue full is `503 busy` with `Retry-After`, and nothing of
//! it is written.

use crate::support::TestApp;
use askfirst::domain::call::CallStatus;
use askfirst::domain::AppError;
use askfirst::gate::metrics::Metrics;
use askfirst::gate::writer::Writer;
use askfirst::store::{audit::OwnedEvent, calls::NewCall};
use tokio::sync::oneshot;

fn new_call(id: &str, agent_id: &str) -> NewCall {
    NewCall {
        id: id.into(),
        agent_id: agent_id.into(),
        session: "s".into(),
        tool: "read_logs".into(),
        args: "{}".into(),
        reason: None,
        context: None,
        risk: "[]".into(),
        alternatives: "[]".into(),
        checkpoint: None,
        callback_url: None,
        status: CallStatus::Allowed,
        rule: None,
        message: None,
        approvals_required: None,
        approver_role: None,
        confirm: None,
        approval_ttl_ms: None,
        deadline: None,
        idempotency_key: None,
        response: "{}".into(),
        created_at: 0,
        workflow: None,
        wants_receipt: false,
    }
}

fn event(call_id: &str, agent_id: &str) -> OwnedEvent {
    OwnedEvent {
        at: chrono::Utc::now(),
        actor: "agent:bot".into(),
        kind: "call.proposed".into(),
        agent_id: Some(agent_id.into()),
        call_id: Some(call_id.into()),
        from_status: None,
        to_status: Some("allowed".into()),
        detail: serde_json::json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_call_finding_the_writers_queue_full_is_refused_busy_and_not_written() {
    let app = TestApp::spawn().await;
    app.agent("bot").await;
    let agent_id: String = askfirst::on!(app.pool(), |c| {
        sqlx::query_scalar("SELECT id FROM agents WHERE name = 'bot'")
            .fetch_one(c)
            .await
    })
    .unwrap();
    let metrics = Metrics::new();
    let writer = Writer::start_with_queue(app.pool().clone(), metrics.writer(), 2, || {});

    // The writer is busy with a job that waits to be released.
    let (started, is_started) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let holding = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .write(move |_conn| {
                    Box::pin(async move {
                        let _ = started.send(());
                        let _ = released.await;
                        Ok(())
                    })
                })
                .await
        }
    });
    is_started.await.unwrap();
    // Two more jobs fill its queue of two.
    let mut queued = Vec::new();
    for _ in 0..2 {
        let writer = writer.clone();
        queued.push(tokio::spawn(async move {
            writer.write(|_conn| Box::pin(async { Ok(()) })).await
        }));
    }
    while writer.queued() < 2 {
        tokio::task::yield_now().await;
    }

    // Answered at once, not after the queue drains (it never would: the writer is held).
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        writer.append_call(
            new_call("refused-call", &agent_id),
            event("refused-call", &agent_id),
            writer.arriving(),
        ),
    )
    .await
    .expect("refused at once, not queued")
    .unwrap_err();
    assert!(matches!(refused, AppError::Busy(1)), "{refused:?}");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.retry_after(), Some(1));

    release.send(()).unwrap();
    holding.await.unwrap().unwrap();
    for job in queued {
        job.await.unwrap().unwrap();
    }
    // With room again, the same call is taken and written.
    writer
        .append_call(
            new_call("taken-call", &agent_id),
            event("taken-call", &agent_id),
            writer.arriving(),
        )
        .await
        .unwrap();
    let stored: Vec<String> = askfirst::on!(app.pool(), |c| {
        sqlx::query_scalar("SELECT id FROM calls WHERE id IN ('refused-call', 'taken-call')")
            .fetch_all(c)
            .await
    })
    .unwrap();
    assert_eq!(stored, ["taken-call"]);
    app.stop().await;
}
