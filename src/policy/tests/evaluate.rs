use super::*;
use crate::domain::policy::GateSettings;
use crate::domain::Role;
use RiskClass::*;

/// Whether a single rule with `matcher` (and a deny effect) matches `call`.
fn matches(matcher: Value, call: &Call) -> bool {
    let p = compiled(json!([
        { "name": "r", "match": matcher, "effect": { "kind": "deny", "message": "m" } }
    ]));
    let e = call.eval(&p);
    assert_eq!(e.rule.is_some(), kind(&e.outcome) == "deny");
    e.rule.is_some()
}

#[test]
fn agent_and_tool_globs() {
    #[rustfmt::skip]
    let cases = [
        // (name, match, agent, tool, expected)
        ("no criteria", json!({}), "a", "t", true),
        ("literal tool", json!({ "tool": "deploy" }), "a", "deploy", true),
        ("literal is whole", json!({ "tool": "deploy" }), "a", "deploy_x", false),
        ("literal is case-sensitive", json!({ "tool": "deploy" }), "a", "Deploy", false),
        ("star", json!({ "tool": "read_*" }), "a", "read_logs", true),
        ("star anchored at start", json!({ "tool": "read_*" }), "a", "xread_logs", false),
        ("leading star", json!({ "tool": "*_logs" }), "a", "read_logs", true),
        ("leading star anchored at end", json!({ "tool": "*_logs" }), "a", "read_logs2", false),
        ("question", json!({ "tool": "get_?" }), "a", "get_x", true),
        ("question is one char", json!({ "tool": "get_?" }), "a", "get_xy", false),
        ("braces", json!({ "tool": "{read,get}_*" }), "a", "get_user", true),
        ("braces miss", json!({ "tool": "{read,get}_*" }), "a", "put_user", false),
        ("class", json!({ "tool": "v[12]" }), "a", "v2", true),
        ("class miss", json!({ "tool": "v[12]" }), "a", "v3", false),
        ("negated class", json!({ "tool": "v[!12]" }), "a", "v3", true),
        ("agent glob", json!({ "agent": "ops-*" }), "ops-bot", "t", true),
        ("agent glob miss", json!({ "agent": "ops-*" }), "dev-bot", "t", false),
        ("agent literal", json!({ "agent": "ops-bot" }), "ops-bot", "t", true),
        ("agent and tool both hold", json!({ "agent": "ops-*", "tool": "t" }), "ops-1", "t", true),
        ("agent holds, tool not", json!({ "agent": "ops-*", "tool": "t" }), "ops-1", "u", false),
        ("tool holds, agent not", json!({ "agent": "ops-*", "tool": "t" }), "dev-1", "t", false),
    ];
    for (name, matcher, agent, tool, expected) in cases {
        let call = Call {
            agent,
            tool,
            ..Call::default()
        };
        assert_eq!(matches(matcher, &call), expected, "{name}");
    }
}

