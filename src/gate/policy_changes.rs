//! Policy changes that loosen a gate wait for managers: filed by [`Gate::save_policy`],
//! reviewed through the review engine (the author never counts), applied as a new policy
//! version when the last needed approval arrives — if the policy in force is still the one
//! the change was made from. Otherwise its author re-bases it onto the policy in force,
//! which makes a new candidate and voids the reviews so far.

use super::policy_admin::{conflict, insert_version, parse, SavePolicy};
use super::signoff::{record, refused, requirements, review_views, Reviewed, Signed, SignoffInput};
use super::Gate;
use crate::clock::to_millis;
use crate::domain::change_request::{rebase, ChangeEvent, ChangeItem, ChangeStatus, ChangeView};
use crate::domain::error::StateCode;
use crate::domain::policy::Policy;
use crate::domain::policy_change::{classify, diff, Change, Classification};
use crate::domain::review::{self, Outcome};
use crate::domain::signoff::MAX_PENDING_PER_PERSON;
use crate::domain::{AppError, UserView};
use crate::policy::CompiledPolicy;
use crate::store::policy_changes::{self as changes, ChangeRow, NewChange};
use crate::store::signoff_reviews::{self as reviews, SubjectKind};
use crate::store::Conn;
use crate::store::{self, audit, calls};
use serde_json::json;

/// Recent calls a pending change is replayed over.
pub const REPLAY_CALLS: u32 = 10_000;

/// What the reviewers' hash covers: the base version, the proposed policy and the comment.
fn subject_hash(base: i64, policy: &Policy, comment: &str) -> String {
    store::json::hash(&json!({
        "base": base,
        "policy": serde_json::to_value(policy).unwrap_or_default(),
        "comment": comment,
    }))
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(format!("serializing: {e}")))
}

/// The change as people see it; `in_force` is the version in force now.
fn view(
    row: &ChangeRow,
    rows: &[reviews::SignoffReviewRow],
    in_force: i64,
    now_ms: i64,
) -> Result<ChangeView, AppError> {
    let read = |what: &str, text: &str| -> Result<serde_json::Value, AppError> {
        serde_json::from_str(text)
            .map_err(|e| AppError::Internal(format!("change #{}: {what} unreadable: {e}", row.id)))
    };
    let req = requirements(
        row.approvals_required,
        row.author_id.as_deref(),
        row.created_at,
        row.expires_at,
    );
    let candidate = row.candidate.max(1) as u32;
    let engine: Vec<review::Review> = rows.iter().map(|r| r.engine()).collect();
    let status = row
        .status
        .due(row.expires_at, now_ms)
        .and_then(|e| row.status.apply(e))
        .unwrap_or(row.status);
    Ok(ChangeView {
        id: row.id,
        author: row.author.clone(),
        comment: row.comment.clone(),
        base: row.base,
        in_force,
        candidate,
        hash: row.hash.clone(),
        changes: serde_json::from_value(read("diff", &row.changes)?).unwrap_or_default(),
        findings: serde_json::from_value(read("findings", &row.findings)?).unwrap_or_default(),
        replay: serde_json::from_value(read("replay", &row.replay)?)
            .map_err(|e| AppError::Internal(format!("change #{}: replay: {e}", row.id)))?,
        status,
        approvals: review::approvals(&engine, candidate, &req),
        approvals_required: row.approvals_required as u32,
        reviews: review_views(rows, candidate, &req),
        created_at: calls::rfc3339(row.created_at),
        expires_at_ms: row.expires_at,
        resolved_at: row.resolved_at.map(calls::rfc3339),
        applied_version: row.applied_version,
    })
}

fn what_became(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::Pending => "still pending",
        ChangeStatus::Applied => "approved and applied",
        ChangeStatus::Denied => "denied",
        ChangeStatus::Expired => "left unresolved until it expired",
        ChangeStatus::Withdrawn => "withdrawn by its author",
    }
}

