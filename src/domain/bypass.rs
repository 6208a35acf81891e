//! Bypasses: requests that gated calls matching a scope be approved without a person for a
//! bounded window. This module owns the bypass lifecycle ([`BypassStatus::apply`]) and the
//! shapes people and agents see; matching lives in `crate::policy::scope` (server only).

use super::policy::{ArgCondition, Match};
use super::policy_change::condition_text;
use super::signoff::{CoveredCall, SignoffReviewView};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a bypass is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BypassStatus {
    /// Waiting for managers' sign-off.
    Pending,
    /// Approving matching gated calls until its window ends.
    Active,
    /// A manager vetoed it.
    Denied,
    /// Nobody resolved it in time.
    Expired,
    /// Withdrawn while pending, or revoked while active.
    Revoked,
    /// Its window ended.
    Ended,
}

/// What can happen to a bypass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BypassEvent {
    /// Enough distinct eligible managers approved.
    Approve,
    /// An eligible manager denied it.
    Deny,
    /// The request's deadline passed.
    Deadline,
    /// The requester or a manager revoked it.
    Revoke,
    /// The window ended.
    WindowEnd,
}

impl BypassStatus {
    /// Every status.
    pub const ALL: [BypassStatus; 6] = [
        BypassStatus::Pending,
        BypassStatus::Active,
        BypassStatus::Denied,
        BypassStatus::Expired,
        BypassStatus::Revoked,
        BypassStatus::Ended,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            BypassStatus::Pending => "pending",
            BypassStatus::Active => "active",
            BypassStatus::Denied => "denied",
            BypassStatus::Expired => "expired",
            BypassStatus::Revoked => "revoked",
            BypassStatus::Ended => "ended",
        }
    }

    /// The status `event` leads to from `self`, or `None` if it cannot happen.
    pub fn apply(self, event: BypassEvent) -> Option<BypassStatus> {
        use BypassEvent as E;
        use BypassStatus as S;
        match (self, event) {
            (S::Pending, E::Approve) => Some(S::Active),
            (S::Pending, E::Deny) => Some(S::Denied),
            (S::Pending, E::Deadline) => Some(S::Expired),
            (S::Pending | S::Active, E::Revoke) => Some(S::Revoked),
            (S::Active, E::WindowEnd) => Some(S::Ended),
            (S::Pending | S::Active | S::Denied | S::Expired | S::Revoked | S::Ended, _) => None,
        }
    }

    /// The expiry due at `now_ms` for a bypass in this status with this request deadline
    /// and window end: the one rule for "has it run out", used on read, at every gate
    /// check and by the sweeper.
    pub fn due(self, expires_at: i64, ends_at: Option<i64>, now_ms: i64) -> Option<BypassEvent> {
        match self {
            BypassStatus::Pending if expires_at <= now_ms => Some(BypassEvent::Deadline),
            BypassStatus::Active if ends_at.is_some_and(|t| t <= now_ms) => {
                Some(BypassEvent::WindowEnd)
            }
            _ => None,
        }
    }

    /// Whether nothing can happen to it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, BypassStatus::Pending | BypassStatus::Active)
    }
}

impl fmt::Display for BypassStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which calls a bypass covers: the policy's own matcher, limited to agent, tool and
/// argument conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Glob on the agent's name; `None`: every agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Glob on the tool name.
    pub tool: String,
    /// Conditions on the arguments, as in policy rules; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<Object>))]
    pub args: Vec<ArgCondition>,
}

impl Scope {
    /// The scope as a policy match.
    pub fn as_match(&self) -> Match {
        Match {
            agent: self.agent.clone(),
            tool: Some(self.tool.clone()),
            args: self.args.clone(),
            ..Match::default()
        }
    }

    /// The scope in words, every operand quoted as JSON so that no value can read as more
    /// conditions: "calls to `deploy*` from agents matching `ci-*` when /env matches
    /// \"staging*\"".
    pub fn describe(&self) -> String {
        let mut text = format!("calls to `{}`", self.tool);
        match &self.agent {
            Some(agent) => text += &format!(" from agents matching `{agent}`"),
            None => text += " from any agent",
        }
        if !self.args.is_empty() {
            let when: Vec<String> = self.args.iter().map(quoted).collect();
            text += &format!(" when {}", when.join(" and "));
        }
        text
    }
}

/// A condition in words with its operand as JSON: `/env matches "staging*"`.
fn quoted(c: &ArgCondition) -> String {
    let plain = condition_text(&ArgCondition {
        value: None,
        ..c.clone()
    });
    match &c.value {
        Some(v) => format!("{plain} {v}"),
        None => plain,
    }
}

/// Who or what approved a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(examples(json!({ "people": ["ann", "bo"] }))))]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    /// An active bypass (its number), without a person.
    Bypass(i64),
    /// A remembered grant (its number): one approver's earlier word.
    Grant(i64),
    /// These people (their approvals of the final arguments).
    People(Vec<String>),
}

