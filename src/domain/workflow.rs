//! The approver workflow's rules, as pure functions: what a gate's deadline does to a
//! pending call, how far its deadline may be extended, what a remembered grant covers,
//! and how long a `do_not_retry` denial answers the same call again. The gate performs
//! what these decide; the injected clock's `now` is always an argument.

use super::policy::{GateSettings, OnDeadline};
use super::risk::RiskClass;
use super::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pending call's deadline may be extended at most this often.
pub const MAX_EXTENSIONS: u32 = 2;
/// No deadline, however extended or escalated, lies further than this after the proposal.
pub const HARD_CAP_MS: i64 = 30 * 24 * 3600 * 1000;
/// Longest reason for an extension, in characters.
pub const MAX_EXTEND_REASON: usize = 500;
/// Uses of a grant when its rule sets no `grant_max_uses`.
pub const DEFAULT_GRANT_USES: u32 = 10;
/// Most uses any grant may have.
pub const MAX_GRANT_USES: u32 = 1000;
/// How long a `do_not_retry` denial answers a repeat, when the rule says nothing: a day.
pub const DEFAULT_NO_RETRY_SECS: u64 = 86_400;
/// Most pointers a rule's `grant_match` may name.
pub const MAX_GRANT_MATCH: usize = 8;

/// Who decides a call after it was escalated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Everyone holding this role (or a higher one).
    Role(Role),
    /// The members of one of the policy's named groups.
    Group(String),
}

impl Audience {
    /// Parses a rule's `escalate_to`: a role name, or `group:<name>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("group:") {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            return if ok {
                Ok(Audience::Group(name.to_string()))
            } else {
                Err(format!(
                    "`{text}`: a group name is 1-64 letters, digits, `-`, `_` or `.`"
                ))
            };
        }
        match Role::ALL.into_iter().find(|r| r.as_str() == text) {
            Some(Role::Viewer) => Err("escalate_to cannot be viewer: viewers never decide".into()),
            Some(role) => Ok(Audience::Role(role)),
            None => Err(format!(
                "escalate_to must be approver, manager, admin or group:<name> (not `{text}`)"
            )),
        }
    }

    /// As written in policy (`manager`, `group:oncall`).
    pub fn as_text(&self) -> String {
        match self {
            Audience::Role(role) => role.as_str().to_string(),
            Audience::Group(name) => format!("group:{name}"),
        }
    }

    /// In words: "managers", "the oncall group".
    pub fn describe(&self) -> String {
        match self {
            Audience::Role(role) => format!("{}s", role.as_str()),
            Audience::Group(name) => format!("the {name} group"),
        }
    }
}

/// What a remembered grant may be, as its rule allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTerms {
    /// Longest window, in milliseconds.
    pub max_ms: i64,
    /// Most uses.
    pub max_uses: u32,
    /// The arguments that decide (JSON pointers); empty: only identical calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pointers: Vec<String>,
}

/// A gated call's workflow, frozen from its rule when it was proposed (like its deadline
/// and approvals): a policy change later does not move a call already waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    #[serde(default, skip_serializing_if = "OnDeadline::is_default")]
    pub on_deadline: OnDeadline,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<Audience>,
    /// For a group: its members (usernames) when the call was proposed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_members: Vec<String>,
    /// For a group the policy lets decide whatever its members' roles.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overrides_role: bool,
    /// How long the escalated audience has, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_ms: Option<i64>,
    /// Most one extension adds, in milliseconds (the rule's `extend_max_secs`, else its
    /// deadline; `None` only for calls stored before workflows were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_max_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantTerms>,
    /// How long a `do_not_retry` denial answers a repeat, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_retry_ms: Option<i64>,
}

fn ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

impl Workflow {
    /// The workflow a gate rule's settings give its calls (`escalate_to` already checked
    /// when the policy was compiled; an unreadable one escalates nowhere and expires).
    pub fn of(
        settings: &GateSettings,
        groups: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Self {
        let escalate_to = settings
            .escalate_to
            .as_deref()
            .and_then(|t| Audience::parse(t).ok());
        Workflow {
            on_deadline: match settings.on_deadline {
                OnDeadline::Escalate if escalate_to.is_none() => OnDeadline::Expire,
                other => other,
            },
            group_members: match &escalate_to {
                Some(Audience::Group(name)) => groups.get(name).cloned().unwrap_or_default(),
                _ => Vec::new(),
            },
            overrides_role: settings.escalate_overrides_role
                && matches!(escalate_to, Some(Audience::Group(_))),
            escalate_ms: escalate_to.as_ref().map(|_| {
                ms(settings
                    .escalate_deadline_secs
                    .unwrap_or(settings.deadline_secs))
            }),
            escalate_to,
            extend_max_ms: Some(ms(settings
                .extend_max_secs
                .unwrap_or(settings.deadline_secs))),
            grant: settings.grant_max_secs.map(|max| GrantTerms {
                max_ms: ms(max),
                max_uses: settings.grant_max_uses.unwrap_or(DEFAULT_GRANT_USES),
                pointers: settings.grant_match.clone(),
            }),
            no_retry_ms: settings.no_retry_secs.map(ms),
        }
    }

    /// How long a `do_not_retry` denial of this call answers a repeat, in milliseconds.
    pub fn no_retry_ms(&self) -> i64 {
        self.no_retry_ms
            .unwrap_or_else(|| ms(DEFAULT_NO_RETRY_SECS))
    }
}

/// What the deadline does to a pending call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineStep {
    /// It expires.
    Expire,
    /// It is denied.
    Deny,
    /// It moves to `to`, with a new deadline (milliseconds since the epoch).
    Escalate { to: Audience, deadline_ms: i64 },
}

