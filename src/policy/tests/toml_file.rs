use super::*;
use crate::domain::policy::{Effect, GateSettings};
use crate::domain::Role;
use crate::policy::toml_io::{from_toml, import, to_toml};
use crate::policy::{default_policy, PolicyFileError};

const EXAMPLE: &str = include_str!("../example.toml");

/// Policies that must survive `to_toml` → `from_toml` unchanged.
fn round_trip_cases() -> Vec<(&'static str, Policy)> {
    vec![
        ("default policy", default_policy()),
        ("documented example", from_toml(EXAMPLE).unwrap()),
        ("no rules", policy_json(json!([]))),
        (
            "deny default, every field and operand shape",
            policy_json(json!({
                "default_effect": { "kind": "deny", "message": "Not covered; \"ask\" a person.\nThanks" },
                "rules": [
                    { "name": "off", "enabled": false, "description": "multi\nline \u{e9}", "add_risk": ["financial", "destructive"] },
                    { "name": "all criteria", "match": {
                        "agent": "bot-[0-9]", "tool": "{a,b}_*", "risk_any": ["customer_facing"], "novel": false,
                        "args": [
                            { "pointer": "/s", "op": "eq", "value": "x" },
                            { "pointer": "/i", "op": "ne", "value": -7 },
                            { "pointer": "/f", "op": "lt", "value": 2.5 },
                            { "pointer": "/g", "op": "le", "value": 100.0 },
                            { "pointer": "/h", "op": "gt", "value": 1e300 },
                            { "pointer": "/j", "op": "ge", "value": 0 },
                            { "pointer": "/k", "op": "glob", "value": "prod*" },
                            { "pointer": "/l", "op": "regex", "value": "^a\\d+\"$" },
                            { "pointer": "/m", "op": "exists" },
                            { "pointer": "/n", "op": "not_exists" },
                            { "pointer": "/o", "op": "eq", "value": { "nested": { "list": [1, "two", true] }, "odd key": 1 } },
                            { "pointer": "/p", "op": "eq", "value": [{ "a": 1 }, { "b": 2 }] },
                            { "pointer": "/q", "op": "eq", "value": [] },
                            { "pointer": "/r", "op": "eq", "value": {} },
                            { "pointer": "/t", "op": "eq", "value": [1, null] },
                            { "pointer": "/u", "op": "eq", "value": { "x": null } },
                            { "pointer": "/v", "op": "eq", "value": u64::MAX },
                            { "pointer": "", "op": "exists" },
                            { "pointer": "/w~1x", "op": "eq", "value": true }
                        ] },
                      "effect": { "kind": "gate", "approvals_required": 3, "approver_role": "admin",
                                  "deadline_secs": 7200, "approval_ttl_secs": 60, "confirm": "do {/s} {/i}" } },
                    { "name": "risk none", "match": { "risk_none": true, "novel": true }, "effect": { "kind": "allow" } },
                    { "name": "deny", "match": { "tool": "x" }, "effect": { "kind": "deny", "message": "no" } },
                    { "name": "default gate", "effect": { "kind": "gate" } }
                ]
            })),
        ),
        (
            "the approver workflow: groups, deadline outcomes, extensions, grants",
            policy_json(json!({
                "default_effect": { "kind": "allow" },
                "groups": { "oncall": ["olga", "omar"], "leads": ["lee"] },
                "rules": [
                    { "name": "escalate", "match": { "tool": "page" },
                      "effect": { "kind": "gate", "on_deadline": "escalate", "escalate_to": "group:oncall",
                                  "escalate_deadline_secs": 900, "extend_max_secs": 300 } },
                    { "name": "deny late", "match": { "tool": "wipe" },
                      "effect": { "kind": "gate", "on_deadline": "deny", "no_retry_secs": 600,
                                  "confirm": "{tool} {/target}" } },
                    { "name": "grants", "match": { "tool": "restart" },
                      "effect": { "kind": "gate", "grant_max_secs": 1800, "grant_max_uses": 5,
                                  "grant_match": ["/service", "/region"] } }
                ]
            })),
        ),
        (
            "gate default with confirmation",
            policy_json(json!({
                "default_effect": { "kind": "gate", "approvals_required": 2, "approver_role": "manager",
                                    "deadline_secs": 60, "approval_ttl_secs": 60, "confirm": "{/tool}" },
                "rules": [{ "name": "r", "add_risk": ["production"] }]
            })),
        ),
    ]
}

