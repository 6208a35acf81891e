//! The policy a fresh install starts with (`default.toml`, documented in place).

use super::toml_io;
use crate::domain::policy::Policy;

/// The embedded default policy file.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The default policy. The file is tested to parse and compile, so this cannot fail.
pub fn default_policy() -> Policy {
    toml_io::from_toml(DEFAULT_TOML).expect("the embedded default policy parses (see its test)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Effect;
    use crate::domain::risk::RiskClass::{self, *};
    use crate::policy::{CallInput, CompiledPolicy, Outcome};
    use serde_json::json;

    #[test]
    #[allow(clippy::type_complexity)]
    fn default_policy_decides_as_documented() {
        let (_, policy) = toml_io::import(DEFAULT_TOML).unwrap();
        let cases: Vec<(
            &str,
            serde_json::Value,
            Vec<RiskClass>,
            bool,
            &str,
            Vec<RiskClass>,
        )> = vec![
            ("read_logs", json!({}), vec![], true, "allow", vec![]),
            (
                "read_logs",
                json!({}),
                vec![Destructive],
                false,
                "gate",
                vec![Destructive],
            ),
            (
                "deploy",
                json!({ "env": "production" }),
                vec![],
                false,
                "gate",
                vec![Production],
            ),
            (
                "deploy",
                json!({ "environment": "prod-eu" }),
                vec![],
                false,
                "gate",
                vec![Production],
            ),
            (
                "send_email",
                json!({ "to": "a@b.c" }),
                vec![],
                false,
                "gate",
                vec![ExternalComms],
            ),
            (
                "post_tweet",
                json!({}),
                vec![CustomerFacing],
                false,
                "gate",
                vec![CustomerFacing, ExternalComms],
            ),
            (
                "export_credentials",
                json!({}),
                vec![],
                false,
                "deny",
                vec![],
            ),
            ("resize_image", json!({}), vec![], true, "gate", vec![]),
            ("resize_image", json!({}), vec![], false, "allow", vec![]),
            (
                "list_users",
                json!({ "env": "production" }),
                vec![],
                false,
                "gate",
                vec![Production],
            ),
        ];
        for (tool, args, risk, novel, expected, expected_risk) in cases {
            let got = policy.evaluate(&CallInput {
                agent: "bot",
                tool,
                args: &args,
                risk: &risk,
                novel,
            });
            let kind = match got.outcome {
                Outcome::Allow => "allow",
                Outcome::Deny { .. } => "deny",
                Outcome::Gate { .. } => "gate",
            };
            assert_eq!(
                (kind, got.risk),
                (expected, expected_risk),
                "{tool} {args} {risk:?} novel={novel}"
            );
        }
        assert!(policy.uses_novelty());
        // Routine reads are decided before the novelty rule: no novelty lookup needed.
        let read = policy.evaluate(&CallInput {
            agent: "a",
            tool: "read_x",
            args: &json!({}),
            risk: &[],
            novel: false,
        });
        assert!(!read.consulted_novelty);
        let other = policy.evaluate(&CallInput {
            agent: "a",
            tool: "paint",
            args: &json!({}),
            risk: &[],
            novel: false,
        });
        assert!(other.consulted_novelty);
        assert_eq!(default_policy().default_effect, Effect::Allow);
        let _ = CompiledPolicy::compile(&default_policy()).unwrap();
    }
}
