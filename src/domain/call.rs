//! Gated calls: the status state machine and the JSON shapes of the agent API.
//!
//! This module is the one owner of call transitions: [`CallStatus::apply`] says which
//! event may move a call from which status to which; the store performs exactly those
//! moves as conditional writes.

use super::review::Verdict;
use super::risk::RiskClass;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Policy allowed it: execute now.
    Allowed,
    /// Policy denied it, or a person did (veto).
    Denied,
    /// Waiting for people.
    Pending,
    /// Enough people approved; usable until the approval TTL passes.
    Approved,
    /// Nobody decided before the deadline.
    Expired,
    /// The agent withdrew it.
    Cancelled,
    /// The agent reported execution (and, when it reports outcomes, that the tool returned
    /// a result: see `outcome`).
    Executed,
    /// Approved, but the approval TTL passed unused: the agent must ask again.
    Stale,
    /// The agent is running it and will report how it went (`report_outcome`).
    Running,
    /// It ran, or was started, and failed without a result: the tool server crashed,
    /// timed out or could not be reached.
    Failed,
}

/// What can happen to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// Enough distinct approvals.
    Approve,
    /// A person denied it.
    Deny,
    /// The decision deadline passed (the call expires).
    Deadline,
    /// The decision deadline passed and the rule denies calls left undecided.
    DeadlineDeny,
    /// The agent withdrew it.
    Cancel,
    /// The agent is executing it and reports nothing more.
    Execute,
    /// The agent is starting it and will report the outcome.
    Start,
    /// The tool returned a result (a success or the tool's own error).
    Finish,
    /// Running it failed without a result.
    Fail,
    /// The approval TTL passed.
    ApprovalTtl,
}

impl CallStatus {
    /// Every status.
    pub const ALL: [CallStatus; 10] = [
        CallStatus::Allowed,
        CallStatus::Denied,
        CallStatus::Pending,
        CallStatus::Approved,
        CallStatus::Expired,
        CallStatus::Cancelled,
        CallStatus::Executed,
        CallStatus::Stale,
        CallStatus::Running,
        CallStatus::Failed,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Allowed => "allowed",
            CallStatus::Denied => "denied",
            CallStatus::Pending => "pending",
            CallStatus::Approved => "approved",
            CallStatus::Expired => "expired",
            CallStatus::Cancelled => "cancelled",
            CallStatus::Executed => "executed",
            CallStatus::Stale => "stale",
            CallStatus::Running => "running",
            CallStatus::Failed => "failed",
        }
    }

    /// The status `event` leads to from `self`, or `None` if it cannot happen.
    pub fn apply(self, event: CallEvent) -> Option<CallStatus> {
        use CallEvent as E;
        use CallStatus as S;
        match (self, event) {
            (S::Pending, E::Approve) => Some(S::Approved),
            (S::Pending, E::Deny) => Some(S::Denied),
            (S::Pending, E::Deadline) => Some(S::Expired),
            (S::Pending, E::DeadlineDeny) => Some(S::Denied),
            (S::Pending, E::Cancel) => Some(S::Cancelled),
            (S::Approved, E::Execute) => Some(S::Executed),
            (S::Allowed, E::Execute) => Some(S::Executed),
            (S::Approved | S::Allowed, E::Start) => Some(S::Running),
            (S::Running, E::Finish) => Some(S::Executed),
            (S::Running, E::Fail) => Some(S::Failed),
            (S::Approved, E::ApprovalTtl) => Some(S::Stale),
            (
                S::Allowed
                | S::Denied
                | S::Pending
                | S::Approved
                | S::Expired
                | S::Cancelled
                | S::Executed
                | S::Stale
                | S::Running
                | S::Failed,
                _,
            ) => None,
        }
    }

    /// The expiry due at `now_ms` for a call in this status with this decision deadline
    /// and approval expiry (milliseconds): the one rule for "is expiry due", used on read,
    /// by the sweeper and before every change.
    pub fn due(
        self,
        deadline: Option<i64>,
        approval_expires_at: Option<i64>,
        now_ms: i64,
    ) -> Option<CallEvent> {
        match self {
            CallStatus::Pending if deadline.is_some_and(|d| d <= now_ms) => {
                Some(CallEvent::Deadline)
            }
            CallStatus::Approved if approval_expires_at.is_some_and(|t| t <= now_ms) => {
                Some(CallEvent::ApprovalTtl)
            }
            _ => None,
        }
    }

    /// Whether the call was let through to run (whether or not it did): what a person may
    /// flag as "should not have run".
    pub fn was_let_through(self) -> bool {
        matches!(
            self,
            CallStatus::Allowed
                | CallStatus::Approved
                | CallStatus::Executed
                | CallStatus::Stale
                | CallStatus::Running
                | CallStatus::Failed
        )
    }

    /// Whether nothing can happen to the call any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Denied
                | CallStatus::Expired
                | CallStatus::Cancelled
                | CallStatus::Executed
                | CallStatus::Stale
                | CallStatus::Failed
        )
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown call status `{s}`"))
    }
}

