//! What the admin's policy console shows: the policy in force, the admin's draft and how
//! it differs, dry runs, replays over recent calls, and the versions.

use super::policy_change::{Classification, Finding};
use super::risk::RiskClass;
use serde::{Deserialize, Serialize};

/// One rule as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLine {
    pub name: String,
    pub enabled: bool,
    /// The rule as a sentence.
    pub sentence: String,
    /// The rule as the edit form holds it.
    pub form: RuleForm,
    /// A call it would match, to try it with ("Try this rule").
    #[serde(default)]
    pub sample: RecentCall,
}

/// The policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    pub version: i64,
    pub author: String,
    /// RFC 3339.
    pub at: String,
    pub comment: String,
    pub default_effect: String,
    pub rules: Vec<RuleLine>,
    /// The policy as the TOML file `askfirst policy export` writes.
    pub toml: String,
}

/// The signed-in admin's draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftView {
    /// The version the draft was started from.
    pub base: i64,
    pub default_effect: String,
    pub rules: Vec<RuleLine>,
    /// The draft as the TOML file `askfirst policy import` reads.
    pub toml: String,
    /// Changes against the policy in force, in words.
    pub changes: Vec<String>,
    pub classification: Classification,
    /// Things that make saving impossible (a gate nobody can satisfy).
    pub problems: Vec<String>,
    /// Things worth a look (rules an earlier rule shadows).
    pub warnings: Vec<String>,
}

/// A recent call, to dry-run against the draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentCall {
    /// Empty for a call made up to try a rule.
    pub id: String,
    pub agent: String,
    pub tool: String,
    /// Arguments as JSON text.
    pub args: String,
    pub risk: Vec<RiskClass>,
}

/// Everything the policy page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyConsole {
    pub in_force: InForce,
    pub draft: Option<DraftView>,
    pub recent: Vec<RecentCall>,
}

/// What happened to a call at one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepVerdict {
    /// The rule is disabled.
    Disabled,
    /// A criterion did not hold.
    Skipped { why: String },
    /// It matched and added risk; evaluation went on.
    Tagged,
    /// It matched and decided.
    Decided,
    /// An earlier rule decided.
    NotReached,
}

/// One rule's step in a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStep {
    pub rule: String,
    pub verdict: StepVerdict,
}

/// A call tried against the draft (and, for comparison, the policy in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// `allow`, `deny ("…")` or `gate: …`.
    pub outcome: String,
    /// The rule that decided (`None`: the default effect).
    pub rule: Option<String>,
    pub risk: Vec<RiskClass>,
    pub steps: Vec<RuleStep>,
    pub in_force_outcome: String,
}

/// How a call's outcome would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Stricter,
    Laxer,
}

/// One call whose outcome the draft would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCall {
    pub id: String,
    pub before: String,
    pub after: String,
    pub direction: Direction,
}

/// Calls of one tool from one agent whose outcome would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayGroup {
    pub agent: String,
    pub tool: String,
    pub stricter: u32,
    pub laxer: u32,
    /// The first few of them.
    pub calls: Vec<ReplayCall>,
}

/// The draft and the policy in force evaluated over recent calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// How many calls were evaluated.
    pub examined: u32,
    pub stricter: u32,
    pub laxer: u32,
    pub groups: Vec<ReplayGroup>,
}

/// One saved version of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    pub version: i64,
    pub author: String,
    /// RFC 3339.
    pub at: String,
    pub comment: String,
    /// Against the version before it.
    pub changes: Vec<String>,
    pub loosening: bool,
    pub findings: Vec<Finding>,
}

