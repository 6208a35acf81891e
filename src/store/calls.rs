//! SQL for `calls`, including the only code that changes a call's status:
//! [`transition`], a conditional write that follows [`CallStatus::apply`] and appends the
//! audit event (and the webhook outbox row) in the same transaction.

use super::reviews::ReviewRow;
use super::{audit, webhooks};
use crate::clock::{from_millis, to_millis};
use crate::domain::bypass::ApprovedBy;
use crate::domain::call::{
    CallEvent, CallStatus, CallView, CandidateView, DecisionView, ExecutionResult,
};
use crate::domain::history::Page;
use crate::domain::review::{self, Requirements};
use crate::domain::workflow::{Audience, Workflow};
use crate::domain::{AppError, Role};
use crate::store::{Conn, Executor};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::FromRow;

/// A row of `calls` joined with its agent's name.
#[derive(Debug, Clone, FromRow)]
pub struct CallRow {
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub session: String,
    pub tool: String,
    pub args: String,
    pub reason: Option<String>,
    pub context: Option<String>,
    pub risk: String,
    pub alternatives: String,
    pub checkpoint: Option<String>,
    pub callback_url: Option<String>,
    pub status: CallStatus,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub approvals_required: Option<i64>,
    pub approver_role: Option<Role>,
    pub confirm: Option<String>,
    pub approval_ttl_ms: Option<i64>,
    pub deadline: Option<i64>,
    /// While pending: the current candidate's arguments when an approver edited them
    /// (`None`: the proposal). Once approved: what may be executed.
    pub approved_args: Option<String>,
    pub approved_args_hash: Option<String>,
    pub approval_expires_at: Option<i64>,
    pub idempotency_key: Option<String>,
    pub response: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub executed_at: Option<i64>,
    /// The current candidate: 1 is the proposal, each edit adds one.
    pub candidate: i64,
    /// The bypass that approved it, if one did.
    pub bypass_id: Option<i64>,
    /// The workflow its rule gave it (JSON; `None`: the defaults).
    pub workflow: Option<String>,
    pub escalated_at: Option<i64>,
    pub escalated_to: Option<String>,
    /// JSON ids of the group members an escalation to a group handed the call to.
    pub escalated_ids: Option<String>,
    pub extensions: i64,
    pub reason_code: Option<String>,
    pub retry: Option<bool>,
    /// The grant that approved it, if one did.
    pub grant_id: Option<i64>,
    /// How running it went, when the agent reported it.
    pub outcome: Option<ExecutionResult>,
    pub outcome_detail: Option<String>,
    pub finished_at: Option<i64>,
    /// Whether the proposal asked for a receipt should policy allow it (or its agent
    /// always gets one).
    pub wants_receipt: bool,
}

const SELECT: &str = "SELECT c.id, c.agent_id, a.name AS agent_name, c.session, c.tool, c.args,
    c.reason, c.context, c.risk, c.alternatives, c.checkpoint, c.callback_url, c.status, c.rule,
    c.message, c.approvals_required, c.approver_role, c.confirm, c.approval_ttl_ms, c.deadline,
    c.approved_args, c.approved_args_hash, c.approval_expires_at, c.idempotency_key, c.response,
    c.created_at, c.decided_at, c.executed_at, c.candidate, c.bypass_id, c.workflow,
    c.escalated_at, c.escalated_to, c.escalated_ids, c.extensions, c.reason_code, c.retry,
    c.grant_id, c.outcome, c.outcome_detail, c.finished_at, c.wants_receipt
    FROM calls c JOIN agents a ON a.id = c.agent_id";

impl CallRow {
    /// The status.
    pub fn status(&self) -> CallStatus {
        self.status
    }

    /// The arguments of the current candidate (once approved: the approved ones).
    pub fn candidate_args(&self) -> Result<serde_json::Value, AppError> {
        let text = self.approved_args.as_deref().unwrap_or(&self.args);
        serde_json::from_str(text).map_err(|e| {
            AppError::Internal(format!(
                "call {}: stored arguments unreadable: {e}",
                self.id
            ))
        })
    }

    /// The workflow its rule gave it.
    pub fn workflow(&self) -> Workflow {
        self.workflow
            .as_deref()
            .and_then(|w| serde_json::from_str(w).ok())
            .unwrap_or_default()
    }

    /// Who decides it after an escalation, if it was escalated.
    pub fn escalation(&self) -> Option<Audience> {
        self.escalated_to
            .as_deref()
            .and_then(|t| Audience::parse(t).ok())
    }

