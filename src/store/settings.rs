//! SQL for `settings`: admin settings, one row per key.

use crate::clock::to_millis;
use crate::store::Executor;
use chrono::{DateTime, Utc};

/// The stored value of `key`, if set.
pub async fn get(db: impl Executor<'_>, key: &str) -> sqlx::Result<Option<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(cn)
    .await)
}

/// Sets `key` to `value`.
pub async fn put(
    db: impl Executor<'_>,
    key: &str,
    value: &str,
    by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(by)
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
