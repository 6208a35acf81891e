use super::*;
use crate::domain::policy::ArgOp;
use crate::domain::risk::RiskClass;
use crate::domain::Role;
use serde_json::json;

fn gate(approvals: u32, role: Role, confirm: Option<&str>) -> Effect {
    Effect::Gate(GateSettings {
        approvals_required: approvals,
        approver_role: role,
        deadline_secs: 3600,
        approval_ttl_secs: 600,
        confirm: confirm.map(str::to_string),
        ..GateSettings::default()
    })
}

fn rule(name: &str, tool: Option<&str>, effect: Option<Effect>) -> Rule {
    Rule {
        name: name.into(),
        enabled: true,
        description: None,
        matcher: Match {
            tool: tool.map(str::to_string),
            ..Match::default()
        },
        add_risk: vec![],
        effect,
    }
}

/// Tag production deploys, deny wipes, gate production deploys (2 managers, phrase),
/// allow reads, gate everything else; allow by default.
fn base() -> Policy {
    let mut tag = rule("tag-prod", Some("deploy"), None);
    tag.matcher.args = vec![ArgCondition {
        pointer: "/env".into(),
        op: ArgOp::Glob,
        value: Some(json!("prod*")),
    }];
    tag.add_risk = vec![RiskClass::Production];
    let mut prod = rule(
        "deploy-prod",
        Some("deploy"),
        Some(gate(2, Role::Manager, Some("deploy {/env}"))),
    );
    prod.matcher.risk_any = vec![RiskClass::Production];
    Policy {
        default_effect: Effect::Allow,
        rules: vec![
            tag,
            rule(
                "no-wipe",
                Some("wipe"),
                Some(Effect::Deny {
                    message: "no".into(),
                }),
            ),
            prod,
            rule("reads", Some("read_*"), Some(Effect::Allow)),
            rule("gate-rest", None, Some(gate(1, Role::Approver, None))),
        ],
        groups: Default::default(),
    }
}

fn at<'a>(p: &'a mut Policy, name: &str) -> &'a mut Rule {
    p.rules.iter_mut().find(|r| r.name == name).unwrap()
}

fn gate_of<'a>(p: &'a mut Policy, name: &str) -> &'a mut GateSettings {
    match at(p, name).effect.as_mut() {
        Some(Effect::Gate(g)) => g,
        _ => panic!("{name} is not a gate"),
    }
}

fn moved(p: &mut Policy, name: &str, to: usize) {
    let i = p.rules.iter().position(|r| r.name == name).unwrap();
    let r = p.rules.remove(i);
    p.rules.insert(to, r);
}

type Edit = fn(&mut Policy);

