//! Admin settings as the gate stores them: one JSON value per key, each change with its
//! `settings.changed` audit event naming the value before.

use crate::domain::AppError;
use crate::store::Conn;
use crate::store::{self, audit};
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

/// The stored value of `key`, or `T::default()` when none was saved yet.
pub(super) async fn read<T: DeserializeOwned + Default>(
    db: impl crate::store::Executor<'_>,
    key: &str,
) -> Result<T, AppError> {
    match store::settings::get(db, key).await? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(format!("stored {key} settings unreadable: {e}"))),
        None => Ok(T::default()),
    }
}

/// Stores `value` under `key` and audits the change (with the value before) as `actor`.
pub(super) async fn save<T: Serialize + DeserializeOwned + Default>(
    conn: &mut Conn,
    key: &str,
    value: &T,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let before: T = read(&mut *conn, key).await?;
    let text = serde_json::to_string(value)
        .map_err(|e| AppError::Internal(format!("{key} settings: {e}")))?;
    store::settings::put(&mut *conn, key, &text, actor, now).await?;
    audit::append(
        conn,
        &audit::NewEvent::about(
            now,
            actor,
            "settings.changed",
            None,
            None,
            json!({ key: value, "before": before }),
        ),
    )
    .await?;
    Ok(())
}
