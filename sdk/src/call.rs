//! What an agent proposes (`POST /api/v1/calls`).

use serde::Serialize;
use serde_json::Value;

/// The risk classes askfirst knows. The agent may claim them; policy may add more.
pub mod risk {
    pub const DESTRUCTIVE: &str = "destructive";
    pub const IRREVERSIBLE: &str = "irreversible";
    pub const FINANCIAL: &str = "financial";
    pub const CUSTOMER_FACING: &str = "customer_facing";
    pub const PRODUCTION: &str = "production";
    pub const EXTERNAL_COMMS: &str = "external_comms";
}

/// A tool call to propose. Build with [`ProposedCall::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedCall {
    /// The agent's run this call belongs to (novelty is per session).
    pub session: String,
    pub tool: String,
    /// The tool's arguments (a JSON object).
    pub args: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Plan context; `plan_step`, `plan_total` and `summary` are shown specially.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Risk classes the agent claims (see [`risk`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    /// Anything; returned with the call when it leaves `pending` (async gates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
    /// Webhook askfirst calls when the call leaves `pending`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Sent as the `Idempotency-Key` header, not in the body.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// Answer with this agent's earlier identical call (same tool and arguments) while it
    /// is pending or approved and not yet executed, instead of filing a new one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub join_open: bool,
    /// When policy allows the call, record it `running` at once (no `execute` request);
    /// report how it went with [`crate::Client::report_outcome`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub run_if_allowed: bool,
    /// When policy allows the call, the answer carries a signed receipt too (an approved
    /// call always has one): for tool servers that check receipts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub receipt: bool,
}

impl ProposedCall {
    /// A call of `tool` in agent run `session`, with empty arguments.
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
            join_open: false,
            run_if_allowed: false,
            receipt: false,
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

    /// Plan context, e.g. `{"plan_step": 2, "plan_total": 4, "summary": "…"}`.
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// Risk classes the agent claims (see [`risk`]).
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

    /// State to get back when the call is decided (async gates).
    pub fn checkpoint(mut self, checkpoint: Value) -> Self {
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Webhook to call when the call is decided (async gates).
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    /// When policy gates the call and this agent already has a pending, or approved and
    /// not yet executed, call of the same tool with the same arguments (any session), get
    /// that call instead of filing a new one: a retry finds the call it asked before.
    pub fn join_open(mut self) -> Self {
        self.join_open = true;
        self
    }

    /// When policy allows the call, start it at once: the answer is `running` and the
    /// agent must report the outcome with [`crate::Client::report_outcome`].
    pub fn run_if_allowed(mut self) -> Self {
        self.run_if_allowed = true;
        self
    }

    /// Ask for a signed receipt even when policy allows the call outright (approved calls
    /// always have one), for a tool server that refuses calls without one.
    pub fn receipt(mut self) -> Self {
        self.receipt = true;
        self
    }

    /// An idempotency key: proposing again with it returns the first answer and creates
    /// nothing, so a retried request cannot make a second call.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A key no other proposal of this process has used: the time, the process and a counter.
pub(crate) fn fresh_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "sdk-{nanos:x}-{:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fresh_keys_differ() {
        let (a, b) = (super::fresh_key(), super::fresh_key());
        assert_ne!(a, b);
        assert!(a.starts_with("sdk-") && a.len() <= 200, "{a}");
    }

    #[test]
    fn serializes_only_what_is_set() {
        let call = ProposedCall::new("s", "t").idempotency_key("k");
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            json!({ "session": "s", "tool": "t", "args": {} })
        );
        let call = ProposedCall::new("s", "deploy")
            .args(json!({ "env": "production" }))
            .reason("ship it")
            .context(json!({ "plan_step": 2 }))
            .risk([risk::PRODUCTION])
            .alternatives(["wait"])
            .checkpoint(json!({ "step": 2 }))
            .callback_url("http://127.0.0.1:9/hook");
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            json!({
                "session": "s", "tool": "deploy", "args": { "env": "production" },
                "reason": "ship it", "context": { "plan_step": 2 }, "risk": ["production"],
                "alternatives": ["wait"], "checkpoint": { "step": 2 },
                "callback_url": "http://127.0.0.1:9/hook"
            })
        );
    }
}
