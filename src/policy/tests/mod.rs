//! Table-driven tests of the policy engine as a whole: evaluation, validation, the TOML
//! file format and the default policy. (Each building block tests itself in its module.)

mod compile_errors;
mod default_policy;
mod evaluate;
mod preview;
mod toml_file;

use super::{CallInput, CompiledPolicy, Evaluation, Outcome};
use crate::domain::policy::Policy;
use crate::domain::risk::RiskClass;
use serde_json::{json, Value};

/// A policy from its JSON form (the stored serde shape), with `default_effect` allow
/// unless `rules` is an object holding both keys.
fn policy_json(rules: Value) -> Policy {
    let doc = match rules {
        Value::Array(_) => json!({ "default_effect": { "kind": "allow" }, "rules": rules }),
        other => other,
    };
    serde_json::from_value(doc).expect("test policy has the right shape")
}

fn compiled(rules: Value) -> CompiledPolicy {
    CompiledPolicy::compile(&policy_json(rules)).unwrap_or_else(|e| panic!("{e}"))
}

/// A call to evaluate; tests change the fields they care about.
struct Call {
    agent: &'static str,
    tool: &'static str,
    args: Value,
    risk: Vec<RiskClass>,
    novel: bool,
}

impl Default for Call {
    fn default() -> Self {
        Self {
            agent: "ops-bot",
            tool: "tool",
            args: json!({}),
            risk: vec![],
            novel: false,
        }
    }
}

impl Call {
    fn eval(&self, policy: &CompiledPolicy) -> Evaluation {
        policy.evaluate(&CallInput {
            agent: self.agent,
            tool: self.tool,
            args: &self.args,
            risk: &self.risk,
            novel: self.novel,
        })
    }
}

/// `"allow"`, `"deny"` or `"gate"`.
fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny { .. } => "deny",
        Outcome::Gate { .. } => "gate",
    }
}
