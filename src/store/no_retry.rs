//! SQL for `no_retry`: denials an agent must not retry, by session, tool and arguments.

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

/// The key of a repeat: who, in which session, which tool, which arguments.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub agent_id: &'a str,
    pub session: &'a str,
    pub tool: &'a str,
    pub args_hash: &'a str,
}

/// Records (or renews) a do-not-retry denial.
pub async fn put(db: impl Executor<'_>, key: Key<'_>, row: &NoRetryRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO no_retry (agent_id, session, tool, args_hash, call_id, feedback, reason_code, until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (agent_id, session, tool, args_hash) DO UPDATE SET
            call_id = excluded.call_id, feedback = excluded.feedback,
            reason_code = excluded.reason_code, until = excluded.until",
    )
    .bind(key.agent_id)
    .bind(key.session)
    .bind(key.tool)
    .bind(key.args_hash)
    .bind(&row.call_id)
    .bind(&row.feedback)
    .bind(&row.reason_code)
    .bind(row.until)
    .execute(db)
    .await?;
    Ok(())
}

/// The denial a call with `key` repeats at `now_ms`, if one still holds.
pub async fn find(
    db: impl Executor<'_>,
    key: Key<'_>,
    now_ms: i64,
) -> sqlx::Result<Option<NoRetryRow>> {
    sqlx::query_as(
        "SELECT call_id, feedback, reason_code, until FROM no_retry
         WHERE agent_id = $1 AND session = $2 AND tool = $3 AND args_hash = $4 AND until > $5",
    )
    .bind(key.agent_id)
    .bind(key.session)
    .bind(key.tool)
    .bind(key.args_hash)
    .bind(now_ms)
    .fetch_optional(db)
    .await
}

/// The latest `until` of any denial still holding at `now_ms` (0: none), so the gate can
/// skip the lookup while nothing is recorded.
pub async fn latest_until(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<i64> {
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(until) FROM no_retry WHERE until > $1")
        .bind(now_ms)
        .fetch_one(db)
        .await?;
    Ok(max.unwrap_or(0))
}
