//! SQL for `reviews` (one person's review of one candidate of a call) and
//! `call_candidates` (the edits approvers made to a call's arguments).

use crate::domain::review::{self, Verdict};
use crate::domain::Role;
use crate::store::Executor;
use sqlx::FromRow;
use std::collections::HashMap;

/// A row of `reviews`.
#[derive(Debug, Clone, FromRow)]
pub struct ReviewRow {
    pub call_id: String,
    /// The candidate reviewed (1 is the proposal).
    pub version: i64,
    pub user_id: String,
    pub username: String,
    /// The reviewer's role when they reviewed.
    pub role: Role,
    pub decision: Verdict,
    pub feedback: Option<String>,
    /// Hash of the arguments the reviewer was shown.
    pub shown_hash: String,
    /// Whether the reviewer made the version they reviewed (read from `call_candidates`;
    /// not a column of `reviews`).
    pub edited: bool,
    /// The reviewer's role now, and whether their account is disabled now (read from
    /// `users`; not columns of `reviews`).
    pub role_now: Option<Role>,
    pub disabled_now: bool,
    pub at: i64,
    /// When the reviewer's current qualification began (ms; read from `users`).
    pub qualified_since: Option<i64>,
}

impl ReviewRow {
    /// The review as the engine counts it: with the lower of the reviewer's role then and
    /// now, and inactive once their account is disabled or gone.
    pub fn engine(&self) -> review::Review {
        review::Review {
            reviewer: self.user_id.clone(),
            role: self.role_now.map_or(self.role, |now| now.min(self.role)),
            active: self.role_now.is_some() && !self.disabled_now,
            verdict: self.decision,
            candidate: self.version.max(1) as u32,
            qualified_since: self.qualified_since.unwrap_or(i64::MAX),
        }
    }
}

const REVIEW_COLUMNS: &str =
    "call_id, version, user_id, username, role, decision, feedback, shown_hash, at";

/// The columns read back, with whether the reviewer made the version they reviewed.
const READ_COLUMNS: &str = "r.call_id, r.version, r.user_id, r.username, r.role, r.decision,
    r.feedback, r.shown_hash, r.at,
    EXISTS (SELECT 1 FROM call_candidates cc WHERE cc.call_id = r.call_id
            AND cc.version = r.version AND cc.author = 'user:' || r.username) AS edited,
    u.role AS role_now, COALESCE(u.disabled, TRUE) AS disabled_now, u.qualified_since";

/// Reviews of a call, oldest first.
pub async fn of_call(db: impl Executor<'_>, call_id: &str) -> sqlx::Result<Vec<ReviewRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {READ_COLUMNS} FROM reviews r LEFT JOIN users u ON u.id = r.user_id
         WHERE r.call_id = $1 ORDER BY r.at, r.version, r.username"
    ))
    .bind(call_id)
    .fetch_all(cn)
    .await)
}

/// The reviews of many calls in one query (for lists), grouped by call id.
pub async fn of_calls(
    db: impl Executor<'_>,
    call_ids: &[&str],
) -> sqlx::Result<HashMap<String, Vec<ReviewRow>>> {
    let mut by_call = HashMap::<String, Vec<ReviewRow>>::new();
    if call_ids.is_empty() {
        return Ok(by_call);
    }
    let sql = super::numbered(&format!(
        "SELECT {READ_COLUMNS} FROM reviews r LEFT JOIN users u ON u.id = r.user_id
         WHERE r.call_id IN ({}) ORDER BY r.at, r.version, r.username",
        super::marks(call_ids.len())
    ));
    let rows: Vec<ReviewRow> = on!(db, |cn| {
        let mut query = sqlx::query_as(&sql);
        for id in call_ids {
            query = query.bind(*id);
        }
        query.fetch_all(cn).await
    })?;
    for row in rows {
        by_call.entry(row.call_id.clone()).or_default().push(row);
    }
    Ok(by_call)
}

/// Records a review. Fails with a PRIMARY KEY violation if this person already reviewed
/// this candidate.
pub async fn insert(db: impl Executor<'_>, r: &ReviewRow) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(&format!(
        "INSERT INTO reviews ({REVIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&r.call_id)
    .bind(r.version)
    .bind(&r.user_id)
    .bind(&r.username)
    .bind(r.role)
    .bind(r.decision)
    .bind(&r.feedback)
    .bind(&r.shown_hash)
    .bind(r.at)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// A row of `call_candidates`: one edit of a call's arguments.
#[derive(Debug, Clone, FromRow)]
pub struct CandidateRow {
    pub call_id: String,
    pub version: i64,
    pub args: String,
    /// `user:<name>`.
    pub author: String,
    /// The rule that matched the edited arguments (`None`: the default effect).
    pub rule: Option<String>,
    pub created_at: i64,
}

/// A call's edits, oldest first.
pub async fn candidates(db: impl Executor<'_>, call_id: &str) -> sqlx::Result<Vec<CandidateRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT call_id, version, args, author, rule, created_at FROM call_candidates
         WHERE call_id = $1 ORDER BY version",
    )
    .bind(call_id)
    .fetch_all(cn)
    .await)
}

/// Records an edit.
pub async fn insert_candidate(db: impl Executor<'_>, c: &CandidateRow) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO call_candidates (call_id, version, args, author, rule, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.call_id)
    .bind(c.version)
    .bind(&c.args)
    .bind(&c.author)
    .bind(&c.rule)
    .bind(c.created_at)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}
