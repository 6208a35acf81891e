//! SQL for the `sessions` table.

use super::users::UserRow;
use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

/// Records a new session for `user_id`, valid until `expires_at`.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    token_hash: &str,
    user_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(to_millis(now))
    .bind(to_millis(expires_at))
    .execute(db)
    .await?;
    Ok(())
}

/// The enabled person owning an unexpired session with this token hash.
pub async fn find_user(
    db: impl SqliteExecutor<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.password_hash, u.role, u.disabled, u.created_at,
                u.must_change_password
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(to_millis(now))
    .fetch_optional(db)
    .await
}

/// Ends one session.
pub async fn delete(db: impl SqliteExecutor<'_>, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of one person (on disabling the account).
pub async fn delete_for_user(db: impl SqliteExecutor<'_>, user_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Removes sessions that expired before `now`; returns how many.
pub async fn delete_expired(db: impl SqliteExecutor<'_>, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
        .bind(to_millis(now))
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Ends every session of a person but one (`keep`, a token hash).
pub async fn delete_others(
    db: impl SqliteExecutor<'_>,
    user_id: &str,
    keep: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_hash != ?")
        .bind(user_id)
        .bind(keep)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