#[test]
fn argument_conditions() {
    #[rustfmt::skip]
    let cases = [
        // (name, condition, args, expected)
        ("eq string", json!({ "pointer": "/env", "op": "eq", "value": "prod" }), json!({ "env": "prod" }), true),
        ("eq other string", json!({ "pointer": "/env", "op": "eq", "value": "prod" }), json!({ "env": "dev" }), false),
        ("eq missing", json!({ "pointer": "/env", "op": "eq", "value": "prod" }), json!({}), false),
        ("eq type mismatch", json!({ "pointer": "/n", "op": "eq", "value": 3 }), json!({ "n": "3" }), false),
        ("eq number", json!({ "pointer": "/n", "op": "eq", "value": 3 }), json!({ "n": 3 }), true),
        ("eq number written as float", json!({ "pointer": "/n", "op": "eq", "value": 3 }), json!({ "n": 3.0 }), true),
        ("eq bool", json!({ "pointer": "/force", "op": "eq", "value": true }), json!({ "force": true }), true),
        ("eq array", json!({ "pointer": "/l", "op": "eq", "value": [1, "a"] }), json!({ "l": [1, "a"] }), true),
        ("eq array order matters", json!({ "pointer": "/l", "op": "eq", "value": [1, "a"] }), json!({ "l": ["a", 1] }), false),
        ("eq object", json!({ "pointer": "/o", "op": "eq", "value": { "a": 1, "b": [2.0] } }), json!({ "o": { "b": [2], "a": 1 } }), true),
        ("eq array holding null", json!({ "pointer": "/l", "op": "eq", "value": [null] }), json!({ "l": [null] }), true),
        ("eq object extra key", json!({ "pointer": "/o", "op": "eq", "value": { "a": 1 } }), json!({ "o": { "a": 1, "b": 2 } }), false),
        ("eq nested pointer", json!({ "pointer": "/a/0/b", "op": "eq", "value": true }), json!({ "a": [{ "b": true }] }), true),
        ("eq whole document", json!({ "pointer": "", "op": "eq", "value": { "k": 1 } }), json!({ "k": 1 }), true),
        ("ne different", json!({ "pointer": "/env", "op": "ne", "value": "prod" }), json!({ "env": "dev" }), true),
        ("ne equal", json!({ "pointer": "/env", "op": "ne", "value": "prod" }), json!({ "env": "prod" }), false),
        ("ne missing", json!({ "pointer": "/env", "op": "ne", "value": "prod" }), json!({}), true),
        ("ne type mismatch", json!({ "pointer": "/n", "op": "ne", "value": 1 }), json!({ "n": "1" }), true),
        ("ne number written as float", json!({ "pointer": "/n", "op": "ne", "value": 1 }), json!({ "n": 1.0 }), false),
        ("glob", json!({ "pointer": "/env", "op": "glob", "value": "prod*" }), json!({ "env": "production" }), true),
        ("glob anchored", json!({ "pointer": "/env", "op": "glob", "value": "prod*" }), json!({ "env": "preprod" }), false),
        ("glob braces", json!({ "pointer": "/env", "op": "glob", "value": "{prod,live}-*" }), json!({ "env": "live-eu" }), true),
        ("glob on number", json!({ "pointer": "/env", "op": "glob", "value": "*" }), json!({ "env": 5 }), false),
        ("glob on missing", json!({ "pointer": "/env", "op": "glob", "value": "*" }), json!({}), false),
        ("regex", json!({ "pointer": "/to", "op": "regex", "value": "@example\\.com$" }), json!({ "to": "a@example.com" }), true),
        ("regex miss", json!({ "pointer": "/to", "op": "regex", "value": "@example\\.com$" }), json!({ "to": "a@evil.com" }), false),
        ("regex unanchored", json!({ "pointer": "/q", "op": "regex", "value": "drop\\s+table" }), json!({ "q": "x; DROP TABLE; drop  table y" }), true),
        ("regex on array", json!({ "pointer": "/q", "op": "regex", "value": ".*" }), json!({ "q": ["a"] }), false),
        ("regex on missing", json!({ "pointer": "/q", "op": "regex", "value": ".*" }), json!({}), false),
        ("gt above", json!({ "pointer": "/amount", "op": "gt", "value": 100 }), json!({ "amount": 100.5 }), true),
        ("gt equal", json!({ "pointer": "/amount", "op": "gt", "value": 100 }), json!({ "amount": 100 }), false),
        ("ge equal", json!({ "pointer": "/amount", "op": "ge", "value": 100 }), json!({ "amount": 100 }), true),
        ("ge below", json!({ "pointer": "/amount", "op": "ge", "value": 100 }), json!({ "amount": 99.99 }), false),
        ("lt negative", json!({ "pointer": "/amount", "op": "lt", "value": 0 }), json!({ "amount": -1 }), true),
        ("lt equal", json!({ "pointer": "/amount", "op": "lt", "value": 0 }), json!({ "amount": 0 }), false),
        ("le equal", json!({ "pointer": "/amount", "op": "le", "value": 0.5 }), json!({ "amount": 0.5 }), true),
        ("le huge integer", json!({ "pointer": "/amount", "op": "le", "value": 1 }), json!({ "amount": u64::MAX }), false),
        ("number op on numeric string", json!({ "pointer": "/amount", "op": "le", "value": 0 }), json!({ "amount": "0" }), false),
        ("number op on bool", json!({ "pointer": "/amount", "op": "gt", "value": 0 }), json!({ "amount": true }), false),
        ("number op on missing", json!({ "pointer": "/amount", "op": "lt", "value": 10 }), json!({}), false),
        ("exists", json!({ "pointer": "/force", "op": "exists" }), json!({ "force": false }), true),
        ("exists null", json!({ "pointer": "/force", "op": "exists" }), json!({ "force": null }), true),
        ("exists missing", json!({ "pointer": "/force", "op": "exists" }), json!({}), false),
        ("exists through a string", json!({ "pointer": "/s/x", "op": "exists" }), json!({ "s": "x" }), false),
        ("not_exists missing", json!({ "pointer": "/force", "op": "not_exists" }), json!({}), true),
        ("not_exists present", json!({ "pointer": "/force", "op": "not_exists" }), json!({ "force": 1 }), false),
        ("args not an object", json!({ "pointer": "/env", "op": "exists" }), json!("prod"), false),
        ("escaped pointer", json!({ "pointer": "/a~1b", "op": "eq", "value": 1 }), json!({ "a/b": 1 }), true),
        ("array index", json!({ "pointer": "/hosts/1", "op": "glob", "value": "db*" }), json!({ "hosts": ["web", "db1"] }), true),
    ];
    for (name, condition, args, expected) in cases {
        let call = Call {
            args,
            ..Call::default()
        };
        assert_eq!(
            matches(json!({ "args": [condition] }), &call),
            expected,
            "{name}"
        );
    }
}

