//! Call patterns: a tool plus the argument values the policy decides on (`deploy
//! env=production`), the unit the insights count and the suggestions act on, and the rules a
//! suggestion prepares for exactly one pattern.

use super::pointer::Pointer;
use super::tool_name::ToolPattern;
use crate::domain::inbox::{truncate, visible};
use crate::domain::policy::{ArgCondition, ArgOp, Effect, Match, Policy, Rule};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest argument value written into a pattern's text.
const MAX_VALUE_CHARS: usize = 40;

/// A call pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPattern {
    /// `tool key=value …`, as people read it.
    pub text: String,
    /// The deciding arguments: JSON pointer → value.
    pub args: BTreeMap<String, Value>,
}

struct FinderRule {
    name: String,
    tool: Option<ToolPattern>,
    /// Tags risk: its arguments matter to every rule after it.
    tags: bool,
    pointers: Vec<(String, Pointer)>,
}

/// Finds the pattern of a call under one policy.
pub struct PatternFinder {
    rules: Vec<FinderRule>,
}

impl PatternFinder {
    /// Prepares the enabled rules of `policy` that look at arguments.
    pub fn new(policy: &Policy) -> Self {
        let rules = policy
            .rules
            .iter()
            .filter(|r| r.enabled && !r.matcher.args.is_empty())
            .map(|r| FinderRule {
                name: r.name.clone(),
                tool: r
                    .matcher
                    .tool
                    .as_deref()
                    .and_then(|t| ToolPattern::new(t).ok()),
                tags: !r.add_risk.is_empty(),
                pointers: r
                    .matcher
                    .args
                    .iter()
                    .filter_map(|c| {
                        Pointer::parse(&c.pointer)
                            .ok()
                            .map(|p| (c.pointer.clone(), p))
                    })
                    .collect(),
            })
            .collect();
        Self { rules }
    }

    /// The JSON pointers the rule that decided a call of `tool` (`None`: the default
    /// effect) and every risk-tagging rule for that tool read: the deciding rule's first,
    /// each once. What a person should see first of its arguments.
    pub fn pointers(&self, tool: &str, rule: Option<&str>) -> Vec<String> {
        let applies = |r: &&FinderRule| r.tool.as_ref().is_none_or(|t| t.matches(tool));
        let deciding = self
            .rules
            .iter()
            .filter(|r| rule == Some(r.name.as_str()))
            .filter(applies);
        let tagging = self
            .rules
            .iter()
            .filter(|r| r.tags && rule != Some(r.name.as_str()))
            .filter(applies);
        let mut out: Vec<String> = Vec::new();
        for r in deciding.chain(tagging) {
            for (text, _) in &r.pointers {
                if !out.contains(text) {
                    out.push(text.clone());
                }
            }
        }
        out
    }

    /// The pattern of a call of `tool` with `args` that `rule` decided (none: the default
    /// effect): the values, where present, of the arguments that rule and every
    /// risk-tagging rule for this tool look at.
    pub fn pattern(&self, tool: &str, args: &Value, rule: Option<&str>) -> CallPattern {
        let mut found = BTreeMap::new();
        for r in &self.rules {
            let relevant = r.tags || rule == Some(r.name.as_str());
            if !relevant || r.tool.as_ref().is_some_and(|t| !t.matches(tool)) {
                continue;
            }
            for (text, pointer) in &r.pointers {
                if let Some(value) = pointer.resolve(args) {
                    found.insert(text.clone(), value.clone());
                }
            }
        }
        let mut text = shown(tool);
        let mut shortened = false;
        for (pointer, value) in &found {
            let value = match value {
                Value::String(s) => shown(s),
                other => shown(&other.to_string()),
            };
            let cut = truncate(&value, MAX_VALUE_CHARS);
            shortened |= cut != value;
            let key = pointer.trim_start_matches('/');
            text += &format!(" {}={cut}", shown(key));
        }
        if shortened {
            // Values cut short must not make different calls one pattern: the rule a
            // suggestion writes is for exactly the values counted.
            let full = serde_json::to_value(&found).unwrap_or(Value::Null);
            text += &format!(" #{}", &crate::store::json::hash(&full)[..12]);
        }
        CallPattern { text, args: found }
    }
}

