//! Reading a policy file: TOML-shaped types deserialized straight from the text, so the
//! parser can point at the offending line for every shape error, then turned into the
//! domain types.

use super::PolicyFileError;
use crate::domain::policy::{
    ArgCondition, ArgOp, Effect, GateSettings, Match, OnDeadline, Policy, Rule,
};
use crate::domain::{risk::RiskClass, Role};
use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::{fmt, ops::Range};
use toml::Spanned;

/// A parsed file, with the byte ranges of its rules and default effect for error positions.
pub(super) struct Parsed {
    pub policy: Policy,
    pub rule_spans: Vec<Range<usize>>,
    pub default_span: Range<usize>,
}

/// Parses `text`; shape errors carry the line and column the TOML parser reports.
pub(super) fn parse(text: &str) -> Result<Parsed, PolicyFileError> {
    let file: FileIn = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().lines().collect::<Vec<_>>().join("; ");
        PolicyFileError::at(text, e.span(), true, message)
    })?;
    let default = file.default_effect.ok_or_else(|| PolicyFileError {
        line: None,
        column: None,
        message:
            "`default_effect` is missing: start the file with e.g. `default_effect = \"allow\"`"
                .into(),
    })?;
    let default_span = default.span();
    let mut rule_spans = Vec::with_capacity(file.rules.len());
    let mut rules = Vec::with_capacity(file.rules.len());
    for rule in file.rules {
        rule_spans.push(rule.span());
        rules.push(rule.into_inner().into());
    }
    Ok(Parsed {
        policy: Policy {
            default_effect: default.into_inner().0,
            rules,
            groups: file.groups,
        },
        rule_spans,
        default_span,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    #[serde(default)]
    default_effect: Option<Spanned<EffectIn>>,
    #[serde(default)]
    rules: Vec<Spanned<RuleIn>>,
    #[serde(default)]
    groups: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    add_risk: Vec<RiskClass>,
    #[serde(default, rename = "match")]
    matcher: MatchIn,
    #[serde(default)]
    effect: Option<EffectIn>,
}

fn yes() -> bool {
    true
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchIn {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    args: Vec<ArgIn>,
    #[serde(default)]
    risk_any: Vec<RiskClass>,
    #[serde(default)]
    risk_none: bool,
    #[serde(default)]
    novel: Option<bool>,
}

impl From<RuleIn> for Rule {
    fn from(r: RuleIn) -> Self {
        Rule {
            name: r.name,
            enabled: r.enabled,
            description: r.description,
            matcher: Match {
                agent: r.matcher.agent,
                tool: r.matcher.tool,
                args: r.matcher.args.into_iter().map(|a| a.0).collect(),
                risk_any: r.matcher.risk_any,
                risk_none: r.matcher.risk_none,
                novel: r.matcher.novel,
            },
            add_risk: r.add_risk,
            effect: r.effect.map(|e| e.0),
        }
    }
}

/// Deserializes the table `T` from a map, then checks it with `check`, so that the
/// parser attributes any error to the table's position in the file.
struct CheckedTable<T, U>(fn(T) -> Result<U, String>, &'static str);

impl<'de, T: Deserialize<'de>, U> Visitor<'de> for CheckedTable<T, U> {
    type Value = U;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<U, A::Error> {
        let table = T::deserialize(MapAccessDeserializer::new(map))?;
        (self.0)(table).map_err(de::Error::custom)
    }
}

/// An argument condition: `pointer`, `op`, and `value` or `json`.
struct ArgIn(ArgCondition);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgTable {
    pointer: String,
    op: ArgOp,
    #[serde(default)]
    value: Option<TomlOperand>,
    #[serde(default)]
    json: Option<JsonOperand>,
}

impl<'de> Deserialize<'de> for ArgIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn check(t: ArgTable) -> Result<ArgIn, String> {
            let value = match (t.value, t.json) {
                (Some(_), Some(_)) => {
                    return Err("give the operand as `value` or as `json`, not both".into())
                }
                (Some(v), None) => Some(v.0),
                (None, Some(j)) => Some(j.0),
                (None, None) => None,
            };
            Ok(ArgIn(ArgCondition {
                pointer: t.pointer,
                op: t.op,
                value,
            }))
        }
        d.deserialize_map(CheckedTable(
            check,
            "a table with `pointer`, `op` and `value`",
        ))
    }
}

/// A TOML operand as the JSON value it stands for (dates have no JSON form).
struct TomlOperand(Value);

impl<'de> Deserialize<'de> for TomlOperand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml_to_json(toml::Value::deserialize(d)?)
            .map(TomlOperand)
            .map_err(de::Error::custom)
    }
}

fn toml_to_json(v: toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or("nan and inf are not JSON numbers")?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => {
            return Err(format!(
                "dates are not JSON values; write the date as a string: \"{d}\""
            ))
        }
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Object(
            t.into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// An operand given as JSON text.
struct JsonOperand(Value);

impl<'de> Deserialize<'de> for JsonOperand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text)
            .map(JsonOperand)
            .map_err(|e| de::Error::custom(format!("`json` is not valid JSON: {e}")))
    }
}