/// What a pending call needs from its reviewers, beyond its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTerms {
    /// Distinct approvals of the same version.
    pub approvals: u32,
    /// The least role that may review.
    pub role: super::Role,
    /// The phrase an approver must type, filled in from the arguments.
    pub confirm: Option<String>,
    /// How long an approval stays usable, in milliseconds.
    pub approval_ttl_ms: i64,
}

impl CallTerms {
    /// The terms after an edit whose arguments a gate rule with `settings` caught, its
    /// phrase (`phrase`) filled in from the edited arguments: never looser than `self` —
    /// the larger number of approvals, the higher role, the shorter approval TTL, and a
    /// phrase whenever either asks for one (`kept_phrase`: ours, re-rendered for the
    /// edited arguments by the caller when it can be).
    pub fn tightened(
        &self,
        settings: Option<&super::policy::GateSettings>,
        phrase: Option<String>,
        kept_phrase: Option<String>,
    ) -> CallTerms {
        let Some(rule) = settings else {
            return CallTerms {
                confirm: kept_phrase.or_else(|| self.confirm.clone()),
                ..self.clone()
            };
        };
        let rule_ttl_ms = i64::try_from(rule.approval_ttl_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        CallTerms {
            approvals: self.approvals.max(rule.approvals_required),
            role: self.role.max(rule.approver_role),
            confirm: phrase.or(kept_phrase).or_else(|| self.confirm.clone()),
            approval_ttl_ms: self.approval_ttl_ms.min(rule_ttl_ms),
        }
    }
}

/// Limits on what an agent may send.
pub mod limits {
    /// Longest session, tool and agent names, in characters.
    pub const NAME: usize = 200;
    /// Longest reason, in characters.
    pub const REASON: usize = 4_000;
    /// Most alternatives, and longest each (characters).
    pub const ALTERNATIVES: usize = 20;
    pub const ALTERNATIVE: usize = 1_000;
    /// Largest serialized `context` or `checkpoint`, in bytes (`args`: the admin's
    /// [`crate::domain::limits::Limits::max_args_bytes`]).
    pub const JSON_FIELD: usize = 64 * 1024;
    /// Longest callback URL (characters).
    pub const URL: usize = 2_000;
    /// Longest feedback from a person.
    pub const FEEDBACK: usize = 4_000;
    /// Longest outcome detail (characters).
    pub const OUTCOME_DETAIL: usize = 2_000;
    /// Longest idempotency key.
    pub const IDEMPOTENCY_KEY: usize = 200;
    /// Deepest nesting of arrays and objects in `args`, `context` or `checkpoint`.
    pub const JSON_DEPTH: usize = 32;

    /// Checks one JSON field against [`JSON_FIELD`] and [`JSON_DEPTH`] without building
    /// its text: too large → 413, too deep → 422.
    pub fn check_json(
        field: &str,
        value: &serde_json::Value,
    ) -> Result<(), crate::domain::AppError> {
        check_json_within(field, value, JSON_FIELD, "")
    }

    /// Checks arguments against the admin's largest size (`max_bytes`) and [`JSON_DEPTH`];
    /// the refusal names the setting.
    pub fn check_args(
        field: &str,
        value: &serde_json::Value,
        max_bytes: usize,
    ) -> Result<(), crate::domain::AppError> {
        check_json_within(
            field,
            value,
            max_bytes,
            " (an admin can raise this, up to 4 MiB: Agents → Limits, or \
             `askfirst limits set --max-args-kib N`)",
        )
    }

