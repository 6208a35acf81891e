//! The console's rule form, read into a rule: each field checked the way `policy import`
//! checks it (globs, regexes, JSON pointers, durations, approvals, roles, phrases), and
//! every refusal named by the field it concerns.

use super::compile::{compile_condition, compile_effect, MAX_NAME_CHARS};
use super::confirm::Confirm;
use super::glob::Pattern;
use super::pointer::Pointer;
use crate::domain::policy::{ArgCondition, ArgOp, Effect, GateSettings, Match, OnDeadline, Rule};
use crate::domain::policy_console::{FieldError, RuleForm};
use crate::domain::risk::RiskClass;
use crate::domain::Role;
use serde_json::Value;

/// Reads `form` into a rule, or says what is wrong with which field.
pub fn read(form: &RuleForm) -> Result<Rule, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };

    let name = form.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        fail("name", format!("a name of 1-{MAX_NAME_CHARS} characters"));
    }
    let pattern = |text: &str| -> Result<Option<String>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Pattern::new(text).map(|_| Some(text.to_string()))
    };
    let agent = pattern(&form.agent).unwrap_or_else(|e| {
        fail("agent", e);
        None
    });
    let tool = pattern(&form.tool).unwrap_or_else(|e| {
        fail("tool", e);
        None
    });

    let mut args = Vec::new();
    for (i, line) in form.conditions.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match condition(line) {
            Ok(c) => args.push(c),
            Err(e) => fail("conditions", format!("line {}: {e}", i + 1)),
        }
    }
    let classes = |field: &str, text: &str, fail: &mut dyn FnMut(&str, String)| -> Vec<RiskClass> {
        let mut out = Vec::new();
        for word in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            match serde_json::from_value::<RiskClass>(Value::String(word.into())) {
                Ok(class) if !out.contains(&class) => out.push(class),
                Ok(_) => {}
                Err(_) => fail(
                    field,
                    format!(
                        "unknown risk class `{word}` (expected: destructive, irreversible, financial, \
                         customer_facing, production, external_comms)"
                    ),
                ),
            }
        }
        out
    };
    let risk_any = classes("risk_any", &form.risk_any, &mut fail);
    let add_risk = classes("add_risk", &form.add_risk, &mut fail);
    if form.risk_none && !risk_any.is_empty() {
        fail(
            "risk_none",
            "\"no risk\" and \"any of these risks\" contradict each other".into(),
        );
    }
    let novel = match form.novel.trim() {
        "" | "any" => None,
        "yes" => Some(true),
        "no" => Some(false),
        other => {
            fail("novel", format!("`{other}`: expected any, yes or no"));
            None
        }
    };

    let effect = match form.effect.trim() {
        "none" | "" => {
            if add_risk.is_empty() {
                fail(
                    "effect",
                    "a rule without an effect must add risk, or it would do nothing".into(),
                );
            }
            None
        }
        "allow" => Some(Effect::Allow),
        "deny" => {
            if form.message.trim().is_empty() {
                fail("message", "a deny needs a message for the agent".into());
            }
            Some(Effect::Deny {
                message: form.message.trim().to_string(),
            })
        }
        "gate" => gate(form, &args, &mut fail).map(Effect::Gate),
        other => {
            fail(
                "effect",
                format!("`{other}`: expected allow, deny, gate or none"),
            );
            None
        }
    };
    if let Some(e) = &effect {
        if let Err(message) = compile_effect(e) {
            let field = if message.contains("approvals") {
                "approvals"
            } else if message.contains("deadline") {
                "deadline"
            } else if message.contains("approval_ttl") {
                "ttl"
            } else if message.contains("confirm") {
                "confirm"
            } else {
                "effect"
            };
            fail(field, message);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Rule {
        name,
        enabled: form.enabled,
        description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
        matcher: Match {
            agent,
            tool,
            args,
            risk_any,
            risk_none: form.risk_none,
            novel,
        },
        add_risk,
        effect,
    })
}

