//! Compiling and evaluating a policy.

use super::glob::Pattern;
use crate::domain::policy::{ArgCondition, ArgOp, Effect, GateSettings, Match, Policy, Rule};
use crate::domain::risk::{union, RiskClass};
use serde_json::Value;

/// A call as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallInput<'a> {
    pub agent: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    /// Risk classes the agent claims.
    pub risk: &'a [RiskClass],
    /// No allowed or executed call of this tool in this session yet.
    pub novel: bool,
}

/// What policy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Allow,
    Deny {
        message: String,
    },
    /// `confirm` is the typed-confirmation phrase with argument values filled in.
    Gate {
        settings: GateSettings,
        confirm: Option<String>,
    },
}

/// The decision, the rule that made it (`None`: the default effect) and the call's risk
/// (claimed plus added; never less than claimed).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub rule: Option<String>,
    pub risk: Vec<RiskClass>,
    /// Whether a rule looked at `novel` on the way (if not, the caller's value did not
    /// matter and a lookup for it can be skipped).
    pub consulted_novelty: bool,
}

/// Why a policy is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", rule.as_ref().map(|(i, n)| format!("rule {} `{n}`: ", i + 1)).unwrap_or_default())]
pub struct PolicyError {
    /// Index and name of the offending rule; `None` for the default effect.
    pub rule: Option<(usize, String)>,
    pub message: String,
}

/// Limits on gate settings.
const MAX_APPROVALS: u32 = 20;
const MAX_DEADLINE_SECS: u64 = 30 * 24 * 3600;
const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
const MAX_CONFIRM: usize = 200;
const MAX_REGEX: usize = 1000;

#[derive(Debug, Clone)]
enum Operand {
    None,
    Json(Value),
    Number(f64),
    Glob(Pattern),
    Regex(regex::Regex),
}

#[derive(Debug, Clone)]
struct CompiledCondition {
    pointer: String,
    op: ArgOp,
    operand: Operand,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    name: String,
    agent: Option<Pattern>,
    tool: Option<Pattern>,
    args: Vec<CompiledCondition>,
    risk_any: Vec<RiskClass>,
    risk_none: bool,
    novel: Option<bool>,
    add_risk: Vec<RiskClass>,
    effect: Option<Effect>,
}

/// A validated policy, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    source: Policy,
    rules: Vec<CompiledRule>,
    /// Rules whose tool pattern is a literal, by that literal (indexes, ascending).
    by_tool: std::collections::HashMap<String, Vec<usize>>,
    /// Every other rule (indexes, ascending).
    any_tool: Vec<usize>,
    uses_novelty: bool,
}

impl CompiledPolicy {
    /// Validates `policy` and precompiles its patterns.
    pub fn compile(policy: &Policy) -> Result<Self, PolicyError> {
        check_effect(&policy.default_effect).map_err(|message| PolicyError {
            rule: None,
            message,
        })?;
        let mut names = std::collections::HashSet::new();
        let mut rules = Vec::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            let fail = |message: String| PolicyError {
                rule: Some((i, rule.name.clone())),
                message,
            };
            if rule.name.trim().is_empty() || rule.name.len() > 100 {
                return Err(fail("a rule needs a name of 1-100 characters".into()));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(fail("another rule has the same name".into()));
            }
            if rule.effect.is_none() && rule.add_risk.is_empty() {
                return Err(fail(
                    "a rule without an effect must add risk (`add_risk`)".into(),
                ));
            }
            if let Some(effect) = &rule.effect {
                check_effect(effect).map_err(fail)?;
            }
            if !rule.enabled {
                continue;
            }
            rules.push(compile_rule(rule).map_err(fail)?);
        }
        let uses_novelty = rules.iter().any(|r| r.novel.is_some());
        let mut by_tool: std::collections::HashMap<String, Vec<usize>> = Default::default();
        let mut any_tool = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match rule.tool.as_ref().and_then(Pattern::literal) {
                Some(tool) => by_tool.entry(tool.to_string()).or_default().push(i),
                None => any_tool.push(i),
            }
        }
        Ok(Self {
            source: policy.clone(),
            rules,
            by_tool,
            any_tool,
            uses_novelty,
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.source
    }

    /// Whether any enabled rule looks at novelty (else callers may skip that lookup).
    pub fn uses_novelty(&self) -> bool {
        self.uses_novelty
    }

    /// Decides a call: the first enabled matching rule with an effect decides; matching
    /// rules add their risk classes on the way.
    pub fn evaluate(&self, input: &CallInput<'_>) -> Evaluation {
        let mut risk: Vec<RiskClass> = union(input.risk, &[]);
        // Only rules that can match this tool, in policy order: the literal-tool rules for
        // this tool merged with the rules whose tool is a pattern (or absent).
        let literal: &[usize] = self.by_tool.get(input.tool).map_or(&[], Vec::as_slice);
        let (mut a, mut b) = (literal.iter().peekable(), self.any_tool.iter().peekable());
        let candidates = std::iter::from_fn(|| match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x < y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        });
        let mut consulted_novelty = false;
        for &i in candidates {
            let rule = &self.rules[i];
            if !rule.matches_ignoring_novelty(input, &risk) {
                continue;
            }
            if let Some(novel) = rule.novel {
                consulted_novelty = true;
                if novel != input.novel {
                    continue;
                }
            }
            if !rule.add_risk.is_empty() {
                risk = union(&risk, &rule.add_risk);
            }
            if let Some(effect) = &rule.effect {
                return Evaluation {
                    outcome: outcome(effect, input.args),
                    rule: Some(rule.name.clone()),
                    risk,
                    consulted_novelty,
                };
            }
        }
        Evaluation {
            outcome: outcome(&self.source.default_effect, input.args),
            rule: None,
            risk,
            consulted_novelty,
        }
    }
}

