//! The native pools: a [`Pool`] is SQLite's or PostgreSQL's own, a [`Conn`] one connection
//! of either, and [`on!`] runs a statement on whichever it is. The statement's text and
//! binds are written once; the macro compiles them once per backend, so each runs with its
//! driver's own types (no `Any` re-encoding of every argument and copying of every cell).

use sqlx::pool::PoolConnection;
use sqlx::{Database, PgPool, Postgres, Sqlite, SqlitePool};
use std::ops::{Deref, DerefMut};

/// Runs `$body` with `$c` bound to the executor's connection, as `&mut SqliteConnection`
/// or `&mut PgConnection` (a pool lends one for the statement). The body is compiled for
/// both backends and evaluates to the same `Result` on each; a connection the pool could
/// not lend is that `Result`'s error.
///
/// ```ignore
/// let n: i64 = on!(db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(c).await)?;
/// ```
#[macro_export]
macro_rules! on {
    ($db:expr, |$c:ident| $body:expr) => {
        match $crate::store::Executor::ex($db) {
            $crate::store::Ex::Sqlite(handle) => match handle.get().await {
                #[allow(unused_mut)]
                Ok(mut held) => {
                    let $c = &mut *held;
                    $body
                }
                Err(e) => Err(e.into()),
            },
            $crate::store::Ex::Postgres(handle) => match handle.get().await {
                #[allow(unused_mut)]
                Ok(mut held) => {
                    let $c = &mut *held;
                    $body
                }
                Err(e) => Err(e.into()),
            },
        }
    };
}

/// A pool of connections to the database, SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One connection of either backend, lent by the pool or inside a transaction.
#[derive(Debug)]
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    SqliteTx(sqlx::Transaction<'static, Sqlite>),
    PostgresTx(sqlx::Transaction<'static, Postgres>),
}

/// A connection lent by the pool (returned to it when dropped).
#[derive(Debug)]
pub struct Pooled(Conn);

/// A transaction: rolled back when dropped without [`Tx::commit`].
#[derive(Debug)]
pub struct Tx(Conn);

impl Pool {
    /// Lends one connection.
    pub async fn acquire(&self) -> sqlx::Result<Pooled> {
        Ok(Pooled(match self {
            Self::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Self::Postgres(p) => Conn::Postgres(p.acquire().await?),
        }))
    }

    /// Starts a transaction with `BEGIN`.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(Tx(match self {
            Self::Sqlite(p) => Conn::SqliteTx(p.begin().await?),
            Self::Postgres(p) => Conn::PostgresTx(p.begin().await?),
        }))
    }

    /// Starts a transaction with the given statement (`BEGIN IMMEDIATE`, an isolation
    /// level).
    pub async fn begin_with(&self, statement: &'static str) -> sqlx::Result<Tx> {
        Ok(Tx(match self {
            Self::Sqlite(p) => Conn::SqliteTx(p.begin_with(statement).await?),
            Self::Postgres(p) => Conn::PostgresTx(p.begin_with(statement).await?),
        }))
    }

    /// Closes every connection; waits for those lent out to come back.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Sqlite(p) => p.is_closed(),
            Self::Postgres(p) => p.is_closed(),
        }
    }
}

impl Pooled {
    /// Closes the connection when it is dropped instead of returning it to the pool (it
    /// may be in a state the next user should not inherit).
    pub fn close_on_drop(&mut self) {
        match &mut self.0 {
            Conn::Sqlite(c) => c.close_on_drop(),
            Conn::Postgres(c) => c.close_on_drop(),
            Conn::SqliteTx(_) | Conn::PostgresTx(_) => {}
        }
    }
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self.0 {
            Conn::SqliteTx(tx) => tx.commit().await,
            Conn::PostgresTx(tx) => tx.commit().await,
            Conn::Sqlite(_) | Conn::Postgres(_) => unreachable!("a Tx holds a transaction"),
        }
    }

    /// Rolls back.
    pub async fn rollback(self) -> sqlx::Result<()> {
        match self.0 {
            Conn::SqliteTx(tx) => tx.rollback().await,
            Conn::PostgresTx(tx) => tx.rollback().await,
            Conn::Sqlite(_) | Conn::Postgres(_) => unreachable!("a Tx holds a transaction"),
        }
    }
}