#[test]
fn every_argument_condition_must_hold() {
    let matcher = json!({ "args": [
        { "pointer": "/env", "op": "eq", "value": "prod" },
        { "pointer": "/replicas", "op": "gt", "value": 10 },
    ] });
    let cases = [
        ("both", json!({ "env": "prod", "replicas": 11 }), true),
        ("first only", json!({ "env": "prod", "replicas": 2 }), false),
        (
            "second only",
            json!({ "env": "dev", "replicas": 11 }),
            false,
        ),
        ("neither", json!({}), false),
    ];
    for (name, args, expected) in cases {
        let call = Call {
            args,
            ..Call::default()
        };
        assert_eq!(matches(matcher.clone(), &call), expected, "{name}");
    }
}

#[test]
fn risk_criteria() {
    #[rustfmt::skip]
    let cases = [
        // (name, match, claimed, expected)
        ("risk_any hit", json!({ "risk_any": ["production", "financial"] }), vec![Financial], true),
        ("risk_any miss", json!({ "risk_any": ["production", "financial"] }), vec![Destructive], false),
        ("risk_any on no risk", json!({ "risk_any": ["production"] }), vec![], false),
        ("risk_any among several", json!({ "risk_any": ["production"] }), vec![Destructive, Production], true),
        ("risk_none on no risk", json!({ "risk_none": true }), vec![], true),
        ("risk_none on some risk", json!({ "risk_none": true }), vec![ExternalComms], false),
        ("risk_none false is no criterion", json!({ "risk_none": false }), vec![ExternalComms], true),
        ("empty risk_any is no criterion", json!({ "risk_any": [] }), vec![], true),
    ];
    for (name, matcher, risk, expected) in cases {
        let call = Call {
            risk,
            ..Call::default()
        };
        assert_eq!(matches(matcher, &call), expected, "{name}");
    }
}

#[test]
fn novelty_criterion() {
    let cases = [
        // (name, novel criterion, call is novel, expected)
        ("novel rule, novel call", Some(true), true, true),
        ("novel rule, known call", Some(true), false, false),
        ("not-novel rule, known call", Some(false), false, true),
        ("not-novel rule, novel call", Some(false), true, false),
        ("no criterion, novel call", None, true, true),
        ("no criterion, known call", None, false, true),
    ];
    for (name, novel, call_novel, expected) in cases {
        let matcher = match novel {
            Some(n) => json!({ "novel": n }),
            None => json!({}),
        };
        let call = Call {
            novel: call_novel,
            ..Call::default()
        };
        assert_eq!(matches(matcher, &call), expected, "{name}");
    }
}

/// A policy exercising order, tagging, disabled rules, and both kinds of tool index.
fn ordered_policy() -> CompiledPolicy {
    compiled(json!([
        { "name": "off", "enabled": false, "match": {}, "effect": { "kind": "deny", "message": "never" } },
        { "name": "tag-deploy", "match": { "tool": "deploy*" }, "add_risk": ["production"] },
        { "name": "tag-prod-arg", "match": { "args": [{ "pointer": "/env", "op": "eq", "value": "prod" }] }, "add_risk": ["production", "irreversible"] },
        { "name": "quiet-reads", "match": { "tool": "read_*", "risk_none": true }, "effect": { "kind": "allow" } },
        { "name": "literal-first", "match": { "tool": "scale", "agent": "ops-*" }, "effect": { "kind": "allow" } },
        { "name": "prod", "match": { "risk_any": ["production", "financial"] }, "effect": { "kind": "gate" } },
        { "name": "scale-deny", "match": { "tool": "scale" }, "effect": { "kind": "deny", "message": "no scaling" } },
        { "name": "new", "match": { "novel": true }, "effect": { "kind": "gate" } },
        { "name": "known-paint", "match": { "novel": false, "tool": "paint" }, "effect": { "kind": "deny", "message": "no painting" } },
        { "name": "unreachable", "match": { "tool": "read_x" }, "effect": { "kind": "deny", "message": "x" } }
    ]))
}