impl CompiledRule {
    /// Every criterion but novelty (which may cost a lookup, so it is checked last).
    fn matches_ignoring_novelty(&self, input: &CallInput<'_>, risk: &[RiskClass]) -> bool {
        if self.tool.as_ref().is_some_and(|p| !p.matches(input.tool)) {
            return false;
        }
        if self.agent.as_ref().is_some_and(|p| !p.matches(input.agent)) {
            return false;
        }
        if self.risk_none && !risk.is_empty() {
            return false;
        }
        if !self.risk_any.is_empty() && !self.risk_any.iter().any(|r| risk.contains(r)) {
            return false;
        }
        self.args.iter().all(|c| c.holds(input.args))
    }
}

impl CompiledCondition {
    fn holds(&self, args: &Value) -> bool {
        let found = args.pointer(&self.pointer);
        match (self.op, &self.operand, found) {
            (ArgOp::Exists, _, found) => found.is_some(),
            (ArgOp::NotExists, _, found) => found.is_none(),
            (ArgOp::Eq, Operand::Json(v), Some(f)) => f == v,
            (ArgOp::Ne, Operand::Json(v), Some(f)) => f != v,
            (ArgOp::Ne, _, None) => true,
            (ArgOp::Glob, Operand::Glob(p), Some(Value::String(s))) => p.matches(s),
            (ArgOp::Regex, Operand::Regex(r), Some(Value::String(s))) => r.is_match(s),
            (
                op @ (ArgOp::Lt | ArgOp::Le | ArgOp::Gt | ArgOp::Ge),
                Operand::Number(n),
                Some(Value::Number(f)),
            ) => {
                let Some(f) = f.as_f64() else { return false };
                match op {
                    ArgOp::Lt => f < *n,
                    ArgOp::Le => f <= *n,
                    ArgOp::Gt => f > *n,
                    _ => f >= *n,
                }
            }
            _ => false,
        }
    }
}

fn compile_rule(rule: &Rule) -> Result<CompiledRule, String> {
    let Match {
        agent,
        tool,
        args,
        risk_any,
        risk_none,
        novel,
    } = &rule.matcher;
    let pattern = |p: &Option<String>| p.as_deref().map(Pattern::new).transpose();
    Ok(CompiledRule {
        name: rule.name.clone(),
        agent: pattern(agent)?,
        tool: pattern(tool)?,
        args: args
            .iter()
            .map(compile_condition)
            .collect::<Result<_, _>>()?,
        risk_any: risk_any.clone(),
        risk_none: *risk_none,
        novel: *novel,
        add_risk: rule.add_risk.clone(),
        effect: rule.effect.clone(),
    })
}

