//! The policy as a TOML file, for `askfirst policy import` / `export`.
//!
//! ```toml
//! # What happens when no rule decides: "allow", "gate" (default settings), or a table.
//! default_effect = "allow"
//!
//! [[rules]]
//! name = "prod-deploys"                 # unique; shown to agents and people
//! description = "Production deploys need two managers"
//! enabled = true                        # default true
//! add_risk = ["production"]             # risk classes added when the rule matches
//! [rules.match]                         # every given criterion must hold
//! agent = "deploy-*"                    # glob: * ? [abc] {a,b}
//! tool = "{deploy,rollback}"
//! risk_any = ["destructive"]            # the call carries any of these
//! risk_none = false                     # true: the call carries no risk class at all
//! novel = true                          # this tool not yet allowed/executed in the session
//! [[rules.match.args]]                  # JSON pointer conditions, all must hold
//! pointer = "/env"
//! op = "glob"                           # eq ne glob regex lt le gt ge exists not_exists
//! value = "prod*"
//! [rules.effect]                        # or effect = "allow"; omit to only add risk
//! kind = "gate"                         # allow | deny | gate
//! approvals_required = 2                # distinct people; one deny vetoes
//! approver_role = "manager"             # viewer approver manager admin
//! deadline_secs = 3600                  # then the call expires
//! approval_ttl_secs = 600               # then an unused approval goes stale
//! confirm = "deploy {/service}"         # typed confirmation, quoting arguments
//!
//! # A deny:  [rules.effect] kind = "deny"  message = "…"  (the message goes to the agent)
//! ```
//!
//! Errors carry the line: TOML syntax errors where the parser stopped, field errors and
//! validation errors at the rule they concern.

use super::eval::{CompiledPolicy, PolicyError};
use crate::domain::policy::{Effect, Policy, Rule};
use serde::Deserialize;
use std::fmt;

/// A policy file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFileError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyFileError {}

#[derive(Deserialize)]
struct RuleSpans {
    #[serde(default)]
    rules: Vec<toml::Spanned<toml::Table>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// `"allow"` / `"gate"` shorthand → the table form.
fn expand_effect(value: &mut toml::Value) -> Result<(), String> {
    if let toml::Value::String(kind) = value {
        match kind.as_str() {
            "allow" | "gate" => {
                let mut t = toml::Table::new();
                t.insert("kind".into(), toml::Value::String(kind.clone()));
                *value = toml::Value::Table(t);
            }
            "deny" => {
                return Err(
                    "a deny needs a message: use [rules.effect] kind = \"deny\" message = \"…\""
                        .into(),
                )
            }
            other => return Err(format!("unknown effect `{other}` (allow, deny or gate)")),
        }
    }
    Ok(())
}

fn clean(e: impl fmt::Display) -> String {
    e.to_string().trim().replace('\n', " ")
}

/// Parses a policy file (no validation beyond shape; see [`import`]).
pub fn from_toml(text: &str) -> Result<Policy, PolicyFileError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| PolicyFileError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let spans: RuleSpans = toml::from_str(text).map_err(|e| PolicyFileError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let rule_line = |i: usize| spans.rules.get(i).map(|s| line_of(text, s.span().start));

    let mut default = table
        .remove("default_effect")
        .ok_or_else(|| PolicyFileError {
            line: None,
            message: "`default_effect` is missing (e.g. default_effect = \"allow\")".into(),
        })?;
    expand_effect(&mut default).map_err(|message| PolicyFileError {
        line: None,
        message,
    })?;
    let default_effect = Effect::deserialize(default).map_err(|e| PolicyFileError {
        line: None,
        message: format!("default_effect: {}", clean(e)),
    })?;

    let raw_rules = match table.remove("rules") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            return Err(PolicyFileError {
                line: None,
                message: "`rules` must be [[rules]] tables".into(),
            })
        }
    };
    if let Some(unknown) = table.keys().next() {
        return Err(PolicyFileError {
            line: None,
            message: format!("unknown top-level key `{unknown}`"),
        });
    }
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (i, mut raw) in raw_rules.into_iter().enumerate() {
        let at = |message: String| PolicyFileError {
            line: rule_line(i),
            message: format!("rule {}: {message}", i + 1),
        };
        if let toml::Value::Table(t) = &mut raw {
            if let Some(effect) = t.get_mut("effect") {
                expand_effect(effect).map_err(at)?;
            }
        }
        rules.push(Rule::deserialize(raw).map_err(|e| at(clean(e)))?);
    }
    Ok(Policy {
        default_effect,
        rules,
    })
}