    /// A person's denial as the agent must respect it (`None` for other calls).
    pub fn denial(&self) -> Option<crate::domain::call::Denial> {
        let by_person = self.status == CallStatus::Denied && self.retry.is_some();
        by_person.then(|| crate::domain::call::Denial {
            feedback: self.message.clone().unwrap_or_default(),
            reason_code: self.reason_code.clone(),
            retry: self.retry.unwrap_or(true),
            repeat_of: None,
        })
    }

    /// What a review of this call needs now: after an escalation, the higher of the rule's
    /// role and the fallback role, or only those members of the fallback group who hold the rule's role (a group narrows
    /// who may decide, never lowers the role). Where the rule needs more than an approver,
    /// reviewers qualify only from before the call was proposed, as for a sign-off.
    pub fn requirements(&self) -> Requirements {
        let mut role = self.approver_role.unwrap_or(Role::Approver);
        let mut only = None;
        match self.escalation() {
            // An escalation widens who is asked; it never lowers the role the rule needs.
            Some(Audience::Role(to)) => role = role.max(to),
            Some(Audience::Group(name)) => {
                if self.workflow().overrides_role {
                    // The policy declared this group decides whatever its members' roles.
                    role = Role::Approver;
                }
                let ids: Vec<String> = self
                    .escalated_ids
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or_default();
                only = Some((name, ids));
            }
            None => {}
        }
        let approvals = self.approvals_required.unwrap_or(1).max(1) as u32;
        Requirements {
            approvals,
            role,
            excluded: Vec::new(),
            deadline_ms: self.deadline,
            confirm: self.confirm.clone(),
            only,
            filed_ms: review::call_needs_standing(role, approvals).then_some(self.created_at),
        }
    }

    /// The call's view, with its reviews.
    pub fn view(&self, reviews: &[ReviewRow]) -> CallView {
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        let opt_json = |s: &Option<String>| s.as_deref().map(json);
        let proposed = json(&self.args);
        let args = opt_json(&self.approved_args).unwrap_or_else(|| proposed.clone());
        let candidate = self.candidate.max(1) as u32;
        let engine: Vec<review::Review> = reviews.iter().map(ReviewRow::engine).collect();
        let requirements = self.requirements();
        let gated = self.approvals_required.is_some();
        CallView {
            id: self.id.clone(),
            agent: self.agent_name.clone(),
            session: self.session.clone(),
            tool: self.tool.clone(),
            candidate: gated.then(|| CandidateView {
                version: candidate,
                hash: super::json::hash(&args),
                args: args.clone(),
            }),
            args,
            proposed_args: proposed,
            reason: self.reason.clone(),
            context: opt_json(&self.context),
            risk: serde_json::from_str(&self.risk).unwrap_or_default(),
            alternatives: serde_json::from_str(&self.alternatives).unwrap_or_default(),
            status: self.status,
            rule: self.rule.clone(),
            message: self.message.clone(),
            approvals_required: self.approvals_required.map(|n| n as u32),
            approvals: review::approvals(&engine, candidate, &requirements),
            decisions: reviews
                .iter()
                .map(|r| r.view(candidate, &requirements))
                .collect(),
            confirm: self.confirm.clone(),
            deadline: self.deadline.map(rfc3339),
            extensions: self.extensions.max(0) as u32,
            escalated: self.escalated_at.zip(self.escalation()).map(|(at, to)| {
                crate::domain::call::Escalation {
                    at: rfc3339(at),
                    to: to.as_text(),
                    to_text: if self.workflow().overrides_role {
                        format!(
                            "{} (its members decide whatever their role, as the policy says)",
                            to.describe()
                        )
                    } else {
                        to.describe()
                    },
                }
            }),
            denial: self.denial(),
            approval_expires_at: self.approval_expires_at.map(rfc3339),
            checkpoint: opt_json(&self.checkpoint),
            callback_url: self.callback_url.clone(),
            approved_by: self.approved_by(reviews, candidate, &requirements),
            created_at: rfc3339(self.created_at),
            decided_at: self.decided_at.map(rfc3339),
            executed_at: self.executed_at.map(rfc3339),
            outcome: self.outcome,
            outcome_detail: self.outcome_detail.clone(),
            receipt: None,
            finished_at: self.finished_at.map(rfc3339),
        }
    }
}

