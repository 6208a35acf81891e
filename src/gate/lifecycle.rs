//! What happens to a call after it is proposed, from the agent's side: reading it (with
//! expiry applied on read), waiting for it, executing it exactly once, cancelling it —
//! and the deadline and approval-TTL expiry that the sweeper makes durable.

use super::{AgentInfo, Gate};
use crate::clock::to_millis;
use crate::domain::call::{
    limits, CallEvent, CallStatus, CallView, ExecuteRequest, ExecuteResponse, OutcomeRequest,
};
use crate::domain::error::StateCode;
use crate::domain::workflow::{self, Audience, DeadlineStep};
use crate::domain::AppError;
use crate::store::Conn;
use crate::store::{self, calls, calls::CallRow};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;

/// Longest long-poll an agent may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long a `running` call may go without its outcome before the sweeper records it
/// failed ("nobody reported how it went"): the agent or proxy that started it is gone.
pub const UNREPORTED_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// Applies whatever expiry is due to `row` inside a write transaction: a pending call past
/// its deadline expires, an approval past its TTL goes stale. Returns the status after.
pub async fn settle_in(
    conn: &mut Conn,
    row: &CallRow,
    now: DateTime<Utc>,
) -> Result<CallStatus, AppError> {
    let status = row.status();
    let Some(mut event) = is_due(row, now) else {
        return Ok(status);
    };
    if event == CallEvent::Deadline {
        let step = workflow::at_deadline(
            &row.workflow(),
            row.escalated_at.is_some(),
            row.created_at,
            row.deadline.unwrap_or(0),
        );
        match step {
            DeadlineStep::Expire => {}
            DeadlineStep::Deny => event = CallEvent::DeadlineDeny,
            DeadlineStep::Escalate { to, deadline_ms } => {
                escalate_in(conn, row, &to, deadline_ms, now).await?;
                return Ok(status);
            }
        }
    }
    let message = match event {
        CallEvent::Deadline => "nobody decided before the deadline",
        CallEvent::DeadlineDeny => {
            "nobody decided before the deadline, and this rule denies calls left undecided"
        }
        _ => "the approval expired unused; propose the call again",
    };
    let changes = calls::Changes {
        message: Some(message.into()),
        ..Default::default()
    };
    let to = calls::transition(conn, row, status, event, now, "system", changes, json!({})).await?;
    Ok(to.unwrap_or(status))
}

/// Hands a pending call whose deadline passed to its rule's fallback audience, once, with
/// a new deadline: for a group, the members who may approve (active, approver or above)
/// become the only reviewers. One audit event (`call.escalated`) says to whom and until when.
async fn escalate_in(
    conn: &mut Conn,
    row: &CallRow,
    to: &Audience,
    deadline_ms: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ids = match to {
        Audience::Role(_) => None,
        Audience::Group(_) => {
            let mut ids = Vec::new();
            for name in &row.workflow().group_members {
                if let Some(user) = store::users::find_by_username(&mut *conn, name).await? {
                    let user = user.view();
                    if !user.disabled && user.role.includes(crate::domain::Role::Approver) {
                        ids.push(user.id);
                    }
                }
            }
            Some(serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()))
        }
    };
    let old = row.deadline.unwrap_or(0);
    let moved = calls::escalate(
        &mut *conn,
        &row.id,
        old,
        deadline_ms,
        &to.as_text(),
        ids.as_deref(),
        to_millis(now),
    )
    .await?;
    if moved {
        store::audit::append(
            conn,
            &store::audit::NewEvent {
                at: now,
                actor: "system",
                kind: "call.escalated",
                agent_id: Some(&row.agent_id),
                call_id: Some(&row.id),
                from_status: None,
                to_status: None,
                detail: json!({
                    "to": to.as_text(),
                    "to_text": to.describe(),
                    "from_deadline": calls::rfc3339(old),
                    "deadline": calls::rfc3339(deadline_ms),
                    "tool": row.tool,
                    "rule": row.rule,
                }),
            },
        )
        .await?;
    }
    Ok(())
}

