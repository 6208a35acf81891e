//! The gate policy as data: ordered rules, each a match and an effect. Evaluation lives in
//! `crate::policy` (server only); these types are shared so pages can show and edit them.

use super::{risk::RiskClass, Role};
use serde::{Deserialize, Serialize};

/// The whole policy: rules in order, and what happens when none decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Effect when no enabled rule with an effect matches.
    pub default_effect: Effect,
    /// Rules, first match decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Named groups of people (usernames) a gate may escalate to (`escalate_to = "group:oncall"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, shown to agents and people as the rule that decided.
    pub name: String,
    /// Disabled rules are skipped.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Why the rule exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the rule applies to. Every given criterion must hold.
    #[serde(default, rename = "match")]
    pub matcher: Match,
    /// Risk classes added to a matching call (before later rules are matched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_risk: Vec<RiskClass>,
    /// What a match decides. `None`: only adds risk and evaluation continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

fn yes() -> bool {
    true
}

/// The tool's name without its server prefix — the part after the first `.` — when it
/// has one: `files.write_file` → `write_file`. A proxied MCP tool is proposed as
/// `<server>.<tool>`; tool patterns without a `.` also match it by this bare name.
pub fn bare_tool_name(tool: &str) -> Option<&str> {
    let (server, bare) = tool.split_once('.')?;
    (!server.is_empty() && !bare.is_empty()).then_some(bare)
}

/// Criteria a call must meet for a rule to match. Empty criteria match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Glob on the agent's name (`*`, `?`, `[abc]`, `{a,b}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Glob on the tool name. Without a `.` it also matches a proxied tool
    /// (`<server>.<tool>`) by its bare name ([`bare_tool_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Conditions on the arguments; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
    /// Matches if the call carries any of these risk classes (claimed or added so far).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk_any: Vec<RiskClass>,
    /// `true`: matches only calls carrying no risk class at all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub risk_none: bool,
    /// `Some(true)`: only novel calls (this tool not yet allowed or executed in this
    /// session); `Some(false)`: only calls that are not novel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novel: Option<bool>,
}

/// A condition on one argument, found by JSON pointer (RFC 6901, e.g. `/env`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgCondition {
    pub pointer: String,
    pub op: ArgOp,
    /// Operand; unused for `exists` / `not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// How an argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgOp {
    /// JSON equality.
    Eq,
    /// JSON inequality (also true when the argument is missing).
    Ne,
    /// String argument matches a glob.
    Glob,
    /// String argument matches a regular expression (unanchored unless the pattern anchors).
    Regex,
    /// Number comparisons.
    Lt,
    Le,
    Gt,
    Ge,
    /// The pointer resolves.
    Exists,
    /// The pointer does not resolve.
    NotExists,
}

/// What a rule decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Execute now.
    Allow,
    /// Out of scope; `message` goes back to the agent.
    Deny { message: String },
    /// Wait for people.
    Gate(GateSettings),
}

/// How a gated call is decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// Distinct approvals needed; one deny vetoes.
    #[serde(default = "one")]
    pub approvals_required: u32,
    /// Least role that may decide.
    #[serde(default = "approver")]
    pub approver_role: Role,
    /// Seconds people have to decide before the call expires.
    #[serde(default = "hour")]
    pub deadline_secs: u64,
    /// Seconds an approval stays usable before it goes stale.
    #[serde(default = "ten_minutes")]
    pub approval_ttl_secs: u64,
    /// Phrase an approver must type, may quote arguments: `deploy {/env}`; `{tool}` is the
    /// tool's name in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// What happens when nobody decides before the deadline (never "allow").
    #[serde(default, skip_serializing_if = "OnDeadline::is_default")]
    pub on_deadline: OnDeadline,
    /// With `on_deadline = "escalate"`: who decides after the deadline — a role
    /// (`manager`) or a named group of the policy (`group:oncall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    /// Seconds the escalated audience has (default: `deadline_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_deadline_secs: Option<u64>,
    /// With `escalate_to = "group:…"`: the group's members decide whatever their role
    /// (otherwise a group only narrows who may decide and never lowers `approver_role`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalate_overrides_role: bool,
    /// Most seconds one extension of the deadline may add (default: `deadline_secs`); a
    /// call is extended at most twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_max_secs: Option<u64>,
    /// Longest remembered grant an approver may give ("approve identical calls for the
    /// next N minutes"); `None`: no grants for this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_max_secs: Option<u64>,
    /// Most calls one grant may approve (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_max_uses: Option<u32>,
    /// JSON pointers of the arguments that decide: a grant then covers calls that agree on
    /// these (not only identical ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_match: Vec<String>,
    /// Seconds a `do_not_retry` denial answers the same call again at once (default 1 day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_retry_secs: Option<u64>,
}

/// What a gate does when its deadline passes with nobody deciding. There is no "allow":
/// an unattended gate never opens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeadline {
    /// The call expires (the agent may propose it again).
    #[default]
    Expire,
    /// The call is denied ("nobody decided in time").
    Deny,
    /// The call moves, once, to `escalate_to` with a new deadline; then it expires.
    Escalate,
}

impl OnDeadline {
    /// Every outcome.
    pub const ALL: [OnDeadline; 3] = [OnDeadline::Expire, OnDeadline::Deny, OnDeadline::Escalate];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDeadline::Expire => "expire",
            OnDeadline::Deny => "deny",
            OnDeadline::Escalate => "escalate",
        }
    }

    /// Whether this is the default (`expire`).
    pub fn is_default(&self) -> bool {
        *self == OnDeadline::Expire
    }
}

impl std::str::FromStr for OnDeadline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OnDeadline::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("on_deadline must be expire, deny or escalate (not `{s}`)"))
    }
}

fn one() -> u32 {
    1
}
fn approver() -> Role {
    Role::Approver
}
fn hour() -> u64 {
    3600
}
fn ten_minutes() -> u64 {
    600
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            approvals_required: 1,
            approver_role: Role::Approver,
            deadline_secs: 3600,
            approval_ttl_secs: 600,
            confirm: None,
            on_deadline: OnDeadline::Expire,
            escalate_to: None,
            escalate_deadline_secs: None,
            escalate_overrides_role: false,
            extend_max_secs: None,
            grant_max_secs: None,
            grant_max_uses: None,
            grant_match: Vec::new(),
            no_retry_secs: None,
        }
    }
}