fn gate(
    form: &RuleForm,
    args: &[ArgCondition],
    fail: &mut dyn FnMut(&str, String),
) -> Option<GateSettings> {
    let approvals = match form.approvals.trim().parse::<u32>() {
        Ok(n) if n >= 1 => n,
        _ => {
            fail(
                "approvals",
                "a whole number of approvals, at least 1".into(),
            );
            1
        }
    };
    let role = match form.role.trim().parse::<Role>() {
        Ok(Role::Viewer) => {
            fail(
                "role",
                "viewers cannot decide: choose approver, manager or admin".into(),
            );
            Role::Approver
        }
        Ok(role) => role,
        Err(e) => {
            fail("role", e.to_string());
            Role::Approver
        }
    };
    let deadline = duration(&form.deadline).unwrap_or_else(|e| {
        fail("deadline", e);
        3600
    });
    let ttl = duration(&form.ttl).unwrap_or_else(|e| {
        fail("ttl", e);
        600
    });
    let confirm = Some(form.confirm.trim().to_string()).filter(|c| !c.is_empty());
    if let Some(phrase) = &confirm {
        match Confirm::parse(phrase) {
            Err(e) => fail("confirm", e),
            Ok(_) => {
                for placeholder in placeholders(phrase).into_iter().filter(|p| p != "tool") {
                    if !args.iter().any(|c| c.pointer == placeholder) {
                        fail(
                            "confirm",
                            format!(
                                "`{{{placeholder}}}` is not an argument this rule matches on; add a \
                                 condition on {placeholder} (for example `{placeholder} exists`)"
                            ),
                        );
                    }
                }
            }
        }
    }
    let optional = |field: &str, text: &str, fail: &mut dyn FnMut(&str, String)| {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        duration(text).map_err(|e| fail(field, e)).ok()
    };
    let on_deadline = match form.on_deadline.trim() {
        "" => OnDeadline::Expire,
        text => text.parse().unwrap_or_else(|e| {
            fail("on_deadline", e);
            OnDeadline::Expire
        }),
    };
    let escalate_to = Some(form.escalate_to.trim().to_string()).filter(|t| !t.is_empty());
    let grant_uses = match form.grant_uses.trim() {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                fail("grant_uses", "a whole number of uses".into());
                None
            }
        },
    };
    Some(GateSettings {
        approvals_required: approvals,
        approver_role: role,
        deadline_secs: deadline,
        approval_ttl_secs: ttl,
        confirm,
        on_deadline,
        escalate_to,
        escalate_deadline_secs: optional("escalate_deadline", &form.escalate_deadline, fail),
        escalate_overrides_role: form.escalate_overrides_role,
        extend_max_secs: optional("extend_max", &form.extend_max, fail),
        grant_max_secs: optional("grant_max", &form.grant_max, fail),
        grant_max_uses: grant_uses,
        grant_match: form
            .grant_match
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        no_retry_secs: optional("no_retry", &form.no_retry, fail),
    })
}

/// The pointers a phrase quotes: `deploy {/service} to {/env}` → `/service`, `/env`.
fn placeholders(phrase: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = phrase;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(after[..close].to_string());
        rest = &after[close + 1..];
    }
    out
}

/// `90s`, `10m`, `1h`, `2d`, or plain seconds.
pub fn duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&text[..i], text[i..].trim()),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: write a duration such as 90s, 10m, 1h or 2d"))?;
    let factor = match unit {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => {
            return Err(format!(
                "`{text}`: write a duration such as 90s, 10m, 1h or 2d"
            ))
        }
    };
    n.checked_mul(factor)
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("`{text}`: a duration must be positive"))
}

