//! Which effects calls of a tool can meet, without a call: for `tools/list` in the MCP
//! proxy, which marks the tools a person may be asked about. Arguments and novelty are
//! unknown, so a rule that looks at them may or may not match, and both ways are followed;
//! the answer is every effect some call of the tool can meet. Never on the hot path.

use super::compile::{CompiledEffect, CompiledPolicy, CompiledRule};
use super::risk_set::RiskSet;
use crate::domain::risk::RiskClass;

/// Most rules that may or may not match one preview follows both ways; past that, every
/// effect counts as possible.
const MAX_FORKS: usize = 1024;

/// A tool as an agent would call it.
#[derive(Debug, Clone, Copy)]
pub struct PreviewInput<'a> {
    /// The agent's name.
    pub agent: &'a str,
    /// The tool's name.
    pub tool: &'a str,
    /// Risk classes every call of it claims.
    pub risk: &'a [RiskClass],
    /// The names of the arguments the tool takes; conditions on any other top-level
    /// argument are taken as absent. `None`: any argument may be present.
    pub params: Option<&'a [String]>,
}

/// The effects some call of the tool can meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preview {
    pub allow: bool,
    pub gate: bool,
    pub deny: bool,
}

impl CompiledPolicy {
    /// Every effect a call described by `input` can meet, whatever its arguments (within
    /// `params`) and whether or not the tool is new in the session.
    pub fn preview(&self, input: &PreviewInput<'_>) -> Preview {
        let mut out = Preview::default();
        let mut forks = MAX_FORKS;
        self.walk(0, RiskSet::of(input.risk), input, &mut out, &mut forks);
        out
    }

    fn walk(
        &self,
        from: usize,
        mut risk: RiskSet,
        input: &PreviewInput<'_>,
        out: &mut Preview,
        forks: &mut usize,
    ) {
        for (i, rule) in self.rules.iter().enumerate().skip(from) {
            match rule.may_match(input, risk) {
                Some(false) => continue,
                Some(true) => {
                    risk = risk.union(rule.add_risk);
                    if let Some(effect) = &rule.effect {
                        out.add(effect);
                        return;
                    }
                }
                None => {
                    if *forks == 0 {
                        *out = Preview {
                            allow: true,
                            gate: true,
                            deny: true,
                        };
                        return;
                    }
                    *forks -= 1;
                    // The calls this rule matches; the loop goes on with those it does not.
                    match &rule.effect {
                        Some(effect) => out.add(effect),
                        None => self.walk(i + 1, risk.union(rule.add_risk), input, out, forks),
                    }
                }
            }
        }
        out.add(&self.default_effect);
    }
}

impl Preview {
    fn add(&mut self, effect: &CompiledEffect) {
        match effect {
            CompiledEffect::Allow => self.allow = true,
            CompiledEffect::Deny(_) => self.deny = true,
            CompiledEffect::Gate(..) => self.gate = true,
        }
    }
}

impl CompiledRule {
    /// Whether every call described by `input` with this risk matches (`Some(true)`), none
    /// does (`Some(false)`), or it depends on the arguments or novelty (`None`).
    fn may_match(&self, input: &PreviewInput<'_>, risk: RiskSet) -> Option<bool> {
        let fixed = self.tool.as_ref().is_none_or(|p| p.matches(input.tool))
            && self.agent.as_ref().is_none_or(|p| p.matches(input.agent))
            && (!self.risk_none || risk.is_empty())
            && (self.risk_any.is_empty() || self.risk_any.intersects(risk));
        if !fixed {
            return Some(false);
        }
        let mut unknown = self.novel.is_some();
        for c in &self.args {
            let absent = match (input.params, c.pointer.first_key()) {
                (Some(params), Some(key)) => !params.iter().any(|p| p == key),
                _ => false,
            };
            if !absent {
                unknown = true;
            } else if !c.test.holds(None) {
                return Some(false);
            }
        }
        if unknown {
            None
        } else {
            Some(true)
        }
    }
}
