//! Remembered grants: one approver's "also approve identical (or similar) calls for the
//! next N minutes / uses". A grant lives `active` until its window ends, its uses run out,
//! or someone revokes it; nothing brings it back.

use serde::{Deserialize, Serialize};

/// Where a grant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Approving covered calls.
    Active,
    /// Someone revoked it.
    Revoked,
    /// Its window ended.
    Ended,
    /// Its uses ran out.
    UsedUp,
}

impl GrantStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Ended => "ended",
            GrantStatus::UsedUp => "used_up",
        }
    }
}

/// What a grant asked for when approving: how long, how many uses, and whether similar
/// calls (by the rule's deciding arguments) count, not only identical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantAsk {
    pub secs: u64,
    pub uses: u32,
    pub similar: bool,
}

/// A grant as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    pub id: i64,
    /// The call whose approval gave it.
    pub call_id: String,
    pub granted_by: String,
    pub agent: String,
    pub tool: String,
    pub rule: String,
    /// What it covers, in words ("identical arguments", `/service = "api"`).
    pub covers: String,
    pub status: GrantStatus,
    /// RFC 3339.
    pub created_at: String,
    pub ends_at: String,
    pub max_uses: u32,
    pub used: u32,
    pub revoked_by: Option<String>,
    /// Calls it approved, newest first (at most 20).
    pub calls: Vec<GrantedCall>,
}

/// A call a grant approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantedCall {
    pub id: String,
    pub status: super::call::CallStatus,
    pub created_at: String,
}
