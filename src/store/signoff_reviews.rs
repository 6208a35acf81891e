//! SQL for `signoff_reviews`: managers' reviews of bypass requests and policy changes.

use crate::domain::review::{self, Verdict};
use crate::domain::Role;
use crate::store::Executor;
use sqlx::FromRow;

/// What is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Bypass,
    PolicyChange,
}

impl SubjectKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Bypass => "bypass",
            SubjectKind::PolicyChange => "policy_change",
        }
    }
}

/// A stored review, with the reviewer's role and account state now.
#[derive(Debug, Clone, FromRow)]
pub struct SignoffReviewRow {
    pub subject_id: i64,
    pub candidate: i64,
    pub user_id: String,
    pub username: String,
    /// Their role when they reviewed.
    pub role: Role,
    pub decision: Verdict,
    pub comment: Option<String>,
    pub shown_hash: String,
    pub at: i64,
    /// Read from `users`: their role now, and whether they are disabled now.
    pub role_now: Option<Role>,
    pub disabled_now: bool,
    /// Read from `users`: when the reviewer's current qualification began (ms).
    pub qualified_since: Option<i64>,
}

impl SignoffReviewRow {
    /// The review as the engine counts it: the lower of the role then and now, inactive
    /// once the account is disabled or gone.
    pub fn engine(&self) -> review::Review {
        review::Review {
            reviewer: self.user_id.clone(),
            role: self.role_now.map_or(self.role, |now| now.min(self.role)),
            active: self.role_now.is_some() && !self.disabled_now,
            verdict: self.decision,
            candidate: self.candidate.max(1) as u32,
            qualified_since: self.qualified_since.unwrap_or(i64::MAX),
        }
    }
}

const READ: &str = "SELECT r.subject_id, r.candidate, r.user_id, r.username, r.role, r.decision,
    r.comment, r.shown_hash, r.at, u.role AS role_now, COALESCE(u.disabled, TRUE) AS disabled_now,
    u.qualified_since
    FROM signoff_reviews r LEFT JOIN users u ON u.id = r.user_id";

/// The reviews of one subject, oldest first.
pub async fn of(
    db: impl Executor<'_>,
    kind: SubjectKind,
    id: i64,
) -> sqlx::Result<Vec<SignoffReviewRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{READ} WHERE r.subject = $1 AND r.subject_id = $2 ORDER BY r.at, r.candidate, r.username"
    ))
    .bind(kind.as_str())
    .bind(id)
    .fetch_all(cn)
    .await)
}

/// The reviews of many subjects of one kind, oldest first.
pub async fn of_many(
    db: impl Executor<'_>,
    kind: SubjectKind,
    ids: &[i64],
) -> sqlx::Result<Vec<SignoffReviewRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = super::numbered(&format!(
        "{READ} WHERE r.subject = ? AND r.subject_id IN ({})
         ORDER BY r.at, r.candidate, r.username",
        super::marks(ids.len())
    ));
    on!(db, |cn| {
        let mut query = sqlx::query_as(&sql).bind(kind.as_str());
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(cn).await
    })
}

/// A review to record.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    pub kind: SubjectKind,
    pub subject_id: i64,
    pub candidate: i64,
    pub user_id: &'a str,
    pub username: &'a str,
    pub role: Role,
    pub decision: Verdict,
    pub comment: Option<&'a str>,
    pub shown_hash: &'a str,
    pub at: i64,
}

/// Records a review (the primary key refuses a second one by the same person).
pub async fn insert(db: impl Executor<'_>, r: &NewReview<'_>) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO signoff_reviews (subject, subject_id, candidate, user_id, username, role,
            decision, comment, shown_hash, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(r.kind.as_str())
    .bind(r.subject_id)
    .bind(r.candidate)
    .bind(r.user_id)
    .bind(r.username)
    .bind(r.role)
    .bind(r.decision)
    .bind(r.comment)
    .bind(r.shown_hash)
    .bind(r.at)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
