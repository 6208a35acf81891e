//! Write transactions: one writer at a time on either backend (SQLite's write lock, or on
//! PostgreSQL an advisory lock every write transaction takes first), and the transaction
//! control the group-commit writer runs many jobs in one transaction with.

use super::{Backend, Conn, Pool, Tx};

/// The advisory lock every write transaction on PostgreSQL takes first: writes from every
/// instance are serialised exactly as SQLite's `BEGIN IMMEDIATE` serialises them within
/// one, so a change that reads before it writes keeps its meaning, and audit ids are
/// assigned (and committed) in one total order.
const WRITE_LOCK: i64 = 0x6173_6b66_6972_7374; // "askfirst"

/// Starts a write transaction on `conn`, holding the database's write lock from its start.
pub async fn begin_write(conn: &mut Conn) -> sqlx::Result<()> {
    match Backend::of_conn(conn) {
        Backend::Sqlite => run(conn, "BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            run(conn, "BEGIN").await?;
            let locked = on!(&mut *conn, |c| sqlx::query(
                "SELECT pg_advisory_xact_lock($1)"
            )
            .bind(WRITE_LOCK)
            .execute(c)
            .await
            .map(super::Done::from));
            if let Err(e) = locked {
                let _ = run(conn, "ROLLBACK").await;
                return Err(e);
            }
            Ok(())
        }
    }
}

/// Runs one statement without arguments (transaction control).
async fn run(conn: &mut Conn, statement: &str) -> sqlx::Result<()> {
    use sqlx::Executor as _;
    on!(conn, |c| c.execute(statement).await.map(drop))
}

/// A write transaction from `pool` (see [`begin_write`]). On PostgreSQL the transaction
/// is open (and so rolled back if the caller is cancelled, say by a client that gave up)
/// before the lock is waited for: a cancelled wait can never leave a pooled connection
/// holding the lock.
pub async fn write_tx(pool: &Pool) -> sqlx::Result<Tx> {
    match Backend::of(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            on!(&mut tx, |c| sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(c)
                .await
                .map(super::Done::from))?;
            Ok(tx)
        }
    }
}

/// `COMMIT`.
pub async fn commit(conn: &mut Conn) -> sqlx::Result<()> {
    run(conn, "COMMIT").await
}

/// `ROLLBACK`.
pub async fn rollback(conn: &mut Conn) -> sqlx::Result<()> {
    run(conn, "ROLLBACK").await
}

/// Where [`rollback_to`] returns: the savepoints are the writer's own fixed names.
#[derive(Debug, Clone, Copy)]
pub enum Savepoint {
    /// Around one job.
    Job,
    /// Around a run of new calls.
    Appends,
}

impl Savepoint {
    fn name(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Appends => "appends",
        }
    }
}

/// `SAVEPOINT name`.
pub async fn savepoint(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
    run(conn, &format!("SAVEPOINT {}", at.name())).await
}

/// `ROLLBACK TO name` (the savepoint stays; [`release`] it).
pub async fn rollback_to(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
    run(conn, &format!("ROLLBACK TO SAVEPOINT {}", at.name())).await
}

/// `RELEASE name`.
pub async fn release(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
    run(conn, &format!("RELEASE SAVEPOINT {}", at.name())).await
}
