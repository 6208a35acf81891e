//! Bypasses: a person asks that gated calls matching a scope be approved without a person
//! for a window; it becomes active only when enough distinct eligible managers approve it
//! (the review engine decides), one deny vetoes, the request and the grant both expire, and
//! revoking it takes effect for the next gate check. Active bypasses are held in memory
//! (like the policy) and checked again inside the transaction that uses one.

use super::signoff::{
    self, current_reviewer, record, refused, requirements, review_views, Reviewed, Signed,
    SignoffInput,
};
use super::{AgentInfo, Gate};
use crate::clock::to_millis;
use crate::domain::bypass::{
    AgentBypass, BypassEvent, BypassList, BypassPage, BypassStatus, BypassView, Scope, ScopePreview,
};
use crate::domain::call::CallStatus;
use crate::domain::error::StateCode;
use crate::domain::inbox::key_args;
use crate::domain::review::{self, Outcome, Verdict};
use crate::domain::signoff::{CoveredCall, MAX_PENDING_PER_PERSON};
use crate::domain::{AppError, Role, UserView};
use crate::policy::scope::CompiledScope;
use crate::store::signoff_reviews::{self as reviews, SubjectKind};
use crate::store::Conn;
use crate::store::{self, audit, bypasses, bypasses::BypassRow, calls};
use serde_json::{json, Value};

/// Recent gated calls a scope preview looks at.
pub const PREVIEW_CALLS: i64 = 5_000;
/// Calls a preview lists.
pub const PREVIEW_LISTED: usize = 20;
/// Bypasses the list shows.
pub const LIST_LIMIT: i64 = 200;

/// A bypass request as submitted.
#[derive(Debug, Clone)]
pub struct BypassRequest {
    pub scope: Scope,
    /// How long it approves calls once active, in seconds.
    pub window_secs: u64,
    pub reason: String,
    /// Whether gates that ask for typed confirmation are bypassed too.
    pub include_confirmation: bool,
}

/// An active bypass, compiled, as the gate check holds it.
#[derive(Debug, Clone)]
pub struct ActiveBypass {
    pub id: i64,
    scope: CompiledScope,
    include_confirmation: bool,
    ends_at: i64,
}

/// What the reviewers' hash covers: scope, window, justification, confirmation flag.
fn subject_hash(scope: &Value, window_ms: i64, reason: &str, include_confirmation: bool) -> String {
    store::json::hash(&json!({
        "scope": scope,
        "window_ms": window_ms,
        "reason": reason,
        "include_confirmation": include_confirmation,
    }))
}

fn scope_of(row: &BypassRow) -> Result<Scope, AppError> {
    serde_json::from_str(&row.scope)
        .map_err(|e| AppError::Internal(format!("bypass {}: stored scope unreadable: {e}", row.id)))
}

/// A call a bypass would cover, as a preview lists it.
/// The recent gated calls one scope would have covered.
#[derive(Debug, Clone, Default)]
struct Coverage {
    matched: u32,
    /// Of them, how many a person (or a deadline) denied.
    denied: u32,
    /// The newest few.
    listed: Vec<CoveredCall>,
}

fn covered(row: &calls::PreviewRow, args: &Value) -> CoveredCall {
    CoveredCall {
        id: row.id.clone(),
        agent: row.agent_name.clone(),
        tool: row.tool.clone(),
        status: row.status.as_str().to_string(),
        created_at: calls::rfc3339(row.created_at),
        key_args: key_args(args, 3),
    }
}

/// A call a bypass approved, as its page lists it.
fn approved(row: &calls::CallRow) -> CoveredCall {
    let args: Value = serde_json::from_str(&row.args).unwrap_or(Value::Null);
    CoveredCall {
        id: row.id.clone(),
        agent: row.agent_name.clone(),
        tool: row.tool.clone(),
        status: row.status.as_str().to_string(),
        created_at: calls::rfc3339(row.created_at),
        key_args: key_args(&args, 3),
    }
}