impl CallRow {
    /// Who approved it: its bypass, or the people whose approvals of the final arguments
    /// count. `None` while it is not approved (or was never gated).
    fn approved_by(
        &self,
        reviews: &[ReviewRow],
        candidate: u32,
        requirements: &Requirements,
    ) -> Option<ApprovedBy> {
        if let Some(id) = self.bypass_id {
            return Some(ApprovedBy::Bypass(id));
        }
        if let Some(id) = self.grant_id {
            return Some(ApprovedBy::Grant(id));
        }
        let approved = matches!(
            self.status,
            CallStatus::Approved
                | CallStatus::Executed
                | CallStatus::Stale
                | CallStatus::Running
                | CallStatus::Failed
        ) && self.approvals_required.is_some();
        approved.then(|| {
            ApprovedBy::People(
                reviews
                    .iter()
                    .filter(|r| r.view(candidate, requirements).counts)
                    .map(|r| r.username.clone())
                    .collect(),
            )
        })
    }
}

impl ReviewRow {
    /// The review as people and agents see it; `current` is the call's current candidate,
    /// `requirements` what it needs now.
    pub fn view(&self, current: u32, requirements: &Requirements) -> DecisionView {
        let engine = self.engine();
        DecisionView {
            counts: engine.verdict == review::Verdict::Approve
                && review::approvals(std::slice::from_ref(&engine), current, requirements) == 1,
            user: self.username.clone(),
            decision: self.decision,
            feedback: self.feedback.clone(),
            edited_args: self.edited,
            version: self.version.max(1) as u32,
            current: self.version.max(1) as u32 == current,
            at: rfc3339(self.at),
        }
    }
}

/// Milliseconds as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    from_millis(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new call, as policy decided it.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: String,
    pub agent_id: String,
    pub session: String,
    pub tool: String,
    pub args: String,
    pub reason: Option<String>,
    pub context: Option<String>,
    pub risk: String,
    pub alternatives: String,
    pub checkpoint: Option<String>,
    pub callback_url: Option<String>,
    pub status: CallStatus,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub approvals_required: Option<i64>,
    pub approver_role: Option<String>,
    pub confirm: Option<String>,
    pub approval_ttl_ms: Option<i64>,
    pub deadline: Option<i64>,
    pub idempotency_key: Option<String>,
    pub response: String,
    pub created_at: i64,
    /// JSON of the rule's workflow, when it is not the default.
    pub workflow: Option<String>,
    /// A receipt is signed should policy allow it.
    pub wants_receipt: bool,
}

/// Inserts a call.
pub async fn insert(conn: &mut Conn, c: &NewCall) -> sqlx::Result<()> {
    insert_many(conn, &[c]).await
}

/// Inserts many calls with multi-row statements.
pub async fn insert_many(conn: &mut Conn, calls: &[&NewCall]) -> sqlx::Result<()> {
    for chunk in super::power_of_two_chunks(calls, INSERT_CHUNK) {
        let sql = super::marks_for(super::Backend::of_conn(conn), insert_sql(chunk.len()));
        on!(&mut *conn, |cn| {
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = bind_new!(q, c);
            }
            q.execute(cn).await.map(super::Done::from)
        })?;
    }
    Ok(())
}

/// Most calls in one multi-row INSERT (SQLite limits bound variables).
pub const INSERT_CHUNK: usize = 256;

/// The INSERT of `n` new calls, with unnumbered `?` marks ([`bind_new`] binds each call).
pub fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO calls (id, agent_id, session, tool, args, reason, context, risk, alternatives,
           checkpoint, callback_url, status, rule, message, approvals_required, approver_role,
           confirm, approval_ttl_ms, deadline, idempotency_key, response, created_at, decided_at,
           workflow, executed_at, wants_receipt)
         VALUES ",
    );
    sql +=
        &vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; n]
            .join(", ");
    sql
}