#[test]
fn loosening_changes() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "gate → allow",
            |p| at(p, "deploy-prod").effect = Some(Effect::Allow),
            "a looser effect",
        ),
        (
            "deny → gate",
            |p| at(p, "no-wipe").effect = Some(gate(3, Role::Admin, None)),
            "a looser effect",
        ),
        (
            "deny → allow",
            |p| at(p, "no-wipe").effect = Some(Effect::Allow),
            "a looser effect",
        ),
        (
            "fewer approvals",
            |p| gate_of(p, "deploy-prod").approvals_required = 1,
            "fewer approvals (2 → 1)",
        ),
        (
            "a lower role",
            |p| gate_of(p, "deploy-prod").approver_role = Role::Approver,
            "a lower approver role",
        ),
        (
            "a longer deadline",
            |p| gate_of(p, "deploy-prod").deadline_secs = 7200,
            "a longer deadline (1 h → 2 h)",
        ),
        (
            "a longer approval TTL",
            |p| gate_of(p, "deploy-prod").approval_ttl_secs = 900,
            "a longer approval TTL",
        ),
        (
            "longer extensions",
            |p| gate_of(p, "deploy-prod").extend_max_secs = Some(30 * 86_400),
            "longer extensions (1 h → 30 d)",
        ),
        (
            "a shorter do-not-retry",
            |p| gate_of(p, "deploy-prod").no_retry_secs = Some(1),
            "a shorter do-not-retry (1 d → 1 s)",
        ),
        (
            "typed confirmation dropped",
            |p| gate_of(p, "deploy-prod").confirm = None,
            "typed confirmation dropped",
        ),
        (
            "a gate disabled",
            |p| at(p, "deploy-prod").enabled = false,
            "disabled",
        ),
        (
            "a deny disabled",
            |p| at(p, "no-wipe").enabled = false,
            "disabled",
        ),
        (
            "a gate deleted",
            |p| p.rules.retain(|r| r.name != "gate-rest"),
            "fall through",
        ),
        (
            "a risk tagger deleted",
            |p| p.rules.retain(|r| r.name != "tag-prod"),
            "no longer added",
        ),
        (
            "a looser gate moved before a stricter one",
            |p| moved(p, "gate-rest", 0),
            "`gate-rest` now comes before `deploy-prod`",
        ),
        (
            "a deny moved after a gate that can match",
            |p| moved(p, "no-wipe", 4),
            "`gate-rest` now comes before `no-wipe`",
        ),
        (
            "a new allow rule that shadows a gate",
            |p| {
                p.rules
                    .insert(0, rule("ship-it", Some("deploy"), Some(Effect::Allow)))
            },
            "stricter `deploy-prod`",
        ),
        (
            // `deploy-prod` matches `ops.deploy` by its bare name, so the two overlap.
            "a new allow rule for a proxied tool that shadows a bare-name gate",
            |p| {
                p.rules
                    .insert(0, rule("ship-ops", Some("ops.deploy"), Some(Effect::Allow)))
            },
            "stricter `deploy-prod`",
        ),
        (
            "an allow rule widened",
            |p| at(p, "reads").matcher.tool = Some("*".into()),
            "may match calls",
        ),
        (
            "a gate narrowed",
            |p| at(p, "gate-rest").matcher.agent = Some("ops-*".into()),
            "calls may escape",
        ),
        (
            "the default effect towards allow",
            |p| {
                p.default_effect = Effect::Allow;
                at(p, "gate-rest").enabled = false;
            },
            "disabled",
        ),
        (
            "less risk added",
            |p| at(p, "tag-prod").add_risk.clear(),
            "adds less risk",
        ),
    ];
    for (name, edit, needle) in cases {
        let before = base();
        let mut after = base();
        edit(&mut after);
        let c = classify(&before, &after);
        assert!(c.loosening, "{name}: {c:#?}");
        let why: Vec<&str> = c
            .findings
            .iter()
            .filter(|f| f.loosens)
            .map(|f| f.why.as_str())
            .collect();
        assert!(why.iter().any(|w| w.contains(needle)), "{name}: {why:?}");
    }
}

#[test]
fn default_effect_changes() {
    let mut deny_default = base();
    deny_default.default_effect = Effect::Deny {
        message: "no".into(),
    };
    let mut gate_default = base();
    gate_default.default_effect = gate(1, Role::Approver, None);
    let cases = [
        ("deny → allow", &deny_default, &base(), true),
        ("gate → allow", &gate_default, &base(), true),
        ("deny → gate", &deny_default, &gate_default, true),
        ("allow → gate", &base(), &gate_default, false),
        ("gate → deny", &gate_default, &deny_default, false),
    ];
    for (name, before, after, loosening) in cases {
        assert_eq!(classify(before, after).loosening, loosening, "{name}");
    }
}

