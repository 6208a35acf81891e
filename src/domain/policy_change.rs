//! What changed between two versions of the gate policy, rule by rule and field by field,
//! and whether the change loosens a gate.
//!
//! [`classify`] is conservative: a change counts as loosening unless it is provably not —
//! a gate or deny rule disabled, deleted, narrowed or moved; fewer approvals, a lower role,
//! a longer deadline or approval TTL, a dropped typed confirmation; deny → gate → allow; an
//! allow rule added, widened or moved where it may shadow a stricter rule; risk no longer
//! added; the default effect moving towards allow. Two rules are only known not to overlap
//! when both name different literal tools (or agents).

use super::policy::{ArgCondition, Effect, GateSettings, Match, Policy, Rule};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One difference between two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The default effect changed.
    DefaultEffect { before: String, after: String },
    /// A rule that did not exist before, at `position` (1-based).
    Added { rule: String, position: usize },
    /// A rule that is gone; it was at `position`.
    Removed { rule: String, position: usize },
    /// A rule whose order relative to the others changed.
    Moved {
        rule: String,
        from: usize,
        to: usize,
    },
    /// A rule whose fields changed.
    Changed {
        rule: String,
        fields: Vec<FieldChange>,
    },
}

/// One field of a rule, before and after, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

impl Change {
    /// The change in words.
    pub fn describe(&self) -> String {
        match self {
            Change::DefaultEffect { before, after } => {
                format!("default effect: {before} → {after}")
            }
            Change::Added { rule, position } => {
                format!("added rule `{rule}` at position {position}")
            }
            Change::Removed { rule, position } => {
                format!("removed rule `{rule}` (was at position {position})")
            }
            Change::Moved { rule, from, to } => format!("moved rule `{rule}` from {from} to {to}"),
            Change::Changed { rule, fields } => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}: {} → {}", f.field, f.before, f.after))
                    .collect();
                format!("changed rule `{rule}`: {}", parts.join("; "))
            }
        }
    }
}

/// The differences from `before` to `after`: the default effect, then rules removed,
/// added, moved and changed.
pub fn diff(before: &Policy, after: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    if before.default_effect != after.default_effect {
        changes.push(Change::DefaultEffect {
            before: effect_text(Some(&before.default_effect)),
            after: effect_text(Some(&after.default_effect)),
        });
    }
    let old_pos: HashMap<&str, usize> = positions(before);
    let new_pos: HashMap<&str, usize> = positions(after);
    for (i, rule) in before.rules.iter().enumerate() {
        if !new_pos.contains_key(rule.name.as_str()) {
            changes.push(Change::Removed {
                rule: rule.name.clone(),
                position: i + 1,
            });
        }
    }
    for (i, rule) in after.rules.iter().enumerate() {
        if !old_pos.contains_key(rule.name.as_str()) {
            changes.push(Change::Added {
                rule: rule.name.clone(),
                position: i + 1,
            });
        }
    }
    // Common rules in their new order; the longest run that kept its old order stayed,
    // every other common rule moved.
    let common: Vec<&Rule> = after
        .rules
        .iter()
        .filter(|r| old_pos.contains_key(r.name.as_str()))
        .collect();
    let old_order: Vec<usize> = common.iter().map(|r| old_pos[r.name.as_str()]).collect();
    let kept = longest_increasing(&old_order);
    for (k, rule) in common.iter().enumerate() {
        if !kept[k] {
            changes.push(Change::Moved {
                rule: rule.name.clone(),
                from: old_pos[rule.name.as_str()] + 1,
                to: new_pos[rule.name.as_str()] + 1,
            });
        }
    }
    for rule in &after.rules {
        if let Some(&i) = old_pos.get(rule.name.as_str()) {
            let fields = field_changes(&before.rules[i], rule);
            if !fields.is_empty() {
                changes.push(Change::Changed {
                    rule: rule.name.clone(),
                    fields,
                });
            }
        }
    }
    changes
}

fn positions(policy: &Policy) -> HashMap<&str, usize> {
    policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect()
}