/// A rule as the console's form holds it: every field as typed, so nothing the admin typed
/// is lost when a field is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub enabled: bool,
    pub description: String,
    /// Glob on the agent's name; empty: any agent.
    pub agent: String,
    /// Glob on the tool; empty: any tool.
    pub tool: String,
    /// One argument condition per line: `<pointer> <op> [value]`, the value as JSON or
    /// plain text (`/env glob prod*`, `/amount gt 1000`, `/force eq true`, `/path exists`).
    pub conditions: String,
    /// Risk classes, comma- or space-separated.
    pub risk_any: String,
    pub risk_none: bool,
    /// `any`, `yes` or `no`.
    pub novel: String,
    /// Risk classes added when the rule matches.
    pub add_risk: String,
    /// `allow`, `deny`, `gate` or `none` (only adds risk).
    pub effect: String,
    /// A deny's message for the agent.
    pub message: String,
    pub approvals: String,
    /// `approver`, `manager` or `admin`.
    pub role: String,
    /// Durations: `90s`, `10m`, `1h`, `2d` or seconds.
    pub deadline: String,
    pub ttl: String,
    pub confirm: String,
    /// `expire`, `deny` or `escalate`.
    pub on_deadline: String,
    /// A role or `group:<name>` (with `escalate`).
    pub escalate_to: String,
    /// Durations; empty: the default.
    pub escalate_deadline: String,
    /// With an escalation to a group: its members decide whatever their role.
    #[serde(default)]
    pub escalate_overrides_role: bool,
    pub extend_max: String,
    /// Empty: no remembered grants.
    pub grant_max: String,
    pub grant_uses: String,
    /// JSON pointers, comma- or space-separated.
    pub grant_match: String,
    pub no_retry: String,
}

/// One refused field of the rule form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl RuleForm {
    /// The form filled in from a rule.
    pub fn of(rule: &super::policy::Rule) -> Self {
        use super::policy::Effect;
        use super::policy_change::condition_text_raw;
        let classes = |v: &[RiskClass]| v.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        let mut form = RuleForm {
            name: rule.name.clone(),
            enabled: rule.enabled,
            description: rule.description.clone().unwrap_or_default(),
            agent: rule.matcher.agent.clone().unwrap_or_default(),
            tool: rule.matcher.tool.clone().unwrap_or_default(),
            conditions: rule
                .matcher
                .args
                .iter()
                .map(condition_text_raw)
                .collect::<Vec<_>>()
                .join("\n"),
            risk_any: classes(&rule.matcher.risk_any),
            risk_none: rule.matcher.risk_none,
            novel: match rule.matcher.novel {
                None => "any",
                Some(true) => "yes",
                Some(false) => "no",
            }
            .into(),
            add_risk: classes(&rule.add_risk),
            effect: "none".into(),
            role: "approver".into(),
            approvals: "1".into(),
            deadline: "1h".into(),
            ttl: "10m".into(),
            on_deadline: "expire".into(),
            ..RuleForm::default()
        };
        match &rule.effect {
            None => {}
            Some(Effect::Allow) => form.effect = "allow".into(),
            Some(Effect::Deny { message }) => {
                form.effect = "deny".into();
                form.message = message.clone();
            }
            Some(Effect::Gate(g)) => {
                form.effect = "gate".into();
                form.approvals = g.approvals_required.to_string();
                form.role = g.approver_role.as_str().into();
                form.deadline = super::policy_change::duration_short(g.deadline_secs);
                form.ttl = super::policy_change::duration_short(g.approval_ttl_secs);
                form.confirm = g.confirm.clone().unwrap_or_default();
                let short = |s: Option<u64>| {
                    s.map(super::policy_change::duration_short)
                        .unwrap_or_default()
                };
                form.on_deadline = g.on_deadline.as_str().into();
                form.escalate_to = g.escalate_to.clone().unwrap_or_default();
                form.escalate_deadline = short(g.escalate_deadline_secs);
                form.escalate_overrides_role = g.escalate_overrides_role;
                form.extend_max = short(g.extend_max_secs);
                form.grant_max = short(g.grant_max_secs);
                form.grant_uses = g.grant_max_uses.map(|n| n.to_string()).unwrap_or_default();
                form.grant_match = g.grant_match.join(", ");
                form.no_retry = short(g.no_retry_secs);
            }
        }
        form
    }
}

/// What saving the draft did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveResult {
    /// The version in force now, when the change applied at once.
    pub version: Option<i64>,
    /// The pending change, when it loosens a gate and waits for managers.
    pub pending: Option<i64>,
    /// Approvals the pending change needs.
    pub approvals_required: u32,
}

/// The line a policy file's error names (`… at line 3, column 5 …`), if it names one.
pub fn error_line(message: &str) -> Option<usize> {
    let at = message.find("line ")? + "line ".len();
    let digits: String = message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n > 0)
}

