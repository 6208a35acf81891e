//! What bypass requests and policy changes share: the admin's sign-off settings, the
//! requirements a manager's review must meet, and how stored reviews are shown. Whether a
//! review counts is the review engine's answer ([`crate::domain::review`]).

use super::Gate;
use crate::clock::to_millis;
use crate::domain::error::StateCode;
use crate::domain::review::{self, Outcome};
use crate::domain::review::{Refusal, Requirements, Verdict};
use crate::domain::signoff::{
    is_bidi_control, AccountChange, SignoffReviewView, SignoffSettings, MAX_TEXT,
};
use crate::domain::{AppError, Role, UserView};
use crate::store::signoff_reviews::{self, SignoffReviewRow, SubjectKind};
use crate::store::{self, audit};
use serde_json::json;

/// The settings' key in `settings`.
const SETTINGS_KEY: &str = "signoff";

/// A manager's review as submitted (browser, CLI).
#[derive(Debug, Clone)]
pub struct SignoffInput {
    pub verdict: Verdict,
    /// Required with a deny.
    pub comment: Option<String>,
    /// Hash of what the reviewer was shown.
    pub shown_hash: String,
}

impl SignoffInput {
    /// The comment, trimmed; a deny needs one, and none may be too long.
    pub(super) fn comment(&self) -> Result<Option<String>, AppError> {
        let comment = self
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if self.verdict == Verdict::Deny && comment.is_none() {
            return Err(AppError::Invalid(
                "say why you deny it: a comment is required".into(),
            ));
        }
        text("the comment", comment.unwrap_or(""))?;
        Ok(comment.map(str::to_string))
    }
}

/// Checks people's free text: at most [`MAX_TEXT`] characters, no control characters but
/// line breaks and tabs.
pub(super) fn text(what: &str, value: &str) -> Result<(), AppError> {
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::Invalid(format!(
            "{what} is longer than {MAX_TEXT} characters"
        )));
    }
    if value
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c))
    {
        return Err(AppError::Invalid(format!(
            "{what} must not contain control or text-direction characters"
        )));
    }
    Ok(())
}

/// What a manager's review of a sign-off subject filed at `filed` (ms) must meet: the
/// requester never counts, and reviewers qualify only from facts older than the filing.
pub(super) fn requirements(
    approvals: i64,
    requester: Option<&str>,
    filed: i64,
    deadline: i64,
) -> Requirements {
    Requirements {
        approvals: approvals.max(2) as u32,
        role: Role::Manager,
        excluded: requester.map(str::to_string).into_iter().collect(),
        deadline_ms: Some(deadline),
        confirm: None,
        only: None,
        filed_ms: Some(filed),
    }
}

/// The reviews as people see them, against the current candidate.
pub(super) fn review_views(
    rows: &[SignoffReviewRow],
    candidate: u32,
    requirements: &Requirements,
) -> Vec<SignoffReviewView> {
    rows.iter()
        .map(|r| {
            let engine = r.engine();
            SignoffReviewView {
                user: r.username.clone(),
                verdict: r.decision,
                comment: r.comment.clone(),
                at: store::calls::rfc3339(r.at),
                current: engine.candidate == candidate,
                counts: engine.verdict == Verdict::Approve
                    && crate::domain::review::approvals(
                        std::slice::from_ref(&engine),
                        candidate,
                        requirements,
                    ) == 1,
            }
        })
        .collect()
}

/// A refusal worded for a sign-off subject; `resolved` says what became of it.
pub(super) fn refused(refusal: Refusal, resolved: &str) -> AppError {
    match refusal {
        Refusal::NotPending => AppError::State(
            StateCode::AlreadyResolved,
            format!("already resolved: it was {resolved}"),
        ),
        Refusal::DeadlinePassed => AppError::State(
            StateCode::DeadlinePassed,
            "the request expired before enough managers signed off".into(),
        ),
        Refusal::SelfReview => AppError::State(
            StateCode::SelfReview,
            "you asked for this, so you can never sign it off — even as a manager or admin".into(),
        ),
        Refusal::StaleView => AppError::State(
            StateCode::StaleView,
            "this changed since you opened it — review what it is now".into(),
        ),
        other => other.into(),
    }
}