/// A bypass as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BypassView {
    pub id: i64,
    pub requester: String,
    pub scope: Scope,
    /// The scope in words.
    pub scope_text: String,
    /// Whether gates that ask for typed confirmation are bypassed too.
    pub include_confirmation: bool,
    /// The window asked for, in seconds (it starts when the bypass becomes active).
    pub window_secs: u64,
    pub reason: String,
    /// Hash of scope, window, justification and the confirmation flag: a review names it.
    pub hash: String,
    pub status: BypassStatus,
    pub approvals: u32,
    pub approvals_required: u32,
    pub reviews: Vec<SignoffReviewView>,
    /// RFC 3339.
    pub created_at: String,
    /// When the request expires unresolved (ms since the epoch).
    pub expires_at_ms: i64,
    pub activated_at: Option<String>,
    /// When an active bypass ends (ms since the epoch).
    pub ends_at_ms: Option<i64>,
    pub resolved_at: Option<String>,
    pub revoked_by: Option<String>,
    /// Calls it approved.
    pub used: i64,
}

/// The bypass page: one bypass, with what it did or would do, and what the viewer may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BypassPage {
    pub bypass: BypassView,
    /// The newest calls it approved.
    pub approved_calls: Vec<CoveredCall>,
    /// Recent gated calls its scope would have approved.
    pub would_cover: Vec<CoveredCall>,
    /// Why the viewer cannot review it (`None`: they may).
    pub cannot_review: Option<String>,
    /// Whether the viewer may revoke it (its requester, or a manager).
    pub can_revoke: bool,
    /// Managers and admins who could still review it.
    pub eligible_reviewers: i64,
    /// Changes to people's accounts since it was asked for.
    #[serde(default)]
    pub account_changes: Vec<super::signoff::AccountChange>,
    pub now_ms: i64,
}

/// The bypass list: what is active, what waits, what ended lately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BypassList {
    pub bypasses: Vec<BypassView>,
    /// The longest window that may be asked for, in seconds.
    pub max_window_secs: u64,
    pub approvals: u32,
    pub now_ms: i64,
}

/// What the request form previews before submitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopePreview {
    pub scope_text: String,
    /// Recent gated calls the scope would have covered (newest first).
    pub calls: Vec<CoveredCall>,
    /// How many recent gated calls were examined.
    pub examined: u32,
    /// How many of them it covers (more than `calls` lists).
    pub matched: u32,
    /// How many of those were denied: a bypass would have let them through.
    #[serde(default)]
    pub denied: u32,
}

/// An active bypass as an agent sees it (`GET /api/v1/bypasses`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgentBypass {
    pub id: i64,
    pub scope: Scope,
    /// The scope in words.
    pub description: String,
    pub include_confirmation: bool,
    pub reason: String,
    pub requester: String,
    /// The managers whose approvals activated it.
    pub approved_by: Vec<String>,
    /// RFC 3339.
    pub ends_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use BypassEvent as E;
    use BypassStatus as S;

    #[test]
    fn every_transition() {
        let allowed = [
            (S::Pending, E::Approve, S::Active),
            (S::Pending, E::Deny, S::Denied),
            (S::Pending, E::Deadline, S::Expired),
            (S::Pending, E::Revoke, S::Revoked),
            (S::Active, E::Revoke, S::Revoked),
            (S::Active, E::WindowEnd, S::Ended),
        ];
        let events = [E::Approve, E::Deny, E::Deadline, E::Revoke, E::WindowEnd];
        for from in BypassStatus::ALL {
            for event in events {
                let want = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|t| t.2);
                assert_eq!(from.apply(event), want, "{from} + {event:?}");
            }
        }
    }

    #[test]
    fn due_at_the_boundary() {
        let cases = [
            (S::Pending, 1_000, None, 999, None),
            (S::Pending, 1_000, None, 1_000, Some(E::Deadline)),
            (S::Active, 1_000, Some(5_000), 4_999, None),
            (S::Active, 1_000, Some(5_000), 5_000, Some(E::WindowEnd)),
            (S::Revoked, 1_000, Some(5_000), 9_000, None),
            (S::Ended, 1_000, Some(5_000), 9_000, None),
        ];
        for (status, expires, ends, now, want) in cases {
            assert_eq!(status.due(expires, ends, now), want, "{status} at {now}");
        }
    }

    #[test]
    fn scope_in_words() {
        let scope = Scope {
            agent: Some("ci-*".into()),
            tool: "deploy".into(),
            args: vec![ArgCondition {
                pointer: "/env".into(),
                op: crate::domain::policy::ArgOp::Glob,
                value: Some("staging*".into()),
            }],
        };
        assert_eq!(
            scope.describe(),
            "calls to `deploy` from agents matching `ci-*` when /env matches \"staging*\""
        );
        assert_eq!(
            Scope {
                tool: "*".into(),
                ..Scope::default()
            }
            .describe(),
            "calls to `*` from any agent"
        );
        assert_eq!(
            serde_json::to_value(ApprovedBy::Bypass(7)).unwrap(),
            serde_json::json!({ "bypass": 7 })
        );
    }
}