/// Expires a change whose deadline passed: one transition, one audit event.
async fn settle_in(
    conn: &mut Conn,
    row: ChangeRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ChangeRow, AppError> {
    let now_ms = to_millis(now);
    let Some(event) = row.status.due(row.expires_at, now_ms) else {
        return Ok(row);
    };
    if let Some(to) =
        changes::transition(&mut *conn, row.id, row.status, event, Some(now_ms), None).await?
    {
        audit::append(
            conn,
            &audit::NewEvent::about(
                now,
                "system",
                "policy.change.expired",
                Some(row.status.as_str()),
                Some(to.as_str()),
                json!({ "change": row.id }),
            ),
        )
        .await?;
    }
    changes::get(&mut *conn, row.id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no policy change #{}", row.id)))
}

/// The version in force (0 before any).
async fn in_force_version(conn: &mut Conn) -> Result<i64, AppError> {
    Ok(store::policy::latest_row(conn)
        .await?
        .map_or(0, |v| v.version))
}

impl Gate {
    /// Files a loosening change for sign-off; returns its number and the approvals it needs.
    pub(super) async fn propose_change(
        &self,
        save: SavePolicy,
        in_force: &CompiledPolicy,
        proposed: CompiledPolicy,
        classification: &Classification,
    ) -> Result<(i64, u32), AppError> {
        let settings = self.signoff_settings().await?;
        let replay = self
            .replay_between(in_force, &proposed, REPLAY_CALLS)
            .await?;
        let diff_text: Vec<String> = diff(in_force.policy(), &save.policy)
            .iter()
            .map(Change::describe)
            .collect();
        let (changes_json, findings_json, replay_json) = (
            json_text(&diff_text)?,
            json_text(&classification.findings)?,
            json_text(&replay)?,
        );
        let document = json_text(&save.policy)?;
        let now = self.clock.now();
        let now_ms = to_millis(now);
        let loosens: Vec<String> = classification
            .findings
            .iter()
            .filter(|f| f.loosens)
            .map(|f| f.change.clone())
            .collect();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(conflict) = conflict(&mut *conn, save.base).await? {
                        return Ok(Err(conflict));
                    }
                    if changes::pending_by(&mut *conn, &save.author).await?
                        >= MAX_PENDING_PER_PERSON
                    {
                        return Ok(Err(AppError::Conflict(format!(
                            "{} already has {MAX_PENDING_PER_PERSON} policy changes waiting; \
                             withdraw one first",
                            save.author
                        ))));
                    }
                    let base = in_force_version(&mut *conn).await?;
                    let hash = subject_hash(base, &save.policy, &save.comment);
                    let id = changes::insert(
                        &mut *conn,
                        &NewChange {
                            base,
                            document: &document,
                            author: &save.author,
                            author_id: save.author_id.as_deref(),
                            comment: &save.comment,
                            hash: &hash,
                            changes: &changes_json,
                            findings: &findings_json,
                            replay: &replay_json,
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
                            &save.author,
                            "policy.change.proposed",
                            None,
                            Some("pending"),
                            json!({
                                "change": id, "base": base, "comment": save.comment,
                                "loosens": loosens, "hash": hash,
                                "approvals_required": settings.approvals,
                            }),
                        ),
                    )
                    .await?;
                    Ok(Ok((id, settings.approvals)))
                })
            })
            .await?
    }

    /// Records `user`'s review of pending change `id`; the approval that reaches the
    /// threshold applies it as a new policy version in the same transaction.
    pub async fn review_change(
        &self,
        id: i64,
        user: &UserView,
        input: SignoffInput,
    ) -> Result<ChangeView, AppError> {
        let comment = input.comment()?;
        let now = self.clock.now();
        let user = user.clone();
        let (row, applied) = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some(row) = changes::get(&mut *conn, id).await? else {
                        return Ok(Err(AppError::NotFound(format!("no policy change #{id}"))));
                    };
                    let row = settle_in(&mut *conn, row, now).await?;
                    let in_force = in_force_version(&mut *conn).await?;
                    if row.status == ChangeStatus::Pending && row.base != in_force {
                        return Ok(Err(AppError::State(
                            StateCode::NeedsRebase,
                            format!(
                                "the policy changed since this change was made (version {} → \
                                 {in_force}); its author must re-base it before anyone can \
                                 review it",
                                row.base
                            ),
                        )));
                    }
                    let subject = Signed {
                        kind: SubjectKind::PolicyChange,
                        id,
                        candidate: row.candidate,
                        open: row.status == ChangeStatus::Pending,
                        hash: &row.hash,
                        approvals: row.approvals_required,
                        requester: row.author_id.as_deref(),
                        created_at: row.created_at,
                        deadline: row.expires_at,
                        resolved: what_became(row.status),
                        audit_kind: "policy.change.reviewed",
                        audit_key: "change",
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
                    let now_ms = to_millis(now);
                    let mut applied = None;
                    match outcome {
                        Outcome::Approved { approvals, .. } => {
                            let policy = parse(row.base, &row.document)?;
                            let save = SavePolicy {
                                policy: policy.clone(),
                                base: Some(row.base),
                                author: row.author.clone(),
                                author_id: row.author_id.clone(),
                                comment: format!(
                                    "{} (change #{id}, signed off by {})",
                                    row.comment,
                                    approvers.join(", ")
                                ),
                                confirm_loosening: true,
                            };
                            let version =
                                insert_version(&mut *conn, &save, &row.document, true, now).await?;
                            changes::transition(
                                &mut *conn,
                                id,
                                ChangeStatus::Pending,
                                ChangeEvent::Approve,
                                Some(now_ms),
                                Some(version),
                            )
                            .await?
                            .ok_or_else(|| AppError::Internal(format!("change #{id} moved")))?;
                            audit::append(
                                conn,
                                &audit::NewEvent::about(
                                    now,
                                    &actor,
                                    "policy.change.applied",
                                    Some("pending"),
                                    Some("applied"),
                                    json!({
                                        "change": id, "version": version, "base": row.base,
                                        "approvals": approvals, "approvers": approvers,
                                        "author": row.author, "hash": row.hash,
                                    }),
                                ),
                            )
                            .await?;
                            applied = Some(policy);
                        }
                        Outcome::Vetoed { .. } => {
                            changes::transition(
                                &mut *conn,
                                id,
                                ChangeStatus::Pending,
                                ChangeEvent::Deny,
                                Some(now_ms),
                                None,
                            )
                            .await?
                            .ok_or_else(|| AppError::Internal(format!("change #{id} moved")))?;
                            audit::append(
                                conn,
                                &audit::NewEvent::about(
                                    now,
                                    &actor,
                                    "policy.change.denied",
                                    Some("pending"),
                                    Some("denied"),
                                    json!({ "change": id, "comment": comment }),
                                ),
                            )
                            .await?;
                        }
                        Outcome::Recorded { .. } | Outcome::EditedOnly { .. } => {}
                    }
                    let row = changes::get(&mut *conn, id).await?.unwrap_or(row);
                    Ok(Ok((row, applied)))
                })
            })
            .await??;
        if let Some(policy) = applied {
            let compiled =
                CompiledPolicy::compile(&policy).map_err(|e| AppError::Internal(e.to_string()))?;
            self.set_policy(compiled);
        }
        self.change_view(&row).await
    }

    /// Re-bases pending change `id` onto the policy in force (its author only): the change's
    /// own edits are merged onto what was saved meanwhile, and its reviews are voided.
    pub async fn rebase_change(&self, id: i64, user: &UserView) -> Result<ChangeView, AppError> {
        let row = self.author_row(id, user).await?;
        let latest = store::policy::latest_row(&self.pool)
            .await?
            .ok_or_else(|| AppError::Internal("no policy is stored".into()))?;
        if latest.version == row.base {
            return Err(AppError::Invalid(format!(
                "change #{id} is already based on the policy in force (version {})",
                row.base
            )));
        }
        let base = store::policy::version(&self.pool, row.base)
            .await?
            .ok_or_else(|| AppError::Internal(format!("policy version {} is gone", row.base)))?;
        let (base_policy, mine, theirs) = (
            parse(base.version, &base.document)?,
            parse(row.base, &row.document)?,
            parse(latest.version, &latest.document)?,
        );
        let merged = rebase(&base_policy, &mine, &theirs).map_err(|conflicts| {
            AppError::Conflict(format!(
                "change #{id} cannot be moved onto version {}: {}; withdraw it and make the \
                 change again from the policy in force",
                latest.version,
                conflicts.join("; ")
            ))
        })?;
        let compiled =
            CompiledPolicy::compile(&merged).map_err(|e| AppError::Invalid(e.to_string()))?;
        let in_force =
            CompiledPolicy::compile(&theirs).map_err(|e| AppError::Internal(e.to_string()))?;
        let classification = classify(&theirs, &merged);
        let replay = self
            .replay_between(&in_force, &compiled, REPLAY_CALLS)
            .await?;
        let diff_text: Vec<String> = diff(&theirs, &merged)
            .iter()
            .map(Change::describe)
            .collect();
        let (changes_json, findings_json, replay_json, document) = (
            json_text(&diff_text)?,
            json_text(&classification.findings)?,
            json_text(&replay)?,
            json_text(&merged)?,
        );
        let hash = subject_hash(latest.version, &merged, &row.comment);
        let now = self.clock.now();
        let actor = format!("user:{}", user.username);
        let row = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    if in_force_version(&mut *conn).await? != latest.version {
                        return Ok(Err(AppError::Conflict(
                            "the policy changed again meanwhile; re-base once more".into(),
                        )));
                    }
                    let new = NewChange {
                        base: latest.version,
                        document: &document,
                        author: &row.author,
                        author_id: row.author_id.as_deref(),
                        comment: &row.comment,
                        hash: &hash,
                        changes: &changes_json,
                        findings: &findings_json,
                        replay: &replay_json,
                        approvals_required: row.approvals_required,
                        created_at: row.created_at,
                        expires_at: row.expires_at,
                    };
                    if !changes::rebase(&mut *conn, id, row.candidate, &new).await? {
                        return Ok(Err(AppError::State(
                            StateCode::AlreadyResolved,
                            format!("change #{id} is no longer pending as it was"),
                        )));
                    }
                    let voided = reviews::of(&mut *conn, SubjectKind::PolicyChange, id)
                        .await?
                        .iter()
                        .filter(|r| r.candidate == row.candidate)
                        .count();
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "policy.change.voided",
                            Some("pending"),
                            Some("pending"),
                            json!({
                                "change": id, "from_base": row.base, "base": latest.version,
                                "candidate": row.candidate + 1, "voided_reviews": voided,
                                "hash": hash,
                            }),
                        ),
                    )
                    .await?;
                    Ok(Ok(changes::get(&mut *conn, id).await?.unwrap_or(row)))
                })
            })
            .await??;
        self.change_view(&row).await
    }

    /// Withdraws pending change `id` (its author only).
    pub async fn withdraw_change(&self, id: i64, user: &UserView) -> Result<ChangeView, AppError> {
        let row = self.author_row(id, user).await?;
        let now = self.clock.now();
        let actor = format!("user:{}", user.username);
        let row = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = settle_in(&mut *conn, row, now).await?;
                    let Some(to) = changes::transition(
                        &mut *conn,
                        id,
                        row.status,
                        ChangeEvent::Withdraw,
                        Some(to_millis(now)),
                        None,
                    )
                    .await?
                    else {
                        return Ok(Err(AppError::State(
                            StateCode::AlreadyResolved,
                            format!("already resolved: it was {}", what_became(row.status)),
                        )));
                    };
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "policy.change.withdrawn",
                            Some("pending"),
                            Some(to.as_str()),
                            json!({ "change": id }),
                        ),
                    )
                    .await?;
                    Ok(Ok(changes::get(&mut *conn, id).await?.unwrap_or(row)))
                })
            })
            .await??;
        self.change_view(&row).await
    }

    async fn author_row(&self, id: i64, user: &UserView) -> Result<ChangeRow, AppError> {
        let row = changes::get(&self.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no policy change #{id}")))?;
        if row.author_id.as_deref() != Some(user.id.as_str()) || user.disabled {
            return Err(AppError::Forbidden(
                "only the change's author can re-base or withdraw it".into(),
            ));
        }
        Ok(row)
    }

    async fn change_view(&self, row: &ChangeRow) -> Result<ChangeView, AppError> {
        let rows = reviews::of(&self.pool, SubjectKind::PolicyChange, row.id).await?;
        let mut conn = self.pool.acquire().await?;
        let in_force = in_force_version(&mut conn).await?;
        view(row, &rows, in_force, to_millis(self.clock.now()))
    }

    /// Policy change `id`.
    pub async fn policy_change(&self, id: i64) -> Result<ChangeView, AppError> {
        let row = changes::get(&self.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no policy change #{id}")))?;
        self.change_view(&row).await
    }

    /// Pending policy changes, with what `user` may do with each.
    pub async fn pending_changes(&self, user: &UserView) -> Result<Vec<ChangeItem>, AppError> {
        let now_ms = to_millis(self.clock.now());
        let rows = changes::pending(&self.pool).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let all = reviews::of_many(&self.pool, SubjectKind::PolicyChange, &ids).await?;
        let mut conn = self.pool.acquire().await?;
        let in_force = in_force_version(&mut conn).await?;
        drop(conn);
        let mut out = Vec::new();
        for row in &rows {
            let mine: Vec<_> = all
                .iter()
                .filter(|r| r.subject_id == row.id)
                .cloned()
                .collect();
            let change = view(row, &mine, in_force, now_ms)?;
            if change.status != ChangeStatus::Pending {
                continue;
            }
            let req = requirements(
                row.approvals_required,
                row.author_id.as_deref(),
                row.created_at,
                row.expires_at,
            );
            let engine: Vec<review::Review> = mine.iter().map(|r| r.engine()).collect();
            let subject = review::Subject {
                open: true,
                candidate: change.candidate,
                hash: &row.hash,
                requirements: &req,
                reviews: &engine,
            };
            let cannot_review = if change.needs_rebase() {
                Some("The policy changed since this was made: its author must re-base it.".into())
            } else {
                review::may_review(&subject, super::decide::reviewer(user), now_ms)
                    .err()
                    .map(|r| refused(r, "resolved").to_string())
            };
            out.push(ChangeItem {
                account_changes: super::signoff::account_changes(&self.pool, row.created_at)
                    .await?,
                is_author: row.author_id.as_deref() == Some(user.id.as_str()),
                change,
                cannot_review,
            });
        }
        Ok(out)
    }

    /// Expires pending changes whose deadline passed (the sweeper calls this).
    pub async fn sweep_changes(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let due = changes::due(&self.pool, to_millis(now)).await?;
        let n = due.len();
        for row in due {
            self.writer
                .write(move |conn| {
                    Box::pin(async move { settle_in(conn, row, now).await.map(|_| ()) })
                })
                .await?;
        }
        Ok(n)
    }
}