/// The reviewer as stored now: role, account state and standing read fresh, not from a
/// session (a vanished account reads as disabled).
pub(super) async fn current_reviewer(
    conn: &mut crate::store::Conn,
    user: &UserView,
) -> Result<UserView, AppError> {
    Ok(store::users::find_by_id(&mut *conn, &user.id)
        .await?
        .map(|u| u.view())
        .unwrap_or_else(|| UserView {
            disabled: true,
            ..user.clone()
        }))
}

impl Gate {
    /// The sign-off settings in force (the defaults until an admin saves some).
    pub async fn signoff_settings(&self) -> Result<SignoffSettings, AppError> {
        read_settings(&self.pool).await
    }

    /// Saves the sign-off settings (`actor`: `user:<name>` or `cli`; the caller checked
    /// they are an admin). Refused when fewer than `approvals + 1` active managers exist.
    pub async fn set_signoff_settings(
        &self,
        actor: &str,
        settings: SignoffSettings,
    ) -> Result<SignoffSettings, AppError> {
        let now = self.clock.now();
        let actor = actor.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let managers = store::users::active_managers(&mut *conn).await?;
                    settings.check(managers).map_err(AppError::Invalid)?;
                    let before = read_settings(&mut *conn).await?;
                    let settings = settings.saved_over(&before, to_millis(now));
                    super::settings::save(conn, SETTINGS_KEY, &settings, &actor, now).await?;
                    Ok(settings)
                })
            })
            .await
    }

    /// Active managers and admins.
    pub async fn active_managers(&self) -> Result<i64, AppError> {
        Ok(store::users::active_managers(&self.pool).await?)
    }

    /// Bypass requests and policy changes waiting for managers (for the navigation).
    pub async fn pending_signoffs(&self) -> Result<i64, AppError> {
        let now = to_millis(self.clock.now());
        Ok(store::bypasses::pending_count(&self.pool, now).await?
            + store::policy_changes::pending_count(&self.pool, now).await?)
    }
}

/// The sign-off settings in force, read on `db` (also by the people service, for a reset's
/// cooling-off).
pub(crate) async fn read_settings(
    db: impl crate::store::Executor<'_>,
) -> Result<SignoffSettings, AppError> {
    super::settings::read(db, SETTINGS_KEY).await
}

/// A sign-off subject as a review of it needs it.
pub(super) struct Signed<'a> {
    pub kind: SubjectKind,
    pub id: i64,
    /// The candidate under review (1 for a bypass; each re-base of a change adds one).
    pub candidate: i64,
    /// Whether it still takes reviews (its lifecycle is pending).
    pub open: bool,
    pub hash: &'a str,
    pub approvals: i64,
    /// Who asked (never counts).
    pub requester: Option<&'a str>,
    pub created_at: i64,
    pub deadline: i64,
    /// What became of it, in words (for "already resolved").
    pub resolved: &'a str,
    /// The audit event kind of a review, and the detail key naming the subject.
    pub audit_kind: &'a str,
    pub audit_key: &'a str,
}

/// What a counted review did.
pub(super) struct Reviewed {
    pub outcome: Outcome,
    /// Whose approvals count now, this one's included.
    pub approvers: Vec<String>,
    /// `user:<name>` of the reviewer.
    pub actor: String,
}

