//! Agents: creating them (the key and webhook secret are shown once), listing, disabling
//! and enabling, rotating keys and webhook secrets with a grace period, and the origins
//! their callbacks may reach. Every change writes one audit event naming its author; a
//! running server drops its cached keys when it sees it (within a second).

use super::Gate;
use crate::clock::{from_millis, to_millis};
use crate::domain::agent::{
    AgentView, CreatedAgent, Rotated, MAX_CALLBACK_ORIGINS, MAX_GRACE_SECS,
};
use crate::domain::AppError;
use crate::store::Conn;
use crate::store::{self, agents::AgentRow, audit};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Prefix of every agent API key, so leaked keys are easy to recognise.
pub const KEY_PREFIX: &str = "af_";

/// Most calls counted for the agents' "last 24 hours" (the newest ones).
pub const OUTCOME_CAP: i64 = 20_000;

/// SHA-256 of an API key, as stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn new_key() -> (String, String, String) {
    let key = format!("{KEY_PREFIX}{}", random_hex(32));
    let prefix = key[..KEY_PREFIX.len() + 8].to_string();
    (hash_key(&key), prefix, key)
}

fn rfc3339(ms: i64) -> String {
    from_millis(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
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

/// A grace period: 0 (the old one stops at once) to 24 hours.
pub fn check_grace(grace: Duration) -> Result<Duration, AppError> {
    if grace < Duration::zero() || grace > Duration::seconds(MAX_GRACE_SECS) {
        return Err(AppError::Invalid(
            "the grace period is 0 to 24 hours".into(),
        ));
    }
    Ok(grace)
}

/// A grace period as typed: `0` (or `0s`, `none`) or a duration such as `90s`, `15m`,
/// `1h`, at most 24 h.
pub fn parse_grace(text: &str) -> Result<Duration, AppError> {
    let secs = match text.trim() {
        "" | "0" | "0s" | "none" => 0,
        other => crate::policy::rule_form::duration(other).map_err(AppError::Invalid)?,
    };
    if secs > MAX_GRACE_SECS as u64 {
        return Err(AppError::Invalid(
            "the grace period is 0 to 24 hours".into(),
        ));
    }
    Ok(Duration::seconds(secs as i64))
}

/// A callback origin as stored: `scheme://host[:port]`, lower-case, no path.
pub fn check_origin(origin: &str) -> Result<String, AppError> {
    let bad = || {
        AppError::Invalid(format!(
            "`{origin}` is not an origin: write http(s)://host or http(s)://host:port, nothing after"
        ))
    };
    let url = reqwest::Url::parse(origin.trim()).map_err(|_| bad())?;
    let plain = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !origin.trim().ends_with('/');
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !plain {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// One audit event about an agent.
async fn audit_agent(
    conn: &mut Conn,
    row: &AgentRow,
    kind: &str,
    actor: &str,
    now: DateTime<Utc>,
    detail: Value,
) -> Result<(), AppError> {
    audit::append(
        conn,
        &audit::NewEvent {
            at: now,
            actor,
            kind,
            agent_id: Some(&row.id),
            call_id: None,
            from_status: None,
            to_status: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

async fn agent_named(conn: &mut Conn, name: &str) -> Result<AgentRow, AppError> {
    store::agents::find_by_name(&mut *conn, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no agent named `{name}`")))
}

impl Gate {
    /// Creates an agent with a fresh API key and webhook secret.
    pub async fn create_agent(&self, name: &str, actor: &str) -> Result<CreatedAgent, AppError> {
        let name = check_name(name)?;
        let (hash, prefix, key) = new_key();
        let secret = format!("whsec_{}", random_hex(32));
        let now = self.clock.now();
        let (n, s, actor) = (name.clone(), secret.clone(), actor.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = match store::agents::insert(&mut *conn, &n, &hash, &prefix, &s, now)
                        .await
                    {
                        Ok(row) => row,
                        Err(e) if store::is_unique_violation(&e) => {
                            return Err(AppError::Conflict(format!("an agent named `{n}` exists")))
                        }
                        Err(e) => return Err(e.into()),
                    };
                    audit_agent(
                        conn,
                        &row,
                        "agent.created",
                        &actor,
                        now,
                        json!({ "name": n }),
                    )
                    .await
                })
            })
            .await?;
        Ok(CreatedAgent {
            name,
            key,
            webhook_secret: secret,
        })
    }

    /// Every agent, with when it was last seen and its calls in the last 24 hours.
    pub async fn list_agents(&self) -> Result<Vec<AgentView>, AppError> {
        let now = self.clock.now();
        let since = to_millis(now - Duration::hours(24));
        let mut outcomes: HashMap<String, Vec<_>> = HashMap::new();
        let mut counted = 0;
        for (agent, status, n) in
            store::calls::outcomes_since(&self.pool, since, OUTCOME_CAP).await?
        {
            counted += n;
            outcomes.entry(agent).or_default().push((status, n));
        }
        let sampled = counted >= OUTCOME_CAP;
        let now_ms = to_millis(now);
        Ok(store::agents::list(&self.pool)
            .await?
            .into_iter()
            .map(|a| {
                let still = |until: Option<i64>| until.filter(|t| *t > now_ms).map(rfc3339);
                AgentView {
                    last_24h: outcomes.remove(&a.id).unwrap_or_default(),
                    last_24h_sampled: sampled,
                    callback_origins: serde_json::from_str(&a.callback_origins).unwrap_or_default(),
                    receipts_always: a.receipts_always,
                    previous_key_until: still(a.old_key_hash.as_ref().and(a.old_key_until)),
                    previous_secret_until: still(
                        a.old_webhook_secret.as_ref().and(a.old_secret_until),
                    ),
                    last_seen: a.last_seen_at.map(rfc3339),
                    created_at: rfc3339(a.created_at),
                    name: a.name,
                    key_prefix: a.key_prefix,
                    disabled: a.disabled,
                }
            })
            .collect())
    }

    /// One agent.
    pub async fn agent(&self, name: &str) -> Result<AgentView, AppError> {
        let name = check_name(name)?;
        self.list_agents()
            .await?
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| AppError::NotFound(format!("no agent named `{name}`")))
    }

    /// Disables or enables an agent: a disabled agent's keys stop working at once here,
    /// and within a second in a running server (which sees the audit event).
    pub async fn set_agent_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
    ) -> Result<(), AppError> {
        let name = check_name(name)?;
        let now = self.clock.now();
        let actor = actor.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = agent_named(conn, &name).await?;
                    store::agents::set_disabled(&mut *conn, &row.id, !enabled).await?;
                    let kind = if enabled {
                        "agent.enabled"
                    } else {
                        "agent.disabled"
                    };
                    audit_agent(conn, &row, kind, &actor, now, json!({ "name": name })).await
                })
            })
            .await?;
        self.forget_agents();
        Ok(())
    }

    /// Disables an agent.
    pub async fn disable_agent(&self, name: &str, actor: &str) -> Result<(), AppError> {
        self.set_agent_enabled(name, false, actor).await
    }

    /// A new API key for an agent; the previous one keeps working for `grace` (0: it stops
    /// at once; at most 24 h). The new key is returned once.
    pub async fn rotate_key(
        &self,
        name: &str,
        grace: Duration,
        actor: &str,
    ) -> Result<Rotated, AppError> {
        let name = check_name(name)?;
        let grace = check_grace(grace)?;
        let now = self.clock.now();
        let until = (grace > Duration::zero()).then(|| to_millis(now + grace));
        let (hash, prefix, key) = new_key();
        let (n, actor) = (name.clone(), actor.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = agent_named(conn, &n).await?;
                    store::agents::rotate_key(&mut *conn, &row.id, &hash, &prefix, until).await?;
                    let detail =
                        json!({ "name": n, "key_prefix": prefix, "previous_until": until });
                    audit_agent(conn, &row, "agent.key_rotated", &actor, now, detail).await
                })
            })
            .await?;
        self.forget_agents();
        Ok(Rotated {
            name,
            secret: key,
            previous_valid_until: until.map(rfc3339),
        })
    }

    /// A new webhook secret; for `grace` webhooks are signed with both (two `v1=`).
    pub async fn rotate_secret(
        &self,
        name: &str,
        grace: Duration,
        actor: &str,
    ) -> Result<Rotated, AppError> {
        let name = check_name(name)?;
        let grace = check_grace(grace)?;
        let now = self.clock.now();
        let until = (grace > Duration::zero()).then(|| to_millis(now + grace));
        let secret = format!("whsec_{}", random_hex(32));
        let (n, s, actor) = (name.clone(), secret.clone(), actor.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = agent_named(conn, &n).await?;
                    store::agents::rotate_secret(&mut *conn, &row.id, &s, until).await?;
                    let detail = json!({ "name": n, "previous_until": until });
                    audit_agent(conn, &row, "agent.secret_rotated", &actor, now, detail).await
                })
            })
            .await?;
        Ok(Rotated {
            name,
            secret,
            previous_valid_until: until.map(rfc3339),
        })
    }

    /// Replaces the origins an agent's callbacks may reach even when they resolve inside
    /// the network.
    pub async fn set_callback_origins(
        &self,
        name: &str,
        origins: &[String],
        actor: &str,
    ) -> Result<Vec<String>, AppError> {
        let name = check_name(name)?;
        if origins.len() > MAX_CALLBACK_ORIGINS {
            return Err(AppError::Invalid(format!(
                "at most {MAX_CALLBACK_ORIGINS} callback origins"
            )));
        }
        let mut clean = Vec::new();
        for origin in origins.iter().filter(|o| !o.trim().is_empty()) {
            let o = check_origin(origin)?;
            if !clean.contains(&o) {
                clean.push(o);
            }
        }
        let now = self.clock.now();
        let (n, list, actor) = (name, clean.clone(), actor.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = agent_named(conn, &n).await?;
                    let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
                    store::agents::set_callback_origins(&mut *conn, &row.id, &text).await?;
                    let detail = json!({ "name": n, "callback_origins": list });
                    audit_agent(conn, &row, "agent.callbacks_set", &actor, now, detail).await
                })
            })
            .await?;
        // In force for this agent's next proposal (other processes: within the watch interval).
        self.forget_agents();
        Ok(clean)
    }

    /// Sets whether the agent's allowed calls always get a signed receipt (otherwise only
    /// when a proposal asks).
    pub async fn set_receipts_always(
        &self,
        name: &str,
        always: bool,
        actor: &str,
    ) -> Result<(), AppError> {
        let name = check_name(name)?;
        let now = self.clock.now();
        let actor = actor.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = agent_named(conn, &name).await?;
                    store::agents::set_receipts_always(&mut *conn, &row.id, always).await?;
                    let detail = json!({ "name": name, "receipts_always": always });
                    audit_agent(conn, &row, "agent.receipts_set", &actor, now, detail).await
                })
            })
            .await?;
        self.forget_agents();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let cases = [
            (
                "https://hooks.example.com",
                Some("https://hooks.example.com"),
            ),
            (
                "HTTPS://Hooks.Example.com:8443",
                Some("https://hooks.example.com:8443"),
            ),
            ("http://10.0.0.5:9000", Some("http://10.0.0.5:9000")),
            ("https://example.com:443", Some("https://example.com")),
            ("https://example.com/", None),
            ("https://example.com/hook", None),
            ("https://user:pw@example.com", None),
            ("ftp://example.com", None),
            ("example.com", None),
            ("https://example.com?x=1", None),
        ];
        for (input, want) in cases {
            assert_eq!(check_origin(input).ok().as_deref(), want, "{input}");
        }
    }

    #[test]
    fn grace_periods_as_typed() {
        let cases = [
            ("0", Some(0)),
            ("0s", Some(0)),
            ("90s", Some(90)),
            ("24h", Some(86_400)),
            ("25h", None),
            ("9223372036854775807s", None),
            ("106751991167301d", None),
            ("-1m", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_grace(text).ok().map(|d| d.num_seconds()),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn grace_periods() {
        assert!(check_grace(Duration::zero()).is_ok());
        assert!(check_grace(Duration::hours(24)).is_ok());
        assert!(check_grace(Duration::hours(24) + Duration::seconds(1)).is_err());
        assert!(check_grace(Duration::seconds(-1)).is_err());
    }
}
