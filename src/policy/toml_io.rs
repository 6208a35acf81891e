//! The policy as a TOML file, for `askfirst policy import` / `export` and for people to
//! write by hand.
//!
//! The file has `default_effect` at the top, then one `[[rules]]` table per rule, in order:
//!
//! - `name` (required, unique), `enabled` (default `true`), `description`, `add_risk`
//!   (risk classes added when the rule matches);
//! - `[rules.match]`: `agent` and `tool` (globs), `risk_any` (list of classes), `risk_none`
//!   (bool), `novel` (bool); omitted criteria match every call;
//! - `[[rules.match.args]]`, any number: `pointer` (JSON pointer), `op` (`eq` `ne` `glob`
//!   `regex` `lt` `le` `gt` `ge` `exists` `not_exists`) and the operand, either `value` (a
//!   TOML value) or `json` (JSON text, for what TOML cannot write, such as a null inside a
//!   list; export uses it for objects too). `exists`/`not_exists` take no operand;
//!   `eq`/`ne` take any value but a bare null;
//! - `[rules.effect]` with `kind = "allow" | "deny" | "gate"`; a deny needs `message`; a
//!   gate takes `approvals_required`, `approver_role`, `deadline_secs`,
//!   `approval_ttl_secs` and `confirm` (all optional). `effect = "allow"` and
//!   `effect = "gate"` are shorthands. No effect: the rule only adds risk.
//!
//! `default_effect` takes the same forms as `effect`. A full example:
//!
#![doc = concat!("```toml\n", include_str!("example.toml"), "```")]
//!
//! Errors carry a line: syntax and type errors where the TOML parser found them (with the
//! column), and validation errors from [`CompiledPolicy::compile`] at the `[[rules]]`
//! header of the rule they concern, e.g. `line 12: rule 3 "deploy-prod": …`.

mod read;
mod write;

use super::compile::CompiledPolicy;
use crate::domain::policy::Policy;
use std::{fmt, ops::Range};

/// A policy file that could not be used: where (1-based, when known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFileError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            (None, _) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyFileError {}

impl PolicyFileError {
    fn at(text: &str, span: Option<Range<usize>>, column: bool, message: String) -> Self {
        let position = span.map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = before.matches('\n').count() + 1;
            (line, before[line_start..].chars().count() + 1)
        });
        Self {
            line: position.map(|p| p.0),
            column: position.filter(|_| column).map(|p| p.1),
            message,
        }
    }
}

/// Parses a policy file. Only the file's shape is checked; [`import`] also validates.
pub fn from_toml(text: &str) -> Result<Policy, PolicyFileError> {
    read::parse(text).map(|parsed| parsed.policy)
}

/// Parses and validates a policy file.
pub fn import(text: &str) -> Result<(Policy, CompiledPolicy), PolicyFileError> {
    let parsed = read::parse(text)?;
    let compiled = CompiledPolicy::compile(&parsed.policy).map_err(|e| {
        let span = match &e.rule {
            Some((i, _)) => parsed.rule_spans.get(*i).cloned(),
            None => Some(parsed.default_span.clone()),
        };
        PolicyFileError::at(text, span, false, e.to_string())
    })?;
    Ok((parsed.policy, compiled))
}

/// Writes a policy as TOML; [`from_toml`] reads it back unchanged.
pub fn to_toml(policy: &Policy) -> String {
    let body = toml::to_string(&write::FileOut::from(policy))
        .unwrap_or_else(|e| format!("# this policy could not be written as TOML: {e}\n"));
    format!(
        "# askfirst gate policy. Rules are read in order: a matching rule adds its risk classes,\n\
         # and the first matching rule with an effect decides; otherwise default_effect does.\n\n{body}"
    )
}