/// Binds one new call's row of [`insert_sql`] to a statement of either backend.
macro_rules! bind_new {
    ($q:expr, $c:expr) => {{
        let c: &$crate::store::calls::NewCall = $c;
        $q.bind(&c.id)
            .bind(&c.agent_id)
            .bind(&c.session)
            .bind(&c.tool)
            .bind(&c.args)
            .bind(&c.reason)
            .bind(&c.context)
            .bind(&c.risk)
            .bind(&c.alternatives)
            .bind(&c.checkpoint)
            .bind(&c.callback_url)
            .bind(c.status.as_str())
            .bind(&c.rule)
            .bind(&c.message)
            .bind(c.approvals_required)
            .bind(&c.approver_role)
            .bind(&c.confirm)
            .bind(c.approval_ttl_ms)
            .bind(c.deadline)
            .bind(&c.idempotency_key)
            .bind(&c.response)
            .bind(c.created_at)
            .bind((c.status != $crate::domain::call::CallStatus::Pending).then_some(c.created_at))
            .bind(&c.workflow)
            // Proposed with `run_if_allowed`: started at once.
            .bind((c.status == $crate::domain::call::CallStatus::Running).then_some(c.created_at))
            .bind(c.wants_receipt)
    }};
}
pub(crate) use bind_new;

/// One call.
pub async fn get(db: impl Executor<'_>, id: &str) -> sqlx::Result<Option<CallRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// The first answer to a proposal with this idempotency key, if any.
pub async fn response_for_key(
    db: impl Executor<'_>,
    agent_id: &str,
    key: &str,
) -> sqlx::Result<Option<Keyed>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT response, session, tool, args FROM calls
          WHERE agent_id = $1 AND idempotency_key = $2",
    )
    .bind(agent_id)
    .bind(key)
    .fetch_optional(cn)
    .await)
}

/// The call an agent's idempotency key was first used for: its answer, and what it was.
#[derive(Debug, Clone, FromRow)]
pub struct Keyed {
    /// The first answer (JSON of the `ProposeResponse`).
    pub response: String,
    pub session: String,
    pub tool: String,
    /// The proposed arguments (JSON).
    pub args: String,
}

/// Whether the agent has no allowed or executed call of `tool` in `session` yet.
pub async fn is_novel(
    db: impl Executor<'_>,
    agent_id: &str,
    session: &str,
    tool: &str,
) -> sqlx::Result<bool> {
    let seen: Option<String> = on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM calls WHERE agent_id = $1 AND session = $2 AND tool = $3
         AND status IN ('allowed', 'executed', 'running', 'failed') LIMIT 1",
    )
    .bind(agent_id)
    .bind(session)
    .bind(tool)
    .fetch_optional(cn)
    .await)?;
    Ok(seen.is_none())
}

/// The agent's pending or approved calls of `tool`, newest first, as `(id, proposed
/// arguments)`: what a retry of the same call may join (`ProposeRequest::join_open`).
pub async fn open_of_tool(
    db: impl Executor<'_>,
    agent_id: &str,
    tool: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, args FROM calls WHERE agent_id = $1 AND tool = $2
         AND status IN ('pending', 'approved') ORDER BY created_at DESC LIMIT $3",
    )
    .bind(agent_id)
    .bind(tool)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// The newest calls, newest first.
pub async fn recent(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<CallRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} ORDER BY c.created_at DESC, c.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Pending calls, soonest deadline first.
pub async fn pending(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<CallRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE c.status = 'pending' ORDER BY c.deadline, c.created_at LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Ids of pending calls whose deadline has passed.
pub async fn overdue(
    db: impl Executor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = 'pending' AND deadline <= $1 LIMIT $2"
    )
    .bind(to_millis(now))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Ids of approved calls whose approval has gone stale.
pub async fn stale_approvals(
    db: impl Executor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = 'approved' AND approval_expires_at <= $1 LIMIT $2",
    )
    .bind(to_millis(now))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Running calls started at or before `before` (no outcome reported since), oldest first.
pub async fn unreported(
    db: impl Executor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = 'running' AND executed_at <= $1
         ORDER BY executed_at LIMIT $2",
    )
    .bind(to_millis(before))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Makes an edit the call's current candidate and applies the requirements that hold for
/// it (never looser: the caller tightened them), if the call is still pending at
/// `candidate - 1`. Returns whether it did.
pub async fn set_candidate(
    db: impl Executor<'_>,
    call_id: &str,
    candidate: i64,
    args: &str,
    terms: &CandidateTerms,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE calls SET candidate = $1, approved_args = $2, approvals_required = $3,
            approver_role = $4, confirm = $5, approval_ttl_ms = $6, risk = $7
         WHERE id = $8 AND status = 'pending' AND candidate = $9",
    )
    .bind(candidate)
    .bind(args)
    .bind(terms.approvals_required)
    .bind(terms.approver_role)
    .bind(&terms.confirm)
    .bind(terms.approval_ttl_ms)
    .bind(&terms.risk)
    .bind(call_id)
    .bind(candidate - 1)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// What a pending call needs, as stored on its row.
#[derive(Debug, Clone)]
pub struct CandidateTerms {
    pub approvals_required: i64,
    pub approver_role: Role,
    pub confirm: Option<String>,
    pub approval_ttl_ms: i64,
    /// JSON array of risk classes.
    pub risk: String,
}

/// Column changes that come with a transition.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// New `message` (a denial's feedback, an expiry note).
    pub message: Option<String>,
    /// On approval: the arguments that may be executed and their hash, and until when.
    pub approved_args: Option<(String, String)>,
    pub approval_expires_at: Option<i64>,
    /// On finishing or failing a running call: how it went, and what the agent said.
    pub outcome: Option<(ExecutionResult, Option<String>)>,
}

