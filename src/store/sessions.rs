//! SQL for the `sessions` table.

use super::users::UserRow;
use crate::clock::to_millis;
use crate::store::Executor;
use chrono::{DateTime, Utc};

/// Records a new session for `user_id`, valid until `expires_at`.
pub async fn insert(
    db: impl Executor<'_>,
    token_hash: &str,
    user_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(db, |cn| {
        sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(to_millis(now))
    .bind(to_millis(expires_at))
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(())
}

/// The enabled person owning an unexpired session with this token hash.
pub async fn find_user(
    db: impl Executor<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<UserRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT u.id, u.username, u.password_hash, u.role, u.disabled, u.created_at,
                u.must_change_password, u.qualified_since, u.qualified_by, u.cooling_until,
                u.oidc_issuer, u.oidc_subject
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = FALSE",
    )
    .bind(token_hash)
    .bind(to_millis(now))
    .fetch_optional(cn)
    .await)
}

/// Ends one session.
pub async fn delete(db: impl Executor<'_>, token_hash: &str) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "DELETE FROM sessions WHERE token_hash = $1"
    )
    .bind(token_hash)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Ends every session of one person (on disabling the account).
pub async fn delete_for_user(db: impl Executor<'_>, user_id: &str) -> sqlx::Result<u64> {
    let done = on!(db, |cn| sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected())
}

/// Removes sessions that expired before `now`; returns how many.
pub async fn delete_expired(db: impl Executor<'_>, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = on!(db, |cn| sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1"
    )
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected())
}

/// Ends every session of a person but one (`keep`, a token hash).
pub async fn delete_others(db: impl Executor<'_>, user_id: &str, keep: &str) -> sqlx::Result<u64> {
    let done = on!(db, |cn| sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2"
    )
    .bind(user_id)
    .bind(keep)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected())
}

/// Ends the sessions of every password account but `keep` (usernames): password sign-in
/// was turned off, and sessions opened with a password before that end with it.
pub async fn delete_password_sessions(db: impl Executor<'_>, keep: &[String]) -> sqlx::Result<u64> {
    let kept = (1..=keep.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = if keep.is_empty() {
        "DELETE FROM sessions WHERE user_id IN
         (SELECT id FROM users WHERE oidc_subject IS NULL)"
            .to_string()
    } else {
        format!(
            "DELETE FROM sessions WHERE user_id IN
             (SELECT id FROM users WHERE oidc_subject IS NULL AND username NOT IN ({kept}))"
        )
    };
    on!(db, |cn| {
        let mut query = sqlx::query(&sql);
        for name in keep {
            query = query.bind(name);
        }
        Ok(query
            .execute(cn)
            .await
            .map(super::Done::from)?
            .rows_affected())
    })
}
