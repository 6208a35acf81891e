//! The server's answers, as the SDK reads them. Unknown fields are ignored and most
//! fields default when absent, so newer servers keep working.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Policy allowed it: execute now.
    Allowed,
    /// Policy denied it, or a person did.
    Denied,
    /// Waiting for people.
    Pending,
    /// Enough people approved; execute before the approval expires.
    Approved,
    /// Nobody decided before the deadline.
    Expired,
    /// The agent withdrew it.
    Cancelled,
    /// The agent reported execution.
    Executed,
    /// The approval expired unused: propose again.
    Stale,
    /// Started by an agent that will report the outcome ([`crate::Client::report_outcome`]).
    Running,
    /// Started, and ended without a result (a crash, a timeout, a lost connection).
    Failed,
    /// A status this SDK does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Allowed => "allowed",
            Status::Denied => "denied",
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::Executed => "executed",
            Status::Stale => "stale",
            Status::Running => "running",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    /// Whether the call may be executed now (`allowed` or `approved`).
    pub fn is_runnable(self) -> bool {
        matches!(self, Status::Allowed | Status::Approved)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `201` answer to a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    /// `allowed`, `denied` or `pending`.
    pub status: Status,
    /// The rule that decided; `None` when the default effect did.
    #[serde(default)]
    pub rule: Option<String>,
    /// Risk classes claimed plus those policy added.
    #[serde(default)]
    pub risk: Vec<String>,
    /// Why it was denied.
    #[serde(default)]
    pub message: Option<String>,
    /// When a pending call expires (RFC 3339).
    #[serde(default)]
    pub deadline: Option<String>,
    /// Approvals a pending call needs.
    #[serde(default)]
    pub approvals_required: Option<u32>,
    /// For a gated call an active bypass approved at once: `Bypass(id)`.
    #[serde(default)]
    pub approved_by: Option<ApprovedBy>,
    /// Until when an approved call may be executed (RFC 3339).
    #[serde(default)]
    pub approval_expires_at: Option<String>,
    /// For a repeat of a call a person denied with "do not retry": that denial.
    #[serde(default)]
    pub denial: Option<Denial>,
    /// When the call may run at once (approved by a bypass or grant, or allowed when
    /// asked with [`crate::ProposedCall::receipt`]): the signed receipt for the tool server.
    #[serde(default)]
    pub receipt: Option<String>,
}

/// A person's denial, as the agent must respect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The approver's words.
    pub feedback: String,
    /// The preset reason they picked (e.g. `out_of_scope`), if any.
    #[serde(default)]
    pub reason_code: Option<String>,
    /// `false`: do not propose this call again; a repeat (same session, tool and
    /// arguments) is denied at once for a while.
    pub retry: bool,
    /// For a repeat answered at once: the call whose denial it repeats.
    #[serde(default)]
    pub repeat_of: Option<String>,
}

/// An escalation: nobody decided before the deadline, so the call moved to a fallback
/// audience with a new deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// RFC 3339.
    pub at: String,
    /// `manager`, `group:oncall`, …
    pub to: String,
    /// In words.
    #[serde(default)]
    pub to_text: String,
}

/// Who approved a call: a bypass managers signed off (its number), or these people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovedBy {
    Bypass(i64),
    /// A remembered grant: an approver's earlier "also approve identical calls".
    Grant(i64),
    People(Vec<String>),
}

/// An active bypass covering this agent (`GET /api/v1/bypasses`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bypass {
    pub id: i64,
    /// The scope: `agent` and `tool` globs and `args` conditions, as in policy rules.
    #[serde(default)]
    pub scope: Value,
    /// The scope in words.
    #[serde(default)]
    pub description: String,
    /// Whether gates that ask for typed confirmation are bypassed too.
    #[serde(default)]
    pub include_confirmation: bool,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub requester: String,
    /// The managers whose approvals activated it.
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    pub ends_at: String,
}

impl Proposal {
    /// The decision deadline, if the server sent a readable one.
    pub fn deadline_at(&self) -> Option<DateTime<Utc>> {
        parse_time(self.deadline.as_deref()?)
    }
}

/// One person's decision on a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    #[serde(default)]
    pub user: String,
    /// `approve` or `deny`.
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub feedback: Option<String>,
    /// Whether this person made the version they reviewed (edited the arguments).
    #[serde(default)]
    pub edited_args: bool,
    /// The version of the arguments reviewed (1 is the proposal; each edit adds one).
    #[serde(default)]
    pub version: u32,
    /// Whether that is the current version (approvals of earlier versions no longer count).
    #[serde(default)]
    pub current: bool,
    /// RFC 3339.
    #[serde(default)]
    pub at: String,
}