/// Moves a call from `from` by `event`, if it is still in `from`. Returns the new status,
/// or `None` when the call was no longer in `from` (someone else moved it first).
///
/// In the same transaction: one audit event, and for calls leaving `pending` that have a
/// callback URL, a webhook outbox row.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    conn: &mut Conn,
    call: &CallRow,
    from: CallStatus,
    event: CallEvent,
    now: DateTime<Utc>,
    actor: &str,
    changes: Changes,
    detail: Value,
) -> sqlx::Result<Option<CallStatus>> {
    let Some(to) = from.apply(event) else {
        return Ok(None);
    };
    let now_ms = to_millis(now);
    let (approved_args, approved_hash) = changes.approved_args.unzip();
    let (outcome, outcome_detail) = changes.outcome.unzip();
    // Execution starts when it is reported (`executed`) or started (`running`); a running
    // call keeps its start when it finishes.
    let started = matches!(to, CallStatus::Executed | CallStatus::Running)
        && matches!(from, CallStatus::Approved | CallStatus::Allowed);
    let done = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE calls SET status = $1,
            message = COALESCE($2, message),
            approved_args = COALESCE($3, approved_args),
            approved_args_hash = COALESCE($4, approved_args_hash),
            approval_expires_at = COALESCE($5, approval_expires_at),
            decided_at = CASE WHEN $6 = 'pending' THEN $7 ELSE decided_at END,
            executed_at = COALESCE($8, executed_at),
            outcome = COALESCE($9, outcome),
            outcome_detail = COALESCE($10, outcome_detail),
            finished_at = COALESCE($11, finished_at)
         WHERE id = $12 AND status = $13",
    )
    .bind(to)
    .bind(&changes.message)
    .bind(approved_args)
    .bind(approved_hash)
    .bind(changes.approval_expires_at)
    .bind(from.as_str())
    .bind(now_ms)
    .bind(started.then_some(now_ms))
    .bind(outcome.map(ExecutionResult::as_str))
    .bind(outcome_detail.flatten())
    .bind(outcome.is_some().then_some(now_ms))
    .bind(&call.id)
    .bind(from.as_str())
    .execute(cn)
    .await
    .map(super::Done::from))?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let kind = format!("call.{to}");
    let event_id = audit::append(
        conn,
        &audit::NewEvent {
            at: now,
            actor,
            kind: &kind,
            agent_id: Some(&call.agent_id),
            call_id: Some(&call.id),
            from_status: Some(from.as_str()),
            to_status: Some(to.as_str()),
            detail,
        },
    )
    .await?;
    if from == CallStatus::Pending {
        if let Some(url) = &call.callback_url {
            webhooks::enqueue(&mut *conn, &call.id, url, event_id, now).await?;
        }
    }
    Ok(Some(to))
}

/// Filters of the inbox and history lists.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub risk: Option<String>,
    pub status: Option<String>,
}

