//! Validating a policy and compiling it for evaluation: globs, regexes, JSON pointers and
//! confirmation phrases are checked and prepared once, so evaluation compiles nothing.

use super::confirm::Confirm;
use super::glob::Pattern;
use super::pointer::Pointer;
use super::risk_set::RiskSet;
use super::tool_name::ToolPattern;
use crate::domain::policy::{ArgCondition, ArgOp, Effect, GateSettings, Match, Policy, Rule};
use serde_json::Value;
use std::collections::HashMap;

/// Most approvals a gate may require.
pub const MAX_APPROVALS: u32 = 20;
/// Longest decision deadline: 30 days.
pub const MAX_DEADLINE_SECS: u64 = 30 * 24 * 3600;
/// Longest approval TTL: 7 days.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Longest regex, in characters.
pub const MAX_REGEX_CHARS: usize = 1000;
/// Largest compiled regex, in bytes (the regex crate's size limit; its default is 10 MiB).
pub const MAX_REGEX_PROGRAM: usize = 64 * 1024;
/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a policy is invalid: the rule (0-based index and name; `None` for the default
/// effect) and what is wrong. Displays as `rule 3 "deploy-prod": …` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", rule.as_ref().map(|(i, n)| format!("rule {} {n:?}: ", i + 1)).unwrap_or_default())]
pub struct PolicyError {
    pub rule: Option<(usize, String)>,
    pub message: String,
}

/// A validated policy, ready to evaluate (see [`CompiledPolicy::evaluate`]).
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    source: Policy,
    /// Enabled rules, in policy order.
    pub(super) rules: Vec<CompiledRule>,
    /// Indexes into `rules` of the rules whose tool pattern is a literal, by that literal.
    pub(super) by_tool: HashMap<Box<str>, Vec<u32>>,
    /// Indexes into `rules` of every other rule.
    pub(super) any_tool: Vec<u32>,
    pub(super) default_effect: CompiledEffect,
    uses_novelty: bool,
}

#[derive(Debug, Clone)]
pub(super) struct CompiledRule {
    pub name: String,
    pub agent: Option<Pattern>,
    pub tool: Option<ToolPattern>,
    pub args: Vec<CompiledCondition>,
    /// Empty: no `risk_any` criterion.
    pub risk_any: RiskSet,
    pub risk_none: bool,
    pub novel: Option<bool>,
    pub add_risk: RiskSet,
    pub effect: Option<CompiledEffect>,
}

#[derive(Debug, Clone)]
pub(super) struct CompiledCondition {
    pub pointer: Pointer,
    pub test: Test,
}

/// An argument condition's operation with its prepared operand.
#[derive(Debug, Clone)]
pub(super) enum Test {
    Eq(Value),
    Ne(Value),
    Glob(Pattern),
    Regex(regex::Regex),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    Exists,
    NotExists,
}

#[derive(Debug, Clone)]
pub(super) enum CompiledEffect {
    Allow,
    Deny(String),
    Gate(GateSettings, Option<Confirm>),
}

impl CompiledPolicy {
    /// Validates `policy` (every rule, enabled or not) and precompiles its patterns.
    pub fn compile(policy: &Policy) -> Result<Self, PolicyError> {
        let default_effect =
            compile_effect(&policy.default_effect).map_err(|message| PolicyError {
                rule: None,
                message: format!("default_effect: {message}"),
            })?;
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut rules = Vec::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            let fail = |message: String| PolicyError {
                rule: Some((i, rule.name.clone())),
                message,
            };
            if let Some(first) = names.insert(&rule.name, i) {
                return Err(fail(format!(
                    "the name is already used by rule {}; names must be unique",
                    first + 1
                )));
            }
            let compiled = compile_rule(rule).map_err(&fail)?;
            check_grant_risk(rule).map_err(fail)?;
            if rule.enabled {
                rules.push(compiled);
            }
        }
        check_groups(policy)?;
        let mut by_tool: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut any_tool = Vec::new();
        for (i, rule) in (0u32..).zip(&rules) {
            match rule.tool.as_ref().and_then(ToolPattern::literal) {
                Some(tool) => by_tool.entry(tool.into()).or_default().push(i),
                None => any_tool.push(i),
            }
        }
        Ok(Self {
            source: policy.clone(),
            uses_novelty: rules.iter().any(|r| r.novel.is_some()),
            rules,
            by_tool,
            any_tool,
            default_effect,
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.source
    }

    /// The typed-confirmation phrase of the enabled gate rule `name`, filled in from `args`
    /// (`None` when there is no such rule or it asks for no phrase). An approver's edit
    /// keeps the phrase of the rule that gated the call, re-rendered for the new arguments.
    pub fn confirm_of(&self, name: &str, tool: &str, args: &Value) -> Option<String> {
        self.rules
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| match &r.effect {
                Some(CompiledEffect::Gate(_, Some(confirm))) => Some(confirm.render(tool, args)),
                _ => None,
            })
    }

