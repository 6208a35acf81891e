//! SQL for `policy_versions`.

use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

/// The newest policy document and its version, if any.
pub async fn latest(db: impl SqliteExecutor<'_>) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as("SELECT version, document FROM policy_versions ORDER BY version DESC LIMIT 1")
        .fetch_optional(db)
        .await
}

/// Stores a new version; returns its number.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    document: &str,
    author: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO policy_versions (document, author, created_at) VALUES (?, ?, ?) RETURNING version",
    )
    .bind(document)
    .bind(author)
    .bind(to_millis(now))
    .fetch_one(db)
    .await
}
