//! The API's JSON shapes, as the SDK reads and writes them. Unknown fields are ignored so
//! newer servers keep working.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A call's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Allowed,
    Denied,
    Pending,
    Approved,
    Expired,
    Cancelled,
    Executed,
    Stale,
    /// A status this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// A tool call to propose. Build with [`ProposedCall::new`] and the setters.
#[derive(Debug, Clone, Serialize)]
pub struct ProposedCall {
    pub session: String,
    pub tool: String,
    pub args: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Sent as the `Idempotency-Key` header.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl ProposedCall {
    /// A call of `tool` in agent run `session`, with no arguments yet.
    pub fn new(session: impl Into<String>, tool: impl Into<String>) -> Self {
        Self {
            session: session.into(),
            tool: tool.into(),
            args: Value::Object(Default::default()),
            reason: None,
            context: None,
            risk: Vec::new(),
            alternatives: Vec::new(),
            checkpoint: None,
            callback_url: None,
            idempotency_key: None,
        }
    }
    /// The tool's arguments (a JSON object).
    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }
    /// Why the agent wants to do this.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// Plan context (`plan_step`, `plan_total`, `summary` are shown specially).
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
    /// Risk classes the agent claims (`destructive`, `irreversible`, `financial`,
    /// `customer_facing`, `production`, `external_comms`).
    pub fn risk<I, S>(mut self, risk: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.risk = risk.into_iter().map(Into::into).collect();
        self
    }
    /// Alternatives the agent considered.
    pub fn alternatives<I, S>(mut self, alternatives: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.alternatives = alternatives.into_iter().map(Into::into).collect();
        self
    }
    /// An idempotency key: proposing twice with it creates one call.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// The answer to a proposal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Proposal {
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub risk: Vec<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default)]
    pub approvals_required: Option<u32>,
}

/// One person's decision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Decision {
    pub user: String,
    /// `approve` or `deny`.
    pub decision: String,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub edited_args: bool,
    #[serde(default)]
    pub at: String,
}

/// A call as the server reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallView {
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub tool: String,
    /// The arguments to execute (as approved, possibly edited).
    #[serde(default)]
    pub args: Value,
    #[serde(default)]
    pub proposed_args: Value,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub approvals: u32,
    #[serde(default)]
    pub approvals_required: Option<u32>,
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default)]
    pub approval_expires_at: Option<String>,
    #[serde(default)]
    pub checkpoint: Option<Value>,
}

impl CallView {
    /// Why the call will not run, in words an agent loop can reflect on: the denying
    /// person's feedback, policy's message, or what happened.
    pub fn feedback(&self) -> String {
        if let Some(f) = self
            .decisions
            .iter()
            .rev()
            .find(|d| d.decision == "deny")
            .and_then(|d| d.feedback.clone())
        {
            return f;
        }
        if let Some(m) = &self.message {
            return m.clone();
        }
        match self.status {
            Status::Expired => "nobody decided before the deadline".into(),
            Status::Cancelled => "the call was cancelled".into(),
            Status::Stale => "the approval expired before execution".into(),
            other => format!("the call is {other:?}"),
        }
    }
}

/// The answer to `execute`: run the tool with exactly these arguments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Executed {
    pub id: String,
    pub status: Status,
    pub args: Value,
}