    fn check_json_within(
        field: &str,
        value: &serde_json::Value,
        max_bytes: usize,
        advice: &str,
    ) -> Result<(), crate::domain::AppError> {
        use crate::domain::AppError;
        if depth(value) > JSON_DEPTH {
            return Err(AppError::Invalid(format!(
                "`{field}` is nested deeper than {JSON_DEPTH} levels"
            )));
        }
        let size = json_size(value);
        if size > max_bytes {
            return Err(AppError::TooLarge(format!(
                "`{field}` is {} KiB, larger than the {} KiB allowed{advice}",
                size.div_ceil(1024),
                max_bytes / 1024
            )));
        }
        Ok(())
    }

    /// The size of a value's compact JSON text, in bytes, without building it.
    pub fn json_size(value: &serde_json::Value) -> usize {
        let mut counter = ByteCounter(0);
        // Writing a `Value` into a counter cannot fail.
        let _ = serde_json::to_writer(&mut counter, value);
        counter.0
    }

    /// Levels of arrays and objects (a scalar is 0). Parsed JSON is at most 128 deep
    /// (serde_json's limit), so the recursion is bounded.
    fn depth(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    struct ByteCounter(usize);

    impl std::io::Write for ByteCounter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn nested(levels: usize) -> serde_json::Value {
            (0..levels).fold(json!(1), |inner, _| json!([inner]))
        }

        #[test]
        fn json_fields_are_checked_for_size_and_depth() {
            let cases = [
                (json!({}), None),
                (json!({ "a": "x".repeat(JSON_FIELD - 20) }), None),
                (json!({ "a": "x".repeat(JSON_FIELD) }), Some(413)),
                (json!({ "a": nested(JSON_DEPTH - 1) }), None),
                (json!({ "a": nested(JSON_DEPTH) }), Some(422)),
                (nested(100), Some(422)),
            ];
            for (value, want) in cases {
                let got = check_json("args", &value).err().map(|e| e.status());
                assert_eq!(got, want, "for a value of depth {}", depth(&value));
            }
        }

        #[test]
        fn arguments_are_checked_against_the_setting_which_the_refusal_names() {
            let value = json!({ "a": "x".repeat(200 * 1024) });
            assert!(check_args("args", &value, 1024 * 1024).is_ok());
            let refused = check_args("args", &value, 64 * 1024).unwrap_err();
            assert_eq!(refused.status(), 413);
            let message = refused.to_string();
            assert!(
                message.contains("201 KiB, larger than the 64 KiB allowed"),
                "{message}"
            );
            assert!(message.contains("--max-args-kib"), "{message}");
        }
    }
}

/// `POST /api/v1/calls`: what an agent proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "session": "run-2025-01-31-a",
        "tool": "deploy",
        "args": { "service": "api", "env": "staging" },
        "reason": "Ship the login fix the tests just passed",
        "risk": ["production"],
        "alternatives": ["wait for the nightly release"]
    })))
)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// The agent's run this call belongs to (novelty is per session).
    #[cfg_attr(feature = "ssr", schema(schema_with = name_schema))]
    pub session: String,
    /// Tool name.
    #[cfg_attr(feature = "ssr", schema(schema_with = name_schema))]
    pub tool: String,
    /// Tool arguments (a JSON object).
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// Why the agent wants to do this.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 4000, pattern = r"^[^\u0000]*$"))]
    pub reason: Option<String>,
    /// Plan context; `plan_step`, `plan_total` and `summary` are shown specially.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub context: Option<serde_json::Value>,
    /// Risk classes the agent claims.
    #[serde(default)]
    pub risk: Vec<RiskClass>,
    /// Alternatives the agent considered (at most 20, each at most 1,000 characters).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = alternatives_schema))]
    pub alternatives: Vec<String>,
    /// Any JSON value; returned on resume (async gates).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<serde_json::Value>))]
    pub checkpoint: Option<serde_json::Value>,
    /// Webhook called when the call leaves `pending`: an absolute http(s) URL.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = callback_url_schema))]
    pub callback_url: Option<String>,
    /// `true`: when policy would gate this call and this agent already has a call of the
    /// same tool with the same arguments (canonical JSON; any session) that is pending, or
    /// approved and not yet executed, the answer is that earlier call and nothing new is
    /// filed. A client retrying a call it stopped waiting for finds the first one.
    #[serde(default)]
    pub join_open: bool,
    /// `true`: when policy allows the call, it is recorded `running` at once (saving the
    /// `execute` request), and the agent reports how it went with `outcome`.
    #[serde(default)]
    pub run_if_allowed: bool,
    /// `true`: should policy allow the call, its answer carries a signed receipt too (an
    /// approved call always has one). Costs a signature; ask only when a tool server
    /// checks receipts.
    #[serde(default)]
    pub receipt: bool,
}