impl Gate {
    /// A call's row, if `agent` (when given) owns it. Other agents' calls are "not found".
    pub async fn call_row(&self, id: &str, agent: Option<&AgentInfo>) -> Result<CallRow, AppError> {
        let row = calls::get(&self.pool, id).await?;
        match row {
            Some(row) if agent.is_none_or(|a| a.id == row.agent_id) => Ok(row),
            _ => Err(AppError::NotFound(format!("no call `{id}`"))),
        }
    }

    /// Makes due expiry durable for one call; returns whether anything changed.
    pub async fn settle(&self, id: &str) -> Result<bool, AppError> {
        let now = self.clock.now();
        let id = id.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some(row) = calls::get(&mut *conn, &id).await? else {
                        return Ok(false);
                    };
                    Ok(settle_in(conn, &row, now).await? != row.status())
                })
            })
            .await
    }

    /// A call's current view, with due expiry applied first. Its receipt only for `agent`,
    /// the call's own: people's pages and the command line show a call, never the token a
    /// tool server would run it on.
    pub async fn view(&self, id: &str, agent: Option<&AgentInfo>) -> Result<CallView, AppError> {
        let mut row = self.call_row(id, agent).await?;
        if is_due(&row, self.clock.now()).is_some() {
            self.settle(id).await?;
            row = self.call_row(id, agent).await?;
        }
        let reviews = store::reviews::of_call(&self.pool, id).await?;
        let mut view = row.view(&reviews);
        if agent.is_some() {
            view.receipt = self
                .receipt_of(&view, row.created_at, row.wants_receipt)
                .await?;
        }
        Ok(view)
    }

    /// Waits up to `max` (capped at [`MAX_WAIT`]) for a call to leave `pending`; returns at
    /// once if it already has.
    pub async fn wait(
        &self,
        id: &str,
        agent: &AgentInfo,
        max: Duration,
    ) -> Result<CallView, AppError> {
        let end = tokio::time::Instant::now() + max.min(MAX_WAIT);
        let _open = self.metrics.long_poll();
        let waiter = self.hub.wait_on(id);
        let mut shutdown = self.hub.shutdown_signal();
        let mut first_deadline = None;
        loop {
            let notified = waiter.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Boxed, so the (large) query future takes no room while thousands wait.
            let view = Box::pin(self.view(id, Some(agent))).await?;
            // An extension or an escalation moves the deadline: the agent hears it at once.
            let moved = first_deadline
                .get_or_insert_with(|| view.deadline.clone())
                .as_ref()
                != view.deadline.as_ref();
            if view.status != CallStatus::Pending
                || moved
                || tokio::time::Instant::now() >= end
                || *shutdown.borrow_and_update()
            {
                return Ok(view);
            }
            // Every change — a decision, a cancel, the sweeper expiring the deadline, or a
            // change another process made (the watcher tails the audit log) — arrives as a
            // notification, so waiting costs nothing until then. A stopping server answers
            // with the call as it stands; the agent asks again.
            tokio::select! {
                _ = &mut notified => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep_until(end) => {}
            }
        }
    }

    /// The agent is about to execute: returns the approved arguments exactly once. With
    /// `report_outcome`, the call is `running` until the agent reports how it went.
    pub async fn execute(
        &self,
        id: &str,
        agent: &AgentInfo,
        req: ExecuteRequest,
    ) -> Result<ExecuteResponse, AppError> {
        self.call_row(id, Some(agent)).await?;
        let now = self.clock.now();
        let (id, actor) = (id.to_string(), format!("agent:{}", agent.name));
        let event = if req.report_outcome {
            CallEvent::Start
        } else {
            CallEvent::Execute
        };
        if req.jti.as_ref().is_some_and(|j| j.len() > 200) {
            return Err(AppError::Invalid(
                "`jti` is longer than 200 characters".into(),
            ));
        }
        let jti = req.jti;
        self.writer
            .write(move |conn| {
                Box::pin(
                    async move { execute_in(conn, &id, &actor, event, now, jti.as_deref()).await },
                )
            })
            .await?
    }

    /// The agent reports how running a `running` call went: `executed` when the tool
    /// returned a result (a success or an error of its own), `failed` when it did not.
    pub async fn report_outcome(
        &self,
        id: &str,
        agent: &AgentInfo,
        req: OutcomeRequest,
    ) -> Result<CallView, AppError> {
        let detail = req
            .detail
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if detail
            .as_ref()
            .is_some_and(|d| d.chars().count() > limits::OUTCOME_DETAIL)
        {
            return Err(AppError::Invalid(format!(
                "`detail` is longer than {} characters",
                limits::OUTCOME_DETAIL
            )));
        }
        self.call_row(id, Some(agent)).await?;
        let now = self.clock.now();
        let (cid, actor) = (id.to_string(), format!("agent:{}", agent.name));
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = call_in(conn, &cid).await?;
                    finish_in(conn, &row, req.result, detail, &actor, now).await
                })
            })
            .await??;
        self.view(id, Some(agent)).await
    }

    /// The agent withdraws a pending call.
    pub async fn cancel(&self, id: &str, agent: &AgentInfo) -> Result<CallView, AppError> {
        self.call_row(id, Some(agent)).await?;
        let now = self.clock.now();
        let (cid, actor) = (id.to_string(), format!("agent:{}", agent.name));
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = call_in(conn, &cid).await?;
                    let status = settle_in(conn, &row, now).await?;
                    if status != CallStatus::Pending {
                        return Ok(Err(AppError::State(
                            StateCode::NotPending,
                            format!("the call is {status}, not pending"),
                        )));
                    }
                    let changes = calls::Changes {
                        message: Some("cancelled by the agent".into()),
                        ..Default::default()
                    };
                    calls::transition(
                        conn,
                        &row,
                        CallStatus::Pending,
                        CallEvent::Cancel,
                        now,
                        &actor,
                        changes,
                        json!({}),
                    )
                    .await?;
                    Ok(Ok(()))
                })
            })
            .await??;
        self.view(id, Some(agent)).await
    }

    /// Expires every overdue pending call and every stale approval, and records as failed
    /// every running call nobody reported on for [`UNREPORTED_AFTER`]; returns how many.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut ids = calls::overdue(&self.pool, now, 500).await?;
        ids.extend(calls::stale_approvals(&self.pool, now, 500).await?);
        let mut changed = 0;
        for id in ids {
            if self.settle(&id).await? {
                changed += 1;
            }
        }
        for id in calls::unreported(&self.pool, now - UNREPORTED_AFTER, 500).await? {
            let moved = self
                .writer
                .write(move |conn| {
                    Box::pin(async move {
                        let Some(row) = calls::get(&mut *conn, &id).await? else {
                            return Ok(false);
                        };
                        let detail = format!(
                            "nobody reported how it went within {} hours of its start",
                            UNREPORTED_AFTER.num_hours()
                        );
                        let result = crate::domain::call::ExecutionResult::Failed;
                        let done =
                            finish_in(conn, &row, result, Some(detail), "askfirst", now).await?;
                        Ok(done.is_ok())
                    })
                })
                .await?;
            changed += usize::from(moved);
        }
        Ok(changed)
    }
}