/// (name, call, deciding rule, outcome, risk)
type Case = (
    &'static str,
    Call,
    Option<&'static str>,
    &'static str,
    Vec<RiskClass>,
);

#[test]
fn rules_apply_in_order() {
    let p = ordered_policy();
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // (name, call, deciding rule, outcome, risk)
        ("disabled rule is skipped", Call { tool: "paint", novel: true, ..Call::default() }, Some("new"), "gate", vec![]),
        ("routine read", Call { tool: "read_file", ..Call::default() }, Some("quiet-reads"), "allow", vec![]),
        ("first match wins over a later literal rule", Call { tool: "read_x", ..Call::default() }, Some("quiet-reads"), "allow", vec![]),
        ("claimed risk skips the quiet read", Call { tool: "read_file", risk: vec![Financial], ..Call::default() }, Some("prod"), "gate", vec![Financial]),
        ("tag rule escalates a later rule", Call { tool: "deploy_api", ..Call::default() }, Some("prod"), "gate", vec![Production]),
        ("tags add to the claim", Call { tool: "deploy_api", risk: vec![Destructive], ..Call::default() }, Some("prod"), "gate", vec![Destructive, Production]),
        ("two tag rules", Call { tool: "deploy_api", args: json!({ "env": "prod" }), ..Call::default() }, Some("prod"), "gate", vec![Irreversible, Production]),
        ("argument tag stops a quiet read", Call { tool: "read_file", args: json!({ "env": "prod" }), ..Call::default() }, Some("prod"), "gate", vec![Irreversible, Production]),
        ("claimed duplicates collapse", Call { tool: "x", risk: vec![Financial, Financial, Destructive], ..Call::default() }, Some("prod"), "gate", vec![Destructive, Financial]),
        ("literal rule before a pattern rule", Call { tool: "scale", ..Call::default() }, Some("literal-first"), "allow", vec![]),
        ("pattern rule before a literal rule", Call { tool: "scale", agent: "dev-bot", risk: vec![Production], ..Call::default() }, Some("prod"), "gate", vec![Production]),
        ("literal rule after its agent misses", Call { tool: "scale", agent: "dev-bot", ..Call::default() }, Some("scale-deny"), "deny", vec![]),
        ("novel call", Call { tool: "paint", novel: true, ..Call::default() }, Some("new"), "gate", vec![]),
        ("known call", Call { tool: "paint", ..Call::default() }, Some("known-paint"), "deny", vec![]),
        ("nothing decides", Call { tool: "resize", ..Call::default() }, None, "allow", vec![]),
    ];
    for (name, call, rule, outcome, risk) in cases {
        let e = call.eval(&p);
        assert_eq!(
            (e.rule.as_deref(), kind(&e.outcome), e.risk),
            (rule, outcome, risk),
            "{name}"
        );
    }
    assert!(p.uses_novelty());
}

#[test]
fn default_effect_decides_when_no_rule_does() {
    let tag = json!({ "name": "tag", "match": { "tool": "pay" }, "add_risk": ["financial"] });
    let cases = [
        (json!({ "kind": "allow" }), Outcome::Allow),
        (
            json!({ "kind": "deny", "message": "not covered" }),
            Outcome::Deny {
                message: "not covered".into(),
            },
        ),
        (
            json!({ "kind": "gate", "approvals_required": 3 }),
            Outcome::Gate {
                settings: GateSettings {
                    approvals_required: 3,
                    ..GateSettings::default()
                },
                confirm: None,
            },
        ),
    ];
    for (default_effect, expected) in cases {
        let p = compiled(json!({ "default_effect": default_effect, "rules": [tag.clone()] }));
        let e = Call {
            tool: "pay",
            ..Call::default()
        }
        .eval(&p);
        assert_eq!(e.outcome, expected, "{default_effect}");
        assert_eq!(e.rule, None);
        assert_eq!(e.risk, vec![Financial], "tag rules still add risk");
    }
}

