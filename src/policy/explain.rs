//! Why a policy decides a call the way it does: for the admin's dry run, each rule in order
//! with the first criterion that did not hold, the rule that decided, and the risk after
//! tagging. Slower than [`CompiledPolicy::evaluate`] (it builds text), never on the hot path.

use super::compile::{CompiledPolicy, CompiledRule};
use super::eval::CallInput;
use super::risk_set::RiskSet;
use crate::domain::policy::{ArgCondition, Rule};
use crate::domain::policy_change::condition_text;
use crate::domain::policy_console::{RuleStep, StepVerdict};

impl CompiledPolicy {
    /// Each rule of the policy in order, and what happened to `input` at it.
    pub fn explain(&self, input: &CallInput<'_>) -> Vec<RuleStep> {
        let source = self.policy();
        let mut compiled = self.rules.iter();
        let mut risk = RiskSet::of(input.risk);
        let mut decided = false;
        let mut steps = Vec::with_capacity(source.rules.len());
        for rule in &source.rules {
            let verdict = if !rule.enabled {
                StepVerdict::Disabled
            } else {
                // Enabled rules are compiled in policy order.
                let Some(c) = compiled.next() else { break };
                if decided {
                    StepVerdict::NotReached
                } else {
                    match first_miss(rule, c, input, risk) {
                        Some(why) => StepVerdict::Skipped { why },
                        None => {
                            risk = risk.union(c.add_risk);
                            if rule.effect.is_some() {
                                decided = true;
                                StepVerdict::Decided
                            } else {
                                StepVerdict::Tagged
                            }
                        }
                    }
                }
            };
            steps.push(RuleStep {
                rule: rule.name.clone(),
                verdict,
            });
        }
        steps
    }
}

/// The first criterion of `rule` that `input` does not meet, in words.
fn first_miss(
    rule: &Rule,
    c: &CompiledRule,
    input: &CallInput<'_>,
    risk: RiskSet,
) -> Option<String> {
    let m = &rule.matcher;
    if c.tool.as_ref().is_some_and(|p| !p.matches(input.tool)) {
        return Some(format!(
            "tool `{}` does not match `{}`",
            input.tool,
            m.tool.as_deref().unwrap_or_default()
        ));
    }
    if c.risk_none && !risk.is_empty() {
        return Some(format!(
            "it needs no risk, and the call has {}",
            classes(&risk.to_vec())
        ));
    }
    if !c.risk_any.is_empty() && !c.risk_any.intersects(risk) {
        return Some(format!(
            "it needs a risk of {}, and the call has {}",
            classes(&c.risk_any.to_vec()),
            classes(&risk.to_vec())
        ));
    }
    if c.agent.as_ref().is_some_and(|p| !p.matches(input.agent)) {
        return Some(format!(
            "agent `{}` does not match `{}`",
            input.agent,
            m.agent.as_deref().unwrap_or_default()
        ));
    }
    for (condition, source) in c.args.iter().zip(&m.args) {
        let found = condition.pointer.resolve(input.args);
        if !condition.test.holds(found) {
            return Some(miss(source, found));
        }
    }
    if let Some(novel) = c.novel {
        if novel != input.novel {
            return Some(if novel {
                "it needs a tool new in the session".into()
            } else {
                "it needs a tool used before in the session".into()
            });
        }
    }
    None
}

fn miss(condition: &ArgCondition, found: Option<&serde_json::Value>) -> String {
    let found = match found {
        Some(v) => format!("the call has {v}"),
        None => "the call has no such argument".into(),
    };
    format!("needs {}; {found}", condition_text(condition))
}

fn classes(risk: &[crate::domain::risk::RiskClass]) -> String {
    if risk.is_empty() {
        return "none".into();
    }
    risk.iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