macro_rules! holds_conn {
    ($($ty:ty),*) => {$(
        impl Deref for $ty {
            type Target = Conn;
            fn deref(&self) -> &Conn {
                &self.0
            }
        }
        impl DerefMut for $ty {
            fn deref_mut(&mut self) -> &mut Conn {
                &mut self.0
            }
        }
        impl<'c> Executor<'c> for &'c mut $ty {
            fn ex(self) -> Ex<'c> {
                (&mut self.0).ex()
            }
        }
    )*};
}
holds_conn!(Pooled, Tx);

/// Where a statement runs: one backend's pool or connection.
pub enum Ex<'c> {
    Sqlite(Handle<'c, Sqlite>),
    Postgres(Handle<'c, Postgres>),
}

/// A pool or a connection of one backend.
pub enum Handle<'c, DB: Database> {
    Pool(&'c sqlx::Pool<DB>),
    Conn(&'c mut DB::Connection),
}

impl<'c, DB: Database> Handle<'c, DB> {
    /// The connection to run on: the one given, or one the pool lends.
    pub async fn get(self) -> sqlx::Result<Held<'c, DB>> {
        Ok(match self {
            Self::Pool(pool) => Held::Lent(pool.acquire().await?),
            Self::Conn(conn) => Held::Borrowed(conn),
        })
    }
}

/// A connection for one statement.
pub enum Held<'c, DB: Database> {
    Lent(PoolConnection<DB>),
    Borrowed(&'c mut DB::Connection),
}

impl<DB: Database> Deref for Held<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match self {
            Self::Lent(c) => c,
            Self::Borrowed(c) => c,
        }
    }
}

impl<DB: Database> DerefMut for Held<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Self::Lent(c) => c,
            Self::Borrowed(c) => c,
        }
    }
}

/// Anything a statement runs on: `&Pool`, `&mut Conn`, `&mut Pooled`, `&mut Tx`.
pub trait Executor<'c>: Send {
    /// The backend and handle.
    fn ex(self) -> Ex<'c>;
}

impl<'c> Executor<'c> for &'c Pool {
    fn ex(self) -> Ex<'c> {
        match self {
            Pool::Sqlite(p) => Ex::Sqlite(Handle::Pool(p)),
            Pool::Postgres(p) => Ex::Postgres(Handle::Pool(p)),
        }
    }
}

impl<'c> Executor<'c> for &'c mut Conn {
    fn ex(self) -> Ex<'c> {
        match self {
            Conn::Sqlite(c) => Ex::Sqlite(Handle::Conn(&mut **c)),
            Conn::Postgres(c) => Ex::Postgres(Handle::Conn(&mut **c)),
            Conn::SqliteTx(c) => Ex::Sqlite(Handle::Conn(&mut **c)),
            Conn::PostgresTx(c) => Ex::Postgres(Handle::Conn(&mut **c)),
        }
    }
}

/// What a statement that returns no rows did, on either backend.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    /// How many rows it inserted, changed or deleted.
    pub fn rows_affected(self) -> u64 {
        self.rows_affected
    }
}

impl From<sqlx::sqlite::SqliteQueryResult> for Done {
    fn from(r: sqlx::sqlite::SqliteQueryResult) -> Self {
        Self {
            rows_affected: r.rows_affected(),
        }
    }
}

impl From<sqlx::postgres::PgQueryResult> for Done {
    fn from(r: sqlx::postgres::PgQueryResult) -> Self {
        Self {
            rows_affected: r.rows_affected(),
        }
    }
}

impl<'c> Executor<'c> for &'c mut sqlx::SqliteConnection {
    fn ex(self) -> Ex<'c> {
        Ex::Sqlite(Handle::Conn(self))
    }
}

impl<'c> Executor<'c> for &'c mut sqlx::PgConnection {
    fn ex(self) -> Ex<'c> {
        Ex::Postgres(Handle::Conn(self))
    }
}
