//! The approver workflow around a pending call: extending its deadline, remembered grants
//! (kept in memory like bypasses, re-checked inside the transaction that uses one), the
//! do-not-retry answer to a repeated call, and the admin's preset denial reasons.

use super::{signoff::current_reviewer, Gate};
use crate::clock::to_millis;
use crate::domain::error::StateCode;
use crate::domain::grant::{GrantView, GrantedCall};
use crate::domain::review;
use crate::domain::workflow::{self, DenialReasons, GrantMatch};
use crate::domain::{AppError, Role, UserView};
use crate::store::{self, audit, calls, grants, no_retry};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Settings key of the preset denial reasons.
pub const DENIAL_REASONS: &str = "denial_reasons";

/// An active grant, as the gate matches proposals against it.
#[derive(Debug, Clone)]
pub struct ActiveGrant {
    pub id: i64,
    pub agent_id: String,
    pub tool: String,
    pub rule: String,
    pub covers: GrantMatch,
    pub ends_at: i64,
}

impl Gate {
    /// Extends a pending call's deadline by `secs` for `user` (who must be able to review
    /// it), with a reason: at most twice, by at most the rule's allowance each time, never
    /// past the hard cap. Waiting agents hear the new deadline at once.
    pub async fn extend(
        &self,
        call_id: &str,
        user: &UserView,
        secs: u64,
        reason: &str,
    ) -> Result<crate::domain::call::CallView, AppError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(AppError::Invalid("say why the call needs more time".into()));
        }
        if reason.chars().count() > workflow::MAX_EXTEND_REASON
            || !crate::domain::signoff::is_plain(&reason)
        {
            return Err(AppError::Invalid(format!(
                "the reason is at most {} visible characters on one line",
                workflow::MAX_EXTEND_REASON
            )));
        }
        let add_ms = i64::try_from(secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let now = self.clock.now();
        let (id, user) = (call_id.to_string(), user.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = super::lifecycle::call_in(conn, &id).await?;
                    let me = current_reviewer(&mut *conn, &user).await?;
                    let reviews = store::reviews::of_call(&mut *conn, &id).await?;
                    let subject = super::decide::CallSubject::of(&row, &reviews)?;
                    let now_ms = to_millis(now);
                    // Whoever may review it may ask for more time — also after approving.
                    let may = review::may_review(
                        &subject.subject(),
                        super::decide::reviewer(&me),
                        now_ms,
                    );
                    match may {
                        Ok(()) | Err(review::Refusal::DuplicateReviewer) => {}
                        Err(review::Refusal::DeadlinePassed) => {
                            super::lifecycle::settle_in(conn, &row, now).await?;
                            return Ok(Err(AppError::State(
                                StateCode::DeadlinePassed,
                                "the deadline passed before the extension".into(),
                            )));
                        }
                        Err(review::Refusal::NotPending) => {
                            return Ok(Err(AppError::State(
                                StateCode::NotPending,
                                format!("the call is {}, not pending", row.status),
                            )))
                        }
                        Err(other) => return Ok(Err(other.into())),
                    }
                    let rule_ms = rule_deadline_ms(&row);
                    let deadline = row.deadline.unwrap_or(0);
                    let next = match workflow::extend(
                        &row.workflow(),
                        row.created_at,
                        rule_ms,
                        deadline,
                        row.extensions.max(0) as u32,
                        add_ms,
                        now_ms,
                    ) {
                        Ok(next) => next,
                        Err(refusal) => {
                            return Ok(Err(AppError::State(
                                StateCode::CannotExtend,
                                refusal.to_string(),
                            )))
                        }
                    };
                    if !calls::extend(&mut *conn, &id, deadline, row.extensions, next).await? {
                        return Ok(Err(AppError::State(
                            StateCode::StaleView,
                            "the deadline moved meanwhile — look again".into(),
                        )));
                    }
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &format!("user:{}", me.username),
                            kind: "call.extended",
                            agent_id: Some(&row.agent_id),
                            call_id: Some(&row.id),
                            from_status: None,
                            to_status: None,
                            detail: json!({
                                "from_deadline": calls::rfc3339(deadline),
                                "deadline": calls::rfc3339(next),
                                "extension": row.extensions + 1,
                                "reason": reason,
                            }),
                        },
                    )
                    .await?;
                    Ok(Ok(()))
                })
            })
            .await??;
        self.view(call_id, None).await
    }

    /// The preset denial reasons (the defaults until an admin saved a list).
    pub async fn denial_reasons(&self) -> Result<DenialReasons, AppError> {
        super::settings::read(&self.pool, DENIAL_REASONS).await
    }

    /// Saves the preset denial reasons (admins only).
    pub async fn set_denial_reasons(
        &self,
        admin: &UserView,
        reasons: DenialReasons,
    ) -> Result<(), AppError> {
        if admin.role != Role::Admin {
            return Err(AppError::Forbidden(
                "only admins edit denial reasons".into(),
            ));
        }
        reasons.check().map_err(AppError::Invalid)?;
        let now = self.clock.now();
        let actor = format!("user:{}", admin.username);
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    super::settings::save(conn, DENIAL_REASONS, &reasons, &actor, now).await
                })
            })
            .await
    }

    /// The do-not-retry denial a proposal repeats now, if any: the same agent and tool,
    /// arguments of the same meaning (`domain::meaning`), in any session. Skipped without a
    /// read while no such denial holds.
    pub(super) async fn repeated_denial(
        &self,
        agent_id: &str,
        tool: &str,
        args: &Value,
        now_ms: i64,
    ) -> Result<Option<no_retry::NoRetryRow>, AppError> {
        if self.no_retry_until.load(Ordering::Relaxed) <= now_ms {
            return Ok(None);
        }
        let hash = crate::domain::meaning::args_meaning_hash(args);
        let key = no_retry::Key {
            agent_id,
            tool,
            args_hash: &hash,
        };
        Ok(no_retry::find(&self.pool, key, now_ms).await?)
    }

    /// Notes that a do-not-retry denial holds until `until` (ms), here or in another
    /// process (the watcher reads it from the audit log).
    pub fn note_no_retry(&self, until: i64) {
        self.no_retry_until.fetch_max(until, Ordering::Relaxed);
    }

    /// Reads when the last do-not-retry denial ends (at start), after re-keying denials
    /// recorded before do-not-retry compared meaning (their calls' arguments rehashed).
    pub async fn reload_no_retry(&self) -> Result<(), AppError> {
        let legacy = no_retry::legacy(&self.pool).await?;
        if !legacy.is_empty() {
            let mut tx = store::write_tx(&self.pool).await?;
            for row in &legacy {
                let args = serde_json::from_str::<Value>(&row.args).map_err(|e| {
                    AppError::Internal(format!("a denied call's stored args are unreadable: {e}"))
                })?;
                let hash = crate::domain::meaning::args_meaning_hash(&args);
                no_retry::rekey(&mut tx, row, &hash).await?;
            }
            tx.commit().await?;
        }
        let now_ms = to_millis(self.clock.now());
        let until = no_retry::latest_until(&self.pool, now_ms).await?;
        self.note_no_retry(until);
        Ok(())
    }

    /// Reads the active grants into memory (after one was given, used up, revoked or
    /// ended, here or in another process).
    pub async fn reload_grants(&self) -> Result<(), AppError> {
        let now_ms = to_millis(self.clock.now());
        let mut active = Vec::new();
        for row in grants::active(&self.pool).await? {
            if row.ends_at <= now_ms || row.used >= row.max_uses {
                continue;
            }
            match serde_json::from_str::<GrantMatch>(&row.covers) {
                Ok(covers) => active.push(ActiveGrant {
                    id: row.id,
                    agent_id: row.agent_id,
                    tool: row.tool,
                    rule: row.rule,
                    covers,
                    ends_at: row.ends_at,
                }),
                Err(e) => tracing::error!(grant = row.id, error = %e, "stored grant unreadable"),
            }
        }
        *self.grants.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(active);
        Ok(())
    }

    /// The active grant that approves a gated call now, if any (the oldest that covers it).
    pub(super) fn grant_for(
        &self,
        agent_id: &str,
        tool: &str,
        rule: Option<&str>,
        args: &Value,
        now_ms: i64,
    ) -> Option<i64> {
        let grants = self
            .grants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if grants.is_empty() {
            return None;
        }
        let rule = rule?;
        let hash = store::json::hash(args);
        grants
            .iter()
            .find(|g| {
                g.ends_at > now_ms
                    && g.agent_id == agent_id
                    && g.tool == tool
                    && g.rule == rule
                    && g.covers.covers(args, &hash)
            })
            .map(|g| g.id)
    }

    /// Revokes a grant at once: its giver, or a manager or admin.
    pub async fn revoke_grant(&self, id: i64, user: &UserView) -> Result<(), AppError> {
        let now = self.clock.now();
        let user = user.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = grants::get(&mut *conn, id)
                        .await?
                        .ok_or_else(|| AppError::NotFound(format!("no grant #{id}")))?;
                    let me = current_reviewer(&mut *conn, &user).await?;
                    let may = !me.disabled
                        && (me.id == row.granted_by_id || me.role.includes(Role::Manager));
                    if !may {
                        return Err(AppError::Forbidden(
                            "only whoever gave a grant, or a manager, may revoke it".into(),
                        ));
                    }
                    let actor = format!("user:{}", me.username);
                    if !grants::revoke(&mut *conn, id, &actor, to_millis(now)).await? {
                        return Err(AppError::State(
                            StateCode::AlreadyResolved,
                            format!("grant #{id} is already {}", row.status.as_str()),
                        ));
                    }
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "grant.revoked",
                            agent_id: Some(&row.agent_id),
                            call_id: Some(&row.call_id),
                            from_status: Some("active"),
                            to_status: Some("revoked"),
                            detail: json!({ "grant": id, "used": row.used }),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        self.reload_grants().await
    }

    /// Ends grants whose window passed (the sweeper calls this); returns how many.
    pub async fn sweep_grants(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let now_ms = to_millis(now);
        let due = grants::due(&self.pool, now_ms).await?;
        let mut n = 0;
        for id in due {
            let ended = self
                .writer
                .write(move |conn| {
                    Box::pin(async move {
                        let Some(row) = grants::get(&mut *conn, id).await? else {
                            return Ok(false);
                        };
                        if !grants::end(&mut *conn, id, now_ms).await? {
                            return Ok(false);
                        }
                        audit_grant_ended(conn, now, &row, json!({ "used": row.used })).await?;
                        Ok::<_, AppError>(true)
                    })
                })
                .await?;
            n += usize::from(ended);
        }
        if n > 0 {
            self.reload_grants().await?;
        }
        Ok(n)
    }

    /// The newest grants with the calls each approved, for the bypass page.
    pub async fn grants(&self, limit: i64) -> Result<Vec<GrantView>, AppError> {
        let rows = grants::recent(&self.pool, limit.clamp(1, 200)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let covers = serde_json::from_str::<GrantMatch>(&row.covers)
                .map(|c| c.describe())
                .unwrap_or_else(|_| "(unreadable)".into());
            let used_calls = grants::calls_of(&self.pool, row.id, 20).await?;
            out.push(GrantView {
                id: row.id,
                call_id: row.call_id,
                granted_by: row.granted_by,
                agent: row.agent_name,
                tool: row.tool,
                rule: row.rule,
                covers,
                status: row.status,
                created_at: calls::rfc3339(row.created_at),
                ends_at: calls::rfc3339(row.ends_at),
                max_uses: row.max_uses.max(0) as u32,
                used: row.used.max(0) as u32,
                revoked_by: row.revoked_by,
                calls: used_calls
                    .into_iter()
                    .map(|(id, status, at)| GrantedCall {
                        id,
                        status,
                        created_at: calls::rfc3339(at),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

/// How long the call's rule gave people, in milliseconds, for calls proposed before
/// workflows were stored (newer ones carry their extension allowance).
fn rule_deadline_ms(row: &calls::CallRow) -> i64 {
    (row.deadline.unwrap_or(row.created_at) - row.created_at).max(1000)
}

/// The audit event of a grant that ended (its window over, or no longer standing behind
/// its calls), with `detail` saying how; the grant's number is added.
pub(super) async fn audit_grant_ended(
    conn: &mut crate::store::Conn,
    now: chrono::DateTime<chrono::Utc>,
    grant: &grants::GrantRow,
    mut detail: serde_json::Value,
) -> Result<(), AppError> {
    detail["grant"] = json!(grant.id);
    audit::append(
        conn,
        &audit::NewEvent {
            at: now,
            actor: "system",
            kind: "grant.ended",
            agent_id: Some(&grant.agent_id),
            call_id: Some(&grant.call_id),
            from_status: Some("active"),
            to_status: Some("ended"),
            detail,
        },
    )
    .await?;
    Ok(())
}
