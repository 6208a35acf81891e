//! SQL for the `users` table.

use crate::clock::{from_millis, to_millis};
use crate::domain::{Role, UserView};
use crate::store::Executor;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::FromRow;

/// A row of `users`, including the password hash (never sent to a browser).
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    #[sqlx(try_from = "crate::store::text::Flag")]
    pub disabled: bool,
    pub created_at: i64,
    /// Set when an admin chose their password: they must change it before anything else.
    #[sqlx(try_from = "crate::store::text::Flag")]
    pub must_change_password: bool,
}

impl UserRow {
    /// The role, falling back to the least privileged one should the row hold garbage
    /// (the table's CHECK constraint prevents that).
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    /// The browser-safe view of this person.
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            role: self.role(),
            disabled: self.disabled,
            created_at: from_millis(self.created_at).to_rfc3339_opts(SecondsFormat::Secs, true),
            must_change_password: self.must_change_password,
        }
    }
}

/// What it takes to create a person.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub now: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, username, password_hash, role, disabled, created_at, must_change_password";

/// Inserts a person. Fails with a UNIQUE violation when the name is taken.
pub async fn insert(db: impl Executor<'_>, new: &NewUser<'_>) -> sqlx::Result<UserRow> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, username, password_hash, role, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(to_millis(new.now))
    .fetch_one(db)
    .await
}

/// Inserts a person only if there is nobody yet (the first-run admin). `None` when
/// someone already exists, so two racing first runs cannot both succeed.
pub async fn insert_first(
    db: impl Executor<'_>,
    new: &NewUser<'_>,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, username, password_hash, role, created_at)
         SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM users)
         RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(to_millis(new.now))
    .fetch_optional(db)
    .await
}

/// Finds a person by (normalised) username.
pub async fn find_by_username(
    db: impl Executor<'_>,
    username: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await
}

/// Everyone, oldest account first.
pub async fn list(db: impl Executor<'_>) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY created_at, username"
    ))
    .fetch_all(db)
    .await
}

/// Whether anyone exists yet.
pub async fn any(db: impl Executor<'_>) -> sqlx::Result<bool> {
    let any: super::text::Flag = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(db)
        .await?;
    Ok(any.0)
}

/// Enables or disables an account. Returns whether the account exists.
pub async fn set_disabled(
    db: impl Executor<'_>,
    username: &str,
    disabled: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
        .bind(i64::from(disabled))
        .bind(username)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes a person's role.
pub async fn set_role(db: impl Executor<'_>, id: &str, role: Role) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces a person's password hash; `must_change` makes them choose a new one at their
/// next sign-in.
pub async fn set_password(
    db: impl Executor<'_>,
    id: &str,
    password_hash: &str,
    must_change: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(i64::from(must_change))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// How many enabled admins there are.
pub async fn active_admins(db: impl Executor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(db)
        .await
}

/// How many enabled managers and admins there are (the people who can sign off).
pub async fn active_managers(db: impl Executor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role IN ('manager', 'admin') AND disabled = 0",
    )
    .fetch_one(db)
    .await
}

/// One person by id.
pub async fn find_by_id(db: impl Executor<'_>, id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Ids of the accounts created after `at` (ms): they never sign off what was asked before
/// they existed.
pub async fn created_after(db: impl Executor<'_>, at: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM users WHERE created_at > $1")
        .bind(at)
        .fetch_all(db)
        .await
}