/// What `workflow` does at the deadline `deadline_ms` of a call proposed at `created_ms`
/// that was `escalated` already or not: escalation happens once, then the call expires;
/// the new deadline never passes the hard cap.
pub fn at_deadline(
    workflow: &Workflow,
    escalated: bool,
    created_ms: i64,
    deadline_ms: i64,
) -> DeadlineStep {
    match (&workflow.on_deadline, &workflow.escalate_to) {
        (OnDeadline::Deny, _) => DeadlineStep::Deny,
        (OnDeadline::Escalate, Some(to)) if !escalated => {
            let cap = created_ms.saturating_add(HARD_CAP_MS);
            let next = deadline_ms
                .saturating_add(workflow.escalate_ms.unwrap_or(0))
                .min(cap);
            if next > deadline_ms {
                DeadlineStep::Escalate {
                    to: to.clone(),
                    deadline_ms: next,
                }
            } else {
                DeadlineStep::Expire
            }
        }
        _ => DeadlineStep::Expire,
    }
}

/// Why a deadline cannot be extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendRefusal {
    /// The deadline has passed (or the call is no longer pending).
    TooLate,
    /// It was extended [`MAX_EXTENSIONS`] times already.
    NoneLeft,
    /// More than one extension may add (`max_ms`), or nothing.
    BadAmount { max_ms: i64 },
    /// The new deadline would pass the hard cap (`cap_ms`, since the epoch).
    PastCap { cap_ms: i64 },
}

impl std::fmt::Display for ExtendRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtendRefusal::TooLate => f.write_str("the deadline has passed"),
            ExtendRefusal::NoneLeft => write!(
                f,
                "the deadline was extended {MAX_EXTENSIONS} times already; decide now"
            ),
            ExtendRefusal::BadAmount { max_ms } => write!(
                f,
                "an extension adds between 1 second and {} seconds",
                max_ms / 1000
            ),
            ExtendRefusal::PastCap { .. } => {
                f.write_str("that would move the deadline more than 30 days past the proposal")
            }
        }
    }
}

/// The new deadline when a pending call's deadline `deadline_ms` (the call proposed at
/// `created_ms`, its rule's deadline `rule_ms` long, extended `extensions` times so far) is
/// extended by `add_ms` at `now_ms` — or why not.
pub fn extend(
    workflow: &Workflow,
    created_ms: i64,
    rule_ms: i64,
    deadline_ms: i64,
    extensions: u32,
    add_ms: i64,
    now_ms: i64,
) -> Result<i64, ExtendRefusal> {
    if now_ms >= deadline_ms {
        return Err(ExtendRefusal::TooLate);
    }
    if extensions >= MAX_EXTENSIONS {
        return Err(ExtendRefusal::NoneLeft);
    }
    let max_ms = workflow.extend_max_ms.unwrap_or(rule_ms).max(1000);
    if !(1000..=max_ms).contains(&add_ms) {
        return Err(ExtendRefusal::BadAmount { max_ms });
    }
    let cap_ms = created_ms.saturating_add(HARD_CAP_MS);
    let next = deadline_ms.saturating_add(add_ms);
    if next > cap_ms {
        return Err(ExtendRefusal::PastCap { cap_ms });
    }
    Ok(next)
}

/// What a grant covers besides agent, tool and rule: identical arguments (their hash) or
/// the values of the arguments that decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantMatch {
    /// Identical arguments: this canonical hash.
    Identical(String),
    /// Calls whose arguments at these pointers equal these values.
    Similar(Vec<(String, Value)>),
}

