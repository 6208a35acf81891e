//! What bypass requests and policy changes share: the admin's sign-off settings, the
//! requirements a manager's review must meet, and how stored reviews are shown. Whether a
//! review counts is the review engine's answer ([`crate::domain::review`]).

use super::Gate;
use crate::clock::to_millis;
use crate::domain::error::StateCode;
use crate::domain::review::{Refusal, Requirements, Verdict};
use crate::domain::signoff::{is_bidi_control, SignoffReviewView, SignoffSettings, MAX_TEXT};
use crate::domain::{AppError, Role, UserView};
use crate::store::{self, audit, signoff_reviews::SignoffReviewRow};
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

/// What a manager's review of a sign-off subject must meet: `requester` and accounts
/// created after the request (`late`) never count.
pub(super) fn requirements(
    approvals: i64,
    requester: Option<&str>,
    late: &[String],
    deadline: i64,
) -> Requirements {
    Requirements {
        approvals: approvals.max(2) as u32,
        role: Role::Manager,
        excluded: requester
            .map(str::to_string)
            .into_iter()
            .chain(late.iter().cloned())
            .collect(),
        deadline_ms: Some(deadline),
        confirm: None,
    }
}

/// Why `reviewer` may not review what `requester` asked for, when the engine says
/// `SelfReview`: they asked, or their account is newer than the request.
pub(super) fn excluded_why(reviewer: &str, requester: Option<&str>) -> AppError {
    if requester == Some(reviewer) {
        refused(Refusal::SelfReview, "")
    } else {
        AppError::State(
            StateCode::NotEligible,
            "your account was created after this was asked for, so it cannot sign it off".into(),
        )
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

/// The reviewer as stored now (role and account state read fresh, not from a session),
/// with when their account was created (ms).
pub(super) async fn current_reviewer(
    conn: &mut sqlx::SqliteConnection,
    user: &UserView,
) -> Result<(UserView, i64), AppError> {
    Ok(store::users::find_by_id(&mut *conn, &user.id)
        .await?
        .map(|u| (u.view(), u.created_at))
        .unwrap_or_else(|| {
            (
                UserView {
                    disabled: true,
                    ..user.clone()
                },
                i64::MAX,
            )
        }))
}

/// Reviewers whose accounts were created after `since` (ms): they never count.
pub(super) fn late(rows: &[SignoffReviewRow], since: i64) -> Vec<String> {
    rows.iter()
        .filter(|r| r.user_created_at.is_some_and(|t| t > since))
        .map(|r| r.user_id.clone())
        .collect()
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
                    let value = serde_json::to_string(&settings)
                        .map_err(|e| AppError::Internal(format!("settings: {e}")))?;
                    store::settings::put(&mut *conn, SETTINGS_KEY, &value, &actor, now).await?;
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "settings.changed",
                            agent_id: None,
                            call_id: None,
                            from_status: None,
                            to_status: None,
                            detail: json!({ "signoff": settings, "before": before }),
                        },
                    )
                    .await?;
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

async fn read_settings(db: impl sqlx::SqliteExecutor<'_>) -> Result<SignoffSettings, AppError> {
    match store::settings::get(db, SETTINGS_KEY).await? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(format!("stored sign-off settings unreadable: {e}"))),
        None => Ok(SignoffSettings::default()),
    }
}