/// Has the review engine decide whether `user`'s review of `subject` counts — with the
/// reviewer's role and account read fresh, and accounts newer than the request excluded —
/// and, if it does, records it with its audit event in the caller's transaction. The
/// caller performs what the outcome means for its own lifecycle.
pub(super) async fn record(
    conn: &mut crate::store::Conn,
    subject: &Signed<'_>,
    user: &UserView,
    input: &SignoffInput,
    comment: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<Reviewed, AppError>, AppError> {
    let now_ms = to_millis(now);
    let rows = signoff_reviews::of(&mut *conn, subject.kind, subject.id).await?;
    let me = current_reviewer(&mut *conn, user).await?;
    let req = requirements(
        subject.approvals,
        subject.requester,
        subject.created_at,
        subject.deadline,
    );
    let engine: Vec<review::Review> = rows.iter().map(|r| r.engine()).collect();
    let candidate = subject.candidate.max(1) as u32;
    let view = review::Subject {
        open: subject.open,
        candidate,
        hash: subject.hash,
        requirements: &req,
        reviews: &engine,
    };
    let submission = review::Submission {
        reviewer: super::decide::reviewer(&me),
        verdict: input.verdict,
        shown: &input.shown_hash,
        typed: None,
        edit: None,
        now_ms,
    };
    let outcome = match review::review(&view, &submission) {
        Ok(outcome) => outcome,
        Err(refusal) => return Ok(Err(refused(refusal, subject.resolved))),
    };
    signoff_reviews::insert(
        &mut *conn,
        &signoff_reviews::NewReview {
            kind: subject.kind,
            subject_id: subject.id,
            candidate: subject.candidate,
            user_id: &me.id,
            username: &me.username,
            role: me.role,
            decision: input.verdict,
            comment,
            shown_hash: &input.shown_hash,
            at: now_ms,
        },
    )
    .await?;
    let actor = format!("user:{}", me.username);
    let mut detail = json!({
        "candidate": subject.candidate, "verdict": input.verdict.as_str(),
        "comment": comment, "shown_hash": input.shown_hash,
    });
    detail[subject.audit_key] = json!(subject.id);
    audit::append(
        conn,
        &audit::NewEvent::about(now, &actor, subject.audit_kind, None, None, detail),
    )
    .await?;
    let approvers = rows
        .iter()
        .filter(|r| {
            let e = r.engine();
            e.verdict == Verdict::Approve
                && review::approvals(std::slice::from_ref(&e), candidate, &req) == 1
        })
        .map(|r| r.username.clone())
        .chain((input.verdict == Verdict::Approve).then(|| me.username.clone()))
        .collect();
    Ok(Ok(Reviewed {
        outcome,
        approvers,
        actor,
    }))
}

/// Most account changes listed on one sign-off request.
const ACCOUNT_CHANGES_LISTED: i64 = 50;

/// Changes to people's accounts since `filed` (ms), in words: role changes, enables and
/// disables, resets and new accounts — what may have touched the request's reviewers.
pub(super) async fn account_changes(
    db: impl crate::store::Executor<'_>,
    filed: i64,
) -> Result<Vec<AccountChange>, AppError> {
    let rows = store::audit_query::account_changes_since(db, filed, ACCOUNT_CHANGES_LISTED).await?;
    Ok(rows
        .iter()
        .map(|e| {
            let d = e.detail_json();
            let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let what = match e.kind.as_str() {
                "user.created" => format!("created as {}", text("role")),
                "user.role_changed" => format!("role {} → {}", text("from"), text("to")),
                "user.enabled" => "enabled again".into(),
                "user.disabled" => "disabled".into(),
                "user.password_reset" => match d
                    .get("cooling_until")
                    .and_then(|v| v.as_str())
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                {
                    Some(until) => format!(
                        "password reset by someone else; signs nothing off until {}",
                        until.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => "password reset by someone else".into(),
                },
                "user.password_changed" => "set their own password".into(),
                other => other.to_string(),
            };
            AccountChange {
                at: store::calls::rfc3339(e.at),
                by: e.actor.clone(),
                user: text("user"),
                what,
            }
        })
        .collect())
}