/// `POST /api/v1/calls/{id}/execute`: an optional body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// `true`: the call becomes `running`, and the agent reports with `outcome` whether
    /// the tool returned a result (`executed`) or failed without one (`failed`). `false`
    /// (the default): the call is `executed` at once.
    #[serde(default)]
    pub report_outcome: bool,
    /// The `jti` of the receipt handed to the tool server: recorded as used by this
    /// execution in the audit log. Refused (`409 receipt_mismatch`) unless it is this
    /// call's current receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(max_length = 200))]
    pub jti: Option<String>,
}

/// How running a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecutionResult {
    /// The tool returned a result.
    Succeeded,
    /// The tool returned a result that is an error of its own (e.g. MCP `isError`).
    ToolError,
    /// No result: the tool server crashed, timed out, could not be reached, or the run
    /// was cancelled.
    Failed,
}

impl ExecutionResult {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionResult::Succeeded => "succeeded",
            ExecutionResult::ToolError => "tool_error",
            ExecutionResult::Failed => "failed",
        }
    }

    /// The event that records it on a running call.
    pub fn event(self) -> CallEvent {
        match self {
            ExecutionResult::Succeeded | ExecutionResult::ToolError => CallEvent::Finish,
            ExecutionResult::Failed => CallEvent::Fail,
        }
    }

    /// Words for the card.
    pub fn label(self) -> &'static str {
        match self {
            ExecutionResult::Succeeded => "ran and returned a result",
            ExecutionResult::ToolError => "ran; the tool returned an error",
            ExecutionResult::Failed => "failed without a result",
        }
    }
}

impl FromStr for ExecutionResult {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ExecutionResult::Succeeded,
            ExecutionResult::ToolError,
            ExecutionResult::Failed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| format!("unknown execution result `{s}`"))
    }
}

/// `POST /api/v1/calls/{id}/outcome`: how running a `running` call went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub result: ExecutionResult,
    /// What happened, for people: an error message, the tool server's last words (at most
    /// 2,000 characters).
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            max_length = 2000,
            pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
        )
    )]
    pub detail: Option<String>,
}

/// What a callback URL must look like — the API document states it and the server checks
/// it (beside parsing the URL): http(s), a host name or a dotted IPv4 address, an optional
/// port, then printable ASCII. No user or password: they would end up in logs.
#[cfg(feature = "ssr")]
pub const CALLBACK_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(?:[/?#][!-~]*)?$"
);

/// What a name an agent sends (a session, a tool, an argument's name) must look like, as
/// the API document states it: no control characters, and at least one character that is
/// neither whitespace nor invisible. Built from the same table as the check the server
/// runs ([`crate::domain::invisible::has_visible`]), so the two cannot disagree.
#[cfg(feature = "ssr")]
pub fn name_pattern() -> String {
    let controls = r"\u0000-\u001F\u007F-\u009F";
    format!(
        "^[^{controls}]*[^\\s{}][^{controls}]*$",
        crate::domain::invisible::class_ranges()
    )
}

/// The schema of a name: 1-200 characters matching [`name_pattern`].
#[cfg(feature = "ssr")]
pub fn name_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(limits::NAME))
        .pattern(Some(name_pattern()))
        .build()
}