/// Builds the WHERE clause of a list query; `statuses` restricts to those statuses.
fn filter_sql(filter: &ListFilter, statuses: &[&str]) -> (String, Vec<String>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut binds = Vec::new();
    // Statuses come from this module's constants and are written as literals, so SQLite can
    // use the partial indexes (`WHERE status = 'pending'`), which a bound parameter defeats.
    debug_assert!(statuses
        .iter()
        .all(|s| s.bytes().all(|b| b.is_ascii_lowercase())));
    match statuses {
        [] => {}
        [one] => sql += &format!(" AND c.status = '{one}'"),
        many => {
            let list: Vec<String> = many.iter().map(|s| format!("'{s}'")).collect();
            sql += &format!(" AND c.status IN ({})", list.join(", "));
        }
    }
    if let Some(agent) = &filter.agent {
        sql += " AND a.name = ?";
        binds.push(agent.clone());
    }
    if let Some(tool) = &filter.tool {
        sql += " AND c.tool = ?";
        binds.push(tool.clone());
    }
    if let Some(risk) = &filter.risk {
        // `risk` holds a JSON array of strings: the class, JSON-quoted, is one of its items.
        sql += " AND c.risk LIKE ? ESCAPE '\\'";
        binds.push(format!(
            "%{}%",
            super::like_escape(&Value::from(risk.as_str()).to_string())
        ));
    }
    if let Some(status) = &filter.status {
        sql += " AND c.status = ?";
        binds.push(status.clone());
    }
    (sql, binds)
}

/// Pending calls matching `filter`, soonest deadline first.
pub async fn pending_filtered(
    db: impl Executor<'_>,
    filter: &ListFilter,
    limit: i64,
) -> sqlx::Result<Vec<CallRow>> {
    let (clause, binds) = filter_sql(filter, &["pending"]);
    let sql = super::numbered(&format!(
        "{SELECT}{clause} ORDER BY c.deadline, c.created_at LIMIT ?"
    ));
    on!(db, |cn| {
        let mut q = sqlx::query_as(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q.bind(limit).fetch_all(cn).await
    })
}

/// How many pending calls each agent, tool and risk class has: `(dimension, value, count)`,
/// from one scan of the pending index.
pub async fn pending_counts(db: impl Executor<'_>) -> sqlx::Result<Vec<(String, String, i64)>> {
    let groups: Vec<(String, String, String, i64)> = on!(db, |cn| sqlx::query_as(
        "SELECT a.name, g.tool, g.risk, g.n FROM (
             SELECT agent_id, tool, risk, COUNT(*) AS n FROM calls
             WHERE status = 'pending' GROUP BY agent_id, tool, risk
         ) g JOIN agents a ON a.id = g.agent_id",
    )
    .fetch_all(cn)
    .await)?;
    let mut counts = std::collections::BTreeMap::<(&str, String), i64>::new();
    for (agent, tool, risk, n) in groups {
        *counts.entry(("agent", agent)).or_default() += n;
        *counts.entry(("tool", tool)).or_default() += n;
        let classes: Vec<String> = serde_json::from_str(&risk).unwrap_or_default();
        for class in classes {
            *counts.entry(("risk", class)).or_default() += n;
        }
    }
    Ok(counts
        .into_iter()
        .map(|((dimension, value), n)| (dimension.to_string(), value, n))
        .collect())
}

/// How many calls are pending, counted over a partial index that holds only pending rows
/// (the metrics scrape reads this, at most once a second).
pub async fn count_pending(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls WHERE status = 'pending'"
    )
    .fetch_one(cn)
    .await)
}

/// When a call was proposed (ms), if it exists.
pub async fn created_at(db: impl Executor<'_>, id: &str) -> sqlx::Result<Option<i64>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT created_at FROM calls WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// How many calls `agent_id` has pending, counting no further than `cap` (so the cost is
/// bounded by the cap, not by how many there are).
pub async fn pending_of_agent(
    db: impl Executor<'_>,
    agent_id: &str,
    cap: i64,
) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM calls
             WHERE agent_id = $1 AND status = 'pending' LIMIT $2) AS sub",
    )
    .bind(agent_id)
    .bind(cap)
    .fetch_one(cn)
    .await)
}

/// Where a walk through the pending calls got to: the last call read, as the order sorts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCursor {
    pub deadline: i64,
    pub created_at: i64,
    pub id: String,
}

/// The next `limit` pending calls after `after` in deadline order (then creation, then id):
/// the whole queue a page at a time, for what one person may decide.
pub async fn pending_after(
    db: impl Executor<'_>,
    after: Option<&PendingCursor>,
    limit: i64,
) -> sqlx::Result<Vec<CallRow>> {
    const ORDER: &str = " ORDER BY c.deadline, c.created_at, c.id LIMIT ?";
    match after {
        None => {
            let sql = super::numbered(&format!("{SELECT} WHERE c.status = 'pending'{ORDER}"));
            on!(db, |cn| sqlx::query_as(&sql)
                .bind(limit)
                .fetch_all(cn)
                .await)
        }
        Some(at) => {
            let sql = super::numbered(&format!(
                "{SELECT} WHERE c.status = 'pending' AND (c.deadline > ? OR (c.deadline = ? \
                 AND (c.created_at > ? OR (c.created_at = ? AND c.id > ?)))){ORDER}"
            ));
            on!(db, |cn| sqlx::query_as(&sql)
                .bind(at.deadline)
                .bind(at.deadline)
                .bind(at.created_at)
                .bind(at.created_at)
                .bind(at.id.clone())
                .bind(limit)
                .fetch_all(cn)
                .await)
        }
    }
}