#[test]
fn gate_outcomes_carry_settings_and_the_rendered_confirmation() {
    let cases = [
        // (phrase, args, rendered)
        (
            "deploy {/env}",
            json!({ "env": "production" }),
            "deploy production",
        ),
        (
            "deploy {/service} to {/env}",
            json!({ "service": "api", "env": "eu" }),
            "deploy api to eu",
        ),
        (
            "scale to {/n} ({/force})",
            json!({ "n": 3, "force": true }),
            "scale to 3 (true)",
        ),
        (
            "hosts {/hosts}",
            json!({ "hosts": ["a", "b"] }),
            "hosts [\"a\",\"b\"]",
        ),
        ("deploy {/env}", json!({}), "deploy "),
    ];
    for (phrase, args, rendered) in cases {
        let p = compiled(json!([{ "name": "g", "effect": {
            "kind": "gate", "approvals_required": 2, "approver_role": "manager",
            "deadline_secs": 60, "approval_ttl_secs": 30, "confirm": phrase } }]));
        let e = Call {
            args,
            ..Call::default()
        }
        .eval(&p);
        let expected = Outcome::Gate {
            settings: GateSettings {
                approvals_required: 2,
                approver_role: Role::Manager,
                deadline_secs: 60,
                approval_ttl_secs: 30,
                confirm: Some(phrase.into()),
                ..GateSettings::default()
            },
            confirm: Some(rendered.into()),
        };
        assert_eq!(e.outcome, expected, "{phrase}");
    }
}

#[test]
fn novelty_is_reported_only_when_it_mattered() {
    let p = compiled(json!([
        { "name": "reads", "match": { "tool": "read_*" }, "effect": { "kind": "allow" } },
        { "name": "new-deploys", "match": { "tool": "deploy", "novel": true }, "effect": { "kind": "gate" } },
        { "name": "new", "match": { "novel": true, "agent": "ops-*" }, "effect": { "kind": "gate" } }
    ]));
    #[rustfmt::skip]
    let cases = [
        // (name, agent, tool, consulted)
        ("decided before any novelty rule", "ops-bot", "read_x", false),
        ("novelty rule reached", "ops-bot", "paint", true),
        ("novelty rule's other criteria fail", "dev-bot", "paint", false),
        ("literal-tool novelty rule reached", "dev-bot", "deploy", true),
    ];
    for (name, agent, tool, consulted) in cases {
        let call = Call {
            agent,
            tool,
            ..Call::default()
        };
        assert_eq!(call.eval(&p).consulted_novelty, consulted, "{name}");
    }
    assert!(p.uses_novelty());
    let disabled = compiled(json!([
        { "name": "new", "enabled": false, "match": { "novel": true }, "effect": { "kind": "gate" } }
    ]));
    assert!(!disabled.uses_novelty(), "disabled rules do not count");
}

#[test]
fn keeps_the_source_policy() {
    let source = policy_json(json!([
        { "name": "off", "enabled": false, "effect": { "kind": "allow" } }
    ]));
    let p = CompiledPolicy::compile(&source).unwrap();
    assert_eq!(p.policy(), &source);
}

/// Not a benchmark (that is `benches/policy.rs`, in release): a smoke check that a
/// thousand rules evaluate quickly even unoptimised.
#[test]
fn a_thousand_rules_stay_fast() {
    let rules: Vec<Value> = (0..1000)
        .map(|i| match i % 4 {
            0 => json!({ "name": format!("r{i}"), "match": { "tool": format!("tool_{i}") }, "effect": { "kind": "gate" } }),
            1 => json!({ "name": format!("r{i}"), "match": { "tool": format!("ns{i}_*"), "agent": "bot-*" }, "effect": { "kind": "allow" } }),
            2 => json!({ "name": format!("r{i}"), "match": { "tool": format!("t{i}"), "args": [{ "pointer": "/env", "op": "eq", "value": "production" }] }, "effect": { "kind": "deny", "message": "no" } }),
            _ => json!({ "name": format!("r{i}"), "match": { "risk_any": ["financial"], "args": [{ "pointer": "/amount", "op": "gt", "value": i }] }, "effect": { "kind": "gate" } }),
        })
        .collect();
    let p = compiled(Value::Array(rules));
    let call = Call {
        agent: "bot-1",
        tool: "unmatched",
        args: json!({ "env": "production", "amount": 1 }),
        risk: vec![Production],
        ..Call::default()
    };
    let runs = 2000;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(call.eval(&p));
    }
    let per_call = start.elapsed() / runs;
    // Generous for debug builds on a busy machine; release is far below 10 µs.
    assert!(
        per_call < std::time::Duration::from_millis(1),
        "{per_call:?}"
    );
}
