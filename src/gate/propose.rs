//! Proposing a call: validate, evaluate policy in memory, record durably, answer.
//! This is the hot path of every agent tool call.

use super::{AgentInfo, Gate};
use crate::clock::to_millis;
use crate::domain::bypass::ApprovedBy;
use crate::domain::call::{limits, CallEvent, CallStatus, ProposeRequest, ProposeResponse};
use crate::domain::AppError;
use crate::policy::{CallInput, Outcome};
use crate::store::{audit, bypasses, calls, grants};
use chrono::{Duration, SecondsFormat};
use serde_json::json;

/// Checks a session, tool or agent name an agent sent: 1–200 characters, something
/// visible, no control characters.
pub fn check_name(field: &str, value: &str) -> Result<(), AppError> {
    if !crate::domain::invisible::has_visible(value) {
        return Err(AppError::Invalid(format!(
            "`{field}` must have a visible character (not only spaces or invisible ones)"
        )));
    }
    if value.chars().count() > limits::NAME {
        return Err(AppError::Invalid(format!(
            "`{field}` is longer than {} characters",
            limits::NAME
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks a proposal against the documented limits; `max_args`: the largest arguments the
/// admin allows, in bytes.
pub fn validate(
    req: &ProposeRequest,
    idempotency_key: Option<&str>,
    max_args: usize,
) -> Result<(), AppError> {
    let name = check_name;
    name("session", &req.session)?;
    name("tool", &req.tool)?;
    if !req.args.is_object() {
        return Err(AppError::Invalid("`args` must be a JSON object".into()));
    }
    limits::check_args("args", &req.args, max_args)?;
    if let Some(context) = &req.context {
        if !context.is_object() {
            return Err(AppError::Invalid("`context` must be a JSON object".into()));
        }
        limits::check_json("context", context)?;
    }
    if let Some(checkpoint) = &req.checkpoint {
        limits::check_json("checkpoint", checkpoint)?;
    }
    // Written in bulk with other agents' calls: one the database refuses would fail them
    // all, so what PostgreSQL cannot store is refused here.
    if req.reason.as_ref().is_some_and(|r| r.contains('\0')) {
        return Err(AppError::Invalid(
            "`reason` must not contain the NUL character (U+0000)".into(),
        ));
    }
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > limits::REASON)
    {
        return Err(AppError::Invalid(format!(
            "`reason` is longer than {} characters",
            limits::REASON
        )));
    }
    if req.alternatives.len() > limits::ALTERNATIVES {
        return Err(AppError::Invalid(format!(
            "at most {} `alternatives`",
            limits::ALTERNATIVES
        )));
    }
    if req
        .alternatives
        .iter()
        .any(|a| a.chars().count() > limits::ALTERNATIVE)
    {
        return Err(AppError::Invalid(format!(
            "each alternative must be at most {} characters",
            limits::ALTERNATIVE
        )));
    }
    if let Some(url) = &req.callback_url {
        check_callback_url(url)?;
    }
    if let Some(key) = idempotency_key {
        let ok = !key.is_empty()
            && key.len() <= limits::IDEMPOTENCY_KEY
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(AppError::BadRequest(format!(
                "`Idempotency-Key` must be 1-{} visible ASCII characters",
                limits::IDEMPOTENCY_KEY
            )));
        }
    }
    Ok(())
}

/// A callback URL must be an absolute http(s) URL.
pub fn check_callback_url(url: &str) -> Result<(), AppError> {
    if url.chars().count() > limits::URL {
        return Err(AppError::Invalid(format!(
            "`callback_url` is longer than {} characters",
            limits::URL
        )));
    }
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(crate::domain::call::CALLBACK_URL_PATTERN)
            .expect("the callback URL pattern is a valid regex")
    });
    if !PATTERN.is_match(url) {
        return Err(AppError::Invalid(
            "`callback_url` must be an absolute http or https URL with a host name or IPv4 \
             address, an optional port, no user or password, and no spaces"
                .into(),
        ));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(AppError::Invalid(
            "`callback_url` must be an absolute http or https URL".into(),
        )),
    }
}

impl Gate {
    /// Proposes a call for `agent`. The same `idempotency_key` from the same agent returns
    /// the first answer and creates nothing new. An answer that lets the call run carries
    /// its receipt: always when approved at once, when allowed only if asked for.
    pub async fn propose(
        &self,
        agent: &AgentInfo,
        req: ProposeRequest,
        idempotency_key: Option<String>,
    ) -> Result<ProposeResponse, AppError> {
        let wanted = req.receipt || agent.receipts_always;
        let mut answer = self.propose_unsigned(agent, req, idempotency_key).await?;
        let may_run = match answer.status {
            CallStatus::Approved => true,
            CallStatus::Allowed | CallStatus::Running => wanted,
            _ => false,
        };
        if may_run && answer.receipt.is_none() {
            // The call as stored: the receipt binds what was recorded, not what was sent.
            answer.receipt = self.view(&answer.id, Some(agent)).await?.receipt;
        }
        Ok(answer)
    }

    async fn propose_unsigned(
        &self,
        agent: &AgentInfo,
        req: ProposeRequest,
        idempotency_key: Option<String>,
    ) -> Result<ProposeResponse, AppError> {
        // Counted until its job reaches the writer, so a commit under way waits for it.
        let arriving = self.writer.arriving();
        let wants_receipt = req.receipt || agent.receipts_always;
        let max_args = self.limits().max_args_bytes as usize;
        validate(&req, idempotency_key.as_deref(), max_args)?;
        let mut req = req;
        if let std::borrow::Cow::Owned(name) = crate::domain::tool_name::policy_name(&req.tool) {
            req.tool = name;
        }
        if let Some(url) = &req.callback_url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| AppError::Invalid("`callback_url` is not a URL".into()))?;
            if let Some(why) = super::callbacks::literal_refusal(&parsed, &agent.callback_origins) {
                return Err(AppError::Invalid(why));
            }
        }
        if let Some(key) = &idempotency_key {
            if let Some(first) = calls::response_for_key(&self.pool, &agent.id, key).await? {
                return replay(&first, &req.session, &req.tool, &req.args);
            }
        }

        let run_now = req.run_if_allowed;
        let repeat = self
            .repeated_denial(&agent.id, &req.tool, &req.args, to_millis(self.clock.now()))
            .await?;
        let policy = self.policy();
        let checking = std::time::Instant::now();
        // Evaluate assuming the call is not novel; only if a novelty rule was reached does
        // novelty matter, and only then is it looked up (an indexed read) and re-evaluated.
        let mut input = CallInput {
            agent: &agent.name,
            tool: &req.tool,
            args: &req.args,
            risk: &req.risk,
            novel: false,
        };
        let mut evaluation = policy.evaluate(&input);
        if evaluation.consulted_novelty
            && calls::is_novel(&self.pool, &agent.id, &req.session, &req.tool).await?
        {
            input.novel = true;
            evaluation = policy.evaluate(&input);
        }
        self.metrics.gate_checked(checking.elapsed());
        if req.join_open && repeat.is_none() && matches!(evaluation.outcome, Outcome::Gate { .. }) {
            if let Some(open) = self.open_identical(agent, &req.tool, &req.args).await? {
                return Ok(open);
            }
        }

        let now = self.clock.now();
        // Time-ordered ids: new rows land at the right edge of the id indexes instead of
        // dirtying a random page each, which keeps every group commit's WAL write small.
        let id = uuid::Uuid::now_v7().to_string();
        let mut response = ProposeResponse {
            id: id.clone(),
            status: CallStatus::Allowed,
            rule: evaluation.rule.clone(),
            risk: evaluation.risk.clone(),
            message: None,
            deadline: None,
            approvals_required: None,
            approved_by: None,
            approval_expires_at: None,
            denial: None,
            receipt: None,
        };
        let mut call = calls::NewCall {
            id: id.clone(),
            agent_id: agent.id.clone(),
            session: req.session,
            tool: req.tool,
            args: req.args.to_string(),
            reason: req.reason,
            context: req.context.map(|c| c.to_string()),
            // Straight to text (no intermediate `Value`); serialising these cannot fail.
            risk: serde_json::to_string(&evaluation.risk).unwrap_or_else(|_| "[]".into()),
            alternatives: serde_json::to_string(&req.alternatives).unwrap_or_else(|_| "[]".into()),
            checkpoint: req.checkpoint.map(|c| c.to_string()),
            callback_url: req.callback_url,
            status: CallStatus::Allowed,
            rule: evaluation.rule,
            message: None,
            approvals_required: None,
            approver_role: None,
            confirm: None,
            approval_ttl_ms: None,
            deadline: None,
            idempotency_key: idempotency_key.clone(),
            response: String::new(),
            created_at: to_millis(now),
            workflow: None,
            wants_receipt,
        };
        let mut preapproved = None;
        let outcome = match &repeat {
            // A person said "do not retry" to this very call: the same answer, at once.
            Some(hit) => Outcome::Deny {
                message: hit.feedback.clone(),
            },
            None => evaluation.outcome,
        };
        if let Some(hit) = &repeat {
            response.rule = None;
            call.rule = None;
            response.denial = Some(crate::domain::call::Denial {
                feedback: hit.feedback.clone(),
                reason_code: hit.reason_code.clone(),
                retry: false,
                repeat_of: Some(hit.call_id.clone()),
            });
        }
        match outcome {
            // Started at once: the agent reports the outcome.
            Outcome::Allow if run_now => {
                response.status = CallStatus::Running;
                call.status = CallStatus::Running;
            }
            Outcome::Allow => {}
            Outcome::Deny { message } => {
                response.status = CallStatus::Denied;
                response.message = Some(message.clone());
                call.status = CallStatus::Denied;
                call.message = Some(message);
            }
            Outcome::Gate { settings, confirm } => {
                preapproved = self
                    .bypass_for(
                        &agent.name,
                        &call.tool,
                        &req.args,
                        confirm.is_some(),
                        to_millis(now),
                    )
                    .map(ApprovedBy::Bypass)
                    .or_else(|| {
                        // A grant is one approver's word: only while the rule still allows
                        // grants, and never for a typed confirmation, several approvals or
                        // destructive or irreversible risk — whatever the grant said.
                        settings.grant_max_secs?;
                        crate::domain::workflow::grant_refusal(
                            &evaluation.risk,
                            confirm.is_some(),
                            settings.approvals_required,
                        )
                        .is_none()
                        .then_some(())?;
                        self.grant_for(
                            &agent.id,
                            &call.tool,
                            call.rule.as_deref(),
                            &req.args,
                            to_millis(now),
                        )
                        .map(ApprovedBy::Grant)
                    });
                let workflow =
                    crate::domain::workflow::Workflow::of(&settings, &policy.policy().groups);
                call.workflow = serde_json::to_string(&workflow).ok();
                let deadline = now + Duration::seconds(settings.deadline_secs as i64);
                response.status = CallStatus::Pending;
                response.deadline = Some(deadline.to_rfc3339_opts(SecondsFormat::Millis, true));
                response.approvals_required = Some(settings.approvals_required);
                call.status = CallStatus::Pending;
                call.approvals_required = Some(settings.approvals_required as i64);
                call.approver_role = Some(settings.approver_role.as_str().to_string());
                call.confirm = confirm;
                call.approval_ttl_ms = Some(settings.approval_ttl_secs as i64 * 1000);
                call.deadline = Some(to_millis(deadline));
            }
        }
        if let Some(by) = preapproved {
            let by_grant = matches!(by, ApprovedBy::Grant(_));
            let answer = self
                .propose_preapproved(agent, call, response, by, &req.args, now)
                .await?;
            if by_grant && answer.status == CallStatus::Pending {
                // The grant ran out or no longer holds: forget it here at once.
                self.reload_grants().await?;
            }
            self.metrics.proposed(answer.status, answer.rule.as_deref());
            return Ok(answer);
        }
        // On a database several instances share, the cap is checked inside the write, which
        // is serialised with every instance's: only there are all their pending calls seen.
        let shared_cap = (call.status == CallStatus::Pending
            && self.shared
            && self.limits().max_pending_per_agent.is_some())
        .then(|| self.cap_of(&agent.id));
        // Held until the call is committed: the per-agent cap counts it meanwhile.
        let _slot = match call.status {
            CallStatus::Pending if shared_cap.is_none() => {
                Some(self.admit_pending(&agent.id).await?)
            }
            _ => None,
        };
        if call.idempotency_key.is_some() {
            // Kept only to replay the first answer to a retry with the same key.
            call.response = serde_json::to_string(&response)
                .map_err(|e| AppError::Internal(format!("serializing a response: {e}")))?;
        }

        // A gated call's proposal is version 1 of what people review: the audit log records
        // its hash as it records every later version's.
        let args_hash =
            (call.status == CallStatus::Pending).then(|| crate::store::json::hash(&req.args));
        let actor = format!("agent:{}", agent.name);
        let event = |call: &calls::NewCall| audit::OwnedEvent {
            at: now,
            actor: actor.clone(),
            kind: "call.proposed".into(),
            agent_id: Some(call.agent_id.clone()),
            call_id: Some(call.id.clone()),
            from_status: None,
            to_status: Some(call.status.as_str().into()),
            detail: match &args_hash {
                Some(hash) => json!({ "tool": call.tool, "rule": call.rule, "args_hash": hash }),
                None => json!({ "tool": call.tool, "rule": call.rule }),
            },
        };
        if call.idempotency_key.is_none() && repeat.is_none() && shared_cap.is_none() {
            // The hot path: written in bulk with whatever else is being proposed right now.
            let event = event(&call);
            self.writer.append_call(call, event, arriving).await?;
            self.metrics
                .proposed(response.status, response.rule.as_deref());
            return Ok(response);
        }
        let mut event = event(&call);
        // A repeat of a do-not-retry denial is recorded as that denial again.
        let repeat = repeat.map(|hit| {
            event.detail["repeat_of"] = json!(hit.call_id);
            hit.reason_code
        });
        // Handed over below as a job of its own; the writer need not wait for it.
        drop(arriving);
        let stored = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(key) = &call.idempotency_key {
                        if let Some(first) =
                            calls::response_for_key(&mut *conn, &call.agent_id, key).await?
                        {
                            return Ok(Some(replay_of(&first, &call)));
                        }
                    }
                    if let Some(cap) = &shared_cap {
                        super::limits::check_room(&mut *conn, &call.agent_id, cap).await?;
                    }
                    calls::insert(&mut *conn, &call).await?;
                    if let Some(reason_code) = &repeat {
                        calls::set_denial(&mut *conn, &call.id, reason_code.as_deref(), false)
                            .await?;
                    }
                    audit::append_many(conn, &[event]).await?;
                    Ok(None)
                })
            })
            .await?;
        match stored {
            Some(replayed) => replayed,
            None => {
                self.metrics
                    .proposed(response.status, response.rule.as_deref());
                Ok(response)
            }
        }
    }
}

