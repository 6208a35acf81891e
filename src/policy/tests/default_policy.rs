use super::*;
use crate::domain::policy::Effect;
use crate::policy::default::DEFAULT_TOML;
use crate::policy::default_policy;
use crate::policy::toml_io::import;
use RiskClass::*;

#[test]
fn parses_and_compiles_in_the_documented_order() {
    let (policy, _) = import(DEFAULT_TOML).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy, default_policy());
    assert_eq!(policy.default_effect, Effect::Allow);
    let names: Vec<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tag-production-env",
            "tag-production-environment",
            "tag-messages",
            "deny-credentials",
            "allow-routine-reads",
            "gate-irreversible",
            "gate-high-stakes",
            "gate-external-communication",
            "gate-novel-actions",
        ]
    );
    for rule in &policy.rules {
        assert!(rule.enabled, "{}", rule.name);
        assert!(rule.description.is_some(), "{} explains itself", rule.name);
        if let Some(Effect::Gate(g)) = &rule.effect {
            assert_eq!((g.deadline_secs, g.approval_ttl_secs), (3600, 600));
            let want = (rule.name == "gate-irreversible").then(|| "{tool}".to_string());
            assert_eq!(
                g.confirm, want,
                "typed confirmation only for irreversible calls"
            );
        }
    }
}

/// (name, call, outcome, deciding rule, risk)
type Case = (
    &'static str,
    Call,
    &'static str,
    Option<&'static str>,
    Vec<RiskClass>,
);

#[test]
fn decides_as_documented() {
    let (_, p) = import(DEFAULT_TOML).unwrap();
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // (name, call, outcome, rule, risk)
        ("routine read", Call { tool: "read_logs", ..Call::default() }, "allow", Some("allow-routine-reads"), vec![]),
        ("routine read, even when novel", Call { tool: "read_logs", novel: true, ..Call::default() }, "allow", Some("allow-routine-reads"), vec![]),
        ("read claiming destructive", Call { tool: "read_logs", risk: vec![Destructive], ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Destructive]),
        ("read against production", Call { tool: "list_users", args: json!({ "env": "production" }), ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Production]),
        ("deploy to production", Call { tool: "deploy", args: json!({ "env": "production" }), ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Production]),
        ("deploy via `environment`", Call { tool: "deploy", args: json!({ "environment": "prod-eu" }), ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Production]),
        ("deploy to staging", Call { tool: "deploy", args: json!({ "env": "staging" }), ..Call::default() }, "allow", None, vec![]),
        ("financial claim", Call { tool: "refund", risk: vec![Financial], ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Financial]),
        ("irreversible claim", Call { tool: "drop_table", risk: vec![Irreversible, Destructive], ..Call::default() }, "gate", Some("gate-irreversible"), vec![Destructive, Irreversible]),
        ("send email", Call { tool: "send_email", args: json!({ "to": "a@b.c" }), ..Call::default() }, "gate", Some("gate-external-communication"), vec![ExternalComms]),
        ("post claiming customer-facing", Call { tool: "post_tweet", risk: vec![CustomerFacing], ..Call::default() }, "gate", Some("gate-external-communication"), vec![CustomerFacing, ExternalComms]),
        ("message to production", Call { tool: "notify_oncall", args: json!({ "env": "prod" }), ..Call::default() }, "gate", Some("gate-high-stakes"), vec![Production, ExternalComms]),
        ("export credentials", Call { tool: "export_credentials", ..Call::default() }, "deny", Some("deny-credentials"), vec![]),
        ("read a secret", Call { tool: "read_secret_key", ..Call::default() }, "deny", Some("deny-credentials"), vec![]),
        ("get credentials", Call { tool: "get_credentials", ..Call::default() }, "deny", Some("deny-credentials"), vec![]),
        ("new tool, new session", Call { tool: "resize_image", novel: true, ..Call::default() }, "gate", Some("gate-novel-actions"), vec![]),
        ("same tool, not novel", Call { tool: "resize_image", ..Call::default() }, "allow", None, vec![]),
    ];
    for (name, call, outcome, rule, risk) in cases {
        let e = call.eval(&p);
        assert_eq!(
            (kind(&e.outcome), e.rule.as_deref(), e.risk),
            (outcome, rule, risk),
            "{name}"
        );
    }
    let irreversible = Call {
        tool: "drop_table",
        risk: vec![Irreversible],
        ..Call::default()
    }
    .eval(&p);
    match irreversible.outcome {
        Outcome::Gate { confirm, .. } => {
            assert_eq!(
                confirm.as_deref(),
                Some("drop table"),
                "the tool's name in words"
            )
        }
        other => panic!("{other:?}"),
    }
    let denied = Call {
        tool: "export_credentials",
        ..Call::default()
    }
    .eval(&p);
    match denied.outcome {
        Outcome::Deny { message } => assert!(message.contains("out of scope"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn looks_novelty_up_only_when_needed() {
    let (_, p) = import(DEFAULT_TOML).unwrap();
    assert!(p.uses_novelty());
    let cases = [
        ("read_logs", false, "decided by the routine-read rule"),
        ("export_credentials", false, "decided by the deny"),
        (
            "send_email",
            false,
            "decided by a gate before the novelty rule",
        ),
        ("resize_image", true, "reaches the novelty rule"),
    ];
    for (tool, consulted, why) in cases {
        let call = Call {
            tool,
            ..Call::default()
        };
        assert_eq!(call.eval(&p).consulted_novelty, consulted, "{tool}: {why}");
    }
}
