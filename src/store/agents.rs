//! SQL for the `agents` table.

use crate::clock::to_millis;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqliteExecutor};

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
}

const COLUMNS: &str = "id, name, key_hash, key_prefix, webhook_secret, disabled, created_at";

/// Inserts an agent. Fails with a UNIQUE violation when the name is taken.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    name: &str,
    key_hash: &str,
    key_prefix: &str,
    webhook_secret: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<AgentRow> {
    sqlx::query_as(&format!(
        "INSERT INTO agents (id, name, key_hash, key_prefix, webhook_secret, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(name)
    .bind(key_hash)
    .bind(key_prefix)
    .bind(webhook_secret)
    .bind(to_millis(now))
    .fetch_one(db)
    .await
}

/// The agent owning a key hash (enabled or not).
pub async fn find_by_key_hash(
    db: impl SqliteExecutor<'_>,
    key_hash: &str,
) -> sqlx::Result<Option<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE key_hash = ?"))
        .bind(key_hash)
        .fetch_optional(db)
        .await
}

/// The agent with this id.
pub async fn find(db: impl SqliteExecutor<'_>, id: &str) -> sqlx::Result<Option<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The agent with this name.
pub async fn find_by_name(
    db: impl SqliteExecutor<'_>,
    name: &str,
) -> sqlx::Result<Option<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE name = ?"))
        .bind(name)
        .fetch_optional(db)
        .await
}

/// Every agent, by name.
pub async fn list(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents ORDER BY name"))
        .fetch_all(db)
        .await
}

/// Disables or enables an agent; returns whether it exists.
pub async fn set_disabled(
    db: impl SqliteExecutor<'_>,
    id: &str,
    disabled: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE agents SET disabled = ? WHERE id = ?")
        .bind(disabled)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