/// One condition line: `<pointer> <op> [value]`.
pub fn condition(line: &str) -> Result<ArgCondition, String> {
    let line = line.trim();
    let mut parts = line.splitn(3, char::is_whitespace);
    let pointer = parts.next().unwrap_or_default().to_string();
    let op_text = parts.next().map(str::trim).unwrap_or_default();
    let value_text = parts.next().map(str::trim).filter(|v| !v.is_empty());
    Pointer::parse(&pointer)?;
    let op: ArgOp = serde_json::from_value(Value::String(op_text.into())).map_err(|_| {
        format!(
            "`{op_text}` is not an operation (eq, ne, glob, regex, lt, le, gt, ge, exists, not_exists)"
        )
    })?;
    // The operand as JSON when it reads as JSON, otherwise as text.
    let value =
        value_text.map(|v| serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into())));
    let c = ArgCondition { pointer, op, value };
    compile_condition(&c)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RuleForm {
        RuleForm {
            name: "deploy-prod".into(),
            enabled: true,
            tool: "deploy".into(),
            conditions: "/env glob prod*\n/service exists".into(),
            novel: "any".into(),
            effect: "gate".into(),
            approvals: "2".into(),
            role: "manager".into(),
            deadline: "1h".into(),
            ttl: "10m".into(),
            confirm: "deploy {/service} to {/env}".into(),
            ..RuleForm::default()
        }
    }

    #[test]
    fn a_good_form_reads_and_round_trips() {
        let rule = read(&form()).unwrap();
        assert_eq!(rule.matcher.args.len(), 2);
        assert_eq!(
            rule.matcher.args[0].value,
            Some(Value::String("prod*".into()))
        );
        let Some(Effect::Gate(g)) = &rule.effect else {
            panic!()
        };
        assert_eq!(
            (g.approvals_required, g.deadline_secs, g.approval_ttl_secs),
            (2, 3600, 600)
        );
        assert_eq!(read(&RuleForm::of(&rule)).unwrap(), rule);
    }

    #[test]
    fn each_error_names_its_field() {
        type Edit = fn(&mut RuleForm);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (|f| f.name = " ".into(), "name", "a name"),
            (|f| f.tool = "dep[loy".into(), "tool", ""),
            (
                |f| f.conditions = "/env regex ([".into(),
                "conditions",
                "line 1: invalid regex",
            ),
            (
                |f| f.conditions = "env glob x".into(),
                "conditions",
                "line 1",
            ),
            (
                |f| f.conditions = "/env maybe x".into(),
                "conditions",
                "not an operation",
            ),
            (|f| f.approvals = "0".into(), "approvals", "at least 1"),
            (|f| f.role = "boss".into(), "role", "unknown role"),
            (
                |f| f.role = "viewer".into(),
                "role",
                "viewers cannot decide",
            ),
            (|f| f.deadline = "soon".into(), "deadline", "90s, 10m"),
            (|f| f.ttl = "0m".into(), "ttl", "positive"),
            (|f| f.deadline = "31d".into(), "deadline", "30 days"),
            (
                |f| f.confirm = "deploy {/region}".into(),
                "confirm",
                "not an argument this rule matches on",
            ),
            (
                |f| f.confirm = "deploy {env}".into(),
                "confirm",
                "JSON pointer",
            ),
            (
                |f| f.risk_any = "production, spicy".into(),
                "risk_any",
                "unknown risk class `spicy`",
            ),
            (
                |f| {
                    f.risk_none = true;
                    f.risk_any = "production".into();
                },
                "risk_none",
                "contradict",
            ),
            (
                |f| {
                    f.effect = "deny".into();
                },
                "message",
                "needs a message",
            ),
            (
                |f| {
                    f.effect = "none".into();
                },
                "effect",
                "must add risk",
            ),
        ];
        for (edit, field, needle) in cases {
            let mut f = form();
            edit(&mut f);
            let errors = read(&f).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.field == field && e.message.contains(needle)),
                "{field}: {errors:?}"
            );
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("90s", Ok(90)),
            ("10m", Ok(600)),
            ("1h", Ok(3600)),
            ("2d", Ok(172_800)),
            ("45", Ok(45)),
            ("1 h", Ok(3600)),
        ];
        for (text, want) in cases {
            assert_eq!(duration(text), want, "{text}");
        }
        for bad in ["", "h", "1w", "-1m", "0s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