    /// Whether any enabled rule looks at novelty; if not, callers can skip that lookup.
    pub fn uses_novelty(&self) -> bool {
        self.uses_novelty
    }
}

/// Rule names and descriptions are printed in terminals and sentences: no control or
/// text-direction character may rewrite what is printed around them (a description may
/// hold line breaks and tabs). Checked when a policy is saved, not when a stored one is
/// loaded, so a version saved before this check still starts.
pub fn printable(policy: &Policy) -> Result<(), String> {
    let hidden = |c: char| c.is_control() || crate::domain::signoff::is_bidi_control(c);
    for (i, rule) in policy.rules.iter().enumerate() {
        if rule.name.chars().any(hidden) {
            return Err(format!(
                "rule {}: a rule's name must not contain control or text-direction characters",
                i + 1
            ));
        }
        let description = rule.description.as_deref().unwrap_or_default();
        if description
            .chars()
            .any(|c| hidden(c) && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(format!(
                "rule {} (`{}`): a rule's description must not contain control or \
                 text-direction characters",
                i + 1,
                rule.name
            ));
        }
    }
    Ok(())
}

fn compile_rule(rule: &Rule) -> Result<CompiledRule, String> {
    let name_chars = rule.name.chars().count();
    if rule.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
        return Err(format!(
            "a rule needs a name of 1-{MAX_NAME_CHARS} characters"
        ));
    }
    if rule.effect.is_none() && rule.add_risk.is_empty() {
        return Err("the rule has neither an effect nor `add_risk`, so it would do nothing".into());
    }
    let Match {
        agent,
        tool,
        args,
        risk_any,
        risk_none,
        novel,
    } = &rule.matcher;
    if *risk_none && !risk_any.is_empty() {
        return Err(
            "`risk_any` and `risk_none = true` contradict each other: the rule could never match"
                .into(),
        );
    }
    let pattern = |field: &str, p: &Option<String>| {
        p.as_deref()
            .map(Pattern::new)
            .transpose()
            .map_err(|e| format!("match.{field}: {e}"))
    };
    Ok(CompiledRule {
        name: rule.name.clone(),
        agent: pattern("agent", agent)?,
        tool: tool
            .as_deref()
            .map(ToolPattern::new)
            .transpose()
            .map_err(|e| format!("match.tool: {e}"))?,
        args: args
            .iter()
            .enumerate()
            .map(|(j, c)| {
                compile_condition(c)
                    .map_err(|e| format!("argument condition {} (`{}`): {e}", j + 1, c.pointer))
            })
            .collect::<Result<_, _>>()?,
        risk_any: RiskSet::of(risk_any),
        risk_none: *risk_none,
        novel: *novel,
        add_risk: RiskSet::of(&rule.add_risk),
        effect: rule
            .effect
            .as_ref()
            .map(compile_effect)
            .transpose()
            .map_err(|e| format!("effect: {e}"))?,
    })
}

/// The operation's name as written in policy files.
pub(super) fn op_name(op: ArgOp) -> &'static str {
    match op {
        ArgOp::Eq => "eq",
        ArgOp::Ne => "ne",
        ArgOp::Glob => "glob",
        ArgOp::Regex => "regex",
        ArgOp::Lt => "lt",
        ArgOp::Le => "le",
        ArgOp::Gt => "gt",
        ArgOp::Ge => "ge",
        ArgOp::Exists => "exists",
        ArgOp::NotExists => "not_exists",
    }
}

