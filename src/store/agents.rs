//! SQL for the `agents` table.

use crate::clock::to_millis;
use crate::store::Executor;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A row of `agents`.
#[derive(Debug, Clone, FromRow)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub webhook_secret: String,
    pub disabled: bool,
    pub created_at: i64,
    /// The previous key's hash and until when (ms) it still works.
    pub old_key_hash: Option<String>,
    pub old_key_until: Option<i64>,
    /// The previous webhook secret and until when (ms) webhooks are also signed with it.
    pub old_webhook_secret: Option<String>,
    pub old_secret_until: Option<i64>,
    /// JSON array of allowed callback origins.
    pub callback_origins: String,
    pub last_seen_at: Option<i64>,
    /// Whether calls policy allows get a receipt even when the proposal did not ask.
    pub receipts_always: bool,
}

const COLUMNS: &str = "id, name, key_hash, key_prefix, webhook_secret, disabled, created_at,
    old_key_hash, old_key_until, old_webhook_secret, old_secret_until, callback_origins, last_seen_at, receipts_always";

/// Sets whether the agent's allowed calls always get a receipt.
pub async fn set_receipts_always(
    db: impl Executor<'_>,
    id: &str,
    always: bool,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE agents SET receipts_always = $1 WHERE id = $2"
    )
    .bind(always)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Inserts an agent. Fails with a UNIQUE violation when the name is taken.
pub async fn insert(
    db: impl Executor<'_>,
    name: &str,
    key_hash: &str,
    key_prefix: &str,
    webhook_secret: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<AgentRow> {
    on!(db, |cn| sqlx::query_as(&format!(
        "INSERT INTO agents (id, name, key_hash, key_prefix, webhook_secret, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(name)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(webhook_secret)
    .bind(to_millis(now))
    .fetch_one(cn)
    .await)
}

/// The agent owning a key hash, as its current key or its previous one (enabled or not).
pub async fn find_by_key_hash(
    db: impl Executor<'_>,
    key_hash: &str,
) -> sqlx::Result<Option<AgentRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents WHERE key_hash = $1
         UNION ALL SELECT {COLUMNS} FROM agents WHERE old_key_hash = $1 LIMIT 1"
    ))
    .bind(key_hash)
    .fetch_optional(cn)
    .await)
}

/// A new key: the current one becomes the previous one until `old_until` (`None`: it
/// stops at once).
pub async fn rotate_key(
    db: impl Executor<'_>,
    id: &str,
    key_hash: &str,
    key_prefix: &str,
    old_until: Option<i64>,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE agents SET
            old_key_hash = CASE WHEN $4 IS NULL THEN NULL ELSE key_hash END,
            old_key_until = $4, key_hash = $2, key_prefix = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(old_until)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// A new webhook secret: the current one keeps signing too until `old_until`.
pub async fn rotate_secret(
    db: impl Executor<'_>,
    id: &str,
    secret: &str,
    old_until: Option<i64>,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE agents SET
            old_webhook_secret = CASE WHEN $3 IS NULL THEN NULL ELSE webhook_secret END,
            old_secret_until = $3, webhook_secret = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(secret)
    .bind(old_until)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Replaces the allowed callback origins (a JSON array).
pub async fn set_callback_origins(
    db: impl Executor<'_>,
    id: &str,
    origins: &str,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE agents SET callback_origins = $1 WHERE id = $2"
    )
    .bind(origins)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Records when an agent was last seen.
pub async fn touch(db: impl Executor<'_>, id: &str, at: i64) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE agents SET last_seen_at = $1
         WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $1)",
    )
    .bind(at)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
/// The agent with this id.
pub async fn find(db: impl Executor<'_>, id: &str) -> sqlx::Result<Option<AgentRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// The agent with this name.
pub async fn find_by_name(db: impl Executor<'_>, name: &str) -> sqlx::Result<Option<AgentRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(cn)
    .await)
}

/// Every agent, by name.
pub async fn list(db: impl Executor<'_>) -> sqlx::Result<Vec<AgentRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM agents ORDER BY name"
    ))
    .fetch_all(cn)
    .await)
}

/// Disables or enables an agent; returns whether it exists.
pub async fn set_disabled(db: impl Executor<'_>, id: &str, disabled: bool) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE agents SET disabled = $1 WHERE id = $2"
    )
    .bind(disabled)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}
