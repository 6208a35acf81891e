//! SQL for `grants`: remembered grants, their uses and their end.

use crate::domain::grant::GrantStatus;
use crate::store::{Conn, Executor};
use sqlx::FromRow;

/// A row of `grants`, with its agent's name.
#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    pub id: i64,
    pub call_id: String,
    pub granted_by_id: String,
    pub granted_by: String,
    pub agent_id: String,
    pub agent_name: String,
    pub tool: String,
    pub rule: String,
    /// JSON of [`crate::domain::workflow::GrantMatch`].
    pub covers: String,
    pub scope_hash: String,
    pub created_at: i64,
    pub ends_at: i64,
    pub max_uses: i64,
    pub used: i64,
    pub status: GrantStatus,
    pub resolved_at: Option<i64>,
    pub revoked_by: Option<String>,
    /// JSON list of the risk classes of the call that gave it.
    pub risk: String,
}

const SELECT: &str = "SELECT g.id, g.call_id, g.granted_by_id, g.granted_by, g.agent_id,
    a.name AS agent_name, g.tool, g.rule, g.covers, g.scope_hash, g.created_at, g.ends_at,
    g.max_uses, g.used, g.status, g.resolved_at, g.revoked_by, g.risk
    FROM grants g JOIN agents a ON a.id = g.agent_id";

/// A grant to store.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    pub call_id: &'a str,
    pub granted_by_id: &'a str,
    pub granted_by: &'a str,
    pub agent_id: &'a str,
    pub tool: &'a str,
    pub rule: &'a str,
    pub covers: &'a str,
    pub scope_hash: &'a str,
    pub created_at: i64,
    pub ends_at: i64,
    pub max_uses: i64,
    /// JSON list of the giving call's risk classes.
    pub risk: &'a str,
}

/// Stores an active grant; returns its number.
pub async fn insert(db: impl Executor<'_>, g: &NewGrant<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "INSERT INTO grants (call_id, granted_by_id, granted_by, agent_id, tool, rule, covers,
            scope_hash, created_at, ends_at, max_uses, status, risk)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12) RETURNING id",
    )
    .bind(g.call_id)
    .bind(g.granted_by_id)
    .bind(g.granted_by)
    .bind(g.agent_id)
    .bind(g.tool)
    .bind(g.rule)
    .bind(g.covers)
    .bind(g.scope_hash)
    .bind(g.created_at)
    .bind(g.ends_at)
    .bind(g.max_uses)
    .bind(g.risk)
    .fetch_one(cn)
    .await)
}

/// One grant.
pub async fn get(db: impl Executor<'_>, id: i64) -> sqlx::Result<Option<GrantRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE g.id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// Every active grant (the gate keeps them in memory).
pub async fn active(db: impl Executor<'_>) -> sqlx::Result<Vec<GrantRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} WHERE g.status = 'active' ORDER BY g.id"
    ))
    .fetch_all(cn)
    .await)
}

/// The newest grants, newest first.
pub async fn recent(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<GrantRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{SELECT} ORDER BY g.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Counts one use, if the grant is active, inside its window and has uses left at
/// `now_ms`; the last use ends it (`used_up`). Returns whether it was used.
pub async fn use_once(conn: &mut Conn, id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let done = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE grants SET used = used + 1,
            status = CASE WHEN used + 1 >= max_uses THEN 'used_up' ELSE status END,
            resolved_at = CASE WHEN used + 1 >= max_uses THEN $1 ELSE resolved_at END
         WHERE id = $2 AND status = 'active' AND ends_at > $3 AND used < max_uses",
    )
    .bind(now_ms)
    .bind(id)
    .bind(now_ms)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Revokes an active grant; returns whether it was active.
pub async fn revoke(db: impl Executor<'_>, id: i64, by: &str, now_ms: i64) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE grants SET status = 'revoked', revoked_by = $1, resolved_at = $2
         WHERE id = $3 AND status = 'active'",
    )
    .bind(by)
    .bind(now_ms)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Active grants whose window has ended by `now_ms`.
pub async fn due(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<Vec<i64>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM grants WHERE status = 'active' AND ends_at <= $1 LIMIT 500"
    )
    .bind(now_ms)
    .fetch_all(cn)
    .await)
}

/// Ends an active grant whose window has passed; returns whether it did.
pub async fn end(db: impl Executor<'_>, id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE grants SET status = 'ended', resolved_at = $1
         WHERE id = $2 AND status = 'active' AND ends_at <= $3",
    )
    .bind(now_ms)
    .bind(id)
    .bind(now_ms)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Ends an active grant early because it no longer holds (its giver or its rule changed).
/// Returns whether it was active.
pub async fn withdraw(db: impl Executor<'_>, id: i64, now_ms: i64) -> sqlx::Result<bool> {
    let done = on!(db, |cn| {
        sqlx::query(
        "UPDATE grants SET status = 'ended', resolved_at = $1 WHERE id = $2 AND status = 'active'",
    )
    .bind(now_ms)
    .bind(id)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// The calls a grant approved, newest first.
pub async fn calls_of(
    db: impl Executor<'_>,
    id: i64,
    limit: i64,
) -> sqlx::Result<Vec<(String, crate::domain::call::CallStatus, i64)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, status, created_at FROM calls WHERE grant_id = $1
         ORDER BY created_at DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(cn)
    .await)
}