/// A call as its agent sees it (`GET /api/v1/calls/{id}`, events, webhooks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub tool: String,
    /// The arguments to execute: as approved, possibly edited by an approver.
    #[serde(default)]
    pub args: Value,
    /// The arguments as proposed.
    #[serde(default)]
    pub proposed_args: Value,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub context: Option<Value>,
    #[serde(default)]
    pub risk: Vec<String>,
    #[serde(default)]
    pub alternatives: Vec<String>,
    #[serde(default)]
    pub rule: Option<String>,
    /// Policy's message (why it was denied).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub approvals_required: Option<u32>,
    #[serde(default)]
    pub approvals: u32,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// Typed confirmation an approver must enter, if any.
    #[serde(default)]
    pub confirm: Option<String>,
    #[serde(default)]
    pub deadline: Option<String>,
    /// Times an approver extended the deadline.
    #[serde(default)]
    pub extensions: u32,
    /// Set once the deadline escalated the call to a fallback audience.
    #[serde(default)]
    pub escalated: Option<Escalation>,
    /// A person's denial: feedback, preset reason, and whether to retry.
    #[serde(default)]
    pub denial: Option<Denial>,
    #[serde(default)]
    pub approval_expires_at: Option<String>,
    /// Who approved it (absent until it is approved).
    #[serde(default)]
    pub approved_by: Option<ApprovedBy>,
    /// What the agent stored with an async proposal.
    #[serde(default)]
    pub checkpoint: Option<Value>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub decided_at: Option<String>,
    #[serde(default)]
    pub executed_at: Option<String>,
    /// How running it went, when the agent reported it.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// What the agent said about the outcome.
    #[serde(default)]
    pub outcome_detail: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// While the call is approved: its signed receipt, for the tool server to check with
    /// [`crate::receipt::verify`].
    #[serde(default)]
    pub receipt: Option<String>,
}

/// How running a call went, as reported with [`crate::Client::report_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The tool returned a result.
    Succeeded,
    /// The tool returned an error of its own (e.g. MCP `isError`).
    ToolError,
    /// No result: the tool server crashed, timed out or could not be reached.
    Failed,
    /// An outcome this SDK does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl CallView {
    /// Why the call will not run, in words an agent loop can reflect on: the denying
    /// person's feedback, policy's message, or what happened.
    pub fn feedback(&self) -> String {
        if let Some(deny) = self.decisions.iter().rev().find(|d| d.decision == "deny") {
            if let Some(f) = deny.feedback.as_deref().filter(|f| !f.trim().is_empty()) {
                return f.to_string();
            }
            if self.status == Status::Denied {
                return format!("{} denied the call without feedback", deny.user);
            }
        }
        if let Some(m) = self.message.as_deref().filter(|m| !m.trim().is_empty()) {
            return m.to_string();
        }
        status_sentence(self.status, self.deadline.as_deref())
    }
}

/// A sentence saying what a status means for the agent.
pub(crate) fn status_sentence(status: Status, deadline: Option<&str>) -> String {
    match status {
        Status::Expired => match deadline {
            Some(d) => format!("the call expired: nobody decided before the deadline ({d})"),
            None => "the call expired: nobody decided before the deadline".into(),
        },
        Status::Denied => "the call was denied".into(),
        Status::Cancelled => "the call was cancelled".into(),
        Status::Stale => "the approval expired before the call ran; propose it again".into(),
        Status::Executed => "the call was already executed".into(),
        other => format!("the call is {other}"),
    }
}

/// `200` answer to `execute`: run the tool with exactly these arguments, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    pub id: String,
    #[serde(default = "executed")]
    pub status: Status,
    /// The arguments to run with (possibly edited by an approver).
    pub args: Value,
}

fn executed() -> Status {
    Status::Executed
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn views_tolerate_missing_and_extra_fields() {
        let v: CallView = serde_json::from_value(json!({
            "id": "c1", "status": "something_new", "brand_new_field": [1, 2]
        }))
        .unwrap();
        assert_eq!((v.id.as_str(), v.status), ("c1", Status::Unknown));
        assert!(v.decisions.is_empty() && v.checkpoint.is_none());
        let p: Proposal =
            serde_json::from_value(json!({ "id": "c2", "status": "pending", "x": 1 })).unwrap();
        assert_eq!(p.status, Status::Pending);
        assert!(serde_json::from_value::<CallView>(json!({ "status": "denied" })).is_err());
    }

    #[test]
    fn feedback_prefers_people_then_policy_then_status() {
        let base = json!({ "id": "c", "status": "denied", "message": "out of scope" });
        let mut v: CallView = serde_json::from_value(base).unwrap();
        assert_eq!(v.feedback(), "out of scope");
        v.decisions.push(Decision {
            user: "ana".into(),
            decision: "deny".into(),
            feedback: Some("not on a Friday".into()),
            edited_args: false,
            version: 1,
            current: true,
            at: String::new(),
        });
        assert_eq!(v.feedback(), "not on a Friday");
        v.decisions[0].feedback = None;
        assert_eq!(v.feedback(), "ana denied the call without feedback");
        let v: CallView = serde_json::from_value(json!({
            "id": "c", "status": "expired", "deadline": "2026-01-01T09:00:00Z"
        }))
        .unwrap();
        assert!(
            v.feedback().starts_with("the call expired"),
            "{}",
            v.feedback()
        );
    }

    #[test]
    fn deadlines() {
        let mut p: Proposal =
            serde_json::from_value(json!({ "id": "c", "status": "pending" })).unwrap();
        assert_eq!(p.deadline_at(), None);
        p.deadline = Some("2026-01-01T09:00:00.000Z".into());
        assert_eq!(p.deadline_at().unwrap().timestamp(), 1_767_258_000);
        p.deadline = Some("2026-01-01T10:00:00+01:00".into());
        assert_eq!(p.deadline_at().unwrap().timestamp(), 1_767_258_000);
        p.deadline = Some("tomorrow".into());
        assert_eq!(p.deadline_at(), None);
    }
}
