//! People deciding on pending calls — the same checks whether the decision comes from the
//! browser or the CLI: role, distinct approvers, one deny vetoes, typed confirmation, the
//! deadline, and argument edits.

use super::{lifecycle::settle_in, Gate};
use crate::clock::to_millis;
use crate::domain::call::{limits, CallEvent, CallStatus, CallView};
use crate::domain::error::StateCode;
use crate::domain::{AppError, Role, UserView};
use crate::store::{self, calls};
use chrono::Duration;
use serde_json::{json, Value};

/// A person's decision.
#[derive(Debug, Clone, Default)]
pub struct DecisionInput {
    /// Approve (`true`) or deny (`false`).
    pub approve: bool,
    /// Required when denying; returned verbatim to the agent.
    pub feedback: Option<String>,
    /// The typed confirmation phrase, when the rule asks for one.
    pub confirm: Option<String>,
    /// Replacement arguments (approve only): the agent must execute these.
    pub edited_args: Option<Value>,
}

/// What happened to a call that is no longer pending, in words.
fn no_longer_pending(status: CallStatus) -> String {
    match status {
        CallStatus::Expired => "the call expired before anyone decided".into(),
        CallStatus::Cancelled => "the agent cancelled the call".into(),
        CallStatus::Approved | CallStatus::Executed | CallStatus::Stale => {
            "the call was already approved".into()
        }
        CallStatus::Denied => "the call was already denied".into(),
        other => format!("the call is {other}, not pending"),
    }
}

impl Gate {
    /// Records `user`'s decision on a call and returns the call's view afterwards.
    pub async fn decide(
        &self,
        call_id: &str,
        user: &UserView,
        input: DecisionInput,
    ) -> Result<CallView, AppError> {
        if user.disabled {
            return Err(AppError::Forbidden("this account is disabled".into()));
        }
        let feedback = input
            .feedback
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        if feedback
            .as_ref()
            .is_some_and(|f| f.len() > limits::FEEDBACK)
        {
            return Err(AppError::Invalid(format!(
                "feedback is longer than {} bytes",
                limits::FEEDBACK
            )));
        }
        if !input.approve && feedback.is_none() {
            return Err(AppError::Invalid(
                "say why you deny: feedback is required".into(),
            ));
        }
        if let Some(args) = &input.edited_args {
            if !input.approve {
                return Err(AppError::Invalid(
                    "arguments can only be edited when approving".into(),
                ));
            }
            if !args.is_object() {
                return Err(AppError::Invalid(
                    "edited arguments must be a JSON object".into(),
                ));
            }
            limits::check_json("edited arguments", args)?;
        }

        let now = self.clock.now();
        let (id, user, fb) = (call_id.to_string(), user.clone(), feedback);
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = calls::get(&mut *conn, &id)
                        .await?
                        .ok_or_else(|| AppError::NotFound(format!("no call `{id}`")))?;
                    let needed: Role = row.approver_role.as_deref().and_then(|r| r.parse().ok()).unwrap_or(Role::Approver);
                    if !user.role.includes(needed) {
                        return Err(AppError::needs_role(needed));
                    }
                    let was = row.status();
                    let status = settle_in(conn, &row, now).await?;
                    if was == CallStatus::Pending && status == CallStatus::Expired {
                        return Ok(Err(AppError::State(
                            StateCode::DeadlinePassed,
                            "the decision deadline passed; the call expired".into(),
                        )));
                    }
                    if status != CallStatus::Pending {
                        return Ok(Err(AppError::State(StateCode::NotPending, no_longer_pending(status))));
                    }
                    let earlier = calls::decisions(&mut *conn, &id).await?;
                    if earlier.iter().any(|d| d.user_id == user.id) {
                        return Ok(Err(AppError::State(
                            StateCode::DuplicateApprover,
                            "you already decided on this call; another person must".into(),
                        )));
                    }
                    if input.approve {
                        if let Some(phrase) = &row.confirm {
                            if input.confirm.as_deref().map(str::trim) != Some(phrase.as_str()) {
                                return Err(AppError::Invalid(format!("type `{phrase}` exactly to approve")));
                            }
                        }
                    }
                    let actor = format!("user:{}", user.username);
                    let edited = input.edited_args.as_ref().map(Value::to_string);
                    calls::insert_decision(
                        &mut *conn,
                        &calls::DecisionRow {
                            call_id: id.clone(),
                            user_id: user.id.clone(),
                            username: user.username.clone(),
                            decision: if input.approve { "approve" } else { "deny" }.into(),
                            feedback: fb.clone(),
                            edited_args: edited.clone(),
                            at: to_millis(now),
                        },
                    )
                    .await?;

                    if !input.approve {
                        let changes = calls::Changes { message: fb.clone(), ..Default::default() };
                        let detail = json!({ "user": user.username, "feedback": fb });
                        calls::transition(conn, &row, CallStatus::Pending, CallEvent::Deny, now, &actor, changes, detail)
                            .await?;
                        return Ok(Ok(()));
                    }

                    if let Some(args) = &edited {
                        calls::set_candidate_args(&mut *conn, &id, args).await?;
                    }
                    let approvals = earlier.iter().filter(|d| d.decision == "approve").count() as i64 + 1;
                    let required = row.approvals_required.unwrap_or(1);
                    if approvals < required {
                        store::audit::append(
                            conn,
                            &store::audit::NewEvent {
                                at: now,
                                actor: &actor,
                                kind: "call.approval_recorded",
                                agent_id: Some(&row.agent_id),
                                call_id: Some(&row.id),
                                from_status: None,
                                to_status: None,
                                detail: json!({ "approvals": approvals, "required": required, "edited_args": edited.is_some() }),
                            },
                        )
                        .await?;
                        return Ok(Ok(()));
                    }
                    let final_args = match edited.or(row.approved_args.clone()) {
                        Some(text) => text,
                        None => row.args.clone(),
                    };
                    let value: Value = serde_json::from_str(&final_args)
                        .map_err(|e| AppError::Internal(format!("stored args unreadable: {e}")))?;
                    let ttl = Duration::milliseconds(row.approval_ttl_ms.unwrap_or(600_000));
                    let changes = calls::Changes {
                        message: fb.clone(),
                        approved_args: Some((final_args, store::json::hash(&value))),
                        approval_expires_at: Some(to_millis(now + ttl)),
                    };
                    let detail = json!({ "user": user.username, "approvals": approvals, "feedback": fb });
                    calls::transition(conn, &row, CallStatus::Pending, CallEvent::Approve, now, &actor, changes, detail)
                        .await?;
                    Ok(Ok(()))
                })
            })
            .await??;
        self.view(call_id, None).await
    }
}
