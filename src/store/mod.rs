//! Storage: the native pools (SQLite's or PostgreSQL's, [`db`]) and, per table, the one
//! module that holds its SQL. Statements are written once, in the SQL both backends share
//! (`$n` parameters, `ON CONFLICT`, `RETURNING`), and run through [`on!`] with each
//! driver's own types; where the SQL differs, the module asks [`Backend`].

#[macro_use]
mod db;
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
pub use db::{Conn, Done, Ex, Executor, Handle, Held, Pool, Pooled, Tx};
pub use location::{Backend, Location};
pub use sql::{like_escape, marks, marks_for, numbered, power_of_two_chunks};
pub use tx::{begin_write, write_tx};

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