impl Gate {
    /// Records a gated call an active bypass or remembered grant approves: in one
    /// transaction the bypass or grant is checked again (revoked, ended or used up
    /// meanwhile: the call stays pending, as policy said), the call is stored pending and
    /// moved to approved by it, and the use is counted — with the audit events of both.
    async fn propose_preapproved(
        &self,
        agent: &AgentInfo,
        mut call: calls::NewCall,
        pending: ProposeResponse,
        by: ApprovedBy,
        args: &serde_json::Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ProposeResponse, AppError> {
        let (subject, number) = match &by {
            ApprovedBy::Bypass(k) => ("bypass", *k),
            ApprovedBy::Grant(k) => ("grant", *k),
            ApprovedBy::People(_) => {
                return Err(AppError::Internal(
                    "people do not approve at proposal".into(),
                ))
            }
        };
        let by_actor = format!("{subject}:{number}");
        let used_kind = format!("{subject}.used");
        let now_ms = to_millis(now);
        let args_hash = crate::store::json::hash(args);
        let ttl_ms = call.approval_ttl_ms.unwrap_or(0);
        let mut approved = pending.clone();
        approved.status = CallStatus::Approved;
        approved.approved_by = Some(by.clone());
        approved.approval_expires_at = Some(calls::rfc3339(now_ms + ttl_ms));
        approved.deadline = None;
        approved.approvals_required = None;
        let actor = format!("agent:{}", agent.name);
        let answer = |r: &ProposeResponse| {
            serde_json::to_string(r)
                .map_err(|e| AppError::Internal(format!("serializing a response: {e}")))
        };
        let (pending_text, approved_text) = (answer(&pending)?, answer(&approved)?);
        let cap = self.cap_of(&agent.id);
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(key) = &call.idempotency_key {
                        if let Some(first) =
                            calls::response_for_key(&mut *conn, &call.agent_id, key).await?
                        {
                            return replay_of(&first, &call);
                        }
                    }
                    let used = match subject {
                        "bypass" => bypasses::use_once(&mut *conn, number, now_ms).await?,
                        _ => {
                            let holds = grant_holds(&mut *conn, number, &call, now).await?;
                            holds && grants::use_once(&mut *conn, number, now_ms).await?
                        }
                    };
                    if !used {
                        super::limits::check_room(&mut *conn, &call.agent_id, &cap).await?;
                    }
                    if call.idempotency_key.is_some() {
                        call.response = if used { approved_text } else { pending_text };
                    }
                    calls::insert(&mut *conn, &call).await?;
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "call.proposed",
                            agent_id: Some(&call.agent_id),
                            call_id: Some(&call.id),
                            from_status: None,
                            to_status: Some("pending"),
                            detail: json!({
                                "tool": call.tool, "rule": call.rule, "args_hash": args_hash,
                            }),
                        },
                    )
                    .await?;
                    if !used {
                        return Ok(pending);
                    }
                    let row = calls::get(&mut *conn, &call.id)
                        .await?
                        .ok_or_else(|| AppError::Internal("a new call vanished".into()))?;
                    calls::transition(
                        &mut *conn,
                        &row,
                        CallStatus::Pending,
                        CallEvent::Approve,
                        now,
                        &by_actor,
                        calls::Changes {
                            message: None,
                            approved_args: Some((call.args.clone(), args_hash.clone())),
                            approval_expires_at: Some(now_ms + ttl_ms),
                            ..Default::default()
                        },
                        json!({ "args_hash": args_hash, subject: number }),
                    )
                    .await?
                    .ok_or_else(|| AppError::Internal("a new call moved".into()))?;
                    match subject {
                        "bypass" => calls::set_bypass(&mut *conn, &call.id, number).await?,
                        _ => calls::set_grant(&mut *conn, &call.id, number).await?,
                    }
                    audit::append(
                        &mut *conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &by_actor,
                            kind: &used_kind,
                            agent_id: Some(&call.agent_id),
                            call_id: Some(&call.id),
                            from_status: None,
                            to_status: None,
                            detail: json!({ subject: number, "tool": call.tool, "args_hash": args_hash }),
                        },
                    )
                    .await?;
                    if subject == "grant" {
                        let row = grants::get(&mut *conn, number).await?;
                        if let Some(row) = row.filter(|r| r.status == crate::domain::grant::GrantStatus::UsedUp) {
                            audit::append(
                                conn,
                                &audit::NewEvent {
                                    at: now,
                                    actor: "system",
                                    kind: "grant.used_up",
                                    agent_id: Some(&row.agent_id),
                                    call_id: Some(&row.call_id),
                                    from_status: Some("active"),
                                    to_status: Some("used_up"),
                                    detail: json!({ "grant": number, "used": row.used }),
                                },
                            )
                            .await?;
                        }
                    }
                    Ok(approved)
                })
            })
            .await
    }
}

