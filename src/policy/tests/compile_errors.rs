use super::*;
use crate::policy::PolicyError;

/// A rule that is valid on its own, with `patch` merged into its top level.
fn rule(patch: Value) -> Value {
    let mut r = json!({ "name": "r", "match": {}, "effect": { "kind": "allow" } });
    for (k, v) in patch.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn arg(condition: Value) -> Value {
    rule(json!({ "match": { "args": [condition] } }))
}

fn gate(settings: Value) -> Value {
    let mut effect = json!({ "kind": "gate" });
    for (k, v) in settings.as_object().unwrap() {
        effect[k] = v.clone();
    }
    rule(json!({ "effect": effect }))
}

#[test]
fn invalid_rules_are_refused_with_their_index_and_name() {
    let long_regex = "a".repeat(1001);
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        // (name, the second rule, text the error must contain)
        ("empty name", rule(json!({ "name": "" })), "name of 1-100"),
        ("blank name", rule(json!({ "name": "  " })), "name of 1-100"),
        ("long name", rule(json!({ "name": "n".repeat(101) })), "name of 1-100"),
        ("duplicate name", rule(json!({ "name": "first" })), "already used by rule 1"),
        ("no effect, no risk", json!({ "name": "r", "match": { "tool": "x" } }), "neither an effect nor `add_risk`"),
        ("contradictory risk", rule(json!({ "match": { "risk_any": ["production"], "risk_none": true } })), "contradict"),
        ("bad tool glob", rule(json!({ "match": { "tool": "{x" } })), "match.tool: invalid glob `{x`"),
        ("bad agent glob", rule(json!({ "match": { "agent": "[x" } })), "match.agent: invalid glob"),
        ("pointer without slash", arg(json!({ "pointer": "env", "op": "exists" })), "not a JSON pointer"),
        ("pointer bad escape", arg(json!({ "pointer": "/a~2", "op": "exists" })), "followed by 0 or 1"),
        ("bad regex", arg(json!({ "pointer": "/e", "op": "regex", "value": "(" })), "invalid regex `(`"),
        ("long regex", arg(json!({ "pointer": "/e", "op": "regex", "value": long_regex })), "longer than 1000"),
        ("regex too big once compiled", arg(json!({ "pointer": "/e", "op": "regex", "value": "(?:a{100}){100}" })), "size limit"),
        ("regex needs a string", arg(json!({ "pointer": "/e", "op": "regex", "value": 1 })), "`regex` needs a string"),
        ("glob needs a string", arg(json!({ "pointer": "/e", "op": "glob", "value": ["a"] })), "`glob` needs a string"),
        ("glob operand invalid", arg(json!({ "pointer": "/e", "op": "glob", "value": "{a" })), "invalid glob"),
        ("glob without value", arg(json!({ "pointer": "/e", "op": "glob" })), "`glob` needs a string"),
        ("number op needs a number", arg(json!({ "pointer": "/e", "op": "gt", "value": "10" })), "`gt` needs a number"),
        ("number op without value", arg(json!({ "pointer": "/e", "op": "le" })), "`le` needs a number"),
        ("eq without value", arg(json!({ "pointer": "/e", "op": "eq" })), "`eq` needs a `value`"),
        ("ne without value", arg(json!({ "pointer": "/e", "op": "ne" })), "`ne` needs a `value`"),
        ("exists with value", arg(json!({ "pointer": "/e", "op": "exists", "value": 1 })), "`exists` takes no `value`"),
        ("not_exists with value", arg(json!({ "pointer": "/e", "op": "not_exists", "value": "x" })), "`not_exists` takes no `value`"),
        ("eq null", arg(json!({ "pointer": "/e", "op": "eq", "value": null })), "but a bare null"),
        ("blank deny message", rule(json!({ "effect": { "kind": "deny", "message": " " } })), "deny needs a `message`"),
        ("no approvals", gate(json!({ "approvals_required": 0 })), "approvals_required is 0"),
        ("too many approvals", gate(json!({ "approvals_required": 21 })), "approvals_required is 21"),
        ("no deadline", gate(json!({ "deadline_secs": 0 })), "deadline_secs is 0"),
        ("deadline over 30 days", gate(json!({ "deadline_secs": 30 * 86400 + 1 })), "deadline_secs is 2592001"),
        ("no ttl", gate(json!({ "approval_ttl_secs": 0 })), "approval_ttl_secs is 0"),
        ("ttl over 7 days", gate(json!({ "approval_ttl_secs": 7 * 86400 + 1 })), "approval_ttl_secs is 604801"),
        ("blank confirm", gate(json!({ "confirm": "  " })), "phrase is blank"),
        ("long confirm", gate(json!({ "confirm": "x".repeat(201) })), "longer than 200"),
        ("confirm placeholder not a pointer", gate(json!({ "confirm": "go {env}" })), "JSON pointer"),
        ("confirm placeholder unclosed", gate(json!({ "confirm": "go {/env" })), "without a closing"),
        ("escalate without a fallback", gate(json!({ "on_deadline": "escalate" })), "needs `escalate_to`"),
        ("fallback without escalate", gate(json!({ "escalate_to": "manager" })), "only used with on_deadline"),
        ("escalate to viewers", gate(json!({ "on_deadline": "escalate", "escalate_to": "viewer" })), "viewers never decide"),
        ("escalate below the rule's role", gate(json!({ "approver_role": "manager", "on_deadline": "escalate", "escalate_to": "approver" })), "never lowers who may decide"),
        ("override without a group", gate(json!({ "on_deadline": "escalate", "escalate_to": "manager", "escalate_overrides_role": true })), "needs escalate_to = \"group:"),
        ("escalate to nobody known", gate(json!({ "on_deadline": "escalate", "escalate_to": "boss" })), "must be approver, manager, admin or group"),
        ("escalate to a missing group", gate(json!({ "on_deadline": "escalate", "escalate_to": "group:ghosts" })), "does not define"),
        ("extension of nothing", gate(json!({ "extend_max_secs": 0 })), "extend_max_secs is 0"),
        ("grant longer than a day", gate(json!({ "grant_max_secs": 86_401 })), "wider is a bypass"),
        ("grant uses without grants", gate(json!({ "grant_max_uses": 3 })), "need `grant_max`"),
        ("grant with no uses", gate(json!({ "grant_max_secs": 60, "grant_max_uses": 0 })), "grant_max_uses is 0"),
        ("grant match not a pointer", gate(json!({ "grant_max_secs": 60, "grant_match": ["service"] })), "grant_match"),
        ("grant with a typed phrase", gate(json!({ "grant_max_secs": 60, "confirm": "go" })), "typed confirmation"),
        ("grant with two approvals", gate(json!({ "grant_max_secs": 60, "approvals_required": 2 })), "2 approvals"),
        ("grant on destructive calls", rule(json!({ "match": { "risk_any": ["irreversible"] }, "effect": { "kind": "gate", "grant_max_secs": 60 } })), "irreversible calls"),
        ("disabled rules are validated too", rule(json!({ "enabled": false, "match": { "tool": "{x" } })), "invalid glob"),
    ];
    for (name, second, needle) in cases {
        let rule_name = second["name"].as_str().unwrap_or_default().to_string();
        let p = policy_json(json!([
            { "name": "first", "match": { "tool": "ok" }, "effect": { "kind": "allow" } },
            second
        ]));
        let err = CompiledPolicy::compile(&p).unwrap_err();
        assert_eq!(err.rule, Some((1, rule_name.clone())), "{name}: {err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("rule 2 {rule_name:?}: ")),
            "{name}: {text}"
        );
        assert!(text.contains(needle), "{name}: {text:?} lacks {needle:?}");
    }
}

