//! Storage: the pool (SQLite or PostgreSQL, one interface over both) and, per table, the one
//! module that holds its SQL. Statements are written once, in the SQL both backends share
//! (`$n` parameters, `ON CONFLICT`, `RETURNING`); where they differ, the module asks
//! [`Backend`].

pub mod agents;
pub mod append;
pub mod audit;
pub mod audit_query;
pub mod bypasses;
pub mod calls;
pub mod changes;
mod connect;
pub mod copy;
pub mod grants;
pub mod insights;
pub mod json;
mod location;
pub mod no_retry;
pub mod notify;
pub mod oidc_flows;
pub mod policy;
pub mod policy_changes;
pub mod receipt_keys;
pub mod reviews;
pub mod sessions;
pub mod settings;
pub mod sign_in_failures;
pub mod signoff_reviews;
mod sql;
pub mod text;
pub mod tx;
pub mod users;
pub mod webhooks;

pub use connect::{check_audit_key, migrate, open, ping};
pub use location::{Backend, Location};
pub use sql::{like_escape, marks, numbered, power_of_two_chunks};
pub use tx::{begin_write, write_tx};

/// The database driver: SQLite or PostgreSQL, chosen at run time by the `--db` value.
pub type Db = sqlx::Any;
/// A pool of connections to either backend.
pub type Pool = sqlx::AnyPool;
/// One connection to either backend.
pub type Conn = sqlx::AnyConnection;

/// A statement with its arguments, being bound.
pub type Query<'q> = sqlx::query::Query<'q, Db, sqlx::any::AnyArguments<'q>>;

/// Anything that runs a statement: a pool, a connection or a transaction.
pub trait Executor<'c>: sqlx::Executor<'c, Database = Db> {}
impl<'c, T: sqlx::Executor<'c, Database = Db>> Executor<'c> for T {}

/// Whether `err` says the database is too busy to take the write now (a lock wait ran
/// out), rather than that something is wrong.
pub fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        // PostgreSQL's lock_not_available (lock_timeout).
        sqlx::Error::Database(db) => db.code().as_deref() == Some("55P03"),
        _ => false,
    }
}

/// Whether `err` is a violation of a UNIQUE constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