#[test]
fn round_trips() {
    for (name, policy) in round_trip_cases() {
        CompiledPolicy::compile(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = to_toml(&policy);
        let back = from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(back, policy, "{name}:\n{text}");
        assert!(import(&text).is_ok(), "{name}");
        assert_eq!(to_toml(&back), text, "{name}: writing is deterministic");
    }
}

#[test]
fn the_documented_example_reads_as_described() {
    let (policy, compiled) = import(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tag-production",
            "no-secrets",
            "quiet-reads",
            "prod-deploys",
            "big-payments",
            "first-use"
        ]
    );
    assert_eq!(policy.default_effect, Effect::Allow);
    assert_eq!(policy.rules[2].effect, Some(Effect::Allow));
    assert_eq!(
        policy.rules[5].effect,
        Some(Effect::Gate(GateSettings::default()))
    );
    let e = Call {
        agent: "deploy-bot-1",
        tool: "deploy",
        args: json!({ "env": "production", "service": "api" }),
        ..Call::default()
    }
    .eval(&compiled);
    assert_eq!(e.rule.as_deref(), Some("prod-deploys"));
    match e.outcome {
        Outcome::Gate { settings, confirm } => {
            assert_eq!(settings.approvals_required, 2);
            assert_eq!(settings.approver_role, Role::Manager);
            assert_eq!(confirm.as_deref(), Some("deploy api to production"));
        }
        other => panic!("{other:?}"),
    }
    let pay = Call {
        tool: "pay",
        args: json!({ "amount": 5000, "currency": "EUR", "to": { "iban": "FR00" } }),
        ..Call::default()
    };
    assert_eq!(pay.eval(&compiled).rule.as_deref(), Some("big-payments"));
}