/// Parses and validates a policy file.
pub fn import(text: &str) -> Result<(Policy, CompiledPolicy), PolicyFileError> {
    let policy = from_toml(text)?;
    let compiled = CompiledPolicy::compile(&policy).map_err(|e: PolicyError| {
        let line = e.rule.as_ref().and_then(|(i, _)| {
            toml::from_str::<RuleSpans>(text)
                .ok()?
                .rules
                .get(*i)
                .map(|s| line_of(text, s.span().start))
        });
        PolicyFileError {
            line,
            message: e.to_string(),
        }
    })?;
    Ok((policy, compiled))
}

/// Writes a policy as TOML (`import(&to_toml(p))` gives `p` back).
pub fn to_toml(policy: &Policy) -> String {
    let mut out = String::from(
        "# askfirst gate policy: rules in order; the first enabled match with an effect decides.\n",
    );
    #[derive(serde::Serialize)]
    struct Head<'a> {
        default_effect: &'a Effect,
    }
    #[derive(serde::Serialize)]
    struct Rules<'a> {
        rules: &'a [Rule],
    }
    out += &toml::to_string_pretty(&Head {
        default_effect: &policy.default_effect,
    })
    .unwrap_or_default();
    if !policy.rules.is_empty() {
        out.push('\n');
        out += &toml::to_string_pretty(&Rules {
            rules: &policy.rules,
        })
        .unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_default_policy() {
        let policy = crate::policy::default_policy();
        let text = to_toml(&policy);
        let (back, _) = import(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, policy);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("default_effect = \"allow\"\n\n[[rules]\nname = \"x\"\n", Some(3), "expected"),
            ("[[rules]]\nname = \"a\"\neffect = \"allow\"\n", None, "default_effect"),
            (
                "default_effect = \"allow\"\n\n[[rules]]\nname = \"ok\"\neffect = \"allow\"\n\n[[rules]]\nname = \"bad\"\n[rules.match]\ntool = \"x\"\n[[rules.match.args]]\npointer = \"/a\"\nop = \"regex\"\nvalue = \"(\"\n[rules.effect]\nkind = \"allow\"\n",
                Some(7),
                "invalid regex",
            ),
            (
                "default_effect = \"allow\"\n[[rules]]\nname = \"a\"\neffect = \"allow\"\n[[rules]]\nname = \"a\"\neffect = \"allow\"\n",
                Some(5),
                "same name",
            ),
            ("default_effect = \"allow\"\n[[rules]]\nname = \"a\"\neffect = \"maybe\"\n", Some(2), "unknown effect"),
            ("default_effect = \"allow\"\n[[rules]]\nname = \"a\"\nbogus = 1\neffect = \"allow\"\n", Some(2), "bogus"),
            (
                "default_effect = \"allow\"\n[[rules]]\nname = \"a\"\n[rules.effect]\nkind = \"gate\"\napprovals_required = 0\n",
                Some(2),
                "approvals_required",
            ),
        ];
        for (text, line, needle) in cases {
            let err = import(text).unwrap_err();
            assert_eq!(err.line, line, "{err} for\n{text}");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn shorthand_effects() {
        let (p, _) = import("default_effect = \"gate\"\n[[rules]]\nname = \"r\"\n[rules.match]\ntool = \"read_*\"\n[rules.effect]\nkind = \"allow\"\n").unwrap();
        assert!(matches!(p.default_effect, Effect::Gate(_)));
        assert_eq!(p.rules[0].effect, Some(Effect::Allow));
    }
}
