//! SQL for `policy_changes`, including the only code that changes a pending change's
//! status: [`transition`], a conditional write that follows [`ChangeStatus::apply`].

use crate::domain::change_request::{ChangeEvent, ChangeStatus};
use crate::store::{Conn, Executor};
use sqlx::FromRow;

/// A row of `policy_changes`.
#[derive(Debug, Clone, FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub base: i64,
    pub document: String,
    pub author: String,
    pub author_id: Option<String>,
    pub comment: String,
    pub candidate: i64,
    pub hash: String,
    /// JSON: the diff in words.
    pub changes: String,
    /// JSON: the classifier's findings.
    pub findings: String,
    /// JSON: the replay summary.
    pub replay: String,
    pub status: ChangeStatus,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub resolved_at: Option<i64>,
    pub applied_version: Option<i64>,
}

const COLUMNS: &str = "id, base, document, author, author_id, comment, candidate, hash, changes,
    findings, replay, status, approvals_required, created_at, expires_at, resolved_at,
    applied_version";

/// A change to store (or, re-based, to store over the old candidate).
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub base: i64,
    pub document: &'a str,
    pub author: &'a str,
    pub author_id: Option<&'a str>,
    pub comment: &'a str,
    pub hash: &'a str,
    pub changes: &'a str,
    pub findings: &'a str,
    pub replay: &'a str,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a new pending change; returns its number.
pub async fn insert(db: impl Executor<'_>, c: &NewChange<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "INSERT INTO policy_changes (base, document, author, author_id, comment, hash, changes,
            findings, replay, status, approvals_required, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12) RETURNING id",
    )
    .bind(c.base)
    .bind(c.document)
    .bind(c.author)
    .bind(c.author_id)
    .bind(c.comment)
    .bind(c.hash)
    .bind(c.changes)
    .bind(c.findings)
    .bind(c.replay)
    .bind(c.approvals_required)
    .bind(c.created_at)
    .bind(c.expires_at)
    .fetch_one(cn)
    .await)
}

/// One change.
pub async fn get(db: impl Executor<'_>, id: i64) -> sqlx::Result<Option<ChangeRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM policy_changes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// Pending changes, oldest first.
pub async fn pending(db: impl Executor<'_>) -> sqlx::Result<Vec<ChangeRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM policy_changes WHERE status = 'pending' ORDER BY id"
    ))
    .fetch_all(cn)
    .await)
}

/// The newest `limit` changes of any status, newest first.
pub async fn newest(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<ChangeRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM policy_changes ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Pending changes whose deadline passed at `now_ms`.
pub async fn due(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<Vec<ChangeRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM policy_changes WHERE status = 'pending' AND expires_at <= $1
         ORDER BY id"
    ))
    .bind(now_ms)
    .fetch_all(cn)
    .await)
}

/// Moves a change from `from` by `event` if it is still there (`resolved_at`,
/// `applied_version` set when given); returns the new status or `None`.
pub async fn transition(
    conn: &mut Conn,
    id: i64,
    from: ChangeStatus,
    event: ChangeEvent,
    resolved_at: Option<i64>,
    applied_version: Option<i64>,
) -> sqlx::Result<Option<ChangeStatus>> {
    let Some(to) = from.apply(event) else {
        return Ok(None);
    };
    let done = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE policy_changes SET status = $1, resolved_at = COALESCE($2, resolved_at),
            applied_version = COALESCE($3, applied_version)
         WHERE id = $4 AND status = $5",
    )
    .bind(to)
    .bind(resolved_at)
    .bind(applied_version)
    .bind(id)
    .bind(from)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok((done.rows_affected() == 1).then_some(to))
}

/// Re-bases a pending change at `candidate`: the next candidate, with a new base,
/// document, hash, diff, findings and replay. `false` when it is no longer pending at it.
pub async fn rebase(
    conn: &mut Conn,
    id: i64,
    candidate: i64,
    c: &NewChange<'_>,
) -> sqlx::Result<bool> {
    let done = on!(&mut *conn, |cn| {
        sqlx::query(
        "UPDATE policy_changes SET candidate = candidate + 1, base = $1, document = $2, hash = $3,
            changes = $4, findings = $5, replay = $6
         WHERE id = $7 AND status = 'pending' AND candidate = $8",
    )
    .bind(c.base)
    .bind(c.document)
    .bind(c.hash)
    .bind(c.changes)
    .bind(c.findings)
    .bind(c.replay)
    .bind(id)
    .bind(candidate)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// Pending changes (for the navigation's count).
pub async fn pending_count(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM policy_changes WHERE status = 'pending' AND expires_at > $1",
    )
    .bind(now_ms)
    .fetch_one(cn)
    .await)
}

/// Pending changes by one author (`author` as stored: `user:<name>` or `cli`).
pub async fn pending_by(db: impl Executor<'_>, author: &str) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM policy_changes WHERE status = 'pending' AND author = $1",
    )
    .bind(author)
    .fetch_one(cn)
    .await)
}
