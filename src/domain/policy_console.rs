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