/// What an agent without admin-allowed callback origins may name, as the API document
/// states it: [`CALLBACK_URL_PATTERN`] with a literal IPv4 address only when it is public —
/// not in 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16 or 224/3 (the
/// IPv4 part of `gate::callbacks::is_internal`, which also checks what names resolve to).
#[cfg(feature = "ssr")]
pub const PUBLIC_CALLBACK_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|(?:[1-9]|1[1-9]|[2-9][0-9]|10[1-9]|11[0-9]|12[0-6]|12[89]|1[3-5][0-9]|16[0-8]|17[013-9]|18[0-9]|19[013-9]|2[01][0-9]|22[0-3])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|100\.(?:[0-9]|[1-5][0-9]|6[0-3]|12[89]|1[3-9][0-9]|2[0-4][0-9]|25[0-5])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|169\.(?:25[0-35]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|172\.(?:[0-9]|1[0-5]|3[2-9]|[4-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|192\.(?:25[0-5]|2[0-4][0-9]|1[0-57-9][0-9]|16[0-79]|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r")",
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(?:[/?#][!-~]*)?$"
);

#[cfg(feature = "ssr")]
fn callback_url_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(limits::URL))
        .pattern(Some(PUBLIC_CALLBACK_URL_PATTERN))
        .description(Some(
            "Webhook called when the call leaves `pending`: an absolute http(s) URL. Addresses \
             inside the network (loopback, private, link-local, CGNAT, multicast) are refused \
             unless an admin allowed the URL's origin for this agent; names are checked on \
             what they resolve to when the webhook is sent.",
        ))
        .build()
}

#[cfg(feature = "ssr")]
fn alternatives_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(limits::ALTERNATIVE)),
        )
        .max_items(Some(limits::ALTERNATIVES))
        .build()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// `201` answer to a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "id": "0194bc1e-7a00-7000-8000-000000000001",
        "status": "pending",
        "rule": "gate-production",
        "risk": ["production"],
        "deadline": "2025-01-31T12:15:00Z",
        "approvals_required": 1
    })))
)]
pub struct ProposeResponse {
    pub id: String,
    /// `allowed`, `denied` or `pending` (`running` for an allowed call proposed with
    /// `run_if_allowed`; `approved` when a bypass or grant approved it at once).
    pub status: CallStatus,
    /// The rule that decided; `null` when the default effect did.
    pub rule: Option<String>,
    /// Risk classes claimed plus those policy added.
    pub risk: Vec<RiskClass>,
    /// Why it was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When a pending call expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Approvals needed for a pending call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u32>,
    /// For a gated call an active bypass approved at once: `{"bypass": 7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<super::bypass::ApprovedBy>,
    /// Until when an approved call may be executed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<String>,
    /// For a repeat of a call a person denied with `do_not_retry`: that denial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Denial>,
    /// When the call may run at once (approved by a bypass or grant; allowed or running
    /// when asked for with `receipt`): the signed receipt a tool server can verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// A person's denial, as the agent must respect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "feedback": "Use the canary first.",
        "reason_code": "out_of_scope",
        "retry": false
    })))
)]
pub struct Denial {
    /// The approver's words.
    pub feedback: String,
    /// The preset reason they picked (e.g. `out_of_scope`), if any.
    pub reason_code: Option<String>,
    /// `false`: do not propose this call again (the same session, tool and arguments are
    /// denied at once for a while).
    pub retry: bool,
    /// For a repeat answered at once: the call whose denial it repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<String>,
}

/// An escalation: the deadline passed and the call moved to a fallback audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "at": "2025-01-31T12:15:00Z",
        "to": "group:oncall",
        "to_text": "the oncall group"
    })))
)]
pub struct Escalation {
    /// RFC 3339.
    pub at: String,
    /// As the rule names it: `manager`, `group:oncall`.
    pub to: String,
    /// In words: "managers", "the oncall group".
    pub to_text: String,
}

/// One person's review of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DecisionView {
    pub user: String,
    pub decision: Verdict,
    pub feedback: Option<String>,
    /// Whether this person made the version they reviewed (edited the arguments).
    pub edited_args: bool,
    /// The version of the arguments reviewed (1 is the proposal; each edit adds one).
    pub version: u32,
    /// Whether that is the current version. An approval of an earlier version no longer
    /// counts: N approvals mean N people approved the same final arguments.
    pub current: bool,
    /// Whether this approval counts now: of the current version, by someone whose role
    /// (then and now) qualifies and whose account is active.
    pub counts: bool,
    /// RFC 3339.
    pub at: String,
}

/// The arguments people are reviewing now, and the hash a review of them names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CandidateView {
    /// 1 is the proposal; each edit by an approver adds one.
    pub version: u32,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// Hex SHA-256 of the arguments' canonical JSON (keys sorted, no whitespace).
    pub hash: String,
}

