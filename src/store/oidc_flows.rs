//! SQL for the `oidc_flows` table: sign-ins with the OpenID provider under way.

use crate::store::Executor;
use sqlx::FromRow;

/// What a sign-in keeps between the redirect to the provider and its callback.
#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (a path on this site).
    pub next_path: String,
    pub expires_at: i64,
}

/// Records a flow under the SHA-256 of its `state`.
pub async fn insert(db: impl Executor<'_>, state_hash: &str, flow: &FlowRow) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO oidc_flows (state_hash, nonce, pkce_verifier, next_path, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash)
    .bind(&flow.nonce)
    .bind(&flow.pkce_verifier)
    .bind(&flow.next_path)
    .bind(flow.expires_at)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Takes the flow with this state hash out of the table: a callback uses it once, so a
/// replayed callback finds nothing. Expired flows are returned too (the caller says so).
pub async fn take(db: impl Executor<'_>, state_hash: &str) -> sqlx::Result<Option<FlowRow>> {
    on!(db, |cn| sqlx::query_as(
        "DELETE FROM oidc_flows WHERE state_hash = $1
         RETURNING nonce, pkce_verifier, next_path, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(cn)
    .await)
}

/// Removes flows that expired before `now_ms` (abandoned sign-ins); returns how many.
pub async fn delete_expired(db: impl Executor<'_>, now_ms: i64) -> sqlx::Result<u64> {
    let done = on!(db, |cn| sqlx::query(
        "DELETE FROM oidc_flows WHERE expires_at <= $1"
    )
    .bind(now_ms)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected())
}

/// How many flows are stored (abandoned ones too, until swept).
pub async fn count(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM oidc_flows"
    )
    .fetch_one(cn)
    .await)
}
