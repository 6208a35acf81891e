//! Storage: the SQLite pool and, per table, the one module that holds its SQL.

pub mod agents;
pub mod audit;
pub mod audit_query;
pub mod bypasses;
pub mod calls;
pub mod grants;
pub mod insights;
pub mod json;
pub mod no_retry;
pub mod notify;
pub mod policy;
pub mod policy_changes;
pub mod reviews;
pub mod sessions;
pub mod settings;
pub mod signoff_reviews;
pub mod users;
pub mod webhooks;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::{path::Path, str::FromStr, time::Duration};

/// Opens (creating if needed) the database at `path`, in WAL mode with full durability,
/// and applies the embedded migrations.
pub async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database directory {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        // A local file cannot go stale the way a network connection can; pinging it on
        // every checkout costs a round trip to the connection's thread for nothing.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Refuses to go on writing with an audit key over a log linked without it (the chain
/// would stop verifying): `askfirst audit rekey` re-links it once.
pub async fn check_audit_key(pool: &SqlitePool) -> anyhow::Result<()> {
    if let Some(key) = audit::key() {
        let mut conn = pool.acquire().await?;
        if !audit::keyed_with(&mut conn, key).await? {
            anyhow::bail!(
                "the audit log is not linked with this audit key: run `askfirst audit verify` \
                 without the key, then `askfirst audit rekey` with it, once"
            );
        }
    }
    Ok(())
}

/// Splits `items` into runs whose lengths are powers of two (largest first, at most
/// `max`), for multi-row statements: a few distinct statement shapes stay in the prepared
/// statement cache, instead of one new statement to prepare for every batch size.
pub fn power_of_two_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Whether `err` is a violation of a UNIQUE constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let cases: [(usize, usize, &[usize]); 6] = [
            (0, 256, &[]),
            (1, 256, &[1]),
            (7, 256, &[4, 2, 1]),
            (64, 256, &[64]),
            (100, 256, &[64, 32, 4]),
            (600, 256, &[256, 256, 64, 16, 8]),
        ];
        for (n, max, want) in cases {
            let items: Vec<usize> = (0..n).collect();
            let chunks = super::power_of_two_chunks(&items, max);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes, want, "{n} items");
            assert_eq!(chunks.concat(), items, "order kept");
        }
    }
}
