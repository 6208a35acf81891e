//! Agents as the admin's agents page and the CLI show them. Keys and webhook secrets are
//! shown once, when created or rotated; only a hash of a key is kept.

use super::call::CallStatus;
use serde::{Deserialize, Serialize};

/// Longest grace period for a rotated key or secret, in seconds (24 h).
pub const MAX_GRACE_SECS: i64 = 24 * 3600;
/// Most allowed callback origins per agent.
pub const MAX_CALLBACK_ORIGINS: usize = 20;

/// What creating an agent shows once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedAgent {
    pub name: String,
    pub key: String,
    pub webhook_secret: String,
}

/// What rotating a key or a secret shows once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotated {
    pub name: String,
    /// The new API key or webhook secret.
    pub secret: String,
    /// Until when (RFC 3339) the previous one still works; `None`: it stopped at once.
    pub previous_valid_until: Option<String>,
}

/// An agent, never with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub name: String,
    /// The key's first characters, to recognise it.
    pub key_prefix: String,
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    pub last_seen: Option<String>,
    /// Origins (`https://host:port`) its callbacks may reach even inside the network.
    pub callback_origins: Vec<String>,
    /// Whether its allowed calls always get a signed receipt (otherwise only when the
    /// proposal asks).
    #[serde(default)]
    pub receipts_always: bool,
    /// While a rotated key's grace lasts: until when the previous key works.
    pub previous_key_until: Option<String>,
    /// While a rotated secret's grace lasts: until when webhooks are also signed with it.
    pub previous_secret_until: Option<String>,
    /// Calls in the last 24 hours, per outcome.
    pub last_24h: Vec<(CallStatus, i64)>,
    /// Whether there were more calls in the last 24 hours than are counted: the counts
    /// are then of the newest 20,000.
    pub last_24h_sampled: bool,
}
