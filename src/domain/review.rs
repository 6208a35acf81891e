//! The review engine: whether one person's review of a subject counts, and what it does.
//!
//! Three things need people's sign-off — a gated call, a bypass request, a policy change
//! that loosens a gate — and all of them ask this one pure function. A *subject* is a
//! snapshot (its hash: what a reviewer must have been shown), the candidate it belongs to,
//! its requirements and the reviews so far. The engine never does I/O and takes the time
//! as an argument; each lifecycle keeps its own state machine and conditional writes.
//!
//! Nothing else decides thresholds, eligibility, "already decided" or stale views: the
//! gate's decide path, the decision card's "can decide" line, the server functions and the
//! CLI all call [`may_review`] or [`review`].

use super::user::{QualifiedBy, Standing};
use super::Role;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A person's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// What a subject needs before it is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Distinct eligible approvals of the same candidate.
    pub approvals: u32,
    /// The least role that may review.
    pub role: Role,
    /// Reviewers (by id) who may never review this subject, e.g. its requester.
    pub excluded: Vec<String>,
    /// After this instant (milliseconds since the epoch) nothing can be reviewed.
    pub deadline_ms: Option<i64>,
    /// A phrase an approver must type exactly (already filled in from the candidate).
    pub confirm: Option<String>,
    /// When set, only these reviewers (by id) may review — an escalation to a named
    /// group: `(group name, member ids)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<(String, Vec<String>)>,
    /// When set (ms since the epoch: when the subject was filed), a reviewer qualifies only
    /// from facts older than this — their role, their active account and credentials they
    /// set themselves held continuously since before — and not while a password reset keeps
    /// them cooling off. Sign-off subjects always set it; calls do when
    /// [`call_needs_standing`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_ms: Option<i64>,
}

/// Whether a call's reviewers must qualify from facts older than the call: when its rule
/// needs a role above approver, or several approvals — N distinct people is the point of
/// N-of-M, and one admin must not be able to mint the others after the call arrived.
pub fn call_needs_standing(role: crate::domain::Role, approvals: u32) -> bool {
    role > crate::domain::Role::Approver || approvals >= 2
}

/// A review already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Who reviewed (their id).
    pub reviewer: String,
    /// Their role: the lower of their role when they reviewed and their role now, so a
    /// demoted reviewer's approval stops counting where the new role does not qualify.
    pub role: Role,
    /// Whether their account is still active; a disabled reviewer's approval stops counting.
    pub active: bool,
    pub verdict: Verdict,
    /// The candidate the review was of (1 is the original snapshot).
    pub candidate: u32,
    /// When the reviewer's current qualification began (ms): a review stops counting for a
    /// subject filed before it (their role was raised, their account enabled again or
    /// their password reset since).
    pub qualified_since: i64,
}

/// The thing under review, as it stands.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Whether it still accepts reviews (its lifecycle is in its pending state).
    pub open: bool,
    /// The current candidate (1 is the original snapshot; each edit adds one).
    pub candidate: u32,
    /// Hash of the current candidate's snapshot.
    pub hash: &'a str,
    pub requirements: &'a Requirements,
    /// Every review so far, of any candidate.
    pub reviews: &'a [Review],
}

/// Who is reviewing.
#[derive(Debug, Clone, Copy)]
pub struct Reviewer<'a> {
    pub id: &'a str,
    pub role: Role,
    /// A disabled account may not review.
    pub disabled: bool,
    /// Since when, and why, they hold what they hold.
    pub standing: Standing,
}

/// An edit that comes with an approval: a new candidate, with the requirements that apply
/// to it (the caller has already made sure they are never looser than the subject's).
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    pub hash: &'a str,
    pub requirements: &'a Requirements,
}

/// A review being submitted.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub reviewer: Reviewer<'a>,
    pub verdict: Verdict,
    /// Hash of what the reviewer was shown.
    pub shown: &'a str,
    /// The phrase the reviewer typed, if any.
    pub typed: Option<&'a str>,
    /// A new candidate (approvals only).
    pub edit: Option<Edit<'a>>,
    /// Now, in milliseconds since the epoch.
    pub now_ms: i64,
}