/// `GET /api/v1/calls/{id}`: a call as its agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "id": "0194bc1e-7a00-7000-8000-000000000001",
        "agent": "release-bot",
        "session": "run-2025-01-31-a",
        "tool": "deploy",
        "args": { "service": "api", "env": "staging" },
        "proposed_args": { "service": "api", "env": "staging" },
        "candidate": {
            "version": 1,
            "args": { "service": "api", "env": "staging" },
            "hash": "5f0c6d1e8b0a4c3f9e2d7b6a5c4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f"
        },
        "reason": "Ship the login fix the tests just passed",
        "context": null,
        "risk": ["production"],
        "alternatives": [],
        "status": "denied",
        "rule": "gate-production",
        "message": null,
        "approvals_required": 1,
        "approvals": 0,
        "decisions": [{
            "user": "ann", "decision": "deny", "feedback": "Use the canary first.",
            "edited_args": false, "version": 1, "current": true, "counts": false,
            "at": "2025-01-31T12:20:00Z"
        }],
        "confirm": null,
        "deadline": "2025-01-31T12:25:00Z",
        "extensions": 1,
        "escalated": { "at": "2025-01-31T12:15:00Z", "to": "group:oncall", "to_text": "the oncall group" },
        "denial": { "feedback": "Use the canary first.", "reason_code": "out_of_scope", "retry": false },
        "approval_expires_at": null,
        "checkpoint": null,
        "callback_url": null,
        "created_at": "2025-01-31T12:00:00Z",
        "decided_at": "2025-01-31T12:20:00Z",
        "executed_at": null
    })))
)]
pub struct CallView {
    pub id: String,
    pub agent: String,
    pub session: String,
    pub tool: String,
    /// The arguments to execute: as approved (possibly edited by an approver).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// The arguments as proposed.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub proposed_args: serde_json::Value,
    /// For gated calls: the version of the arguments under review (or approved).
    pub candidate: Option<CandidateView>,
    pub reason: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub context: Option<serde_json::Value>,
    pub risk: Vec<RiskClass>,
    pub alternatives: Vec<String>,
    pub status: CallStatus,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub approvals_required: Option<u32>,
    /// Approvals that count: of the current version, by people eligible for it.
    pub approvals: u32,
    pub decisions: Vec<DecisionView>,
    /// Typed confirmation an approver must enter, if any.
    pub confirm: Option<String>,
    pub deadline: Option<String>,
    /// Times an approver extended the deadline (at most 2).
    #[serde(default)]
    pub extensions: u32,
    /// Set once the deadline escalated it to a fallback audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated: Option<Escalation>,
    /// A person's denial: feedback, preset reason, and whether the agent may retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Denial>,
    pub approval_expires_at: Option<String>,
    /// Who approved it: `{"bypass": 7}` for a bypass, `{"grant": 3}` for a remembered
    /// grant, `{"people": ["ann", "bo"]}` for the people whose approvals counted; absent
    /// until it is approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<super::bypass::ApprovedBy>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<serde_json::Value>))]
    pub checkpoint: Option<serde_json::Value>,
    pub callback_url: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// When execution was reported or started.
    pub executed_at: Option<String>,
    /// How running it went, when the agent reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ExecutionResult>,
    /// What the agent said about the outcome (an error message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_detail: Option<String>,
    /// When the outcome was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// While the call may run — approved, running after approval, or allowed (and
    /// running) when the proposal asked with `receipt` or its agent always gets one — a
    /// signed receipt (a compact JWS, EdDSA) a tool server can check offline against
    /// `/.well-known/jwks.json`: this tool, these arguments, decided by whom, until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// `200` answer to `execute`: the arguments to run with, exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExecuteResponse {
    pub id: String,
    pub status: CallStatus,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub args: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallEvent as E;
    use CallStatus as S;

    #[test]
    fn calls_let_through_to_run() {
        #[rustfmt::skip]
        let cases = [
            (S::Pending, false), (S::Allowed, true), (S::Denied, false), (S::Approved, true),
            (S::Expired, false), (S::Cancelled, false), (S::Executed, true), (S::Stale, true),
            (S::Running, true), (S::Failed, true),
        ];
        assert_eq!(cases.len(), S::ALL.len(), "every status has a row");
        for (status, want) in cases {
            assert_eq!(status.was_let_through(), want, "{status}");
        }
    }

