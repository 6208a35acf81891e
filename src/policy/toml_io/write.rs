//! Writing a policy file: borrowed, TOML-shaped views of the domain types, laid out the
//! way people write the file by hand.

use crate::domain::policy::{ArgCondition, Effect, OnDeadline, Policy, Rule};
use crate::domain::{risk::RiskClass, Role};
use crate::policy::compile::op_name;
use serde::Serialize;
use serde_json::Value;

/// The whole file.
#[derive(Serialize)]
pub(super) struct FileOut<'a> {
    default_effect: EffectOut<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<RuleOut<'a>>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    groups: &'a std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "is_true")]
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    add_risk: &'a [RiskClass],
    #[serde(rename = "match", skip_serializing_if = "MatchOut::is_empty")]
    matcher: MatchOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effect: Option<EffectOut<'a>>,
}

impl<'a> From<&'a Policy> for FileOut<'a> {
    fn from(p: &'a Policy) -> Self {
        FileOut {
            default_effect: EffectOut::from(&p.default_effect),
            rules: p.rules.iter().map(RuleOut::from).collect(),
            groups: &p.groups,
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Serialize)]
struct MatchOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    risk_any: &'a [RiskClass],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    risk_none: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    novel: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<ArgOut<'a>>,
}

impl MatchOut<'_> {
    fn is_empty(&self) -> bool {
        self.agent.is_none()
            && self.tool.is_none()
            && self.risk_any.is_empty()
            && !self.risk_none
            && self.novel.is_none()
            && self.args.is_empty()
    }
}

#[derive(Serialize)]
struct ArgOut<'a> {
    pointer: &'a str,
    op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EffectOut<'a> {
    Short(&'static str),
    Deny {
        kind: &'static str,
        message: &'a str,
    },
    Gate {
        kind: &'static str,
        approvals_required: u32,
        approver_role: Role,
        deadline_secs: u64,
        approval_ttl_secs: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        confirm: Option<&'a str>,
        #[serde(skip_serializing_if = "OnDeadline::is_default")]
        on_deadline: OnDeadline,
        #[serde(skip_serializing_if = "Option::is_none")]
        escalate_to: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        escalate_deadline_secs: Option<u64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        escalate_overrides_role: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        extend_max_secs: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_max: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_max_uses: Option<u32>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        grant_match: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        no_retry_secs: Option<u64>,
    },
}

impl<'a> From<&'a Effect> for EffectOut<'a> {
    fn from(e: &'a Effect) -> Self {
        match e {
            Effect::Allow => EffectOut::Short("allow"),
            Effect::Deny { message } => EffectOut::Deny {
                kind: "deny",
                message,
            },
            Effect::Gate(g) => EffectOut::Gate {
                kind: "gate",
                approvals_required: g.approvals_required,
                approver_role: g.approver_role,
                deadline_secs: g.deadline_secs,
                approval_ttl_secs: g.approval_ttl_secs,
                confirm: g.confirm.as_deref(),
                on_deadline: g.on_deadline,
                escalate_to: g.escalate_to.as_deref(),
                escalate_deadline_secs: g.escalate_deadline_secs,
                escalate_overrides_role: g.escalate_overrides_role,
                extend_max_secs: g.extend_max_secs,
                grant_max: g
                    .grant_max_secs
                    .map(crate::domain::policy_change::duration_short),
                grant_max_uses: g.grant_max_uses,
                grant_match: &g.grant_match,
                no_retry_secs: g.no_retry_secs,
            },
        }
    }
}

impl<'a> From<&'a Rule> for RuleOut<'a> {
    fn from(r: &'a Rule) -> Self {
        let m = &r.matcher;
        RuleOut {
            name: &r.name,
            enabled: r.enabled,
            description: r.description.as_deref(),
            add_risk: &r.add_risk,
            effect: r.effect.as_ref().map(EffectOut::from),
            matcher: MatchOut {
                agent: m.agent.as_deref(),
                tool: m.tool.as_deref(),
                risk_any: &m.risk_any,
                risk_none: m.risk_none,
                novel: m.novel,
                args: m.args.iter().map(ArgOut::from).collect(),
            },
        }
    }
}

impl<'a> From<&'a ArgCondition> for ArgOut<'a> {
    fn from(c: &'a ArgCondition) -> Self {
        let (value, json) = match &c.value {
            Some(v) if writable_in_toml(v) => (Some(v), None),
            Some(v) => (None, Some(v.to_string())),
            None => (None, None),
        };
        ArgOut {
            pointer: &c.pointer,
            op: op_name(c.op),
            value,
            json,
        }
    }
}

/// Whether `v` reads well as a TOML `value`: a scalar or a list of them. TOML has no null
/// and only 64-bit signed integers, and objects would become `[rules.match.args.value]`
/// sub-tables; those operands are written as `json` text instead.
fn writable_in_toml(v: &Value) -> bool {
    match v {
        Value::Null | Value::Object(_) => false,
        Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_f64(),
        Value::Array(items) => items.iter().all(writable_in_toml),
    }
}