/// What a counted review does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An approval counted: `approvals` of `required` for `candidate`.
    Recorded {
        candidate: u32,
        approvals: u32,
        required: u32,
    },
    /// This approval reached the threshold for `candidate`.
    Approved { candidate: u32, approvals: u32 },
    /// A deny: one eligible deny vetoes.
    Vetoed { candidate: u32 },
    /// An edit made a new candidate, but the editor's role does not qualify under its
    /// requirements (`why`): the candidate stands and the editor's review of it is recorded
    /// (so they cannot edit it again), but it does not count.
    EditedOnly { candidate: u32, why: Refusal },
}

/// Why a review is refused. The codes are stable and travel to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The subject no longer accepts reviews.
    NotPending,
    /// The deadline has passed.
    DeadlinePassed,
    /// This reviewer already reviewed the current candidate.
    DuplicateReviewer,
    /// This reviewer may never review this subject (its requester).
    SelfReview,
    /// The reviewer's role (or account) does not qualify: `needs` is the least role.
    NotEligible { needs: Role, disabled: bool },
    /// The reviewer was shown another candidate than the current one.
    StaleView,
    /// The typed phrase is not the required one.
    ConfirmationMismatch { phrase: String },
    /// The subject was escalated to a group this reviewer is not in.
    NotInGroup { group: String },
    /// The reviewer's qualification began after the subject was filed (`by` says how).
    QualifiedAfter { by: QualifiedBy, role: Role },
    /// A password reset by someone else keeps the reviewer from this until `until_ms`.
    CoolingOff { until_ms: i64 },
}

impl Refusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotPending => "not_pending",
            Refusal::DeadlinePassed => "deadline_passed",
            Refusal::DuplicateReviewer => "duplicate_reviewer",
            Refusal::SelfReview => "self_review",
            Refusal::NotEligible { .. }
            | Refusal::NotInGroup { .. }
            | Refusal::QualifiedAfter { .. }
            | Refusal::CoolingOff { .. } => "not_eligible",
            Refusal::StaleView => "stale_view",
            Refusal::ConfirmationMismatch { .. } => "confirmation_mismatch",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotPending => f.write_str("this is no longer waiting for reviews"),
            Refusal::DeadlinePassed => f.write_str("the decision deadline passed"),
            Refusal::DuplicateReviewer => {
                f.write_str("you already reviewed this version; another person must")
            }
            Refusal::SelfReview => f.write_str("you asked for this, so you cannot review it"),
            Refusal::NotEligible { disabled: true, .. } => f.write_str("this account is disabled"),
            Refusal::NotEligible { needs, .. } => {
                write!(f, "reviewing this needs the {needs} role")
            }
            Refusal::StaleView => {
                f.write_str("the arguments changed since you opened this call — review again")
            }
            Refusal::ConfirmationMismatch { phrase } => {
                write!(f, "type `{phrase}` exactly to approve")
            }
            Refusal::NotInGroup { group } => write!(
                f,
                "this was escalated to the {group} group; only its members may review it"
            ),
            Refusal::QualifiedAfter { by, role } => {
                let what = match by {
                    QualifiedBy::Created => "your account was created".to_string(),
                    QualifiedBy::RoleRaised => format!("your role became {role}"),
                    QualifiedBy::Enabled => "your account was enabled again".to_string(),
                    QualifiedBy::PasswordReset => {
                        "an admin reset your password (or you set a new one after that)".to_string()
                    }
                };
                write!(
                    f,
                    "{what} after this was asked for, so you cannot review it: only people \
                     who already qualified when it was filed can"
                )
            }
            Refusal::CoolingOff { until_ms } => write!(
                f,
                "an admin reset your password: you can review sign-offs again from {}",
                utc_text(*until_ms)
            ),
        }
    }
}

/// Whether `reviewer` may review `subject` at `now_ms` at all — the checks that do not
/// depend on what they submit. The decision card asks this to say why someone cannot
/// decide; [`review`] asks it first.
pub fn may_review(
    subject: &Subject<'_>,
    reviewer: Reviewer<'_>,
    now_ms: i64,
) -> Result<(), Refusal> {
    if !subject.open {
        return Err(Refusal::NotPending);
    }
    if subject
        .requirements
        .deadline_ms
        .is_some_and(|d| now_ms >= d)
    {
        return Err(Refusal::DeadlinePassed);
    }
    if subject
        .requirements
        .excluded
        .iter()
        .any(|x| x == reviewer.id)
    {
        return Err(Refusal::SelfReview);
    }
    eligible(subject.requirements, reviewer, now_ms)?;
    if subject
        .reviews
        .iter()
        .any(|r| r.candidate == subject.candidate && r.reviewer == reviewer.id)
    {
        return Err(Refusal::DuplicateReviewer);
    }
    Ok(())
}