    #[test]
    fn every_transition() {
        let allowed = [
            (S::Pending, E::Approve, S::Approved),
            (S::Pending, E::Deny, S::Denied),
            (S::Pending, E::Deadline, S::Expired),
            (S::Pending, E::DeadlineDeny, S::Denied),
            (S::Pending, E::Cancel, S::Cancelled),
            (S::Approved, E::Execute, S::Executed),
            (S::Allowed, E::Execute, S::Executed),
            (S::Approved, E::ApprovalTtl, S::Stale),
            (S::Approved, E::Start, S::Running),
            (S::Allowed, E::Start, S::Running),
            (S::Running, E::Finish, S::Executed),
            (S::Running, E::Fail, S::Failed),
        ];
        let events = [
            E::Approve,
            E::Deny,
            E::Deadline,
            E::DeadlineDeny,
            E::Cancel,
            E::Execute,
            E::Start,
            E::Finish,
            E::Fail,
            E::ApprovalTtl,
        ];
        for from in CallStatus::ALL {
            for event in events {
                let expected = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|t| t.2);
                assert_eq!(from.apply(event), expected, "{from} + {event:?}");
            }
        }
    }

    #[test]
    fn expiry_is_due_at_the_instant() {
        let cases = [
            (S::Pending, Some(100), None, 99, None),
            (S::Pending, Some(100), None, 100, Some(E::Deadline)),
            (S::Pending, None, None, i64::MAX, None),
            (S::Approved, Some(1), Some(200), 199, None),
            (S::Approved, Some(1), Some(200), 200, Some(E::ApprovalTtl)),
            (S::Allowed, Some(1), Some(1), 500, None),
            (S::Executed, Some(1), Some(1), 500, None),
            (S::Running, Some(1), Some(1), 500, None),
        ];
        for (status, deadline, ttl, now, want) in cases {
            assert_eq!(status.due(deadline, ttl, now), want, "{status} at {now}");
        }
    }

    #[test]
    fn final_statuses_accept_nothing() {
        for s in CallStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for e in [
                E::Approve,
                E::Deny,
                E::Deadline,
                E::Cancel,
                E::Execute,
                E::Start,
                E::Finish,
                E::Fail,
                E::ApprovalTtl,
            ] {
                assert_eq!(s.apply(e), None);
            }
        }
    }

    #[test]
    fn edits_only_tighten_the_terms() {
        use crate::domain::policy::GateSettings;
        use crate::domain::Role;
        let ours = CallTerms {
            approvals: 2,
            role: Role::Approver,
            confirm: Some("deploy api".into()),
            approval_ttl_ms: 600_000,
        };
        let gate = |approvals, role, ttl| GateSettings {
            approvals_required: approvals,
            approver_role: role,
            approval_ttl_secs: ttl,
            ..GateSettings::default()
        };
        let terms = |approvals, role, confirm: Option<&str>, ttl| CallTerms {
            approvals,
            role,
            confirm: confirm.map(str::to_string),
            approval_ttl_ms: ttl,
        };
        let cases = [
            (
                "allowed by policy: unchanged, phrase re-rendered",
                None,
                None,
                Some("deploy web"),
                terms(2, Role::Approver, Some("deploy web"), 600_000),
            ),
            (
                "allowed, nothing to re-render: our phrase stays",
                None,
                None,
                None,
                ours.clone(),
            ),
            (
                "a stricter gate raises everything",
                Some(gate(3, Role::Manager, 60)),
                Some("deploy production"),
                Some("deploy web"),
                terms(3, Role::Manager, Some("deploy production"), 60_000),
            ),
            (
                "a looser gate lowers nothing",
                Some(gate(1, Role::Viewer, 3600)),
                None,
                None,
                ours.clone(),
            ),
            (
                "mixed: the stricter of each",
                Some(gate(1, Role::Admin, 3600)),
                None,
                Some("deploy web"),
                terms(2, Role::Admin, Some("deploy web"), 600_000),
            ),
        ];
        for (name, settings, phrase, kept, want) in cases {
            let got = ours.tightened(
                settings.as_ref(),
                phrase.map(str::to_string),
                kept.map(str::to_string),
            );
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let bad = serde_json::json!({ "session": "s", "tool": "t", "bogus": 1 });
        assert!(serde_json::from_value::<ProposeRequest>(bad).is_err());
        let ok = serde_json::json!({ "session": "s", "tool": "t" });
        let req: ProposeRequest = serde_json::from_value(ok).unwrap();
        assert_eq!(req.args, serde_json::json!({}));
    }
}