/// Whether any agent has proposed a call yet.
pub async fn any_call(db: impl Executor<'_>) -> sqlx::Result<bool> {
    // `COUNT(*)` is a 64-bit integer on both backends (a bare `1` is 32-bit on PostgreSQL).
    let found: i64 = on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM calls LIMIT 1) AS c"
    )
    .fetch_one(cn)
    .await)?;
    Ok(found > 0)
}

/// How many pending calls match `filter`.
pub async fn pending_total(db: impl Executor<'_>, filter: &ListFilter) -> sqlx::Result<i64> {
    let (clause, binds) = filter_sql(filter, &["pending"]);
    let sql = super::numbered(&format!(
        "SELECT COUNT(*) FROM calls c JOIN agents a ON a.id = c.agent_id{clause}"
    ));
    on!(db, |cn| {
        let mut q = sqlx::query_scalar(&sql);
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_one(cn).await
    })
}

/// Calls that are no longer pending, newest first: `limit` of them from where `page` starts
/// (keyset paging over `(created_at, id)`: no page scans the rows before it). An `After`
/// page is read oldest first and handed back newest first.
pub async fn history(
    db: impl Executor<'_>,
    filter: &ListFilter,
    page: &Page,
    limit: i64,
) -> sqlx::Result<Vec<CallRow>> {
    let statuses = [
        "allowed",
        "denied",
        "approved",
        "expired",
        "cancelled",
        "executed",
        "stale",
        "running",
        "failed",
    ];
    let (mut clause, binds) = filter_sql(filter, &statuses);
    // The first condition is an index range on `created_at`; the second breaks ties.
    let (cursor, order) = match page {
        Page::Newest => (None, "DESC"),
        Page::Before(c) => {
            clause += " AND c.created_at <= ? AND (c.created_at < ? OR c.id < ?)";
            (Some(c), "DESC")
        }
        Page::After(c) => {
            clause += " AND c.created_at >= ? AND (c.created_at > ? OR c.id > ?)";
            (Some(c), "ASC")
        }
    };
    let sql = super::numbered(&format!(
        "{SELECT}{clause} ORDER BY c.created_at {order}, c.id {order} LIMIT ?"
    ));
    let mut rows: Vec<CallRow> = on!(db, |cn| {
        let mut q = sqlx::query_as(&sql);
        for b in binds {
            q = q.bind(b);
        }
        if let Some(c) = &cursor {
            q = q.bind(c.created_at).bind(c.created_at).bind(c.id.clone());
        }
        q.bind(limit).fetch_all(cn).await
    })?;
    if matches!(page, Page::After(_)) {
        rows.reverse();
    }
    Ok(rows)
}

/// How people decided this agent's calls of this tool: (status, decision time in ms).
pub async fn decision_stats(
    db: impl Executor<'_>,
    agent_id: &str,
    tool: &str,
) -> sqlx::Result<Vec<(CallStatus, i64)>> {
    on!(db, |cn| {
        sqlx::query_as(
        "SELECT status, decided_at - created_at FROM calls
         WHERE agent_id = $1 AND tool = $2 AND rule IS NOT NULL AND decided_at IS NOT NULL
           AND approvals_required IS NOT NULL AND status IN ('approved', 'executed', 'stale', 'denied')
         ORDER BY created_at DESC LIMIT 1000",
    )
    .bind(agent_id)
    .bind(tool)
    .fetch_all(cn)
    .await
    })
}

/// The calls of one agent session, oldest first.
pub async fn session_calls(
    db: impl Executor<'_>,
    agent_id: &str,
    session: &str,
    limit: i64,
) -> sqlx::Result<Vec<CallRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE c.agent_id = $1 AND c.session = $2 ORDER BY c.created_at LIMIT $3"
    ))
    .bind(agent_id)
    .bind(session)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Calls per agent and status among the newest `cap` calls since `since` (ms):