/// The expiry due for `row` at `now`, if any.
pub fn is_due(row: &CallRow, now: DateTime<Utc>) -> Option<CallEvent> {
    row.status
        .due(row.deadline, row.approval_expires_at, to_millis(now))
}

/// Records how running `row` went, inside the write transaction; a refusal (it is not
/// running) in the inner `Result`.
async fn finish_in(
    conn: &mut Conn,
    row: &CallRow,
    result: crate::domain::call::ExecutionResult,
    detail: Option<String>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), AppError>, AppError> {
    if row.status != CallStatus::Running {
        return Ok(Err(AppError::State(
            StateCode::NotRunning,
            format!(
                "the call is {}, not running (an outcome is reported once, after `execute` \
                 with `report_outcome`)",
                row.status
            ),
        )));
    }
    let changes = calls::Changes {
        outcome: Some((result, detail.clone())),
        ..Default::default()
    };
    let audit_detail = json!({ "outcome": result.as_str(), "detail": detail });
    let moved = calls::transition(
        conn,
        row,
        CallStatus::Running,
        result.event(),
        now,
        actor,
        changes,
        audit_detail,
    )
    .await?;
    Ok(match moved {
        Some(_) => Ok(()),
        None => Err(AppError::State(
            StateCode::NotRunning,
            "the call's outcome was already reported".into(),
        )),
    })
}

