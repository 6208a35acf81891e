//! A bypass's scope, checked and compiled with the policy's own matcher: an agent glob, a
//! tool glob and argument conditions, written as policy rules write them.

use super::compile::{compile_condition, CompiledCondition};
use super::glob::Pattern;
use crate::domain::bypass::Scope;
use crate::domain::policy::{ArgCondition, ArgOp};
use serde_json::Value;

/// Most argument conditions in a scope.
pub const MAX_CONDITIONS: usize = 20;
/// Longest glob, in characters.
pub const MAX_GLOB_CHARS: usize = 200;

/// A scope ready to match calls.
#[derive(Debug, Clone)]
pub struct CompiledScope {
    agent: Option<Pattern>,
    tool: Pattern,
    args: Vec<CompiledCondition>,
}

impl CompiledScope {
    /// Checks and compiles `scope`; the error names the part that is wrong.
    pub fn compile(scope: &Scope) -> Result<Self, String> {
        let glob = |what: &str, text: &str| -> Result<Pattern, String> {
            if text.trim().is_empty() {
                return Err(format!("the {what} glob must not be empty"));
            }
            if !crate::domain::signoff::is_plain(text) {
                return Err(format!(
                    "the {what} glob must not contain control or text-direction characters"
                ));
            }
            if text.chars().count() > MAX_GLOB_CHARS {
                return Err(format!(
                    "the {what} glob is longer than {MAX_GLOB_CHARS} characters"
                ));
            }
            Pattern::new(text).map_err(|e| format!("{what}: {e}"))
        };
        if scope.args.len() > MAX_CONDITIONS {
            return Err(format!("at most {MAX_CONDITIONS} argument conditions"));
        }
        for (i, c) in scope.args.iter().enumerate() {
            let plain = crate::domain::signoff::is_plain(&c.pointer)
                && c.value.as_ref().is_none_or(value_plain);
            if !plain {
                return Err(format!(
                    "argument condition {} must not contain control or text-direction characters",
                    i + 1
                ));
            }
        }
        Ok(Self {
            agent: scope
                .agent
                .as_deref()
                .map(|a| glob("agent", a))
                .transpose()?,
            tool: glob("tool", &scope.tool)?,
            args: scope
                .args
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    compile_condition(c)
                        .map_err(|e| format!("argument condition {} (`{}`): {e}", i + 1, c.pointer))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether a call by `agent` to `tool` with `args` is in scope.
    pub fn matches(&self, agent: &str, tool: &str, args: &Value) -> bool {
        self.tool.matches(tool)
            && self.agent.as_ref().is_none_or(|p| p.matches(agent))
            && self
                .args
                .iter()
                .all(|c| c.test.holds(c.pointer.resolve(args)))
    }
}

/// Whether every string in `value` (keys too) is plain text.
fn value_plain(value: &Value) -> bool {
    match value {
        Value::String(s) => crate::domain::signoff::is_plain(s),
        Value::Array(items) => items.iter().all(value_plain),
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| crate::domain::signoff::is_plain(k) && value_plain(v)),
        _ => true,
    }
}

/// Reads a scope as people type it: globs (empty agent: any agent) and one condition per
/// line (`/env glob "staging*"`), or `POINTER=GLOB` as the command line writes it.
pub fn read(agent: &str, tool: &str, conditions: &str) -> Result<Scope, String> {
    let mut args = Vec::new();
    for (i, line) in conditions.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let condition = match line.split_once('=') {
            Some((pointer, glob)) if pointer.starts_with('/') && !pointer.contains(' ') => {
                ArgCondition {
                    pointer: pointer.to_string(),
                    op: ArgOp::Glob,
                    value: Some(Value::String(glob.to_string())),
                }
            }
            _ => super::rule_form::condition(line).map_err(|e| format!("line {}: {e}", i + 1))?,
        };
        args.push(condition);
    }
    let agent = agent.trim();
    let scope = Scope {
        agent: (!agent.is_empty() && agent != "*").then(|| agent.to_string()),
        tool: tool.trim().to_string(),
        args,
    };
    CompiledScope::compile(&scope)?;
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_matches() {
        let scope = read("ci-*", "deploy", "/env=staging*\n/replicas le 3").unwrap();
        let compiled = CompiledScope::compile(&scope).unwrap();
        let cases = [
            (
                "ci-1",
                "deploy",
                json!({ "env": "staging-eu", "replicas": 2 }),
                true,
            ),
            (
                "ci-1",
                "deploy",
                json!({ "env": "production", "replicas": 2 }),
                false,
            ),
            (
                "ci-1",
                "deploy",
                json!({ "env": "staging", "replicas": 4 }),
                false,
            ),
            ("ci-1", "deploy", json!({ "env": "staging" }), false),
            (
                "ops",
                "deploy",
                json!({ "env": "staging", "replicas": 1 }),
                false,
            ),
            (
                "ci-1",
                "deploy_all",
                json!({ "env": "staging", "replicas": 1 }),
                false,
            ),
        ];
        for (agent, tool, args, want) in cases {
            assert_eq!(
                compiled.matches(agent, tool, &args),
                want,
                "{agent} {tool} {args}"
            );
        }
        let any_agent = read("", "send_*", "").unwrap();
        assert_eq!(any_agent.agent, None);
        assert!(CompiledScope::compile(&any_agent).unwrap().matches(
            "anyone",
            "send_email",
            &json!({})
        ));
    }

    #[test]
    fn refuses_what_is_wrong() {
        let cases = [
            ("", "", "", "tool glob must not be empty"),
            ("", "deploy[", "", "tool"),
            ("a{", "deploy", "", "agent"),
            ("", "deploy", "env=x", "line 1"),
            ("", "deploy", "/env regex (", "line 1"),
            ("", "{deploy,*,\rbypass}", "", "control"),
            ("ci\u{202E}", "deploy", "", "text-direction"),
            ("", "deploy", "/env=st\u{1b}[8mx", "condition 1"),
        ];
        for (agent, tool, conditions, want) in cases {
            let err = read(agent, tool, conditions).unwrap_err();
            assert!(
                err.contains(want),
                "{agent:?} {tool:?} {conditions:?}: {err}"
            );
        }
        let long = "x".repeat(MAX_GLOB_CHARS + 1);
        assert!(read("", &long, "").unwrap_err().contains("longer"));
    }
}