#[test]
fn provably_safe_changes() {
    let cases: Vec<(&str, Edit)> = vec![
        ("nothing", |_| {}),
        ("a deny rule added first", |p| {
            p.rules.insert(
                0,
                rule(
                    "no-drop",
                    Some("drop_*"),
                    Some(Effect::Deny {
                        message: "no".into(),
                    }),
                ),
            )
        }),
        ("more approvals", |p| {
            gate_of(p, "deploy-prod").approvals_required = 3
        }),
        ("a higher role and a shorter deadline", |p| {
            let g = gate_of(p, "gate-rest");
            g.approver_role = Role::Manager;
            g.deadline_secs = 60;
        }),
        ("risk tags added", |p| {
            at(p, "gate-rest").add_risk = vec![RiskClass::Destructive]
        }),
        ("a strict gate for another tool added first", |p| {
            p.rules.insert(
                0,
                rule(
                    "backup",
                    Some("backup"),
                    Some(gate(3, Role::Manager, Some("backup"))),
                ),
            )
        }),
        ("a description", |p| {
            at(p, "no-wipe").description = Some("why".into())
        }),
        ("an allow rule narrowed", |p| {
            at(p, "reads").matcher.args.push(ArgCondition {
                pointer: "/path".into(),
                op: ArgOp::Exists,
                value: None,
            })
        }),
        ("an allow rule moved later", |p| moved(p, "reads", 4)),
        ("a deny widened", |p| at(p, "no-wipe").matcher.tool = None),
        ("allow → gate", |p| {
            at(p, "reads").effect = Some(gate(1, Role::Approver, None))
        }),
        ("a disabled rule deleted", |p| {
            at(p, "gate-rest").enabled = false;
        }),
        ("the default effect towards deny", |p| {
            p.default_effect = Effect::Deny {
                message: "no".into(),
            }
        }),
    ];
    for (name, edit) in cases {
        let mut before = base();
        if name == "a disabled rule deleted" {
            edit(&mut before);
        }
        let mut after = base();
        if name == "a disabled rule deleted" {
            after.rules.retain(|r| r.name != "gate-rest");
        } else {
            edit(&mut after);
        }
        let c = classify(&before, &after);
        assert!(!c.loosening, "{name}: {c:#?}");
    }
}

#[test]
fn a_new_tagger_is_loosening_when_a_later_rule_looks_for_no_risk() {
    let mut before = base();
    at(&mut before, "gate-rest").matcher.risk_none = true;
    let mut after = before.clone();
    let mut tag = rule("tag-all", None, None);
    tag.add_risk = vec![RiskClass::Financial];
    after.rules.insert(0, tag);
    let c = classify(&before, &after);
    assert!(c.loosening, "{c:#?}");
}

#[test]
fn diffs_name_rules_fields_and_moves() {
    let before = base();
    let mut after = base();
    gate_of(&mut after, "deploy-prod").approvals_required = 3;
    at(&mut after, "reads").enabled = false;
    after.rules.retain(|r| r.name != "no-wipe");
    after
        .rules
        .insert(0, rule("first", Some("x"), Some(Effect::Allow)));
    moved(&mut after, "gate-rest", 1);
    let got: Vec<String> = diff(&before, &after).iter().map(Change::describe).collect();
    assert_eq!(
        got,
        vec![
            "removed rule `no-wipe` (was at position 2)".to_string(),
            "added rule `first` at position 1".into(),
            "moved rule `gate-rest` from 5 to 2".into(),
            "changed rule `deploy-prod`: effect: gate: 2 managers, deadline 1 h, approval TTL 10 min, type \"deploy {/env}\" → gate: 3 managers, deadline 1 h, approval TTL 10 min, type \"deploy {/env}\"".into(),
            "changed rule `reads`: enabled: true → false".into(),
        ]
    );
}

#[test]
fn sentences() {
    let p = base();
    let got: Vec<String> = p.rules.iter().map(sentence).collect();
    assert_eq!(
        got,
        vec![
            "tag `deploy` when /env matches prod*; adds risk production".to_string(),
            "deny `wipe` — \"no\"".into(),
            "gate `deploy` when risk is any of production — 2 managers, deadline 1 h, approval TTL 10 min, type \"deploy {/env}\"".into(),
            "allow `read_*`".into(),
            "gate `any tool` — 1 approver, deadline 1 h, approval TTL 10 min".into(),
        ]
    );
    let durations = [
        (45, "45 s"),
        (600, "10 min"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (172_800, "2 d"),
    ];
    for (secs, text) in durations {
        assert_eq!(duration_text(secs), text);
    }
}
