//! Agents: creating them (the key and webhook secret are shown once), listing, disabling.

use super::Gate;
use crate::clock::from_millis;
use crate::domain::AppError;
use crate::store::{self, audit};
use chrono::SecondsFormat;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Prefix of every agent API key, so leaked keys are easy to recognise.
pub const KEY_PREFIX: &str = "af_";

/// What `agent create` shows once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedAgent {
    pub name: String,
    pub key: String,
    pub webhook_secret: String,
}

/// An agent as listed (never its key).
#[derive(Debug, Clone, Serialize)]
pub struct AgentSummary {
    pub name: String,
    pub key_prefix: String,
    pub disabled: bool,
    pub created_at: String,
}

/// SHA-256 of an API key, as stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Checks an agent name: 1–64 characters of letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(AppError::Invalid(
            "agent names are 1-64 characters of letters, digits, '.', '_' and '-'".into(),
        ))
    }
}

impl Gate {
    /// Creates an agent with a fresh API key and webhook secret.
    pub async fn create_agent(&self, name: &str, actor: &str) -> Result<CreatedAgent, AppError> {
        let name = check_name(name)?;
        let key = format!("{KEY_PREFIX}{}", random_hex(32));
        let secret = format!("whsec_{}", random_hex(32));
        let now = self.clock.now();
        let (n, k, s, actor) = (name.clone(), key.clone(), secret.clone(), actor.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let prefix = &k[..KEY_PREFIX.len() + 8];
                    let row =
                        match store::agents::insert(&mut *conn, &n, &hash_key(&k), prefix, &s, now)
                            .await
                        {
                            Ok(row) => row,
                            Err(e) if store::is_unique_violation(&e) => {
                                return Err(AppError::Conflict(format!(
                                    "an agent named `{n}` exists"
                                )))
                            }
                            Err(e) => return Err(e.into()),
                        };
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "agent.created",
                            agent_id: Some(&row.id),
                            call_id: None,
                            from_status: None,
                            to_status: None,
                            detail: json!({ "name": n }),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(CreatedAgent {
            name,
            key,
            webhook_secret: secret,
        })
    }

    /// Every agent.
    pub async fn list_agents(&self) -> Result<Vec<AgentSummary>, AppError> {
        Ok(store::agents::list(&self.pool)
            .await?
            .into_iter()
            .map(|a| AgentSummary {
                name: a.name,
                key_prefix: a.key_prefix,
                disabled: a.disabled,
                created_at: from_millis(a.created_at).to_rfc3339_opts(SecondsFormat::Secs, true),
            })
            .collect())
    }

    /// Disables an agent: its key stops working at once here, and within a second in a
    /// running server (which sees the audit event).
    pub async fn disable_agent(&self, name: &str, actor: &str) -> Result<(), AppError> {
        let name = check_name(name)?;
        let now = self.clock.now();
        let actor = actor.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = store::agents::find_by_name(&mut *conn, &name)
                        .await?
                        .ok_or_else(|| AppError::NotFound(format!("no agent named `{name}`")))?;
                    store::agents::set_disabled(&mut *conn, &row.id, true).await?;
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "agent.disabled",
                            agent_id: Some(&row.id),
                            call_id: None,
                            from_status: None,
                            to_status: None,
                            detail: json!({ "name": name }),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        self.forget_agents();
        Ok(())
    }
}
