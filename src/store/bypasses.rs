//! SQL for `bypasses`, including the only code that changes a bypass's status:
//! [`transition`], a conditional write that follows [`BypassStatus::apply`].

use crate::domain::bypass::{BypassEvent, BypassStatus};
use crate::store::{Conn, Executor};
use sqlx::FromRow;

/// A row of `bypasses`.
#[derive(Debug, Clone, FromRow)]
pub struct BypassRow {
    pub id: i64,
    pub requester_id: String,
    pub requester: String,
    /// JSON of [`crate::domain::bypass::Scope`].
    pub scope: String,
    pub include_confirmation: bool,
    pub window_ms: i64,
    pub reason: String,
    pub hash: String,
    pub status: BypassStatus,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub activated_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub used: i64,
}

const COLUMNS: &str = "id, requester_id, requester, scope, include_confirmation, window_ms, reason,
    hash, status, approvals_required, created_at, expires_at, activated_at, ends_at, resolved_at,
    revoked_by, used";

/// A request to store.
#[derive(Debug, Clone)]
pub struct NewBypass<'a> {
    pub requester_id: &'a str,
    pub requester: &'a str,
    pub scope: &'a str,
    pub include_confirmation: bool,
    pub window_ms: i64,
    pub reason: &'a str,
    pub hash: &'a str,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a new pending request; returns its number.
pub async fn insert(db: impl Executor<'_>, b: &NewBypass<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "INSERT INTO bypasses (requester_id, requester, scope, include_confirmation, window_ms,
            reason, hash, status, approvals_required, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10) RETURNING id",
    )
    .bind(b.requester_id)
    .bind(b.requester)
    .bind(b.scope)
    .bind(b.include_confirmation)
    .bind(b.window_ms)
    .bind(b.reason)
    .bind(b.hash)
    .bind(b.approvals_required)
    .bind(b.created_at)
    .bind(b.expires_at)
    .fetch_one(cn)
    .await)
}

/// One bypass.
pub async fn get(db: impl Executor<'_>, id: i64) -> sqlx::Result<Option<BypassRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM bypasses WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// Pending and active bypasses, oldest first.
pub async fn open(db: impl Executor<'_>) -> sqlx::Result<Vec<BypassRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM bypasses WHERE status IN ('pending', 'active') ORDER BY id"
    ))
    .fetch_all(cn)
    .await)
}

/// The newest `limit` bypasses of any status, newest first.
pub async fn newest(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<BypassRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM bypasses ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Open bypasses whose request deadline or window has passed at `now_ms`.
pub async fn due(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<Vec<BypassRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM bypasses
         WHERE (status = 'pending' AND expires_at <= $1) OR (status = 'active' AND ends_at <= $1)
         ORDER BY id"
    ))
    .bind(now_ms)
    .fetch_all(cn)
    .await)
}

/// What a transition sets besides the status.
#[derive(Debug, Clone, Default)]
pub struct Changes<'a> {
    pub activated_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub revoked_by: Option<&'a str>,
}

/// Moves a bypass from `from` by `event`, if it is still in `from`; returns the new status,
/// or `None` when the event cannot happen or someone else moved it first.
pub async fn transition(
    conn: &mut Conn,
    id: i64,
    from: BypassStatus,
    event: BypassEvent,
    changes: &Changes<'_>,
) -> sqlx::Result<Option<BypassStatus>> {
    let Some(to) = from.apply(event) else {
        return Ok(None);
    };
    let done = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE bypasses SET status = $1,
            activated_at = COALESCE($2, activated_at), ends_at = COALESCE($3, ends_at),
            resolved_at = COALESCE($4, resolved_at), revoked_by = COALESCE($5, revoked_by)
         WHERE id = $6 AND status = $7",
    )
    .bind(to)
    .bind(changes.activated_at)
    .bind(changes.ends_at)
    .bind(changes.resolved_at)
    .bind(changes.revoked_by)
    .bind(id)
    .bind(from)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok((done.rows_affected() == 1).then_some(to))
}

/// Counts one call approved by an active bypass, if it is still active at `now_ms`;
/// `false` when it was revoked or ended meanwhile.
pub async fn use_once(conn: &mut Conn, id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| {
        sqlx::query(
        "UPDATE bypasses SET used = used + 1 WHERE id = $1 AND status = 'active' AND ends_at > $2",
    )
    .bind(id)
    .bind(now_ms)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// Pending requests (for the navigation's count).
pub async fn pending_count(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM bypasses WHERE status = 'pending' AND expires_at > $1"
    )
    .bind(now_ms)
    .fetch_one(cn)
    .await)
}

/// Pending requests by one person.
pub async fn pending_by(db: impl Executor<'_>, requester_id: &str) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM bypasses WHERE status = 'pending' AND requester_id = $1",
    )
    .bind(requester_id)
    .fetch_one(cn)
    .await)
}