/// An instant (ms) as `2026-12-07 14:02 UTC`.
fn utc_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn eligible(
    requirements: &Requirements,
    reviewer: Reviewer<'_>,
    now_ms: i64,
) -> Result<(), Refusal> {
    if reviewer.disabled || !reviewer.role.includes(requirements.role) {
        return Err(Refusal::NotEligible {
            needs: requirements.role,
            disabled: reviewer.disabled,
        });
    }
    if let Some((group, ids)) = &requirements.only {
        if !ids.iter().any(|id| id == reviewer.id) {
            return Err(Refusal::NotInGroup {
                group: group.clone(),
            });
        }
    }
    if let Some(filed) = requirements.filed_ms {
        if reviewer.standing.since_ms > filed {
            return Err(Refusal::QualifiedAfter {
                by: reviewer.standing.by,
                role: reviewer.role,
            });
        }
        if let Some(until_ms) = reviewer.standing.cooling(now_ms) {
            return Err(Refusal::CoolingOff { until_ms });
        }
    }
    Ok(())
}

fn confirmed(requirements: &Requirements, typed: Option<&str>) -> Result<(), Refusal> {
    match &requirements.confirm {
        Some(phrase) if typed.map(str::trim) != Some(phrase.trim()) => {
            Err(Refusal::ConfirmationMismatch {
                phrase: phrase.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Approvals that count for `candidate` under `requirements`: distinct, eligible, not
/// excluded, of that very candidate.
pub fn approvals(reviews: &[Review], candidate: u32, requirements: &Requirements) -> u32 {
    let mut seen: Vec<&str> = Vec::new();
    for r in reviews {
        let counts = r.candidate == candidate
            && r.verdict == Verdict::Approve
            && r.active
            && r.role.includes(requirements.role)
            && !requirements.excluded.contains(&r.reviewer)
            && requirements
                .only
                .as_ref()
                .is_none_or(|(_, ids)| ids.contains(&r.reviewer))
            && requirements
                .filed_ms
                .is_none_or(|filed| r.qualified_since <= filed)
            && !seen.contains(&r.reviewer.as_str());
        if counts {
            seen.push(&r.reviewer);
        }
    }
    seen.len() as u32
}

/// Decides whether `submission` counts for `subject`, and what it does.
pub fn review(subject: &Subject<'_>, submission: &Submission<'_>) -> Result<Outcome, Refusal> {
    may_review(subject, submission.reviewer, submission.now_ms)?;
    if submission.shown != subject.hash {
        return Err(Refusal::StaleView);
    }
    let edit = submission
        .edit
        .filter(|e| submission.verdict == Verdict::Approve && e.hash != subject.hash);
    if let Some(edit) = edit {
        let candidate = subject.candidate + 1;
        if let Err(why) = eligible(edit.requirements, submission.reviewer, submission.now_ms) {
            return Ok(Outcome::EditedOnly { candidate, why });
        }
        // An eligible editor must type the phrase of the edited arguments; until they do,
        // nothing is recorded.
        confirmed(edit.requirements, submission.typed)?;
        return Ok(threshold(candidate, 1, edit.requirements.approvals));
    }
    match submission.verdict {
        Verdict::Deny => Ok(Outcome::Vetoed {
            candidate: subject.candidate,
        }),
        Verdict::Approve => {
            confirmed(subject.requirements, submission.typed)?;
            let so_far = approvals(subject.reviews, subject.candidate, subject.requirements);
            Ok(threshold(
                subject.candidate,
                so_far + 1,
                subject.requirements.approvals,
            ))
        }
    }
}

fn threshold(candidate: u32, approvals: u32, required: u32) -> Outcome {
    if approvals >= required {
        Outcome::Approved {
            candidate,
            approvals,
        }
    } else {
        Outcome::Recorded {
            candidate,
            approvals,
            required,
        }
    }
}

#[cfg(test)]
mod tests;