#[test]
fn shorthand_and_table_effects() {
    #[rustfmt::skip]
    let cases = [
        ("default_effect = \"allow\"", Effect::Allow),
        ("default_effect = \"gate\"", Effect::Gate(GateSettings::default())),
        ("default_effect = { kind = \"allow\" }", Effect::Allow),
        ("default_effect = { kind = \"deny\", message = \"no\" }", Effect::Deny { message: "no".into() }),
        ("[default_effect]\nkind = \"gate\"\napprovals_required = 2", Effect::Gate(GateSettings { approvals_required: 2, ..GateSettings::default() })),
        ("[default_effect]\nkind = \"gate\"\nconfirm = \"ok {/x}\"", Effect::Gate(GateSettings { confirm: Some("ok {/x}".into()), ..GateSettings::default() })),
    ];
    for (text, expected) in cases {
        let p = from_toml(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.default_effect, expected, "{text}");
        let rule = format!(
            "default_effect = \"allow\"\n[[rules]]\nname = \"r\"\n{}",
            text.replace("default_effect", "effect")
                .replace("[effect]", "[rules.effect]")
        );
        let p = from_toml(&rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(p.rules[0].effect, Some(expected), "{rule}");
    }
}

/// `lines` joined into a file.
fn file(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// (name, file lines, line, column, text the message must contain)
type ErrorCase = (
    &'static str,
    Vec<&'static str>,
    Option<usize>,
    Option<usize>,
    &'static str,
);

#[test]
fn errors_carry_the_line() {
    #[rustfmt::skip]
    let cases: Vec<ErrorCase> = vec![
        // (name, file lines, line, column, text the message must contain)
        ("syntax: unclosed header", vec!["default_effect = \"allow\"", "", "[[rules]", "name = \"x\""], Some(3), Some(9), "unclosed array table, expected `]`"),
        ("syntax: unclosed string", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"x", "effect = \"allow\""], Some(3), Some(10), "invalid basic string"),
        ("syntax: duplicate key", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "name = \"b\""], Some(4), Some(1), "duplicate key"),
        ("missing default_effect", vec!["[[rules]]", "name = \"a\"", "effect = \"allow\""], None, None, "`default_effect` is missing"),
        ("unknown top-level key", vec!["default_effect = \"allow\"", "", "colour = \"blue\""], Some(3), Some(1), "unknown field `colour`"),
        ("unknown rule key", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "bogus = 1", "effect = \"allow\""], Some(4), Some(1), "unknown field `bogus`"),
        ("unknown match key", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[rules.match]", "tools = \"x\""], Some(6), Some(1), "unknown field `tools`"),
        ("missing name", vec!["default_effect = \"allow\"", "[[rules]]", "effect = \"allow\""], Some(2), Some(1), "missing field `name`"),
        ("wrong type", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "kind = \"gate\"", "approvals_required = \"two\""], Some(6), Some(22), "invalid type"),
        ("negative count", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "kind = \"gate\"", "deadline_secs = -5"], Some(6), Some(17), "invalid value"),
        ("unknown risk class", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "add_risk = [\"spooky\"]"], Some(4), Some(13), "unknown variant `spooky`"),
        ("unknown op", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules.match.args]]", "pointer = \"/a\"", "op = \"like\""], Some(7), Some(6), "unknown variant `like`"),
        ("unknown effect", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"maybe\""], Some(4), Some(10), "unknown variant `maybe`"),
        ("unknown default effect", vec!["default_effect = \"perhaps\""], Some(1), Some(18), "unknown variant `perhaps`"),
        ("deny shorthand", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"deny\""], Some(4), Some(10), "a deny needs a message"),
        ("deny without message", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "kind = \"deny\""], Some(4), Some(1), "a deny needs a `message`"),
        ("allow with message", vec!["default_effect = { kind = \"allow\", message = \"hi\" }"], Some(1), Some(18), "`message` belongs to a deny"),
        ("deny with gate setting", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = { kind = \"deny\", message = \"m\", deadline_secs = 5 }"], Some(4), Some(10), "`deadline_secs` is a gate setting"),
        ("gate with message", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "kind = \"gate\"", "message = \"m\""], Some(4), Some(1), "`message` belongs to a deny"),
        ("effect without kind", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "message = \"m\""], Some(4), Some(1), "missing field `kind`"),
        ("date operand", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules.match.args]]", "pointer = \"/d\"", "op = \"eq\"", "value = 2024-01-01"], Some(8), Some(9), "dates are not JSON values"),
        ("value and json", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules.match.args]]", "pointer = \"/d\"", "op = \"eq\"", "value = 1", "json = \"1\""], Some(5), Some(1), "not both"),
        ("bad json operand", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules.match.args]]", "pointer = \"/d\"", "op = \"eq\"", "json = \"{nope\""], Some(8), Some(8), "not valid JSON"),
        ("args not tables", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "match = { args = [1] }"], Some(5), Some(19), "invalid type"),
        // Validation errors point at the [[rules]] header of the rule, without a column.
        ("bad regex", vec!["default_effect = \"allow\"", "", "[[rules]]", "name = \"ok\"", "effect = \"allow\"", "", "# the next rule is broken", "[[rules]]", "name = \"bad\"", "[rules.match]", "tool = \"x\"", "[[rules.match.args]]", "pointer = \"/a\"", "op = \"regex\"", "value = \"(\"", "[rules.effect]", "kind = \"allow\""], Some(8), None, "rule 2 \"bad\": argument condition 1 (`/a`): invalid regex `(`: unclosed group"),
        ("bad glob", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"g\"", "effect = \"allow\"", "match = { tool = \"{x\" }"], Some(2), None, "rule 1 \"g\": match.tool: invalid glob"),
        ("duplicate names", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\""], Some(5), None, "rule 2 \"a\": the name is already used by rule 1"),
        ("gate out of range", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.effect]", "kind = \"gate\"", "approvals_required = 0"], Some(2), None, "approvals_required is 0"),
        ("rule that does nothing", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "[rules.match]", "tool = \"x\""], Some(2), None, "neither an effect nor `add_risk`"),
        ("null operand", vec!["default_effect = \"allow\"", "[[rules]]", "name = \"a\"", "effect = \"allow\"", "[[rules.match.args]]", "pointer = \"/d\"", "op = \"eq\"", "json = \"null\""], Some(2), None, "but a bare null"),
        ("invalid default effect", vec!["# comment", "", "[default_effect]", "kind = \"gate\"", "deadline_secs = 99999999"], Some(3), None, "default_effect: deadline_secs is 99999999"),
    ];
    for (name, lines, line, column, needle) in cases {
        let text = file(&lines);
        let err: PolicyFileError = import(&text).unwrap_err();
        assert_eq!(
            (err.line, err.column),
            (line, column),
            "{name}: {err}\n{text}"
        );
        let shown = err.to_string();
        let prefix = match (line, column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: "),
            (Some(l), None) => format!("line {l}: "),
            _ => String::new(),
        };
        assert!(shown.starts_with(&prefix), "{name}: {shown}");
        assert!(shown.contains(needle), "{name}: {shown:?} lacks {needle:?}");
        assert!(!shown.contains('\n'), "{name}: one line: {shown:?}");
    }
}

#[test]
fn from_toml_checks_shape_only() {
    // Parses (the shape is right) but does not validate (that is `import`).
    let text = "default_effect = \"allow\"\n[[rules]]\nname = \"a\"\nmatch = { tool = \"{x\" }\neffect = \"allow\"\n";
    assert!(from_toml(text).is_ok());
    assert!(import(text).is_err());
}
