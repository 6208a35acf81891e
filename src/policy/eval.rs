//! Evaluating a compiled policy against one proposed call — the hot path of every agent
//! tool call. Nothing is compiled or parsed here, and the match loop does not allocate:
//! risk is a bit set, pointers are pre-split, and rules whose tool is a literal are only
//! visited for that tool.

use super::compile::{CompiledEffect, CompiledPolicy, CompiledRule, Test};
use super::risk_set::RiskSet;
use crate::domain::policy::GateSettings;
use crate::domain::risk::RiskClass;
use serde_json::Value;

/// A call as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallInput<'a> {
    /// The agent's name.
    pub agent: &'a str,
    /// The tool it wants to call.
    pub tool: &'a str,
    /// The tool's arguments.
    pub args: &'a Value,
    /// Risk classes the agent claims.
    pub risk: &'a [RiskClass],
    /// No allowed or executed call of this tool in this session yet.
    pub novel: bool,
}

/// What policy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Execute now.
    Allow,
    /// Out of scope; `message` goes back to the agent.
    Deny { message: String },
    /// Wait for people. `confirm` is the rule's typed-confirmation phrase with argument
    /// values filled in (see [`super::confirm::Confirm::render`]); `settings.confirm`
    /// keeps the phrase as written.
    Gate {
        settings: GateSettings,
        confirm: Option<String>,
    },
}

/// The decision, the rule that made it (`None`: the default effect) and the call's risk:
/// the sorted union of the claimed classes and those rules added (never less than claimed).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub rule: Option<String>,
    pub risk: Vec<RiskClass>,
    /// Whether a rule with a `novel` criterion was reached with all its other criteria
    /// met. If not, `CallInput::novel` did not matter: callers may evaluate with
    /// `novel: false` first and look novelty up (and evaluate again) only when this is set.
    pub consulted_novelty: bool,
}

impl CompiledPolicy {
    /// Decides a call. Enabled rules are walked in order; a rule matches when every
    /// criterion it gives holds. A matching rule adds its `add_risk` to the call's risk
    /// (seen by later rules), then, if it has an effect, decides. When no rule decides, the
    /// default effect does.
    pub fn evaluate(&self, input: &CallInput<'_>) -> Evaluation {
        let mut risk = RiskSet::of(input.risk);
        let mut consulted_novelty = false;
        let literal = self.by_tool.get(input.tool).map_or(&[][..], Vec::as_slice);
        for i in Merge(literal, &self.any_tool) {
            let rule = &self.rules[i as usize];
            if !rule.matches_ignoring_novelty(input, risk) {
                continue;
            }
            if let Some(novel) = rule.novel {
                consulted_novelty = true;
                if novel != input.novel {
                    continue;
                }
            }
            risk = risk.union(rule.add_risk);
            if let Some(effect) = &rule.effect {
                return Evaluation {
                    outcome: effect.outcome(input.tool, input.args),
                    rule: Some(rule.name.clone()),
                    risk: risk.to_vec(),
                    consulted_novelty,
                };
            }
        }
        Evaluation {
            outcome: self.default_effect.outcome(input.tool, input.args),
            rule: None,
            risk: risk.to_vec(),
            consulted_novelty,
        }
    }
}

/// Two ascending index lists merged into one ascending sequence.
struct Merge<'a>(&'a [u32], &'a [u32]);

impl Iterator for Merge<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let (a, b) = (self.0.first(), self.1.first());
        let take_a = match (a, b) {
            (Some(x), Some(y)) => x < y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let side = if take_a { &mut self.0 } else { &mut self.1 };
        let (&first, rest) = side.split_first()?;
        *side = rest;
        Some(first)
    }
}

impl CompiledRule {
    /// Every criterion but novelty (which may cost the caller a lookup, so it is last).
    #[inline]
    fn matches_ignoring_novelty(&self, input: &CallInput<'_>, risk: RiskSet) -> bool {
        if self.tool.as_ref().is_some_and(|p| !p.matches(input.tool)) {
            return false;
        }
        if self.risk_none && !risk.is_empty() {
            return false;
        }
        if !self.risk_any.is_empty() && !self.risk_any.intersects(risk) {
            return false;
        }
        if self.agent.as_ref().is_some_and(|p| !p.matches(input.agent)) {
            return false;
        }
        self.args
            .iter()
            .all(|c| c.test.holds(c.pointer.resolve(input.args)))
    }
}

impl Test {
    /// Whether the condition holds for the argument found (`None`: the pointer does not
    /// resolve). Type mismatches are `false`, except `ne`, which holds for anything unequal.
    #[inline]
    pub(super) fn holds(&self, found: Option<&Value>) -> bool {
        let number = || found.and_then(Value::as_f64);
        let string = || found.and_then(Value::as_str);
        match self {
            Test::Exists => found.is_some(),
            Test::NotExists => found.is_none(),
            Test::Eq(v) => found.is_some_and(|f| json_eq(f, v)),
            Test::Ne(v) => !found.is_some_and(|f| json_eq(f, v)),
            Test::Glob(p) => string().is_some_and(|s| p.matches(s)),
            Test::Regex(r) => string().is_some_and(|s| r.is_match(s)),
            Test::Lt(n) => number().is_some_and(|f| f < *n),
            Test::Le(n) => number().is_some_and(|f| f <= *n),
            Test::Gt(n) => number().is_some_and(|f| f > *n),
            Test::Ge(n) => number().is_some_and(|f| f >= *n),
        }
    }
}

/// JSON equality where numbers compare by value (`3 == 3.0`), at any depth: an agent
/// cannot slip past `eq`/`ne` by writing a number differently.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

impl CompiledEffect {
    fn outcome(&self, tool: &str, args: &Value) -> Outcome {
        match self {
            CompiledEffect::Allow => Outcome::Allow,
            CompiledEffect::Deny(message) => Outcome::Deny {
                message: message.clone(),
            },
            CompiledEffect::Gate(settings, confirm) => Outcome::Gate {
                settings: settings.clone(),
                confirm: confirm.as_ref().map(|c| c.render(tool, args)),
            },
        }
    }
}