/// An effect: `"allow"`, `"gate"`, or a table with `kind`.
struct EffectIn(Effect);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EffectTable {
    kind: Kind,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    approvals_required: Option<u32>,
    #[serde(default)]
    approver_role: Option<Role>,
    #[serde(default)]
    deadline_secs: Option<u64>,
    #[serde(default)]
    approval_ttl_secs: Option<u64>,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    on_deadline: Option<OnDeadline>,
    #[serde(default)]
    escalate_to: Option<String>,
    #[serde(default)]
    escalate_deadline_secs: Option<u64>,
    #[serde(default)]
    escalate_overrides_role: Option<bool>,
    #[serde(default)]
    extend_max_secs: Option<u64>,
    /// A duration: `30m`, `2h`, or seconds.
    #[serde(default)]
    grant_max: Option<DurationIn>,
    #[serde(default)]
    grant_max_uses: Option<u32>,
    #[serde(default)]
    grant_match: Option<Vec<String>>,
    #[serde(default)]
    no_retry_secs: Option<u64>,
}

/// A duration written as `"30m"` (or a number of seconds).
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationIn {
    Secs(u64),
    Text(String),
}

impl DurationIn {
    fn secs(&self) -> Result<u64, String> {
        match self {
            DurationIn::Secs(n) => Ok(*n),
            DurationIn::Text(t) => crate::policy::rule_form::duration(t),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Allow,
    Deny,
    Gate,
}

impl EffectTable {
    fn into_effect(self) -> Result<Effect, String> {
        let gate_fields = [
            ("approvals_required", self.approvals_required.is_some()),
            ("approver_role", self.approver_role.is_some()),
            ("deadline_secs", self.deadline_secs.is_some()),
            ("approval_ttl_secs", self.approval_ttl_secs.is_some()),
            ("confirm", self.confirm.is_some()),
            ("on_deadline", self.on_deadline.is_some()),
            ("escalate_to", self.escalate_to.is_some()),
            (
                "escalate_deadline_secs",
                self.escalate_deadline_secs.is_some(),
            ),
            (
                "escalate_overrides_role",
                self.escalate_overrides_role.is_some(),
            ),
            ("extend_max_secs", self.extend_max_secs.is_some()),
            ("grant_max", self.grant_max.is_some()),
            ("grant_max_uses", self.grant_max_uses.is_some()),
            ("grant_match", self.grant_match.is_some()),
            ("no_retry_secs", self.no_retry_secs.is_some()),
        ];
        let gate_field = gate_fields.iter().find(|f| f.1).map(|f| f.0);
        match (self.kind, gate_field) {
            (Kind::Allow | Kind::Deny, Some(field)) => Err(format!(
                "`{field}` is a gate setting; this effect is `{}`",
                if self.kind == Kind::Allow {
                    "allow"
                } else {
                    "deny"
                }
            )),
            (Kind::Allow, None) if self.message.is_some() => {
                Err("`message` belongs to a deny; this effect is `allow`".into())
            }
            (Kind::Allow, None) => Ok(Effect::Allow),
            (Kind::Deny, None) => match self.message {
                Some(message) => Ok(Effect::Deny { message }),
                None => Err("a deny needs a `message` for the agent".into()),
            },
            (Kind::Gate, _) if self.message.is_some() => {
                Err("`message` belongs to a deny; this effect is `gate`".into())
            }
            (Kind::Gate, _) => {
                let d = GateSettings::default();
                Ok(Effect::Gate(GateSettings {
                    approvals_required: self.approvals_required.unwrap_or(d.approvals_required),
                    approver_role: self.approver_role.unwrap_or(d.approver_role),
                    deadline_secs: self.deadline_secs.unwrap_or(d.deadline_secs),
                    approval_ttl_secs: self.approval_ttl_secs.unwrap_or(d.approval_ttl_secs),
                    confirm: self.confirm,
                    on_deadline: self.on_deadline.unwrap_or_default(),
                    escalate_to: self.escalate_to,
                    escalate_deadline_secs: self.escalate_deadline_secs,
                    escalate_overrides_role: self.escalate_overrides_role.unwrap_or(false),
                    extend_max_secs: self.extend_max_secs,
                    grant_max_secs: self
                        .grant_max
                        .as_ref()
                        .map(DurationIn::secs)
                        .transpose()
                        .map_err(|e| format!("grant_max: {e}"))?,
                    grant_max_uses: self.grant_max_uses,
                    grant_match: self.grant_match.unwrap_or_default(),
                    no_retry_secs: self.no_retry_secs,
                }))
            }
        }
    }
}

impl<'de> Deserialize<'de> for EffectIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shorthand;
        impl<'de> Visitor<'de> for Shorthand {
            type Value = EffectIn;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"allow\", \"gate\", or a table with `kind`")
            }

            fn visit_str<E: de::Error>(self, kind: &str) -> Result<EffectIn, E> {
                match kind {
                    "allow" => Ok(EffectIn(Effect::Allow)),
                    "gate" => Ok(EffectIn(Effect::Gate(GateSettings::default()))),
                    "deny" => Err(E::custom(
                        "a deny needs a message: write { kind = \"deny\", message = \"…\" }",
                    )),
                    other => Err(E::unknown_variant(other, &["allow", "deny", "gate"])),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EffectIn, A::Error> {
                CheckedTable(
                    |t: EffectTable| t.into_effect().map(EffectIn),
                    "an effect table",
                )
                .visit_map(map)
            }
        }
        d.deserialize_any(Shorthand)
    }
}
