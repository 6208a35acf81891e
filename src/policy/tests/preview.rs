use super::*;
use crate::policy::{default_policy, Preview, PreviewInput};
use RiskClass::*;

/// `"allow"`, `"gate"`, `"deny"`, or the possible effects joined by `|`.
fn shown(p: Preview) -> String {
    let mut out = vec![];
    for (on, name) in [(p.allow, "allow"), (p.gate, "gate"), (p.deny, "deny")] {
        if on {
            out.push(name);
        }
    }
    out.join("|")
}

#[test]
fn default_policy_previews() {
    let policy = CompiledPolicy::compile(&default_policy()).unwrap();
    let path = ["path".to_string()];
    let write = ["path".to_string(), "content".to_string()];
    type Case<'a> = (&'a str, &'a [RiskClass], Option<&'a [String]>, &'a str);
    #[rustfmt::skip]
    let cases: [Case; 10] = [
        // (tool, risk, params, effects)
        ("files.read_text_file", &[], Some(&path), "allow"),
        ("read_text_file", &[], Some(&path), "allow"),
        // An `env` argument could name production: the read could be gated.
        ("files.read_text_file", &[], None, "allow|gate"),
        // First use gated as novel, later uses allowed.
        ("files.write_file", &[], Some(&write), "allow|gate"),
        ("files.write_file", &[Destructive], Some(&write), "gate"),
        ("files.read_text_file", &[Destructive], Some(&path), "gate"),
        ("mail.send_email", &[], Some(&path), "gate"),
        ("vault.export_credentials", &[], Some(&path), "deny"),
        ("files.read_secret_key", &[], Some(&path), "deny"),
        ("deploy", &[Production], None, "gate"),
    ];
    for (tool, risk, params, want) in cases {
        let got = policy.preview(&PreviewInput {
            agent: "bot",
            tool,
            risk,
            params,
        });
        assert_eq!(shown(got), want, "{tool} {risk:?} {params:?}");
    }
}

#[test]
fn admins_single_out_a_server() {
    let policy = compiled(json!([
        { "name": "files-gated", "match": { "tool": "files.*" },
          "effect": { "kind": "gate", "approvals_required": 1, "approver_role": "approver",
                      "deadline_secs": 60, "approval_ttl_secs": 60 } },
        { "name": "reads", "match": { "tool": "read_*" }, "effect": { "kind": "allow" } },
        { "name": "ops-only", "match": { "agent": "ops-*", "tool": "wipe" },
          "effect": { "kind": "deny", "message": "no" } },
    ]));
    #[rustfmt::skip]
    let cases = [
        // (agent, tool, effects)
        ("bot", "files.read_text_file", "gate"),
        ("bot", "web.read_page", "allow"),
        ("bot", "read_page", "allow"),
        ("ops-1", "db.wipe", "deny"),
        // Only the caller's own view: another agent's rule does not apply.
        ("bot", "db.wipe", "allow"),
    ];
    for (agent, tool, want) in cases {
        let got = policy.preview(&PreviewInput {
            agent,
            tool,
            risk: &[],
            params: None,
        });
        assert_eq!(shown(got), want, "{agent} {tool}");
    }
}

#[test]
fn argument_conditions_fork_unless_the_tool_lacks_the_argument() {
    let policy = compiled(json!([
        { "name": "no-root", "match": { "tool": "rm", "args": [
            { "pointer": "/path", "op": "eq", "value": "/" } ] },
          "effect": { "kind": "deny", "message": "no" } },
        { "name": "force", "match": { "tool": "rm", "args": [
            { "pointer": "/force", "op": "ne", "value": true } ] },
          "effect": { "kind": "allow" } },
        { "name": "rest", "match": {},
          "effect": { "kind": "gate", "approvals_required": 1, "approver_role": "approver",
                      "deadline_secs": 60, "approval_ttl_secs": 60 } },
    ]));
    let path = ["path".to_string()];
    let both = ["path".to_string(), "force".to_string()];
    let none: [String; 0] = [];
    #[rustfmt::skip]
    let cases: [(Option<&[String]>, &str); 4] = [
        (None, "allow|gate|deny"),
        // Without a `force` argument, `ne` holds: allowed unless the path is `/`.
        (Some(&path), "allow|deny"),
        (Some(&both), "allow|gate|deny"),
        (Some(&none), "allow"),
    ];
    for (params, want) in cases {
        let got = policy.preview(&PreviewInput {
            agent: "a",
            tool: "x.rm",
            risk: &[],
            params,
        });
        assert_eq!(shown(got), want, "{params:?}");
    }
}

#[test]
fn proxied_names_evaluate_like_bare_names_unless_a_full_name_rule_comes_first() {
    let policy = CompiledPolicy::compile(&default_policy()).unwrap();
    #[rustfmt::skip]
    let cases = [
        // (tool, novel, effect)
        ("files.read_text_file", true, "allow"),
        ("files.write_file", true, "gate"),
        ("files.write_file", false, "allow"),
        ("mail.send_email", false, "gate"),
        ("vault.export_credentials", false, "deny"),
    ];
    for (tool, novel, want) in cases {
        let call = Call {
            tool,
            novel,
            ..Call::default()
        };
        assert_eq!(
            kind(&call.eval(&policy).outcome),
            want,
            "{tool} novel={novel}"
        );
    }
    // A literal rule for the full name comes before the literal for the bare name.
    let policy = compiled(json!([
        { "name": "files-write", "match": { "tool": "files.write_file" },
          "effect": { "kind": "deny", "message": "read-only share" } },
        { "name": "write", "match": { "tool": "write_file" }, "effect": { "kind": "allow" } },
    ]));
    for (tool, want, rule) in [
        ("files.write_file", "deny", "files-write"),
        ("other.write_file", "allow", "write"),
        ("write_file", "allow", "write"),
        ("a.b.write_file", "allow", ""),
    ] {
        let e = Call {
            tool,
            ..Call::default()
        }
        .eval(&policy);
        assert_eq!(
            (kind(&e.outcome), e.rule.as_deref().unwrap_or("")),
            (want, rule),
            "{tool}"
        );
    }
}