/// Marks the members of one longest strictly increasing subsequence of `xs`.
fn longest_increasing(xs: &[usize]) -> Vec<bool> {
    let n = xs.len();
    let mut len = vec![1usize; n];
    let mut prev = vec![usize::MAX; n];
    for i in 0..n {
        for j in 0..i {
            if xs[j] < xs[i] && len[j] + 1 > len[i] {
                len[i] = len[j] + 1;
                prev[i] = j;
            }
        }
    }
    let mut kept = vec![false; n];
    let mut at = (0..n).max_by_key(|&i| (len[i], std::cmp::Reverse(i)));
    while let Some(i) = at {
        kept[i] = true;
        at = (prev[i] != usize::MAX).then_some(prev[i]);
    }
    kept
}

fn field_changes(before: &Rule, after: &Rule) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut field = |name: &str, b: String, a: String| {
        if b != a {
            out.push(FieldChange {
                field: name.into(),
                before: b,
                after: a,
            });
        }
    };
    field(
        "enabled",
        before.enabled.to_string(),
        after.enabled.to_string(),
    );
    field(
        "description",
        opt(&before.description),
        opt(&after.description),
    );
    field(
        "agent",
        opt(&before.matcher.agent),
        opt(&after.matcher.agent),
    );
    field("tool", opt(&before.matcher.tool), opt(&after.matcher.tool));
    field(
        "arguments",
        conditions_text(&before.matcher.args),
        conditions_text(&after.matcher.args),
    );
    field(
        "risk_any",
        list(&before.matcher.risk_any),
        list(&after.matcher.risk_any),
    );
    field(
        "risk_none",
        before.matcher.risk_none.to_string(),
        after.matcher.risk_none.to_string(),
    );
    field(
        "novel",
        before.matcher.novel.map_or("any".into(), |n| n.to_string()),
        after.matcher.novel.map_or("any".into(), |n| n.to_string()),
    );
    field("add_risk", list(&before.add_risk), list(&after.add_risk));
    field(
        "effect",
        effect_text(before.effect.as_ref()),
        effect_text(after.effect.as_ref()),
    );
    out
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "(none)".into())
}