#[test]
fn edge_values_are_accepted() {
    #[rustfmt::skip]
    let cases = [
        ("limits", gate(json!({ "approvals_required": 20, "deadline_secs": 30 * 86400, "approval_ttl_secs": 7 * 86400 }))),
        ("minimums", gate(json!({ "approvals_required": 1, "deadline_secs": 1, "approval_ttl_secs": 1 }))),
        ("200-character confirm", gate(json!({ "confirm": "x".repeat(200) }))),
        ("1000-character regex", arg(json!({ "pointer": "/e", "op": "regex", "value": "a".repeat(1000) }))),
        ("whole-document pointer", arg(json!({ "pointer": "", "op": "exists" }))),
        ("tag-only rule", json!({ "name": "r", "add_risk": ["production"] })),
        ("ne null inside", arg(json!({ "pointer": "/e", "op": "ne", "value": { "a": null } }))),
        ("float bound", arg(json!({ "pointer": "/e", "op": "ge", "value": -2.5 }))),
    ];
    for (name, r) in cases {
        let p = policy_json(json!([r]));
        assert!(CompiledPolicy::compile(&p).is_ok(), "{name}");
    }
    assert!(
        CompiledPolicy::compile(&policy_json(json!([]))).is_ok(),
        "no rules"
    );
}

#[test]
fn an_invalid_default_effect_names_no_rule() {
    let cases = [
        (
            json!({ "kind": "deny", "message": "" }),
            "deny needs a `message`",
        ),
        (
            json!({ "kind": "gate", "approvals_required": 0 }),
            "approvals_required",
        ),
        (json!({ "kind": "gate", "confirm": "{x}" }), "JSON pointer"),
    ];
    for (default_effect, needle) in cases {
        let p = policy_json(json!({ "default_effect": default_effect, "rules": [] }));
        let err = CompiledPolicy::compile(&p).unwrap_err();
        assert_eq!(err.rule, None);
        let text = err.to_string();
        assert!(text.starts_with("default_effect: "), "{text}");
        assert!(text.contains(needle), "{text} lacks {needle}");
    }
}

#[test]
fn error_display() {
    let err = PolicyError {
        rule: Some((11, "deploy-prod".into())),
        message: "invalid regex".into(),
    };
    assert_eq!(err.to_string(), "rule 12 \"deploy-prod\": invalid regex");
}

#[test]
fn names_and_descriptions_that_rewrite_a_terminal_are_refused_when_saved() {
    let cases = [
        (
            json!({ "name": "ok\u{1b}[2K" }),
            Some("name must not contain control"),
        ),
        (
            json!({ "name": "a\u{202E}b" }),
            Some("name must not contain control"),
        ),
        (
            json!({ "name": "line\nbreak" }),
            Some("name must not contain control"),
        ),
        (
            json!({ "description": "fine\u{1b}[8m" }),
            Some("description must not contain control"),
        ),
        (json!({ "description": "two\nlines\tand a tab" }), None),
        (json!({ "name": "plain-name" }), None),
    ];
    for (patch, want) in cases {
        let policy: crate::domain::policy::Policy = serde_json::from_value(json!({
            "default_effect": { "kind": "allow" },
            "rules": [rule(patch.clone())]
        }))
        .unwrap();
        match (crate::policy::printable(&policy), want) {
            (Ok(()), None) => {}
            (Err(e), Some(text)) => assert!(e.contains(text), "{patch}: {e}"),
            (got, want) => panic!("{patch}: {got:?}, wanted {want:?}"),
        }
    }
}