/// Call `id`'s row, read inside a write — or "not found".
pub(crate) async fn call_in(conn: &mut Conn, id: &str) -> Result<CallRow, AppError> {
    calls::get(&mut *conn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no call `{id}`")))
}

/// The body of [`Gate::execute`], inside the write transaction. The outer `Result` fails
/// the job; the inner one is a refusal whose side effects (going stale) still commit.
async fn execute_in(
    conn: &mut Conn,
    id: &str,
    actor: &str,
    event: CallEvent,
    now: DateTime<Utc>,
    jti: Option<&str>,
) -> Result<Result<ExecuteResponse, AppError>, AppError> {
    let row = call_in(conn, id).await?;
    let status = settle_in(conn, &row, now).await?;
    let refuse = |code: StateCode, message: String| Ok(Err(AppError::State(code, message)));
    match status {
        CallStatus::Approved | CallStatus::Allowed => {
            if let Some(jti) = jti {
                // The receipt's jti is `<call>.<event that let it run>`: it must be the one
                // this call has now (an edit-and-reapprove makes a new one). An allowed call
                // has a receipt only when one was asked for.
                let signed = status == CallStatus::Approved || row.wants_receipt;
                let current = match signed {
                    true => store::audit::approval_of(&mut *conn, &row.id).await?,
                    false => None,
                }
                .map(|(event, ..)| super::receipts::jti(&row.id, event));
                if current.as_deref() != Some(jti) {
                    return refuse(
                        StateCode::ReceiptMismatch,
                        "`jti` is not this call's receipt".into(),
                    );
                }
            }
            let args = row.candidate_args()?;
            if status == CallStatus::Approved {
                let hash = store::json::hash(&args);
                let recorded = store::audit::approved_args_hash(&mut *conn, &row.id).await?;
                // Approvals recorded before hashes were written to the audit log fall back
                // to the row's own hash.
                let expected = recorded.or_else(|| row.approved_args_hash.clone());
                if expected.as_deref() != Some(hash.as_str()) {
                    tracing::error!(
                        call = %row.id,
                        expected = ?expected,
                        found = %hash,
                        "integrity error: the approved arguments do not match what the audit log recorded"
                    );
                    return refuse(
                        StateCode::ApprovalMismatch,
                        "the approved arguments do not match what was approved; \
                         they will not be executed (the incident is logged)"
                            .into(),
                    );
                }
            }
            let moved = calls::transition(
                conn,
                &row,
                status,
                event,
                now,
                actor,
                calls::Changes::default(),
                match jti {
                    Some(jti) => json!({ "jti": jti }),
                    None => json!({}),
                },
            )
            .await?;
            match moved {
                Some(to) => Ok(Ok(ExecuteResponse {
                    id: row.id,
                    status: to,
                    args,
                })),
                None => refuse(
                    StateCode::AlreadyExecuted,
                    "the call was already executed".into(),
                ),
            }
        }
        CallStatus::Executed | CallStatus::Running | CallStatus::Failed => refuse(
            StateCode::AlreadyExecuted,
            match status {
                CallStatus::Running => "the call is already running (it runs once)",
                CallStatus::Failed => "the call already ran, and failed; propose it again",
                _ => "the call was already executed",
            }
            .into(),
        ),
        CallStatus::Stale => refuse(
            StateCode::ApprovalStale,
            "the approval expired before execution; propose the call again".into(),
        ),
        other => refuse(
            StateCode::NotApproved,
            format!("the call is {other}, not approved"),
        ),
    }
}