/// Whether grant `number` may still approve `call`: re-checked inside the writing
/// transaction against its giver as they are now and the rule in force (the call was just
/// evaluated under it). A grant that no longer holds is ended, with an audit event naming
/// why, and the call waits for people.
async fn grant_holds(
    conn: &mut crate::store::Conn,
    number: i64,
    call: &calls::NewCall,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AppError> {
    use crate::domain::grant::{withdrawal, CallUnderRule, GivenGrant};
    use crate::domain::risk::RiskClass;
    use crate::domain::Role;
    let Some(grant) = grants::get(&mut *conn, number).await? else {
        return Ok(false);
    };
    let giver = crate::store::users::find_by_id(&mut *conn, &grant.granted_by_id).await?;
    let given_risk: Vec<RiskClass> = serde_json::from_str(&grant.risk).unwrap_or_default();
    let risk: Vec<RiskClass> = serde_json::from_str(&call.risk).unwrap_or_default();
    let workflow: crate::domain::workflow::Workflow = call
        .workflow
        .as_deref()
        .and_then(|w| serde_json::from_str(w).ok())
        .unwrap_or_default();
    let why = withdrawal(
        &GivenGrant {
            given_ms: grant.created_at,
            window_ms: grant.ends_at - grant.created_at,
            uses: grant.max_uses.clamp(0, i64::from(u32::MAX)) as u32,
            risk: &given_risk,
            giver_active: giver.as_ref().is_some_and(|g| !g.disabled),
            giver_role: giver.as_ref().map_or(Role::Viewer, |g| g.role()),
            giver_since_ms: giver.as_ref().map_or(i64::MAX, |g| g.qualified_since),
        },
        &CallUnderRule {
            terms: workflow.grant.as_ref(),
            role: call
                .approver_role
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(Role::Approver),
            approvals: call.approvals_required.unwrap_or(1).max(1) as u32,
            confirm: call.confirm.is_some(),
            risk: &risk,
        },
    );
    let Some(why) = why else {
        return Ok(true);
    };
    if grants::withdraw(&mut *conn, number, to_millis(now)).await? {
        let detail = json!({ "why": why, "asked_by": call.id });
        super::workflow::audit_grant_ended(conn, now, &grant, detail).await?;
    }
    Ok(false)
}

/// The first answer to an idempotency key — when the key is used again for the same call
/// (session, tool and arguments). A key reused for another call is refused: answering
/// with the first call's verdict would tell the agent something about a call it did not
/// ask about.
fn replay(
    first: &calls::Keyed,
    session: &str,
    tool: &str,
    args: &serde_json::Value,
) -> Result<ProposeResponse, AppError> {
    let same_args =
        serde_json::from_str::<serde_json::Value>(&first.args).is_ok_and(|stored| &stored == args);
    if first.session != session || first.tool != tool || !same_args {
        return Err(AppError::State(
            crate::domain::error::StateCode::IdempotencyKeyReused,
            format!(
                "this Idempotency-Key was first used for another call (tool `{}`); a new \
                 call needs a new key",
                first.tool
            ),
        ));
    }
    parse_response(&first.response)
}

/// [`replay`] for a call about to be written.
fn replay_of(first: &calls::Keyed, call: &calls::NewCall) -> Result<ProposeResponse, AppError> {
    let args = serde_json::from_str(&call.args)
        .map_err(|e| AppError::Internal(format!("a new call's arguments: {e}")))?;
    replay(first, &call.session, &call.tool, &args)
}

fn parse_response(stored: &str) -> Result<ProposeResponse, AppError> {
    serde_json::from_str(stored)
        .map_err(|e| AppError::Internal(format!("stored response unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: impl FnOnce(&mut ProposeRequest)) -> ProposeRequest {
        let mut r: ProposeRequest =
            serde_json::from_value(json!({ "session": "s1", "tool": "deploy" })).unwrap();
        f(&mut r);
        r
    }

    /// The API document's name pattern and the server's check agree on every character,
    /// alone and after a visible one.
    #[test]
    fn the_documented_name_pattern_is_the_check() {
        let pattern = regex::Regex::new(&crate::domain::call::name_pattern()).unwrap();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            for name in [c.to_string(), format!("a{c}")] {
                assert_eq!(
                    pattern.is_match(&name),
                    check_name("tool", &name).is_ok(),
                    "{name:?}"
                );
            }
        }
    }

    #[test]
    fn validation() {
        let big = "x".repeat(limits::JSON_FIELD + 1);
        let cases: Vec<(&str, ProposeRequest, Option<&str>, Option<&str>)> = vec![
            ("minimal", req(|_| {}), None, None),
            (
                "empty tool",
                req(|r| r.tool = " ".into()),
                None,
                Some("invalid"),
            ),
            (
                "long session",
                req(|r| r.session = "s".repeat(201)),
                None,
                Some("invalid"),
            ),
            (
                "only invisible characters",
                req(|r| r.tool = "\u{200B}\u{202E} ".into()),
                None,
                Some("invalid"),
            ),
            (
                "only a Hangul filler",
                req(|r| r.tool = "\u{3164}".into()),
                None,
                Some("invalid"),
            ),
            (
                "only tag characters and a braille blank",
                req(|r| r.session = "\u{E0041}\u{2800}\u{FE0F}".into()),
                None,
                Some("invalid"),
            ),
            (
                "control char",
                req(|r| r.tool = "a\u{7}".into()),
                None,
                Some("invalid"),
            ),
            (
                "NUL in the reason",
                req(|r| r.reason = Some("a\u{0}b".into())),
                None,
                Some("invalid"),
            ),
            (
                "args not object",
                req(|r| r.args = json!([1])),
                None,
                Some("invalid"),
            ),
            (
                "args too big",
                req(|r| r.args = json!({ "blob": big })),
                None,
                Some("payload_too_large"),
            ),
            (
                "context not object",
                req(|r| r.context = Some(json!("x"))),
                None,
                Some("invalid"),
            ),
            (
                "too many alternatives",
                req(|r| r.alternatives = vec!["a".into(); 21]),
                None,
                Some("invalid"),
            ),
            (
                "bad url",
                req(|r| r.callback_url = Some("ftp://x".into())),
                None,
                Some("invalid"),
            ),
            (
                "relative url",
                req(|r| r.callback_url = Some("/hook".into())),
                None,
                Some("invalid"),
            ),
            (
                "good url",
                req(|r| r.callback_url = Some("http://127.0.0.1:9/h".into())),
                None,
                None,
            ),
            (
                "bad key",
                req(|_| {}),
                Some("has space"),
                Some("bad_request"),
            ),
            ("good key", req(|_| {}), Some("run-1/step-2"), None),
        ];
        for (name, r, key, expected) in cases {
            let got = validate(&r, key, limits::JSON_FIELD)
                .err()
                .map(|e| e.code());
            assert_eq!(got, expected, "{name}");
        }
    }
}
