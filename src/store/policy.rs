//! SQL for `policy_versions` and `policy_drafts`.

use crate::clock::to_millis;
use crate::store::Executor;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// The newest policy document and its version, if any.
pub async fn latest(db: impl Executor<'_>) -> sqlx::Result<Option<(i64, String)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT version, document FROM policy_versions ORDER BY version DESC LIMIT 1"
    )
    .fetch_optional(cn)
    .await)
}

/// A stored version.
#[derive(Debug, Clone, FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub document: String,
    pub author: String,
    pub created_at: i64,
    pub comment: String,
    pub loosening: bool,
}

const VERSION_COLUMNS: &str = "version, document, author, created_at, comment, loosening";

/// The policy version in force at `at_ms`: the newest stored by then.
pub async fn in_force_at(db: impl Executor<'_>, at_ms: i64) -> sqlx::Result<Option<i64>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT MAX(version) FROM policy_versions WHERE created_at <= $1"
    )
    .bind(at_ms)
    .fetch_one(cn)
    .await)
}

/// The newest version, with who saved it and why.
pub async fn latest_row(db: impl Executor<'_>) -> sqlx::Result<Option<VersionRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY version DESC LIMIT 1"
    ))
    .fetch_optional(cn)
    .await)
}

/// One version.
pub async fn version(db: impl Executor<'_>, version: i64) -> sqlx::Result<Option<VersionRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM policy_versions WHERE version = $1"
    ))
    .bind(version)
    .fetch_optional(cn)
    .await)
}

/// The newest `limit` versions, newest first (plus the one before the oldest, for its diff).
pub async fn newest(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<VersionRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY version DESC LIMIT $1"
    ))
    .bind(limit + 1)
    .fetch_all(cn)
    .await)
}

/// What a new version records.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub document: &'a str,
    pub author: &'a str,
    pub comment: &'a str,
    pub loosening: bool,
    pub now: DateTime<Utc>,
}

/// Stores a new version; returns its number.
pub async fn insert(db: impl Executor<'_>, v: &NewVersion<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "INSERT INTO policy_versions (document, author, created_at, comment, loosening)
         VALUES ($1, $2, $3, $4, $5) RETURNING version",
    )
    .bind(v.document)
    .bind(v.author)
    .bind(to_millis(v.now))
    .bind(v.comment)
    .bind(v.loosening)
    .fetch_one(cn)
    .await)
}

/// A person's draft: (base version, document).
pub async fn draft(db: impl Executor<'_>, user_id: &str) -> sqlx::Result<Option<(i64, String)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT base, document FROM policy_drafts WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_optional(cn)
    .await)
}

/// Creates or replaces a person's draft.
pub async fn put_draft(
    db: impl Executor<'_>,
    user_id: &str,
    base: i64,
    document: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO policy_drafts (user_id, base, document, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET base = excluded.base, document = excluded.document,
             updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(base)
    .bind(document)
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Drops a person's draft.
pub async fn delete_draft(db: impl Executor<'_>, user_id: &str) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "DELETE FROM policy_drafts WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