/// The bypass as people see it.
fn view(row: &BypassRow, rows: &[reviews::SignoffReviewRow]) -> Result<BypassView, AppError> {
    let scope = scope_of(row)?;
    let req = requirements(
        row.approvals_required,
        Some(&row.requester_id),
        row.created_at,
        row.expires_at,
    );
    let engine: Vec<review::Review> = rows.iter().map(|r| r.engine()).collect();
    Ok(BypassView {
        id: row.id,
        requester: row.requester.clone(),
        scope_text: scope.describe(),
        scope,
        include_confirmation: row.include_confirmation,
        window_secs: (row.window_ms / 1000).max(0) as u64,
        reason: row.reason.clone(),
        hash: row.hash.clone(),
        status: row.status,
        approvals: review::approvals(&engine, 1, &req),
        approvals_required: row.approvals_required as u32,
        reviews: review_views(rows, 1, &req),
        created_at: calls::rfc3339(row.created_at),
        expires_at_ms: row.expires_at,
        activated_at: row.activated_at.map(calls::rfc3339),
        ends_at_ms: row.ends_at,
        resolved_at: row.resolved_at.map(calls::rfc3339),
        revoked_by: row.revoked_by.clone(),
        used: row.used,
    })
}

/// Settles a bypass whose request deadline or window has passed: one transition, one
/// audit event. Returns the row as it is afterwards.
async fn settle_in(
    conn: &mut Conn,
    row: BypassRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BypassRow, AppError> {
    let now_ms = to_millis(now);
    let Some(event) = row.status.due(row.expires_at, row.ends_at, now_ms) else {
        return Ok(row);
    };
    let changes = bypasses::Changes {
        resolved_at: Some(now_ms),
        ..Default::default()
    };
    if let Some(to) = bypasses::transition(&mut *conn, row.id, row.status, event, &changes).await? {
        let kind = match event {
            BypassEvent::WindowEnd => "bypass.ended",
            _ => "bypass.expired",
        };
        audit::append(
            conn,
            &audit::NewEvent {
                at: now,
                actor: "system",
                kind,
                agent_id: None,
                call_id: None,
                from_status: Some(row.status.as_str()),
                to_status: Some(to.as_str()),
                detail: json!({ "bypass": row.id, "used": row.used }),
            },
        )
        .await?;
    }
    bypasses::get(&mut *conn, row.id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no bypass #{}", row.id)))
}

fn what_became(status: BypassStatus) -> &'static str {
    match status {
        BypassStatus::Pending => "still pending",
        BypassStatus::Active => "approved and is active",
        BypassStatus::Denied => "denied",
        BypassStatus::Expired => "left unresolved until it expired",
        BypassStatus::Revoked => "revoked",
        BypassStatus::Ended => "active until its window ended",
    }
}

impl Gate {
    /// Files a bypass request for `user` (an approver or above); it waits for managers.
    pub async fn request_bypass(
        &self,
        user: &UserView,
        req: BypassRequest,
    ) -> Result<BypassView, AppError> {
        if user.disabled || !user.role.includes(Role::Approver) {
            return Err(AppError::Forbidden(
                "asking for a bypass needs the approver role".into(),
            ));
        }
        CompiledScope::compile(&req.scope).map_err(AppError::Invalid)?;
        let reason = req.reason.trim().to_string();
        if reason.is_empty() {
            return Err(AppError::Invalid(
                "say why the bypass is needed: a justification is required".into(),
            ));
        }
        signoff::text("the justification", &reason)?;
        let settings = self.signoff_settings().await?;
        if req.window_secs == 0 || req.window_secs > settings.max_window_secs {
            return Err(AppError::Invalid(format!(
                "the window must be between 1 second and {} (the admins' limit)",
                crate::domain::policy_change::duration_text(settings.max_window_secs)
            )));
        }
        let window_ms = req.window_secs as i64 * 1000;
        let scope = serde_json::to_value(&req.scope)
            .map_err(|e| AppError::Internal(format!("scope: {e}")))?;
        let hash = subject_hash(&scope, window_ms, &reason, req.include_confirmation);
        let now = self.clock.now();
        let now_ms = to_millis(now);
        let user = user.clone();
        let include_confirmation = req.include_confirmation;
        let row = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    if bypasses::pending_by(&mut *conn, &user.id).await? >= MAX_PENDING_PER_PERSON {
                        return Ok(Err(AppError::Conflict(format!(
                            "you already have {MAX_PENDING_PER_PERSON} bypass requests waiting; \
                             withdraw one before asking again"
                        ))));
                    }
                    let scope_text = scope.to_string();
                    let id = bypasses::insert(
                        &mut *conn,
                        &bypasses::NewBypass {
                            requester_id: &user.id,
                            requester: &user.username,
                            scope: &scope_text,
                            include_confirmation,
                            window_ms,
                            reason: &reason,
                            hash: &hash,
                            approvals_required: i64::from(settings.approvals),
                            created_at: now_ms,
                            expires_at: now_ms + settings.request_ttl_secs as i64 * 1000,
                        },
                    )
                    .await?;
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &format!("user:{}", user.username),
                            "bypass.requested",
                            None,
                            Some("pending"),
                            json!({
                                "bypass": id, "scope": scope, "window_ms": window_ms,
                                "reason": reason, "include_confirmation": include_confirmation,
                                "hash": hash, "approvals_required": settings.approvals,
                            }),
                        ),
                    )
                    .await?;
                    Ok(Ok(bypasses::get(&mut *conn, id).await?))
                })
            })
            .await??
            .ok_or_else(|| AppError::Internal("a new bypass vanished".into()))?;
        view(&row, &[])
    }

    /// Records `user`'s review of bypass `id`. The engine decides whether it counts; the
    /// review, and the activation or veto it causes, are written in one transaction, so
    /// concurrent reviews activate a bypass exactly once.
    pub async fn review_bypass(
        &self,
        id: i64,
        user: &UserView,
        input: SignoffInput,
    ) -> Result<BypassView, AppError> {
        let comment = input.comment()?;
        let now = self.clock.now();
        let user = user.clone();
        let (row, activated) = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let now_ms = to_millis(now);
                    let Some(row) = bypasses::get(&mut *conn, id).await? else {
                        return Ok(Err(AppError::NotFound(format!("no bypass #{id}"))));
                    };
                    let row = settle_in(&mut *conn, row, now).await?;
                    let subject = Signed {
                        kind: SubjectKind::Bypass,
                        id,
                        candidate: 1,
                        open: row.status == BypassStatus::Pending,
                        hash: &row.hash,
                        approvals: row.approvals_required,
                        requester: Some(&row.requester_id),
                        created_at: row.created_at,
                        deadline: row.expires_at,
                        resolved: what_became(row.status),
                        audit_kind: "bypass.reviewed",
                        audit_key: "bypass",
                    };
                    let Reviewed {
                        outcome,
                        approvers,
                        actor,
                    } = match record(conn, &subject, &user, &input, comment.as_deref(), now).await?
                    {
                        Ok(reviewed) => reviewed,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    let (event, changes, kind) = match outcome {
                        Outcome::Approved { approvals, .. } => (
                            BypassEvent::Approve,
                            bypasses::Changes {
                                activated_at: Some(now_ms),
                                ends_at: Some(now_ms + row.window_ms),
                                ..Default::default()
                            },
                            ("bypass.activated", approvals),
                        ),
                        Outcome::Vetoed { .. } => (
                            BypassEvent::Deny,
                            bypasses::Changes {
                                resolved_at: Some(now_ms),
                                ..Default::default()
                            },
                            ("bypass.denied", 0),
                        ),
                        Outcome::Recorded { .. } | Outcome::EditedOnly { .. } => {
                            let row = bypasses::get(&mut *conn, id).await?.unwrap_or(row);
                            return Ok(Ok((row, false)));
                        }
                    };
                    let to = bypasses::transition(&mut *conn, id, row.status, event, &changes)
                        .await?
                        .ok_or_else(|| AppError::Internal(format!("bypass #{id} moved")))?;
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            kind.0,
                            Some(row.status.as_str()),
                            Some(to.as_str()),
                            json!({
                                "bypass": id, "approvals": kind.1, "approvers": approvers,
                                "ends_at": changes.ends_at, "hash": row.hash,
                            }),
                        ),
                    )
                    .await?;
                    let row = bypasses::get(&mut *conn, id).await?.unwrap_or(row);
                    Ok(Ok((row, to == BypassStatus::Active)))
                })
            })
            .await??;
        if activated {
            self.reload_bypasses().await?;
        }
        let rows = reviews::of(&self.pool, SubjectKind::Bypass, id).await?;
        view(&row, &rows)
    }

    /// Revokes bypass `id` (or withdraws a pending request): its requester or any manager.
    /// The next gate check no longer uses it.
    pub async fn revoke_bypass(&self, id: i64, user: &UserView) -> Result<BypassView, AppError> {
        let now = self.clock.now();
        let user = user.clone();
        let row = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some(row) = bypasses::get(&mut *conn, id).await? else {
                        return Ok(Err(AppError::NotFound(format!("no bypass #{id}"))));
                    };
                    let me = current_reviewer(&mut *conn, &user).await?;
                    let may = !me.disabled
                        && (me.role.includes(Role::Manager) || me.id == row.requester_id);
                    if !may {
                        return Ok(Err(AppError::Forbidden(
                            "only its requester or a manager can revoke a bypass".into(),
                        )));
                    }
                    let row = settle_in(&mut *conn, row, now).await?;
                    let now_ms = to_millis(now);
                    let actor = format!("user:{}", me.username);
                    let changes = bypasses::Changes {
                        resolved_at: Some(now_ms),
                        revoked_by: Some(&me.username),
                        ..Default::default()
                    };
                    let Some(to) = bypasses::transition(
                        &mut *conn,
                        id,
                        row.status,
                        BypassEvent::Revoke,
                        &changes,
                    )
                    .await?
                    else {
                        return Ok(Err(AppError::State(
                            StateCode::NotActive,
                            format!("bypass #{id} is {}: there is nothing to revoke", row.status),
                        )));
                    };
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "bypass.revoked",
                            Some(row.status.as_str()),
                            Some(to.as_str()),
                            json!({ "bypass": id, "used": row.used }),
                        ),
                    )
                    .await?;
                    Ok(Ok(bypasses::get(&mut *conn, id).await?.unwrap_or(row)))
                })
            })
            .await??;
        self.reload_bypasses().await?;
        let rows = reviews::of(&self.pool, SubjectKind::Bypass, id).await?;
        view(&row, &rows)
    }

    /// Bypass `id` as `user` sees it: what it approved, what it would cover, and whether
    /// they may review or revoke it.
    pub async fn bypass_page(&self, id: i64, user: &UserView) -> Result<BypassPage, AppError> {
        let row = bypasses::get(&self.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no bypass #{id}")))?;
        let would_cover = if row.status == BypassStatus::Pending {
            let scope = CompiledScope::compile(&scope_of(&row)?).map_err(AppError::Internal)?;
            let (_, mut found) = self
                .scan_recent(&[(scope, row.include_confirmation)])
                .await?;
            found.pop().map(|c| c.listed).unwrap_or_default()
        } else {
            Vec::new()
        };
        self.page_of(row, user, would_cover).await
    }

    /// Streams the newest gated calls once and matches each against every scope
    /// (`include_confirmation` per scope; calls a bypass approved are skipped): how many
    /// calls were examined, and per scope how many matched and the first few. At most two
    /// scans run at once; the rest wait their turn.
    async fn scan_recent(
        &self,
        scopes: &[(CompiledScope, bool)],
    ) -> Result<(u32, Vec<Coverage>), AppError> {
        let _permit = self
            .previews
            .acquire()
            .await
            .map_err(|_| AppError::Internal("previews are shut".into()))?;
        let mut found: Vec<Coverage> = vec![Coverage::default(); scopes.len()];
        let examined = calls::each_recent_gated(&self.pool, PREVIEW_CALLS, |c| {
            if c.bypass_id.is_some() {
                return;
            }
            let args: Value = serde_json::from_str(&c.args).unwrap_or(Value::Null);
            for ((scope, include_confirmation), coverage) in scopes.iter().zip(found.iter_mut()) {
                if (!c.confirm || *include_confirmation)
                    && scope.matches(&c.agent_name, &c.tool, &args)
                {
                    coverage.matched += 1;
                    if c.status == CallStatus::Denied {
                        coverage.denied += 1;
                    }
                    if coverage.listed.len() < PREVIEW_LISTED {
                        coverage.listed.push(covered(&c, &args));
                    }
                }
            }
        })
        .await?;
        Ok((examined, found))
    }

    async fn page_of(
        &self,
        row: BypassRow,
        user: &UserView,
        would_cover: Vec<CoveredCall>,
    ) -> Result<BypassPage, AppError> {
        let now_ms = to_millis(self.clock.now());
        let rows = reviews::of(&self.pool, SubjectKind::Bypass, row.id).await?;
        let mut bypass = view(&row, &rows)?;
        // An unsettled deadline reads as what it is.
        if let Some(event) = row.status.due(row.expires_at, row.ends_at, now_ms) {
            bypass.status = row.status.apply(event).unwrap_or(row.status);
        }
        let req = requirements(
            row.approvals_required,
            Some(&row.requester_id),
            row.created_at,
            row.expires_at,
        );
        let engine: Vec<review::Review> = rows.iter().map(|r| r.engine()).collect();
        let subject = review::Subject {
            open: bypass.status == BypassStatus::Pending,
            candidate: 1,
            hash: &row.hash,
            requirements: &req,
            reviews: &engine,
        };
        let reviewer = super::decide::reviewer(user);
        let cannot_review = review::may_review(&subject, reviewer, now_ms)
            .err()
            .map(|r| refused(r, what_became(bypass.status)).to_string());
        let approved_calls = calls::approved_by_bypass(&self.pool, row.id, 50)
            .await?
            .iter()
            .map(approved)
            .collect();
        let eligible =
            store::users::qualified_managers(&self.pool, row.created_at, now_ms, &row.requester_id)
                .await?;
        Ok(BypassPage {
            can_revoke: !user.disabled
                && !bypass.status.is_final()
                && (user.role.includes(Role::Manager) || user.id == row.requester_id),
            bypass,
            approved_calls,
            would_cover,
            cannot_review,
            eligible_reviewers: eligible,
            account_changes: signoff::account_changes(&self.pool, row.created_at).await?,
            now_ms,
        })
    }

    /// Pending bypass requests with what each would cover, for the review page (the recent
    /// calls are read once for all of them).
    pub async fn pending_bypasses(&self, user: &UserView) -> Result<Vec<BypassPage>, AppError> {
        let now_ms = to_millis(self.clock.now());
        let pending: Vec<BypassRow> = bypasses::open(&self.pool)
            .await?
            .into_iter()
            .filter(|b| {
                b.status == BypassStatus::Pending
                    && b.status.due(b.expires_at, b.ends_at, now_ms).is_none()
            })
            .collect();
        let mut scopes = Vec::new();
        for row in &pending {
            let scope = CompiledScope::compile(&scope_of(row)?).map_err(AppError::Internal)?;
            scopes.push((scope, row.include_confirmation));
        }
        let found = if scopes.is_empty() {
            Vec::new()
        } else {
            self.scan_recent(&scopes).await?.1
        };
        let mut out = Vec::new();
        for (row, coverage) in pending.into_iter().zip(found) {
            out.push(self.page_of(row, user, coverage.listed).await?);
        }
        Ok(out)
    }

    /// How many pending bypass requests `user` may sign off now (what Home counts; no
    /// preview of what they would cover).
    pub async fn bypasses_awaiting(&self, user: &UserView) -> Result<u32, AppError> {
        let now_ms = to_millis(self.clock.now());
        let mut n = 0;
        for row in bypasses::open(&self.pool).await? {
            if row.status != BypassStatus::Pending
                || row
                    .status
                    .due(row.expires_at, row.ends_at, now_ms)
                    .is_some()
            {
                continue;
            }
            if self
                .page_of(row, user, Vec::new())
                .await?
                .cannot_review
                .is_none()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The newest bypasses of any status, with the request form's limits.
    pub async fn list_bypasses(&self) -> Result<BypassList, AppError> {
        let now_ms = to_millis(self.clock.now());
        let rows = bypasses::newest(&self.pool, LIST_LIMIT).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let all = reviews::of_many(&self.pool, SubjectKind::Bypass, &ids).await?;
        let settings = self.signoff_settings().await?;
        let mut out = Vec::new();
        for row in &rows {
            let mine: Vec<_> = all
                .iter()
                .filter(|r| r.subject_id == row.id)
                .cloned()
                .collect();
            let mut v = view(row, &mine)?;
            if let Some(event) = row.status.due(row.expires_at, row.ends_at, now_ms) {
                v.status = row.status.apply(event).unwrap_or(row.status);
            }
            out.push(v);
        }
        Ok(BypassList {
            bypasses: out,
            max_window_secs: settings.max_window_secs,
            approvals: settings.approvals,
            now_ms,
        })
    }

    /// The recent gated calls a scope would have covered (before a request is submitted).
    pub async fn preview_scope(
        &self,
        scope: &Scope,
        include_confirmation: bool,
    ) -> Result<ScopePreview, AppError> {
        let compiled = CompiledScope::compile(scope).map_err(AppError::Invalid)?;
        let (examined, mut found) = self
            .scan_recent(&[(compiled, include_confirmation)])
            .await?;
        let coverage = found.pop().unwrap_or_default();
        Ok(ScopePreview {
            scope_text: scope.describe(),
            calls: coverage.listed,
            examined,
            matched: coverage.matched,
            denied: coverage.denied,
        })
    }

    /// The active bypasses that cover `agent` (what `GET /api/v1/bypasses` answers).
    pub async fn agent_bypasses(&self, agent: &AgentInfo) -> Result<Vec<AgentBypass>, AppError> {
        let now_ms = to_millis(self.clock.now());
        let mut out = Vec::new();
        for row in bypasses::open(&self.pool).await? {
            if row.status != BypassStatus::Active
                || row
                    .status
                    .due(row.expires_at, row.ends_at, now_ms)
                    .is_some()
            {
                continue;
            }
            let scope = scope_of(&row)?;
            let covers = scope.agent.as_deref().is_none_or(|glob| {
                crate::policy::glob::Pattern::new(glob).is_ok_and(|p| p.matches(&agent.name))
            });
            if !covers {
                continue;
            }
            let rows = reviews::of(&self.pool, SubjectKind::Bypass, row.id).await?;
            let v = view(&row, &rows)?;
            out.push(AgentBypass {
                id: row.id,
                description: v.scope_text.clone(),
                scope: v.scope,
                include_confirmation: row.include_confirmation,
                reason: row.reason.clone(),
                requester: row.requester.clone(),
                approved_by: v
                    .reviews
                    .iter()
                    .filter(|r| r.verdict == Verdict::Approve)
                    .map(|r| r.user.clone())
                    .collect(),
                ends_at: calls::rfc3339(row.ends_at.unwrap_or(now_ms)),
            });
        }
        Ok(out)
    }

    /// Reads the active bypasses into memory (after one was activated, revoked or ended,
    /// here or in another process).
    pub async fn reload_bypasses(&self) -> Result<(), AppError> {
        let now_ms = to_millis(self.clock.now());
        let mut active = Vec::new();
        for row in bypasses::open(&self.pool).await? {
            if row.status != BypassStatus::Active {
                continue;
            }
            let scope = scope_of(&row)?;
            match CompiledScope::compile(&scope) {
                Ok(compiled) if row.ends_at.is_some_and(|t| t > now_ms) => {
                    active.push(ActiveBypass {
                        id: row.id,
                        scope: compiled,
                        include_confirmation: row.include_confirmation,
                        ends_at: row.ends_at.unwrap_or(0),
                    })
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(bypass = row.id, error = %e, "stored bypass scope invalid")
                }
            }
        }
        self.set_bypasses(active);
        Ok(())
    }

    /// The active bypass that approves a gated call now, if any (the oldest that covers
    /// it). `confirm`: the gate asks for typed confirmation.
    pub(super) fn bypass_for(
        &self,
        agent: &str,
        tool: &str,
        args: &Value,
        confirm: bool,
        now_ms: i64,
    ) -> Option<i64> {
        self.active_bypasses()
            .iter()
            .find(|b| {
                b.ends_at > now_ms
                    && (!confirm || b.include_confirmation)
                    && b.scope.matches(agent, tool, args)
            })
            .map(|b| b.id)
    }

    /// Ends bypass windows and expires unresolved requests whose time has come (the
    /// sweeper calls this); returns how many changed.
    pub async fn sweep_bypasses(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let due = bypasses::due(&self.pool, to_millis(now)).await?;
        let mut ended = false;
        let n = due.len();
        for row in due {
            ended |= row.status == BypassStatus::Active;
            self.writer
                .write(move |conn| {
                    Box::pin(async move { settle_in(conn, row, now).await.map(|_| ()) })
                })
                .await?;
        }
        if ended {
            self.reload_bypasses().await?;
        }
        Ok(n)
    }
}