/// Agent text as a pattern shows it: invisible characters and line breaks written out
/// (`⟨U+000A⟩`), so a pattern is always one visible line.
fn shown(text: &str) -> String {
    visible(text)
        .chars()
        .map(|c| {
            if c.is_control() {
                format!("⟨U+{:04X}⟩", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `tool` as a glob that matches exactly it.
pub fn exact_glob(tool: &str) -> String {
    let mut out = String::with_capacity(tool.len());
    for c in tool.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A rule matching exactly one pattern: the tool, and each deciding argument equal to its
/// value.
pub fn rule_for(
    name: String,
    description: String,
    tool: &str,
    args: &BTreeMap<String, Value>,
    effect: Effect,
) -> Rule {
    Rule {
        name,
        enabled: true,
        description: Some(description),
        matcher: Match {
            tool: Some(exact_glob(tool)),
            args: args
                .iter()
                .map(|(pointer, value)| ArgCondition {
                    pointer: pointer.clone(),
                    op: ArgOp::Eq,
                    value: Some(value.clone()),
                })
                .collect(),
            ..Match::default()
        },
        add_risk: Vec::new(),
        effect: Some(effect),
    }
}

/// `policy` with `rule` placed just before the rule named `before` (at the end when that is
/// the default effect or no longer exists), under a name no other rule has.
pub fn insert_before(policy: &Policy, before: Option<&str>, mut rule: Rule) -> Policy {
    let mut out = policy.clone();
    let base = rule.name.clone();
    let mut n = 2;
    while out.rules.iter().any(|r| r.name == rule.name) {
        rule.name = format!("{base}-{n}");
        n += 1;
    }
    let at = before
        .and_then(|b| out.rules.iter().position(|r| r.name == b))
        .unwrap_or(out.rules.len());
    out.rules.insert(at, rule);
    out
}

/// A rule name made from a pattern: lower-case letters, digits and dashes.
pub fn rule_name(prefix: &str, pattern: &str) -> String {
    let mut name = String::from(prefix);
    let mut dash = true;
    for c in pattern.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
            dash = false;
        } else if !dash {
            name.push('-');
            dash = true;
        }
        if name.len() >= 60 {
            break;
        }
    }
    name.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::glob::Pattern;
    use crate::policy::{default_policy, CallInput, CompiledPolicy};
    use serde_json::json;

    #[test]
    fn pointers_put_the_deciding_rules_first_then_risk_tagging_ones() {
        let policy = crate::policy::toml_io::from_toml(
            r#"
            default_effect = "allow"
            [[rules]]
            name = "tag-prod"
            add_risk = ["production"]
            match = { args = [{ pointer = "/workspace", op = "glob", value = "prod*" }] }
            [[rules]]
            name = "mail-outside"
            effect = "allow"
            match = { tool = "send_email", args = [{ pointer = "/to", op = "glob", value = "*@*" }] }
            [[rules]]
            name = "other-tool"
            effect = "allow"
            match = { tool = "deploy", args = [{ pointer = "/env", op = "eq", value = "x" }] }
            "#,
        )
        .expect("a valid policy");
        let finder = PatternFinder::new(&policy);
        let cases: [(&str, Option<&str>, &[&str]); 4] = [
            ("send_email", Some("mail-outside"), &["/to", "/workspace"]),
            ("send_email", None, &["/workspace"]),
            ("deploy", Some("other-tool"), &["/env", "/workspace"]),
            ("deploy", Some("mail-outside"), &["/workspace"]),
        ];
        for (tool, rule, want) in cases {
            assert_eq!(finder.pointers(tool, rule), want, "{tool} {rule:?}");
        }
    }

    #[test]
    fn patterns_hold_the_values_policy_decides_on() {
        let finder = PatternFinder::new(&default_policy());
        let cases = [
            (
                "deploy",
                json!({"env": "production", "sha": "abc"}),
                Some("gate-high-stakes"),
                "deploy env=production",
            ),
            (
                "deploy",
                json!({"env": "staging", "sha": "abc"}),
                None,
                "deploy env=staging",
            ),
            ("read_file", json!({"path": "/tmp/x"}), None, "read_file"),
            (
                "migrate",
                json!({"environment": "prod-eu"}),
                None,
                "migrate environment=prod-eu",
            ),
            ("x", json!({"env": 3}), None, "x env=3"),
        ];
        for (tool, args, rule, want) in cases {
            assert_eq!(
                finder.pattern(tool, &args, rule).text,
                want,
                "{tool} {args}"
            );
        }
        let long = finder.pattern("t", &json!({"env": "p".repeat(100)}), None);
        assert!(long.text.chars().count() < 70, "{}", long.text);
        let other = finder.pattern("t", &json!({"env": format!("{}x", "p".repeat(99))}), None);
        assert_ne!(
            long.text, other.text,
            "values cut short keep patterns apart"
        );
        assert!(long.text.contains(" #"), "{}", long.text);
        let lines = finder.pattern("t", &json!({"env": "a\n[[rules]]\t\"x"}), None);
        assert_eq!(lines.text, "t env=a⟨U+000A⟩[[rules]]⟨U+0009⟩\"x");
        let hidden = finder.pattern("t\u{202E}x", &json!({}), None);
        assert_eq!(hidden.text, "t⟨U+202E⟩x");
    }

    #[test]
    fn an_ungate_rule_allows_exactly_its_pattern() {
        let policy = default_policy();
        let finder = PatternFinder::new(&policy);
        let args = json!({"env": "production", "sha": "abc"});
        let eval = |policy: &Policy, args: &Value| {
            CompiledPolicy::compile(policy)
                .unwrap()
                .evaluate(&CallInput {
                    agent: "bot",
                    tool: "deploy",
                    args,
                    risk: &[],
                    novel: false,
                })
        };
        let before = eval(&policy, &args);
        let gate = before.rule.clone();
        assert!(
            gate.is_some(),
            "the default policy gates a production deploy"
        );
        let pattern = finder.pattern("deploy", &args, gate.as_deref());
        let rule = rule_for(
            rule_name("ungate-", &pattern.text),
            "approved 99 %".into(),
            "deploy",
            &pattern.args,
            Effect::Allow,
        );
        assert_eq!(rule.name, "ungate-deploy-env-production");
        let loosened = insert_before(&policy, gate.as_deref(), rule);
        let same = eval(&loosened, &json!({"env": "production", "sha": "def"}));
        assert_eq!(same.rule.as_deref(), Some("ungate-deploy-env-production"));
        assert!(matches!(same.outcome, crate::policy::Outcome::Allow));
        let other = eval(&loosened, &json!({"env": "production-eu"}));
        assert_eq!(other.rule, gate, "another value is still gated");
        // A tool with glob characters matches only itself.
        assert_eq!(exact_glob("a*b{c}"), "a\\*b\\{c\\}");
        let glob = Pattern::new(&exact_glob("a*b")).unwrap();
        assert!(glob.matches("a*b") && !glob.matches("axxb"));
        // Names stay unique.
        let twice = insert_before(
            &loosened,
            None,
            rule_for(
                "ungate-deploy-env-production".into(),
                String::new(),
                "deploy",
                &pattern.args,
                Effect::Allow,
            ),
        );
        assert!(twice
            .rules
            .iter()
            .any(|r| r.name == "ungate-deploy-env-production-2"));
    }
}
