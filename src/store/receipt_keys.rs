//! SQL for `receipt_keys`: the Ed25519 keys that sign approval receipts (the private half
//! sealed with the secrets key).

use crate::store::Executor;
use sqlx::FromRow;

/// One key.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub kid: String,
    /// When it was made (ms).
    pub created_at: i64,
    /// When another key took over signing (ms); `None` while it signs.
    pub retired_at: Option<i64>,
    /// Until when (ms) a retired key stays published.
    pub publish_until: Option<i64>,
    /// The public key: unpadded base64url of its 32 bytes (a JWK's `x`).
    pub public_x: String,
    /// The PKCS#8 private key, sealed.
    pub private_sealed: String,
}

const COLUMNS: &str = "kid, created_at, retired_at, publish_until, public_x, private_sealed";

/// Every key: the one that signs first, then the retired ones, most recently retired first.
pub async fn all(db: impl Executor<'_>) -> sqlx::Result<Vec<KeyRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM receipt_keys
          ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, kid DESC"
    ))
    .fetch_all(cn)
    .await)
}

/// Adds a key.
pub async fn insert(db: impl Executor<'_>, key: &KeyRow) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(&format!(
        "INSERT INTO receipt_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(&key.kid)
    .bind(key.created_at)
    .bind(key.retired_at)
    .bind(key.publish_until)
    .bind(&key.public_x)
    .bind(&key.private_sealed)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Retires every key that still signs, at `now`, published until `publish_until` (ms).
pub async fn retire_signing(
    db: impl Executor<'_>,
    now: i64,
    publish_until: i64,
) -> sqlx::Result<u64> {
    Ok(on!(db, |cn| sqlx::query(
        "UPDATE receipt_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL",
    )
    .bind(now)
    .bind(publish_until)
    .execute(cn)
    .await
    .map(super::Done::from))?
    .rows_affected())
}
