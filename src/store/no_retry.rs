//! SQL for `no_retry`: denials an agent must not retry, by tool and what the arguments
//! mean (`domain::meaning`), in any session.

use crate::store::Executor;
use sqlx::FromRow;

/// A denial that answers repeats.
#[derive(Debug, Clone, FromRow)]
pub struct NoRetryRow {
    pub call_id: String,
    pub feedback: String,
    pub reason_code: Option<String>,
    pub until: i64,
}

/// The key of a repeat: who, which tool, which arguments (the hash of their meaning).
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub agent_id: &'a str,
    pub tool: &'a str,
    pub args_hash: &'a str,
}

/// Records (or renews) a do-not-retry denial.
pub async fn put(db: impl Executor<'_>, key: Key<'_>, row: &NoRetryRow) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO no_retry (agent_id, tool, args_hash, call_id, feedback, reason_code, until)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (agent_id, tool, args_hash) DO UPDATE SET
            call_id = excluded.call_id, feedback = excluded.feedback,
            reason_code = excluded.reason_code, until = excluded.until",
    )
    .bind(key.agent_id)
    .bind(key.tool)
    .bind(key.args_hash)
    .bind(&row.call_id)
    .bind(&row.feedback)
    .bind(&row.reason_code)
    .bind(row.until)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// The denial a call with `key` repeats at `now_ms`, if one still holds.
pub async fn find(
    db: impl Executor<'_>,
    key: Key<'_>,
    now_ms: i64,
) -> sqlx::Result<Option<NoRetryRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT call_id, feedback, reason_code, until FROM no_retry
         WHERE agent_id = $1 AND tool = $2 AND args_hash = $3 AND until > $4",
    )
    .bind(key.agent_id)
    .bind(key.tool)
    .bind(key.args_hash)
    .bind(now_ms)
    .fetch_optional(cn)
    .await)
}

/// The latest `until` of any denial still holding at `now_ms` (0: none), so the gate can
/// skip the lookup while nothing is recorded.
pub async fn latest_until(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<i64> {
    let max: Option<i64> = on!(db, |cn| sqlx::query_scalar(
        "SELECT MAX(until) FROM no_retry WHERE until > $1"
    )
    .bind(now_ms)
    .fetch_one(cn)
    .await)?;
    Ok(max.unwrap_or(0))
}

/// A denial recorded before do-not-retry keyed on meaning (its hash prefixed `legacy:`),
/// with its call's current arguments to rehash.
#[derive(Debug, Clone, FromRow)]
pub struct LegacyRow {
    pub agent_id: String,
    pub tool: String,
    pub args_hash: String,
    pub args: String,
    pub until: i64,
}

/// The denials still keyed by their old hash.
pub async fn legacy(db: impl Executor<'_>) -> sqlx::Result<Vec<LegacyRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT n.agent_id, n.tool, n.args_hash, c.args, n.until
         FROM no_retry n JOIN calls c ON c.id = n.call_id
         WHERE n.args_hash LIKE 'legacy:%'",
    )
    .fetch_all(cn)
    .await)
}

/// Re-keys one legacy denial by `meaning_hash`, keeping the later `until` if one is
/// already recorded for that meaning.
pub async fn rekey(
    db: &mut crate::store::Conn,
    row: &LegacyRow,
    meaning_hash: &str,
) -> sqlx::Result<()> {
    on!(&mut *db, |cn| sqlx::query(
        "INSERT INTO no_retry (agent_id, tool, args_hash, call_id, feedback, reason_code, until)
         SELECT agent_id, tool, $3, call_id, feedback, reason_code, until FROM no_retry
         WHERE agent_id = $1 AND tool = $2 AND args_hash = $4
         ON CONFLICT (agent_id, tool, args_hash) DO UPDATE SET
            call_id = excluded.call_id, feedback = excluded.feedback,
            reason_code = excluded.reason_code, until = excluded.until
         WHERE excluded.until > no_retry.until",
    )
    .bind(&row.agent_id)
    .bind(&row.tool)
    .bind(meaning_hash)
    .bind(&row.args_hash)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    on!(&mut *db, |cn| sqlx::query(
        "DELETE FROM no_retry WHERE agent_id = $1 AND tool = $2 AND args_hash = $3"
    )
    .bind(&row.agent_id)
    .bind(&row.tool)
    .bind(&row.args_hash)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
