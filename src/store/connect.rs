//! Opening the database: SQLite with WAL and full durability, or PostgreSQL with the
//! session settings every instance needs; the migrations of its backend; the audit key check.

use super::{audit, Location, Pool};
use anyhow::Context;
use std::path::Path;

/// Opens (creating if needed) the database and applies the embedded migrations of its
/// backend. SQLite runs in WAL mode with full durability; PostgreSQL is used as the
/// operator configured it.
pub async fn open(location: &Location) -> anyhow::Result<Pool> {
    let pool = match location {
        Location::Sqlite(path) => Pool::Sqlite(open_sqlite(path).await?),
        // The driver's error only (its source repeats its message).
        Location::Postgres(url) => Pool::Postgres(
            open_postgres(url)
                .await
                .map_err(|e| anyhow::anyhow!("connecting to {location}: {e}"))?,
        ),
    };
    migrate(&pool).await?;
    Ok(pool)
}

async fn open_postgres(url: &str) -> sqlx::Result<sqlx::PgPool> {
    use sqlx::Connection as _;
    // One connection first: a refused connection or a wrong password is reported as such,
    // not as a pool that timed out retrying it.
    sqlx::PgConnection::connect(url).await?.close().await?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                conn.execute(POSTGRES_SESSION).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

async fn open_sqlite(path: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database directory {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(8)
        // A local file cannot go stale the way a network connection can; pinging it on
        // every checkout costs a round trip to the connection's thread for nothing.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the database {}", path.display()))
}

/// Applies the migrations of the pool's backend, on a connection of their own that is
/// closed afterwards: a SQLite migration may edit a table's text in the schema (to relax
/// a CHECK), which the connection that ran it would otherwise keep parsed as it was.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    match pool {
        Pool::Sqlite(p) => apply(p, sqlx::migrate!("./migrations/sqlite")).await,
        Pool::Postgres(p) => apply(p, sqlx::migrate!("./migrations/postgres")).await,
    }
}

/// Runs `migrator` on a connection detached from `pool`, closed afterwards.
async fn apply<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    migrator: sqlx::migrate::Migrator,
) -> anyhow::Result<()>
where
    DB::Connection: sqlx::migrate::Migrate,
{
    use sqlx::Connection as _;
    let mut conn = pool.acquire().await?.detach();
    migrator
        .run_direct(&mut conn)
        .await
        .context("applying database migrations")?;
    conn.close().await?;
    Ok(())
}

/// What every PostgreSQL session of askfirst sets first. A transaction left idle — its
/// instance frozen or cut off while holding the write lock — is ended by the server after
/// 15 s, which frees the lock; a write that waits 30 s for a lock gives up (`503 busy`)
/// instead of hanging its caller.
const POSTGRES_SESSION: &str =
    "SET idle_in_transaction_session_timeout = '15s'; SET lock_timeout = '30s'";

/// Whether the database answers.
pub async fn ping(pool: &Pool) -> sqlx::Result<()> {
    on!(pool, |c| sqlx::query("SELECT 1")
        .execute(c)
        .await
        .map(super::Done::from))
    .map(drop)
}

/// Refuses to go on writing with an audit key over a log linked without it (the chain
/// would stop verifying): `askfirst audit rekey` re-links it once.
///
/// The other way round too: a log linked with a key is not written to without it (each
/// such write would break the chain for good). Every process writing to the database —
/// every instance, every CLI command — needs the same key.
pub async fn check_audit_key(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let key = audit::key();
    if audit::linked_with(&mut conn, key).await? {
        return Ok(());
    }
    match key {
        Some(_) => anyhow::bail!(
            "the audit log is not linked with this audit key: run `askfirst audit verify` \
             without the key, then `askfirst audit rekey` with it, once"
        ),
        None => anyhow::bail!(
            "the audit log is linked with a key (or its first event was altered): pass the \
             key with --audit-key-file (or ASKFIRST_AUDIT_KEY_FILE) to every askfirst \
             process that writes to this database; `askfirst audit verify` tells which"
        ),
    }
}