/// `(agent_id, status, count)`, read through the `created_at` index. The cap bounds the
/// work on a busy day (a million calls in 24 hours would take seconds to count).
pub async fn outcomes_since(
    db: impl Executor<'_>,
    since: i64,
    cap: i64,
) -> sqlx::Result<Vec<(String, CallStatus, i64)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT agent_id, status, COUNT(*) FROM (
             SELECT agent_id, status FROM calls WHERE created_at >= $1
             ORDER BY created_at DESC LIMIT $2
         ) AS sub GROUP BY agent_id, status",
    )
    .bind(since)
    .bind(cap)
    .fetch_all(cn)
    .await)
}

/// The newest `limit` calls a bypass approved, newest first.
pub async fn approved_by_bypass(
    db: impl Executor<'_>,
    bypass_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<CallRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE c.bypass_id = $1 ORDER BY c.created_at DESC LIMIT $2"
    ))
    .bind(bypass_id)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Records that a bypass approved a call (in the transaction that approves it).
pub async fn set_bypass(conn: &mut Conn, id: &str, bypass_id: i64) -> sqlx::Result<()> {
    on!(conn, |cn| sqlx::query(
        "UPDATE calls SET bypass_id = $1 WHERE id = $2"
    )
    .bind(bypass_id)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// What a bypass preview needs of a gated call (not the whole row).
#[derive(Debug, Clone, FromRow)]
pub struct PreviewRow {
    pub id: String,
    pub agent_name: String,
    pub tool: String,
    pub args: String,
    pub status: CallStatus,
    pub created_at: i64,
    /// Whether its gate asked for typed confirmation.
    pub confirm: bool,
    pub bypass_id: Option<i64>,
}

/// Streams the newest `limit` gated calls, newest first, one row at a time into `each`
/// (previews never hold thousands of argument documents at once).
pub async fn each_recent_gated(
    pool: &crate::store::Pool,
    limit: i64,
    mut each: impl FnMut(PreviewRow),
) -> sqlx::Result<u32> {
    use futures::TryStreamExt;
    on!(pool, |cn| {
        let mut rows = sqlx::query_as::<_, PreviewRow>(
            "SELECT c.id, a.name AS agent_name, c.tool, c.args, c.status, c.created_at,
                    c.confirm IS NOT NULL AS confirm, c.bypass_id
             FROM calls c JOIN agents a ON a.id = c.agent_id
             WHERE c.approvals_required IS NOT NULL ORDER BY c.created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch(cn);
        let mut seen = 0;
        while let Some(row) = rows.try_next().await? {
            seen += 1;
            each(row);
        }
        Ok(seen)
    })
}

/// Escalates a pending call whose deadline is still `deadline`: a new deadline and
/// audience (with the group members' ids, for a group). Returns whether it did.
pub async fn escalate(
    db: impl Executor<'_>,
    id: &str,
    deadline: i64,
    new_deadline: i64,
    to: &str,
    ids: Option<&str>,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| {
        sqlx::query(
        "UPDATE calls SET deadline = $1, escalated_at = $2, escalated_to = $3, escalated_ids = $4
         WHERE id = $5 AND status = 'pending' AND deadline = $6 AND escalated_at IS NULL",
    )
    .bind(new_deadline)
    .bind(now_ms)
    .bind(to)
    .bind(ids)
    .bind(id)
    .bind(deadline)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// Moves a pending call's deadline from `deadline` to `new_deadline`, counting one more
/// extension, if nobody moved it meanwhile. Returns whether it did.
pub async fn extend(
    db: impl Executor<'_>,
    id: &str,
    deadline: i64,
    extensions: i64,
    new_deadline: i64,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE calls SET deadline = $1, extensions = extensions + 1
         WHERE id = $2 AND status = 'pending' AND deadline = $3 AND extensions = $4",
    )
    .bind(new_deadline)
    .bind(id)
    .bind(deadline)
    .bind(extensions)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Records a person's denial's preset reason and whether the agent may retry.
pub async fn set_denial(
    db: impl Executor<'_>,
    id: &str,
    reason_code: Option<&str>,
    retry: bool,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE calls SET reason_code = $1, retry = $2 WHERE id = $3"
    )
    .bind(reason_code)
    .bind(retry)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Records the grant that approved a call.
pub async fn set_grant(db: impl Executor<'_>, id: &str, grant_id: i64) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE calls SET grant_id = $1 WHERE id = $2"
    )
    .bind(grant_id)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
