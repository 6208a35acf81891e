//! Loading and replacing the policy. The policy in force is the newest stored version;
//! a fresh database gets the documented default policy.

use super::{writer::Writer, Gate};
use crate::clock::Clock;
use crate::domain::{policy::Policy, AppError};
use crate::policy::{default_policy, CompiledPolicy};
use crate::store::{audit, policy as store};
use serde_json::json;
use sqlx::SqlitePool;

/// The stored policy, compiled; installs the default policy if none is stored yet.
pub async fn load_policy(
    pool: &SqlitePool,
    writer: &Writer,
    clock: &dyn Clock,
) -> Result<CompiledPolicy, AppError> {
    if let Some((version, document)) = store::latest(pool).await? {
        let policy: Policy = serde_json::from_str(&document).map_err(|e| {
            AppError::Internal(format!(
                "stored policy version {version} is unreadable: {e}"
            ))
        })?;
        return CompiledPolicy::compile(&policy).map_err(|e| {
            AppError::Internal(format!("stored policy version {version} is invalid: {e}"))
        });
    }
    let policy = default_policy();
    let compiled = CompiledPolicy::compile(&policy)
        .map_err(|e| AppError::Internal(format!("the default policy is invalid: {e}")))?;
    store_version(writer, policy, "system", clock).await?;
    Ok(compiled)
}

/// Stores `policy` as a new version with its audit event; returns the version number.
async fn store_version(
    writer: &Writer,
    policy: Policy,
    author: &str,
    clock: &dyn Clock,
) -> Result<i64, AppError> {
    let now = clock.now();
    let author = author.to_string();
    let document = serde_json::to_string(&policy)
        .map_err(|e| AppError::Internal(format!("serializing the policy: {e}")))?;
    writer
        .write(move |conn| {
            Box::pin(async move {
                let version = store::insert(&mut *conn, &document, &author, now).await?;
                audit::append(
                    conn,
                    &audit::NewEvent {
                        at: now,
                        actor: &author,
                        kind: "policy.changed",
                        agent_id: None,
                        call_id: None,
                        from_status: None,
                        to_status: None,
                        detail: json!({ "version": version, "rules": policy.rules.len() }),
                    },
                )
                .await?;
                Ok(version)
            })
        })
        .await
}

impl Gate {
    /// Validates, stores and activates a new policy; returns its version. Other processes
    /// (a running server) pick it up from the audit log within a second.
    pub async fn replace_policy(&self, policy: Policy, author: &str) -> Result<i64, AppError> {
        let compiled =
            CompiledPolicy::compile(&policy).map_err(|e| AppError::Invalid(e.to_string()))?;
        let version = store_version(&self.writer, policy, author, self.clock.as_ref()).await?;
        self.set_policy(compiled);
        Ok(version)
    }
}