fn list<T: Serialize>(items: &[T]) -> String {
    if items.is_empty() {
        return "(none)".into();
    }
    items
        .iter()
        .map(|i| {
            serde_json::to_value(i)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An argument condition in words: `/env matches prod*`.
pub fn condition_text(c: &ArgCondition) -> String {
    let op = serde_json::to_value(c.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let verb = match op.as_str() {
        "eq" => "is",
        "ne" => "is not",
        "glob" => "matches",
        "regex" => "matches the regex",
        "lt" => "<",
        "le" => "≤",
        "gt" => ">",
        "ge" => "≥",
        "exists" => "exists",
        "not_exists" => "is absent",
        _ => "?",
    };
    match &c.value {
        Some(serde_json::Value::String(s)) => format!("{} {verb} {s}", c.pointer),
        Some(v) => format!("{} {verb} {v}", c.pointer),
        None => format!("{} {verb}", c.pointer),
    }
}

/// An argument condition as the console's form writes it: `/env glob "prod*"` — the
/// operand as JSON, so the form reads back exactly what it wrote.
pub fn condition_text_raw(c: &ArgCondition) -> String {
    let op = serde_json::to_value(c.op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match &c.value {
        Some(v) => format!("{} {op} {v}", c.pointer),
        None => format!("{} {op}", c.pointer),
    }
}

/// Seconds as the form's short duration: `90s`, `10m`, `1h`, `2d`.
pub fn duration_short(secs: u64) -> String {
    match secs {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn conditions_text(conditions: &[ArgCondition]) -> String {
    if conditions.is_empty() {
        return "(none)".into();
    }
    conditions
        .iter()
        .map(condition_text)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// An effect in words: `allow`, `deny ("…")`, `gate: 2 managers, type "…", deadline 1 h,
/// approval TTL 10 min`, or `(adds risk only)`.
pub fn effect_text(effect: Option<&Effect>) -> String {
    match effect {
        None => "(adds risk only)".into(),
        Some(Effect::Allow) => "allow".into(),
        Some(Effect::Deny { message }) => format!("deny (\"{message}\")"),
        Some(Effect::Gate(g)) => {
            let people = if g.approvals_required == 1 {
                format!("1 {}", g.approver_role)
            } else {
                format!("{} {}s", g.approvals_required, g.approver_role)
            };
            let mut text = format!(
                "gate: {people}, deadline {}, approval TTL {}",
                duration_text(g.deadline_secs),
                duration_text(g.approval_ttl_secs)
            );
            if let Some(phrase) = &g.confirm {
                text += &format!(", type \"{phrase}\"");
            }
            text += &workflow_text(g);
            text
        }
    }
}

/// A gate's workflow settings in words, each after a comma (empty: all defaults).
fn workflow_text(g: &GateSettings) -> String {
    use super::policy::OnDeadline;
    let mut text = String::new();
    match (g.on_deadline, &g.escalate_to) {
        (OnDeadline::Deny, _) => text += ", denied at the deadline",
        (OnDeadline::Escalate, Some(to)) => {
            text += &format!(
                ", escalated to {to} at the deadline for {}",
                duration_text(g.escalate_deadline_secs.unwrap_or(g.deadline_secs))
            )
        }
        _ => {}
    }
    if let Some(max) = g.extend_max_secs {
        text += &format!(", extensions up to {}", duration_text(max));
    }
    if let Some(max) = g.grant_max_secs {
        text += &format!(
            ", grants up to {} / {} uses",
            duration_text(max),
            g.grant_max_uses
                .unwrap_or(super::workflow::DEFAULT_GRANT_USES)
        );
        if !g.grant_match.is_empty() {
            text += &format!(" (similar by {})", g.grant_match.join(", "));
        }
    }
    if let Some(secs) = g.no_retry_secs {
        text += &format!(", do-not-retry window {}", duration_text(secs));
    }
    text
}

/// Seconds as `45 s`, `10 min`, `1 h`, `1 h 30 min`, `2 d`.
pub fn duration_text(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s > 3600 && s % 60 == 0 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A rule as a sentence: "gate `deploy` when /env matches prod* — 2 managers, type
/// \"deploy {/env}\", deadline 1 h, approval TTL 10 min".
pub fn sentence(rule: &Rule) -> String {
    let m = &rule.matcher;
    let verb = match &rule.effect {
        None => "tag",
        Some(Effect::Allow) => "allow",
        Some(Effect::Deny { .. }) => "deny",
        Some(Effect::Gate(_)) => "gate",
    };
    let mut text = format!("{verb} `{}`", m.tool.as_deref().unwrap_or("any tool"));
    if let Some(agent) = &m.agent {
        text += &format!(" from agent `{agent}`");
    }
    let mut when = Vec::new();
    if !m.args.is_empty() {
        when.push(conditions_text(&m.args));
    }
    if !m.risk_any.is_empty() {
        when.push(format!("risk is any of {}", list(&m.risk_any)));
    }
    if m.risk_none {
        when.push("no risk class is set".into());
    }
    match m.novel {
        Some(true) => when.push("the tool is new in the session".into()),
        Some(false) => when.push("the tool was used before in the session".into()),
        None => {}
    }
    if !when.is_empty() {
        text += &format!(" when {}", when.join(" and "));
    }
    match &rule.effect {
        Some(Effect::Gate(_)) => {
            let effect = effect_text(rule.effect.as_ref());
            text += &format!(" — {}", effect.trim_start_matches("gate: "));
        }
        Some(Effect::Deny { message }) => text += &format!(" — \"{message}\""),
        _ => {}
    }
    if !rule.add_risk.is_empty() {
        text += &format!("; adds risk {}", list(&rule.add_risk));
    }
    if !rule.enabled {
        text += " (disabled)";
    }
    text
}

/// Whether a change loosens a gate, and why (every change found, each with its verdict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub loosening: bool,
    pub findings: Vec<Finding>,
}

/// One change and whether it loosens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub change: String,
    pub loosens: bool,
    /// Why it does (or provably does not) loosen.
    pub why: String,
}

/// How strict an effect is: allow < gate < deny; `None` is a rule that only adds risk.
fn rank(effect: Option<&Effect>) -> u8 {
    match effect {
        Some(Effect::Allow) => 0,
        None => 1,
        Some(Effect::Gate(_)) => 2,
        Some(Effect::Deny { .. }) => 3,
    }
}

/// How gate `after` is looser than gate `before`, in words (empty: it is not).
fn gate_loosenings(before: &GateSettings, after: &GateSettings) -> Vec<String> {
    let mut out = Vec::new();
    if after.approvals_required < before.approvals_required {
        out.push(format!(
            "fewer approvals ({} → {})",
            before.approvals_required, after.approvals_required
        ));
    }
    if after.approver_role < before.approver_role {
        out.push(format!(
            "a lower approver role ({} → {})",
            before.approver_role, after.approver_role
        ));
    }
    if after.deadline_secs > before.deadline_secs {
        out.push(format!(
            "a longer deadline ({} → {})",
            duration_text(before.deadline_secs),
            duration_text(after.deadline_secs)
        ));
    }
    if after.approval_ttl_secs > before.approval_ttl_secs {
        out.push(format!(
            "a longer approval TTL ({} → {})",
            duration_text(before.approval_ttl_secs),
            duration_text(after.approval_ttl_secs)
        ));
    }
    // The workflow's clocks: more time to approve after an escalation or by extensions, and
    // a shorter do-not-retry, each let more through.
    if after.escalate_overrides_role && !before.escalate_overrides_role {
        out.push("an escalation group decides below the rule's role".into());
    }
    let escalate = |g: &GateSettings| g.escalate_deadline_secs.unwrap_or(g.deadline_secs);
    if after.escalate_to.is_some()
        && before.escalate_to.is_some()
        && escalate(after) > escalate(before)
    {
        out.push(format!(
            "a longer deadline after escalation ({} → {})",
            duration_text(escalate(before)),
            duration_text(escalate(after))
        ));
    }
    let extend = |g: &GateSettings| g.extend_max_secs.unwrap_or(g.deadline_secs);
    if extend(after) > extend(before) {
        out.push(format!(
            "longer extensions ({} → {})",
            duration_text(extend(before)),
            duration_text(extend(after))
        ));
    }
    let no_retry = |g: &GateSettings| {
        g.no_retry_secs
            .unwrap_or(super::workflow::DEFAULT_NO_RETRY_SECS)
    };
    if no_retry(after) < no_retry(before) {
        out.push(format!(
            "a shorter do-not-retry ({} → {})",
            duration_text(no_retry(before)),
            duration_text(no_retry(after))
        ));
    }
    let uses = |g: &GateSettings| {
        g.grant_max_uses
            .unwrap_or(super::workflow::DEFAULT_GRANT_USES)
    };
    match (before.grant_max_secs, after.grant_max_secs) {
        (None, Some(max)) => out.push(format!(
            "remembered grants allowed (up to {}, {} uses)",
            duration_text(max),
            uses(after)
        )),
        (Some(b), Some(a)) => {
            if a > b {
                out.push(format!(
                    "longer grants ({} → {})",
                    duration_text(b),
                    duration_text(a)
                ));
            }
            if uses(after) > uses(before) {
                out.push(format!(
                    "more uses per grant ({} → {})",
                    uses(before),
                    uses(after)
                ));
            }
            // Fewer deciding arguments (or some where there were none) cover more calls.
            let wider = (before.grant_match.is_empty() && !after.grant_match.is_empty())
                || (!before.grant_match.is_empty()
                    && before
                        .grant_match
                        .iter()
                        .any(|p| !after.grant_match.contains(p)));
            if wider {
                out.push(format!(
                    "grants cover more calls (similar by {})",
                    if after.grant_match.is_empty() {
                        "nothing: identical only".to_string()
                    } else {
                        after.grant_match.join(", ")
                    }
                ));
            }
        }
        _ => {}
    }
    if after.escalate_to.is_some() && after.escalate_to != before.escalate_to {
        out.push(format!(
            "calls nobody decided go to {} (more people may approve)",
            after.escalate_to.as_deref().unwrap_or_default()
        ));
    }
    match (&before.confirm, &after.confirm) {
        (Some(_), None) => out.push("typed confirmation dropped".into()),
        (Some(b), Some(a)) if a != b => {
            out.push(format!("typed confirmation changed (\"{b}\" → \"{a}\")"))
        }
        _ => {}
    }
    out
}

/// Whether effect `after` is stricter or as strict as `before` (`Err`: why it is looser).
fn effect_not_looser(before: Option<&Effect>, after: Option<&Effect>) -> Result<(), String> {
    match (before, after) {
        (Some(Effect::Gate(b)), Some(Effect::Gate(a))) => {
            let looser = gate_loosenings(b, a);
            if looser.is_empty() {
                Ok(())
            } else {
                Err(looser.join(", "))
            }
        }
        (b, a) if rank(a) >= rank(b) && !(b.is_none() && a.is_some()) => Ok(()),
        (b, a) => Err(format!("{} → {}", effect_text(b), effect_text(a))),
    }
}

fn literal(pattern: &Option<String>) -> Option<&str> {
    pattern
        .as_deref()
        .filter(|p| !p.contains(['*', '?', '[', ']', '{', '}', '\\']))
}

/// Whether two rules might match the same call (false only when provably disjoint).
fn may_overlap(a: &Match, b: &Match) -> bool {
    let differ = |x: &Option<String>, y: &Option<String>| match (literal(x), literal(y)) {
        (Some(x), Some(y)) => x != y,
        _ => false,
    };
    // `write_file` also matches `files.write_file` by its bare name.
    let tools_differ = |x: &Option<String>, y: &Option<String>| match (literal(x), literal(y)) {
        (Some(x), Some(y)) => {
            let bare_is = |full: &str, bare: &str| {
                !bare.contains('.') && super::policy::bare_tool_name(full) == Some(bare)
            };
            x != y && !bare_is(x, y) && !bare_is(y, x)
        }
        _ => false,
    };
    !(tools_differ(&a.tool, &b.tool) || differ(&a.agent, &b.agent))
}

/// Whether `wide` matches at least every call `narrow` matches (it keeps only criteria
/// `narrow` also has, unchanged).
pub fn covers(wide: &Match, narrow: &Match) -> bool {
    let same_or_absent = |w: &Option<String>, n: &Option<String>| w.is_none() || w == n;
    same_or_absent(&wide.agent, &narrow.agent)
        && same_or_absent(&wide.tool, &narrow.tool)
        && wide.args.iter().all(|c| narrow.args.contains(c))
        && (wide.risk_any.is_empty() || wide.risk_any == narrow.risk_any)
        && (!wide.risk_none || narrow.risk_none)
        && (wide.novel.is_none() || wide.novel == narrow.novel)
}

/// Which enabled rules after `index` in `policy` a rule with `effect` and `matcher` placed
/// there could take calls from, to their loss: their names (and the default effect).
fn shadowed(
    policy: &Policy,
    index: usize,
    matcher: &Match,
    effect: Option<&Effect>,
) -> Vec<String> {
    let mut out: Vec<String> = policy.rules[index + 1..]
        .iter()
        .filter(|later| later.enabled && later.effect.is_some())
        .filter(|later| may_overlap(matcher, &later.matcher))
        .filter(|later| effect_not_looser(later.effect.as_ref(), effect).is_err())
        .map(|later| format!("`{}`", later.name))
        .collect();
    if effect.is_some() && effect_not_looser(Some(&policy.default_effect), effect).is_err() {
        out.push("the default effect".into());
    }
    out
}

/// Later enabled rules whose matching adding risk could change: every rule with an effect
/// that looks at risk (`risk_any` may start to match and take calls from stricter rules
/// after it; `risk_none` may stop matching and let calls fall through).
fn risk_sensitive(policy: &Policy, index: usize) -> Vec<String> {
    policy.rules[index + 1..]
        .iter()
        .filter(|r| r.enabled && r.effect.is_some())
        .filter(|r| !r.matcher.risk_any.is_empty() || r.matcher.risk_none)
        .map(|r| format!("`{}`", r.name))
        .collect()
}

/// Classifies the change from `in_force` to `draft`.
pub fn classify(in_force: &Policy, draft: &Policy) -> Classification {
    let mut findings = Vec::new();
    let mut push = |change: String, loosens: bool, why: String| {
        findings.push(Finding {
            change,
            loosens,
            why,
        })
    };
    let new_index: HashMap<&str, usize> = positions(draft);
    let old_index: HashMap<&str, usize> = positions(in_force);

    // A rule newly in force at `i` of the draft.
    let arriving = |i: usize| -> (bool, String) {
        let rule = &draft.rules[i];
        match &rule.effect {
            None => {
                let hit = risk_sensitive(draft, i);
                if hit.is_empty() {
                    (
                        false,
                        "it only adds risk, which only makes later gates match".into(),
                    )
                } else {
                    (
                        true,
                        format!("the risk it adds changes how {} match", hit.join(", ")),
                    )
                }
            }
            Some(Effect::Deny { .. }) => (false, "a deny rule only makes calls stricter".into()),
            effect => {
                let hit = shadowed(draft, i, &rule.matcher, effect.as_ref());
                if hit.is_empty() {
                    (
                        false,
                        "no stricter rule after it can match the same calls".into(),
                    )
                } else {
                    (
                        true,
                        format!("it may take calls from the stricter {}", hit.join(", ")),
                    )
                }
            }
        }
    };
    // A rule no longer in force (it was at `i` of the policy in force).
    let leaving = |i: usize| -> (bool, String) {
        match &in_force.rules[i].effect {
            Some(Effect::Allow) => (
                false,
                "calls it allowed now meet stricter rules or the default".into(),
            ),
            None if in_force.rules[i].add_risk.is_empty() => (false, "it did nothing".into()),
            None => (true, "the risk it added is no longer added".into()),
            Some(_) => (
                true,
                "calls it gated or denied fall through to later rules".into(),
            ),
        }
    };

    for change in diff(in_force, draft) {
        let text = change.describe();
        match &change {
            Change::DefaultEffect { .. } => {
                match effect_not_looser(Some(&in_force.default_effect), Some(&draft.default_effect))
                {
                    Ok(()) => push(
                        text,
                        false,
                        "the default effect is as strict or stricter".into(),
                    ),
                    Err(why) => push(
                        text,
                        true,
                        format!("the default effect moves towards allow: {why}"),
                    ),
                }
            }
            Change::Added { rule, .. } => {
                let i = new_index[rule.as_str()];
                if !draft.rules[i].enabled {
                    push(text, false, "it is disabled".into());
                } else {
                    let (loosens, why) = arriving(i);
                    push(text, loosens, why);
                }
            }
            Change::Removed { rule, .. } => {
                let i = old_index[rule.as_str()];
                if !in_force.rules[i].enabled {
                    push(text, false, "it was disabled".into());
                } else {
                    let (loosens, why) = leaving(i);
                    push(text, loosens, why);
                }
            }
            Change::Moved { rule, .. } => {
                let (i, j) = (old_index[rule.as_str()], new_index[rule.as_str()]);
                let moved = &draft.rules[j];
                if !moved.enabled || !in_force.rules[i].enabled {
                    push(text, false, "it is disabled".into());
                    continue;
                }
                // Pairs whose order flipped: the one now first may take calls from the other.
                let mut hurt = Vec::new();
                for other in draft
                    .rules
                    .iter()
                    .filter(|o| o.enabled && o.name != moved.name)
                {
                    let (Some(&oi), Some(&oj)) = (
                        old_index.get(other.name.as_str()),
                        new_index.get(other.name.as_str()),
                    ) else {
                        continue;
                    };
                    let (first, second) = match (oi < i, oj < j) {
                        (true, false) => (moved, other),
                        (false, true) => (other, moved),
                        _ => continue,
                    };
                    let matters = first.effect.is_none()
                        || second.effect.is_none()
                        || effect_not_looser(second.effect.as_ref(), first.effect.as_ref())
                            .is_err();
                    if matters && may_overlap(&first.matcher, &second.matcher) {
                        hurt.push(format!(
                            "`{}` now comes before `{}`",
                            first.name, second.name
                        ));
                    }
                }
                if hurt.is_empty() {
                    push(
                        text,
                        false,
                        "no rule it passed is stricter for the same calls".into(),
                    );
                } else {
                    push(text, true, hurt.join(", "));
                }
            }
            Change::Changed { rule, .. } => {
                let (i, j) = (old_index[rule.as_str()], new_index[rule.as_str()]);
                let (before, after) = (&in_force.rules[i], &draft.rules[j]);
                let mut why = Vec::new();
                match (before.enabled, after.enabled) {
                    (true, false) => {
                        let (loosens, w) = leaving(i);
                        if loosens {
                            why.push(format!("disabled: {w}"));
                        }
                    }
                    (false, true) => {
                        let (loosens, w) = arriving(j);
                        if loosens {
                            why.push(format!("enabled: {w}"));
                        }
                    }
                    (false, false) => {}
                    (true, true) => {
                        if let Err(w) =
                            effect_not_looser(before.effect.as_ref(), after.effect.as_ref())
                        {
                            why.push(format!("a looser effect: {w}"));
                        }
                        if before.matcher != after.matcher {
                            let ok = match &after.effect {
                                Some(Effect::Allow) => covers(&before.matcher, &after.matcher),
                                Some(Effect::Deny { .. }) => {
                                    covers(&after.matcher, &before.matcher)
                                }
                                Some(Effect::Gate(_)) => {
                                    covers(&after.matcher, &before.matcher)
                                        && shadowed(draft, j, &after.matcher, after.effect.as_ref())
                                            .is_empty()
                                }
                                None => false,
                            };
                            if !ok {
                                why.push(match &after.effect {
                                    Some(Effect::Allow) => "the allow rule may match calls it did not before".to_string(),
                                    _ => "what it matches changed: calls may escape it or be taken from stricter rules".to_string(),
                                });
                            }
                        }
                        if before.add_risk.iter().any(|r| !after.add_risk.contains(r)) {
                            why.push("it adds less risk".into());
                        }
                        if after.add_risk.iter().any(|r| !before.add_risk.contains(r)) {
                            let hit = risk_sensitive(draft, j);
                            if !hit.is_empty() {
                                why.push(format!(
                                    "the risk it adds changes how {} match",
                                    hit.join(", ")
                                ));
                            }
                        }
                    }
                }
                if why.is_empty() {
                    push(text, false, "nothing it decides became looser".into());
                } else {
                    push(text, true, why.join("; "));
                }
            }
        }
    }
    for (name, members) in &draft.groups {
        let before = in_force.groups.get(name);
        let added: Vec<&str> = members
            .iter()
            .filter(|m| before.is_none_or(|b| !b.contains(m)))
            .map(String::as_str)
            .collect();
        if !added.is_empty() {
            push(
                format!("group {name}: adds {}", added.join(", ")),
                true,
                "more people may decide the calls escalated to it".into(),
            );
        }
    }
    for (name, members) in &in_force.groups {
        let after = draft.groups.get(name);
        let removed: Vec<&str> = members
            .iter()
            .filter(|m| after.is_none_or(|a| !a.contains(m)))
            .map(String::as_str)
            .collect();
        if !removed.is_empty() {
            push(
                format!("group {name}: removes {}", removed.join(", ")),
                false,
                "fewer people may decide the calls escalated to it".into(),
            );
        }
    }
    Classification {
        loosening: findings.iter().any(|f| f.loosens),
        findings,
    }
}

#[cfg(test)]
mod tests;