pub(super) fn compile_condition(c: &ArgCondition) -> Result<CompiledCondition, String> {
    let pointer = Pointer::parse(&c.pointer)?;
    let name = op_name(c.op);
    let number = |v: &Option<Value>| match v {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("`{name}` operand {n} is out of range")),
        _ => Err(format!("`{name}` needs a number `value`")),
    };
    let string = |v: &Option<Value>| match v {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("`{name}` needs a string `value`")),
    };
    // A top-level null cannot be stored: `Option<Value>` reads JSON `null` back as `None`.
    let json = |v: &Option<Value>| match v {
        Some(Value::Null) | None => Err(format!(
            "`{name}` needs a `value` (any JSON value but a bare null)"
        )),
        Some(v) => Ok(v.clone()),
    };
    let test = match c.op {
        ArgOp::Exists | ArgOp::NotExists if c.value.is_some() => {
            return Err(format!("`{name}` takes no `value`"))
        }
        ArgOp::Exists => Test::Exists,
        ArgOp::NotExists => Test::NotExists,
        ArgOp::Eq => Test::Eq(json(&c.value)?),
        ArgOp::Ne => Test::Ne(json(&c.value)?),
        ArgOp::Glob => Test::Glob(Pattern::new(&string(&c.value)?)?),
        ArgOp::Regex => {
            let source = string(&c.value)?;
            if source.chars().count() > MAX_REGEX_CHARS {
                return Err(format!(
                    "the regex is longer than {MAX_REGEX_CHARS} characters"
                ));
            }
            // A small compiled size: a pattern like `(?:a{100}){100}` is refused here
            // instead of costing seconds per argument it is matched against.
            Test::Regex(
                regex::RegexBuilder::new(&source)
                    .size_limit(MAX_REGEX_PROGRAM)
                    .dfa_size_limit(4 * MAX_REGEX_PROGRAM)
                    .build()
                    .map_err(|e| format!("invalid regex `{source}`: {}", one_line(&e)))?,
            )
        }
        ArgOp::Lt => Test::Lt(number(&c.value)?),
        ArgOp::Le => Test::Le(number(&c.value)?),
        ArgOp::Gt => Test::Gt(number(&c.value)?),
        ArgOp::Ge => Test::Ge(number(&c.value)?),
    };
    Ok(CompiledCondition { pointer, test })
}