impl GrantMatch {
    /// What a grant made from a call with `args` (hash `hash`) covers: identical calls, or
    /// with `similar`, calls agreeing on the rule's pointers — each of which must be present.
    pub fn of(
        terms: &GrantTerms,
        similar: bool,
        args: &Value,
        hash: &str,
    ) -> Result<GrantMatch, String> {
        if !similar || terms.pointers.is_empty() {
            return Ok(GrantMatch::Identical(hash.to_string()));
        }
        terms
            .pointers
            .iter()
            .map(|p| match args.pointer(p) {
                Some(v) => Ok((p.clone(), v.clone())),
                None => Err(format!(
                    "the call has no `{p}` argument, so \"similar calls\" cannot be told apart; grant identical calls only"
                )),
            })
            .collect::<Result<_, _>>()
            .map(GrantMatch::Similar)
    }

    /// Whether a call with `args` (hash `hash`) is covered.
    pub fn covers(&self, args: &Value, hash: &str) -> bool {
        match self {
            GrantMatch::Identical(h) => h == hash,
            GrantMatch::Similar(values) => values
                .iter()
                .all(|(p, v)| args.pointer(p).is_some_and(|a| a == v)),
        }
    }

    /// In words: "identical arguments", "/service = \"api\"".
    pub fn describe(&self) -> String {
        match self {
            GrantMatch::Identical(_) => "identical arguments".into(),
            GrantMatch::Similar(values) => values
                .iter()
                .map(|(p, v)| format!("{p} = {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Why a grant may not be given for a call carrying `risk` (the rule allows grants): never
/// for destructive or irreversible calls, calls that ask for typed confirmation, or calls
/// that need more than one approval — a grant is one person's word.
pub fn grant_refusal(risk: &[RiskClass], confirm: bool, approvals: u32) -> Option<String> {
    if let Some(r) = risk
        .iter()
        .find(|r| matches!(r, RiskClass::Destructive | RiskClass::Irreversible))
    {
        return Some(format!("no grants for {} calls", r.as_str()));
    }
    if confirm {
        return Some("no grants for calls that ask for typed confirmation".into());
    }
    if approvals > 1 {
        return Some(format!(
            "no grants for calls that need {approvals} approvals: a grant is one person's word"
        ));
    }
    None
}

#[cfg(test)]
mod tests;

/// One preset reason an approver can pick when denying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialReason {
    /// Stable code the agent receives (`out_of_scope`): 1-40 of `a-z`, `0-9`, `_`.
    pub code: String,
    /// What the approver picks and the agent reads when no words are added.
    pub label: String,
}

/// The admin-managed list of preset denial reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialReasons {
    pub reasons: Vec<DenialReason>,
}

/// Most preset denial reasons.
pub const MAX_DENIAL_REASONS: usize = 20;

impl Default for DenialReasons {
    fn default() -> Self {
        let r = |code: &str, label: &str| DenialReason {
            code: code.into(),
            label: label.into(),
        };
        DenialReasons {
            reasons: vec![
                r("out_of_scope", "This is outside the task you were given."),
                r(
                    "wrong_target",
                    "The target (file, service, environment or recipient) is wrong.",
                ),
                r("too_risky", "Too risky to do now; find a safer way."),
                r(
                    "needs_context",
                    "Not enough context to approve; explain what this is for.",
                ),
                r(
                    "already_done",
                    "This was already done, or someone else is doing it.",
                ),
            ],
        }
    }
}

impl DenialReasons {
    /// Checks codes and labels; the list as saved.
    pub fn check(&self) -> Result<(), String> {
        if self.reasons.len() > MAX_DENIAL_REASONS {
            return Err(format!("at most {MAX_DENIAL_REASONS} reasons"));
        }
        let mut seen = Vec::new();
        for r in &self.reasons {
            let ok = !r.code.is_empty()
                && r.code.len() <= 40
                && r.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(format!("`{}`: a code is 1-40 of a-z, 0-9 and _", r.code));
            }
            if seen.contains(&r.code.as_str()) {
                return Err(format!("`{}` is listed twice", r.code));
            }
            seen.push(&r.code);
            if r.label.trim().is_empty()
                || r.label.chars().count() > 200
                || !super::signoff::is_plain(&r.label)
            {
                return Err(format!(
                    "`{}`: the text is 1-200 visible characters on one line",
                    r.code
                ));
            }
        }
        Ok(())
    }

    /// The preset with `code`.
    pub fn find(&self, code: &str) -> Option<&DenialReason> {
        self.reasons.iter().find(|r| r.code == code)
    }

    /// Parses the admin's text: one reason per line, `code: text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let reasons = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| match line.split_once(':') {
                Some((code, label)) => Ok(DenialReason {
                    code: code.trim().to_string(),
                    label: label.trim().to_string(),
                }),
                None => Err(format!(
                    "`{line}`: write one reason per line as `code: text`"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let list = DenialReasons { reasons };
        list.check()?;
        Ok(list)
    }

    /// As the admin edits it: `code: text` lines.
    pub fn text(&self) -> String {
        self.reasons
            .iter()
            .map(|r| format!("{}: {}", r.code, r.label))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
