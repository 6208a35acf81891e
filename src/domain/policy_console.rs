//! What the admin's policy console shows: the policy in force, the admin's draft and how
//! it differs, dry runs, replays over recent calls, and the versions.

use super::policy_change::{Classification, Finding};
use super::risk::RiskClass;
use serde::{Deserialize, Serialize};

/// One rule as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLine {
    pub name: String,
    pub enabled: bool,
    /// The rule as a sentence.
    pub sentence: String,
    /// The rule as the edit form holds it.
    pub form: RuleForm,
}

/// The policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    pub version: i64,
    pub author: String,
    /// RFC 3339.
    pub at: String,
    pub comment: String,
    pub default_effect: String,
    pub rules: Vec<RuleLine>,
    /// The policy as the TOML file `askfirst policy export` writes.
    pub toml: String,
}

/// The signed-in admin's draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftView {
    /// The version the draft was started from.
    pub base: i64,
    pub default_effect: String,
    pub rules: Vec<RuleLine>,
    /// The draft as the TOML file `askfirst policy import` reads.
    pub toml: String,
    /// Changes against the policy in force, in words.
    pub changes: Vec<String>,
    pub classification: Classification,
    /// Things that make saving impossible (a gate nobody can satisfy).
    pub problems: Vec<String>,
    /// Things worth a look (rules an earlier rule shadows).
    pub warnings: Vec<String>,
}

/// A recent call, to dry-run against the draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentCall {
    pub id: String,
    pub agent: String,
    pub tool: String,
    /// Arguments as JSON text.
    pub args: String,
    pub risk: Vec<RiskClass>,
}

/// Everything the policy page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyConsole {
    pub in_force: InForce,
    pub draft: Option<DraftView>,
    pub recent: Vec<RecentCall>,
}

/// What happened to a call at one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepVerdict {
    /// The rule is disabled.
    Disabled,
    /// A criterion did not hold.
    Skipped { why: String },
    /// It matched and added risk; evaluation went on.
    Tagged,
    /// It matched and decided.
    Decided,
    /// An earlier rule decided.
    NotReached,
}

/// One rule's step in a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStep {
    pub rule: String,
    pub verdict: StepVerdict,
}

/// A call tried against the draft (and, for comparison, the policy in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// `allow`, `deny ("…")` or `gate: …`.
    pub outcome: String,
    /// The rule that decided (`None`: the default effect).
    pub rule: Option<String>,
    pub risk: Vec<RiskClass>,
    pub steps: Vec<RuleStep>,
    pub in_force_outcome: String,
}

/// How a call's outcome would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Stricter,
    Laxer,
}

/// One call whose outcome the draft would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCall {
    pub id: String,
    pub before: String,
    pub after: String,
    pub direction: Direction,
}

/// Calls of one tool from one agent whose outcome would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayGroup {
    pub agent: String,
    pub tool: String,
    pub stricter: u32,
    pub laxer: u32,
    /// The first few of them.
    pub calls: Vec<ReplayCall>,
}

/// The draft and the policy in force evaluated over recent calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// How many calls were evaluated.
    pub examined: u32,
    pub stricter: u32,
    pub laxer: u32,
    pub groups: Vec<ReplayGroup>,
}

/// One saved version of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    pub version: i64,
    pub author: String,
    /// RFC 3339.
    pub at: String,
    pub comment: String,
    /// Against the version before it.
    pub changes: Vec<String>,
    pub loosening: bool,
    pub findings: Vec<Finding>,
}