/// A call `rule` would match, as far as its matcher says: its tool and agent when they are
/// plain names (the first of `{a,b}`), arguments that meet its equality, glob and range
/// conditions, and the first risk it asks for. What it cannot make up (a regex, a tool
/// glob) is left for the person trying it to fill in.
pub fn sample_call(rule: &super::policy::Rule) -> RecentCall {
    use super::policy::ArgOp;
    use serde_json::{json, Value};
    let name = |glob: &Option<String>| -> String {
        let Some(glob) = glob else {
            return String::new();
        };
        let first = glob
            .strip_prefix('{')
            .and_then(|g| g.strip_suffix('}'))
            .and_then(|g| g.split(',').next())
            .unwrap_or(glob);
        if first.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            String::new()
        } else {
            first.to_string()
        }
    };
    let mut args = json!({});
    for c in &rule.matcher.args {
        let value = match (c.op, &c.value) {
            (ArgOp::Eq, Some(v)) => v.clone(),
            (ArgOp::Glob, Some(Value::String(g))) => Value::String(
                g.chars()
                    .filter(|ch| !matches!(ch, '*' | '?' | '[' | ']' | '{' | '}' | '\\'))
                    .collect(),
            ),
            (ArgOp::Gt, Some(Value::Number(n))) => json!(n.as_f64().unwrap_or(0.0).floor() + 1.0),
            (ArgOp::Lt, Some(Value::Number(n))) => json!(n.as_f64().unwrap_or(0.0).ceil() - 1.0),
            (ArgOp::Ge | ArgOp::Le, Some(v)) => v.clone(),
            (ArgOp::Exists, _) => Value::Bool(true),
            _ => continue,
        };
        // `/a/b` makes `{"a": {"b": value}}`; array indexes are left to the person.
        let tokens: Vec<String> = c
            .pointer
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let Some((last, path)) = tokens.split_last() else {
            continue;
        };
        let mut at = &mut args;
        for t in path {
            if !at.get(t).is_some_and(Value::is_object) {
                at[t.as_str()] = json!({});
            }
            at = &mut at[t.as_str()];
        }
        at[last.as_str()] = value;
    }
    RecentCall {
        id: String::new(),
        agent: name(&rule.matcher.agent),
        tool: name(&rule.matcher.tool),
        args: args.to_string(),
        risk: rule.matcher.risk_any.iter().take(1).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{ArgCondition, ArgOp, Match, Rule};
    use serde_json::json;

    #[test]
    fn an_error_names_its_line() {
        let cases = [
            ("TOML parse error at line 3, column 5", Some(3)),
            ("rule 2: line 12 is wrong", Some(12)),
            ("no line here", None),
            ("line 0", None),
            ("", None),
        ];
        for (message, line) in cases {
            assert_eq!(error_line(message), line, "{message}");
        }
    }

    #[test]
    fn a_sample_call_meets_what_the_rule_matches() {
        let cond = |pointer: &str, op, value: Option<serde_json::Value>| ArgCondition {
            pointer: pointer.into(),
            op,
            value,
        };
        let cases = [
            (
                Some("deploy"),
                Some("ci-*"),
                vec![cond("/env", ArgOp::Eq, Some(json!("prod")))],
                "deploy",
                "",
                json!({"env": "prod"}),
            ),
            (
                Some("{deploy,rollback}"),
                None,
                vec![cond("/env", ArgOp::Glob, Some(json!("prod*")))],
                "deploy",
                "",
                json!({"env": "prod"}),
            ),
            (
                Some("read_*"),
                Some("bot"),
                vec![cond("/amount", ArgOp::Gt, Some(json!(1000)))],
                "",
                "bot",
                json!({"amount": 1001.0}),
            ),
            (
                None,
                None,
                vec![
                    cond("/a/b", ArgOp::Exists, None),
                    cond("/x", ArgOp::Regex, Some(json!("^a"))),
                ],
                "",
                "",
                json!({"a": {"b": true}}),
            ),
        ];
        for (tool, agent, args, want_tool, want_agent, want_args) in cases {
            let rule = Rule {
                name: "r".into(),
                enabled: true,
                description: None,
                matcher: Match {
                    tool: tool.map(str::to_string),
                    agent: agent.map(str::to_string),
                    args,
                    ..Match::default()
                },
                add_risk: Vec::new(),
                effect: None,
            };
            let sample = sample_call(&rule);
            assert_eq!(sample.tool, want_tool, "{tool:?}");
            assert_eq!(sample.agent, want_agent, "{agent:?}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&sample.args).unwrap(),
                want_args
            );
        }
    }
}