fn check_pointer(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{pointer}` is not a JSON pointer (it must start with `/`)"
        ))
    }
}

fn compile_condition(c: &ArgCondition) -> Result<CompiledCondition, String> {
    check_pointer(&c.pointer)?;
    let op_name = serde_json::to_value(c.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let operand = match (c.op, &c.value) {
        (ArgOp::Exists | ArgOp::NotExists, None) => Operand::None,
        (ArgOp::Exists | ArgOp::NotExists, Some(_)) => {
            return Err(format!("`{op_name}` takes no value"))
        }
        (ArgOp::Eq | ArgOp::Ne, Some(v)) => Operand::Json(v.clone()),
        (ArgOp::Glob, Some(Value::String(s))) => Operand::Glob(Pattern::new(s)?),
        (ArgOp::Regex, Some(Value::String(s))) => {
            if s.len() > MAX_REGEX {
                return Err(format!("regex longer than {MAX_REGEX} characters"));
            }
            Operand::Regex(regex::Regex::new(s).map_err(|e| format!("invalid regex `{s}`: {e}"))?)
        }
        (ArgOp::Lt | ArgOp::Le | ArgOp::Gt | ArgOp::Ge, Some(Value::Number(n))) => {
            Operand::Number(n.as_f64().ok_or("the number is out of range")?)
        }
        (ArgOp::Glob | ArgOp::Regex, _) => return Err(format!("`{op_name}` needs a string value")),
        (ArgOp::Lt | ArgOp::Le | ArgOp::Gt | ArgOp::Ge, _) => {
            return Err(format!("`{op_name}` needs a number value"))
        }
        (ArgOp::Eq | ArgOp::Ne, None) => return Err(format!("`{op_name}` needs a value")),
    };
    Ok(CompiledCondition {
        pointer: c.pointer.clone(),
        op: c.op,
        operand,
    })
}

fn check_effect(effect: &Effect) -> Result<(), String> {
    match effect {
        Effect::Allow => Ok(()),
        Effect::Deny { message } if message.trim().is_empty() => {
            Err("a deny needs a message for the agent".into())
        }
        Effect::Deny { .. } => Ok(()),
        Effect::Gate(g) => {
            if !(1..=MAX_APPROVALS).contains(&g.approvals_required) {
                return Err(format!("approvals_required must be 1-{MAX_APPROVALS}"));
            }
            if !(1..=MAX_DEADLINE_SECS).contains(&g.deadline_secs) {
                return Err(format!("deadline_secs must be 1-{MAX_DEADLINE_SECS}"));
            }
            if !(1..=MAX_TTL_SECS).contains(&g.approval_ttl_secs) {
                return Err(format!("approval_ttl_secs must be 1-{MAX_TTL_SECS}"));
            }
            if let Some(c) = &g.confirm {
                if c.trim().is_empty() || c.chars().count() > MAX_CONFIRM {
                    return Err(format!("confirm must be 1-{MAX_CONFIRM} characters"));
                }
                for pointer in placeholders(c) {
                    check_pointer(pointer)?;
                }
            }
            Ok(())
        }
    }
}

/// The `{/pointer}` placeholders in a confirmation phrase.
fn placeholders(phrase: &str) -> impl Iterator<Item = &str> {
    phrase
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(p, _)| p))
}

/// Fills `{/pointer}` placeholders with argument values: strings as they are, other JSON
/// as its text, a missing argument as an empty string.
pub fn render_confirm(phrase: &str, args: &Value) -> String {
    let mut out = String::with_capacity(phrase.len());
    let mut rest = phrase;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].find('}') {
            Some(len) => {
                let pointer = &rest[start + 1..start + 1 + len];
                match args.pointer(pointer) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {}
                }
                rest = &rest[start + 2 + len..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn outcome(effect: &Effect, args: &Value) -> Outcome {
    match effect {
        Effect::Allow => Outcome::Allow,
        Effect::Deny { message } => Outcome::Deny {
            message: message.clone(),
        },
        Effect::Gate(settings) => Outcome::Gate {
            confirm: settings.confirm.as_deref().map(|c| render_confirm(c, args)),
            settings: settings.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use serde_json::json;
    use RiskClass::*;

    fn policy(rules: Value) -> CompiledPolicy {
        let p: Policy = serde_json::from_value(
            json!({ "default_effect": { "kind": "allow" }, "rules": rules }),
        )
        .unwrap();
        CompiledPolicy::compile(&p).unwrap()
    }

    fn decide(
        p: &CompiledPolicy,
        tool: &str,
        args: Value,
        risk: &[RiskClass],
        novel: bool,
    ) -> (Option<String>, Vec<RiskClass>) {
        let e = p.evaluate(&CallInput {
            agent: "ops-bot",
            tool,
            args: &args,
            risk,
            novel,
        });
        (e.rule, e.risk)
    }

    #[test]
    fn argument_conditions() {
        let cases = [
            (
                json!({ "pointer": "/env", "op": "eq", "value": "prod" }),
                json!({ "env": "prod" }),
                true,
            ),
            (
                json!({ "pointer": "/env", "op": "eq", "value": "prod" }),
                json!({ "env": "dev" }),
                false,
            ),
            (
                json!({ "pointer": "/env", "op": "eq", "value": "prod" }),
                json!({}),
                false,
            ),
            (
                json!({ "pointer": "/env", "op": "ne", "value": "prod" }),
                json!({}),
                true,
            ),
            (
                json!({ "pointer": "/env", "op": "ne", "value": "prod" }),
                json!({ "env": "prod" }),
                false,
            ),
            (
                json!({ "pointer": "/n", "op": "eq", "value": 3 }),
                json!({ "n": 3 }),
                true,
            ),
            (
                json!({ "pointer": "/a/0/b", "op": "eq", "value": true }),
                json!({ "a": [{ "b": true }] }),
                true,
            ),
            (
                json!({ "pointer": "/env", "op": "glob", "value": "prod*" }),
                json!({ "env": "production" }),
                true,
            ),
            (
                json!({ "pointer": "/env", "op": "glob", "value": "prod*" }),
                json!({ "env": 5 }),
                false,
            ),
            (
                json!({ "pointer": "/to", "op": "regex", "value": "@example\\.com$" }),
                json!({ "to": "a@example.com" }),
                true,
            ),
            (
                json!({ "pointer": "/to", "op": "regex", "value": "@example\\.com$" }),
                json!({ "to": "a@evil.com" }),
                false,
            ),
            (
                json!({ "pointer": "/amount", "op": "gt", "value": 100 }),
                json!({ "amount": 100.5 }),
                true,
            ),
            (
                json!({ "pointer": "/amount", "op": "gt", "value": 100 }),
                json!({ "amount": 100 }),
                false,
            ),
            (
                json!({ "pointer": "/amount", "op": "ge", "value": 100 }),
                json!({ "amount": 100 }),
                true,
            ),
            (
                json!({ "pointer": "/amount", "op": "lt", "value": 0 }),
                json!({ "amount": -1 }),
                true,
            ),
            (
                json!({ "pointer": "/amount", "op": "le", "value": 0 }),
                json!({ "amount": "0" }),
                false,
            ),
            (
                json!({ "pointer": "/force", "op": "exists" }),
                json!({ "force": false }),
                true,
            ),
            (
                json!({ "pointer": "/force", "op": "exists" }),
                json!({}),
                false,
            ),
            (
                json!({ "pointer": "/force", "op": "not_exists" }),
                json!({}),
                true,
            ),
        ];
        for (condition, args, expected) in cases {
            let p = policy(
                json!([{ "name": "r", "match": { "args": [condition.clone()] }, "effect": { "kind": "deny", "message": "m" } }]),
            );
            assert_eq!(
                decide(&p, "t", args.clone(), &[], false).0.is_some(),
                expected,
                "{condition} on {args}"
            );
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn order_risk_and_novelty() {
        let p = policy(json!([
            { "name": "off", "enabled": false, "match": {}, "effect": { "kind": "deny", "message": "never" } },
            { "name": "tag", "match": { "tool": "deploy*" }, "add_risk": ["production"] },
            { "name": "quiet-reads", "match": { "tool": "read_*", "risk_none": true }, "effect": { "kind": "allow" } },
            { "name": "prod", "match": { "risk_any": ["production", "financial"] }, "effect": { "kind": "gate" } },
            { "name": "only-ops", "match": { "agent": "ops-*", "tool": "scale" }, "effect": { "kind": "allow" } },
            { "name": "new", "match": { "novel": true }, "effect": { "kind": "gate" } },
            { "name": "not-new", "match": { "novel": false, "tool": "scale" }, "effect": { "kind": "allow" } }
        ]));
        let cases: Vec<(&str, Vec<RiskClass>, bool, Option<&str>, Vec<RiskClass>)> = vec![
            ("read_file", vec![], true, Some("quiet-reads"), vec![]),
            (
                "read_file",
                vec![Financial],
                false,
                Some("prod"),
                vec![Financial],
            ),
            ("deploy_api", vec![], false, Some("prod"), vec![Production]),
            (
                "deploy_api",
                vec![Destructive],
                false,
                Some("prod"),
                vec![Destructive, Production],
            ),
            ("scale", vec![], true, Some("only-ops"), vec![]),
            ("paint", vec![], true, Some("new"), vec![]),
            ("paint", vec![], false, None, vec![]),
        ];
        for (tool, risk, novel, rule, expected_risk) in cases {
            let (got_rule, got_risk) = decide(&p, tool, json!({}), &risk, novel);
            assert_eq!(
                (got_rule.as_deref(), got_risk),
                (rule, expected_risk),
                "{tool} {risk:?} novel={novel}"
            );
        }
        assert!(p.uses_novelty());
    }

    #[test]
    fn gate_outcome_renders_the_confirmation() {
        let p = policy(
            json!([{ "name": "g", "match": {}, "effect": { "kind": "gate", "approvals_required": 2,
            "approver_role": "manager", "confirm": "deploy {/service} to {/env} ({/n}){/missing}" } }]),
        );
        let e = p.evaluate(&CallInput {
            agent: "a",
            tool: "t",
            args: &json!({ "service": "api", "env": "prod", "n": 3 }),
            risk: &[],
            novel: false,
        });
        match e.outcome {
            Outcome::Gate { settings, confirm } => {
                assert_eq!(
                    (settings.approvals_required, settings.approver_role),
                    (2, Role::Manager)
                );
                assert_eq!(confirm.as_deref(), Some("deploy api to prod (3)"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_policies_are_refused() {
        let cases = [
            (
                json!([{ "name": "", "match": {}, "effect": { "kind": "allow" } }]),
                "name",
            ),
            (
                json!([{ "name": "a", "match": {}, "effect": { "kind": "allow" } }, { "name": "a", "match": {}, "effect": { "kind": "allow" } }]),
                "same name",
            ),
            (json!([{ "name": "a", "match": {} }]), "add risk"),
            (
                json!([{ "name": "a", "match": { "tool": "{x" }, "effect": { "kind": "allow" } }]),
                "invalid glob",
            ),
            (
                json!([{ "name": "a", "match": { "args": [{ "pointer": "env", "op": "exists" }] }, "effect": { "kind": "allow" } }]),
                "JSON pointer",
            ),
            (
                json!([{ "name": "a", "match": { "args": [{ "pointer": "/e", "op": "regex", "value": "(" }] }, "effect": { "kind": "allow" } }]),
                "invalid regex",
            ),
            (
                json!([{ "name": "a", "match": { "args": [{ "pointer": "/e", "op": "gt", "value": "x" }] }, "effect": { "kind": "allow" } }]),
                "number",
            ),
            (
                json!([{ "name": "a", "match": { "args": [{ "pointer": "/e", "op": "exists", "value": 1 }] }, "effect": { "kind": "allow" } }]),
                "no value",
            ),
            (
                json!([{ "name": "a", "match": {}, "effect": { "kind": "deny", "message": " " } }]),
                "message",
            ),
            (
                json!([{ "name": "a", "match": {}, "effect": { "kind": "gate", "approvals_required": 21 } }]),
                "approvals_required",
            ),
            (
                json!([{ "name": "a", "match": {}, "effect": { "kind": "gate", "deadline_secs": 0 } }]),
                "deadline_secs",
            ),
            (
                json!([{ "name": "a", "match": {}, "effect": { "kind": "gate", "confirm": "go {env}" } }]),
                "JSON pointer",
            ),
        ];
        for (rules, needle) in cases {
            let p: Policy = serde_json::from_value(
                json!({ "default_effect": { "kind": "allow" }, "rules": rules }),
            )
            .unwrap();
            let err = CompiledPolicy::compile(&p).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }
}