/// The regex crate's multi-line syntax errors, as one line (`…: unclosed group`).
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    match text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
    {
        Some(reason) => reason.to_string(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

pub(super) fn compile_effect(effect: &Effect) -> Result<CompiledEffect, String> {
    match effect {
        Effect::Allow => Ok(CompiledEffect::Allow),
        Effect::Deny { message } if message.trim().is_empty() => {
            Err("a deny needs a `message` for the agent".into())
        }
        Effect::Deny { message } => Ok(CompiledEffect::Deny(message.clone())),
        Effect::Gate(g) => {
            if g.approver_role == crate::domain::Role::Viewer {
                return Err(
                    "approver_role cannot be viewer: viewers never decide (approver, manager or admin)"
                        .into(),
                );
            }
            if !(1..=MAX_APPROVALS).contains(&g.approvals_required) {
                return Err(format!(
                    "approvals_required is {}; it must be 1-{MAX_APPROVALS}",
                    g.approvals_required
                ));
            }
            if !(1..=MAX_DEADLINE_SECS).contains(&g.deadline_secs) {
                return Err(format!(
                    "deadline_secs is {}; it must be 1-{MAX_DEADLINE_SECS} (30 days)",
                    g.deadline_secs
                ));
            }
            if !(1..=MAX_TTL_SECS).contains(&g.approval_ttl_secs) {
                return Err(format!(
                    "approval_ttl_secs is {}; it must be 1-{MAX_TTL_SECS} (7 days)",
                    g.approval_ttl_secs
                ));
            }
            let confirm = g.confirm.as_deref().map(Confirm::parse).transpose()?;
            check_workflow(g)?;
            Ok(CompiledEffect::Gate(g.clone(), confirm))
        }
    }
}

/// Longest window a remembered grant may have: a day (anything wider is a bypass).
pub const MAX_GRANT_SECS: u64 = 24 * 3600;

/// Checks a gate's workflow settings: deadline outcome, escalation, extensions, grants
/// and the do-not-retry window.
fn check_workflow(g: &GateSettings) -> Result<(), String> {
    use crate::domain::policy::OnDeadline;
    use crate::domain::workflow::{Audience, MAX_GRANT_MATCH, MAX_GRANT_USES};
    let secs = |field: &str, value: Option<u64>, max: u64, max_text: &str| match value {
        Some(v) if !(1..=max).contains(&v) => {
            Err(format!("{field} is {v}; it must be 1-{max} ({max_text})"))
        }
        _ => Ok(()),
    };
    if g.escalate_overrides_role
        && !matches!(
            g.escalate_to.as_deref().map(Audience::parse),
            Some(Ok(Audience::Group(_)))
        )
    {
        return Err(
            "`escalate_overrides_role` needs escalate_to = \"group:<name>\": only a named group \
             may be declared to decide below the rule's role"
                .into(),
        );
    }
    match (g.on_deadline, &g.escalate_to) {
        (OnDeadline::Escalate, None) => {
            return Err(
                "on_deadline = \"escalate\" needs `escalate_to`: a role (manager, admin) or group:<name>"
                    .into(),
            )
        }
        (OnDeadline::Escalate, Some(to)) => {
            if let Audience::Role(role) = Audience::parse(to)? {
                if role < g.approver_role {
                    return Err(format!(
                        "escalate_to = \"{role}\" is below this rule's approver_role ({}): an \
                         escalation widens who is asked, it never lowers who may decide",
                        g.approver_role
                    ));
                }
            }
        }
        (_, Some(_)) => {
            return Err("`escalate_to` is only used with on_deadline = \"escalate\"".into())
        }
        (_, None) if g.escalate_deadline_secs.is_some() => {
            return Err(
                "`escalate_deadline_secs` is only used with on_deadline = \"escalate\"".into(),
            )
        }
        _ => {}
    }
    secs(
        "escalate_deadline_secs",
        g.escalate_deadline_secs,
        MAX_DEADLINE_SECS,
        "30 days",
    )?;
    secs(
        "extend_max_secs",
        g.extend_max_secs,
        MAX_DEADLINE_SECS,
        "30 days",
    )?;
    secs(
        "no_retry_secs",
        g.no_retry_secs,
        MAX_DEADLINE_SECS,
        "30 days",
    )?;
    secs(
        "grant_max",
        g.grant_max_secs,
        MAX_GRANT_SECS,
        "a day; wider is a bypass",
    )?;
    if g.grant_max_secs.is_none() && (g.grant_max_uses.is_some() || !g.grant_match.is_empty()) {
        return Err("`grant_max_uses` and `grant_match` need `grant_max`".into());
    }
    if let Some(uses) = g.grant_max_uses {
        if !(1..=MAX_GRANT_USES).contains(&uses) {
            return Err(format!(
                "grant_max_uses is {uses}; it must be 1-{MAX_GRANT_USES}"
            ));
        }
    }
    if g.grant_match.len() > MAX_GRANT_MATCH {
        return Err(format!(
            "grant_match names at most {MAX_GRANT_MATCH} arguments"
        ));
    }
    for p in &g.grant_match {
        Pointer::parse(p).map_err(|e| format!("grant_match: {e}"))?;
        if p.is_empty() {
            return Err("grant_match: `\"\"` is the whole arguments; name the ones that decide, such as \"/service\"".into());
        }
    }
    if g.grant_max_secs.is_some() {
        if g.confirm.is_some() {
            return Err(
                "grants are refused for gates that ask for typed confirmation: drop `grant_max` or `confirm`"
                    .into(),
            );
        }
        if g.approvals_required > 1 {
            return Err(format!(
                "grants are refused for gates that need {} approvals: a grant is one person's word",
                g.approvals_required
            ));
        }
    }
    Ok(())
}

/// Refuses grants on a rule that gates destructive or irreversible calls.
fn check_grant_risk(rule: &Rule) -> Result<(), String> {
    use crate::domain::risk::RiskClass;
    let grants = matches!(&rule.effect, Some(Effect::Gate(g)) if g.grant_max_secs.is_some());
    if let Some(r) = rule
        .matcher
        .risk_any
        .iter()
        .find(|r| matches!(r, RiskClass::Destructive | RiskClass::Irreversible))
        .filter(|_| grants)
    {
        return Err(format!(
            "grants are refused for rules that gate {} calls: drop `grant_max`",
            r.as_str()
        ));
    }
    Ok(())
}

/// Checks the policy's named groups and that every `escalate_to = "group:…"` names one.
fn check_groups(policy: &Policy) -> Result<(), PolicyError> {
    use crate::domain::workflow::Audience;
    let fail = |message: String| PolicyError {
        rule: None,
        message,
    };
    for (name, members) in &policy.groups {
        Audience::parse(&format!("group:{name}")).map_err(|e| fail(format!("groups: {e}")))?;
        if members.is_empty() || members.len() > 100 {
            return Err(fail(format!(
                "groups.{name}: a group has 1-100 members (usernames)"
            )));
        }
        if let Some(bad) = members.iter().find(|m| {
            m.trim().is_empty() || m.chars().count() > 64 || m.chars().any(char::is_control)
        }) {
            return Err(fail(format!("groups.{name}: `{bad}` is not a username")));
        }
    }
    let effects = policy
        .rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.effect.as_ref().map(|e| (Some((i, r.name.clone())), e)))
        .chain(std::iter::once((None, &policy.default_effect)));
    for (rule, effect) in effects {
        if let Effect::Gate(g) = effect {
            if let Some(Ok(Audience::Group(name))) = g.escalate_to.as_deref().map(Audience::parse) {
                if !policy.groups.contains_key(&name) {
                    return Err(PolicyError {
                        rule,
                        message: format!(
                            "escalate_to names group `{name}`, which the policy's [groups] does not define"
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