/// A rule as the console's form holds it: every field as typed, so nothing the admin typed
/// is lost when a field is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub enabled: bool,
    pub description: String,
    /// Glob on the agent's name; empty: any agent.
    pub agent: String,
    /// Glob on the tool; empty: any tool.
    pub tool: String,
    /// One argument condition per line: `<pointer> <op> [value]`, the value as JSON or
    /// plain text (`/env glob prod*`, `/amount gt 1000`, `/force eq true`, `/path exists`).
    pub conditions: String,
    /// Risk classes, comma- or space-separated.
    pub risk_any: String,
    pub risk_none: bool,
    /// `any`, `yes` or `no`.
    pub novel: String,
    /// Risk classes added when the rule matches.
    pub add_risk: String,
    /// `allow`, `deny`, `gate` or `none` (only adds risk).
    pub effect: String,
    /// A deny's message for the agent.
    pub message: String,
    pub approvals: String,
    /// `approver`, `manager` or `admin`.
    pub role: String,
    /// Durations: `90s`, `10m`, `1h`, `2d` or seconds.
    pub deadline: String,
    pub ttl: String,
    pub confirm: String,
    /// `expire`, `deny` or `escalate`.
    pub on_deadline: String,
    /// A role or `group:<name>` (with `escalate`).
    pub escalate_to: String,
    /// Durations; empty: the default.
    pub escalate_deadline: String,
    /// With an escalation to a group: its members decide whatever their role.
    #[serde(default)]
    pub escalate_overrides_role: bool,
    pub extend_max: String,
    /// Empty: no remembered grants.
    pub grant_max: String,
    pub grant_uses: String,
    /// JSON pointers, comma- or space-separated.
    pub grant_match: String,
    pub no_retry: String,
}

/// One refused field of the rule form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl RuleForm {
    /// The form filled in from a rule.
    pub fn of(rule: &super::policy::Rule) -> Self {
        use super::policy::Effect;
        use super::policy_change::condition_text_raw;
        let classes = |v: &[RiskClass]| v.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        let mut form = RuleForm {
            name: rule.name.clone(),
            enabled: rule.enabled,
            description: rule.description.clone().unwrap_or_default(),
            agent: rule.matcher.agent.clone().unwrap_or_default(),
            tool: rule.matcher.tool.clone().unwrap_or_default(),
            conditions: rule
                .matcher
                .args
                .iter()
                .map(condition_text_raw)
                .collect::<Vec<_>>()
                .join("\n"),
            risk_any: classes(&rule.matcher.risk_any),
            risk_none: rule.matcher.risk_none,
            novel: match rule.matcher.novel {
                None => "any",
                Some(true) => "yes",
                Some(false) => "no",
            }
            .into(),
            add_risk: classes(&rule.add_risk),
            effect: "none".into(),
            role: "approver".into(),
            approvals: "1".into(),
            deadline: "1h".into(),
            ttl: "10m".into(),
            on_deadline: "expire".into(),
            ..RuleForm::default()
        };
        match &rule.effect {
            None => {}
            Some(Effect::Allow) => form.effect = "allow".into(),
            Some(Effect::Deny { message }) => {
                form.effect = "deny".into();
                form.message = message.clone();
            }
            Some(Effect::Gate(g)) => {
                form.effect = "gate".into();
                form.approvals = g.approvals_required.to_string();
                form.role = g.approver_role.as_str().into();
                form.deadline = super::policy_change::duration_short(g.deadline_secs);
                form.ttl = super::policy_change::duration_short(g.approval_ttl_secs);
                form.confirm = g.confirm.clone().unwrap_or_default();
                let short = |s: Option<u64>| {
                    s.map(super::policy_change::duration_short)
                        .unwrap_or_default()
                };
                form.on_deadline = g.on_deadline.as_str().into();
                form.escalate_to = g.escalate_to.clone().unwrap_or_default();
                form.escalate_deadline = short(g.escalate_deadline_secs);
                form.escalate_overrides_role = g.escalate_overrides_role;
                form.extend_max = short(g.extend_max_secs);
                form.grant_max = short(g.grant_max_secs);
                form.grant_uses = g.grant_max_uses.map(|n| n.to_string()).unwrap_or_default();
                form.grant_match = g.grant_match.join(", ");
                form.no_retry = short(g.no_retry_secs);
            }
        }
        form
    }
}

/// What saving the draft did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveResult {
    /// The version in force now, when the change applied at once.
    pub version: Option<i64>,
    /// The pending change, when it loosens a gate and waits for managers.
    pub pending: Option<i64>,
    /// Approvals the pending change needs.
    pub approvals_required: u32,
}
