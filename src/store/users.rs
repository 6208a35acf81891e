//! SQL for the `users` table.

use crate::clock::{from_millis, to_millis};
use crate::domain::user::{QualifiedBy, Standing};
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
    pub disabled: bool,
    pub created_at: i64,
    /// Set when an admin chose their password: they must change it before anything else.
    pub must_change_password: bool,
    /// When the account's current qualification began (ms), and what began it.
    pub qualified_since: i64,
    pub qualified_by: String,
    /// Until when (ms) a password reset by someone else keeps it from signing off.
    pub cooling_until: Option<i64>,
    /// For an account that signs in with the OpenID provider: its issuer and subject.
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
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
            standing: self.standing(),
            oidc_subject: self.oidc_subject.clone(),
        }
    }

    /// Whether the account signs in with the OpenID provider (it has no password here).
    pub fn is_oidc(&self) -> bool {
        self.oidc_subject.is_some()
    }

    /// The facts sign-off eligibility is decided from.
    pub fn standing(&self) -> Standing {
        Standing {
            since_ms: self.qualified_since,
            by: QualifiedBy::parse(&self.qualified_by),
            cooling_until_ms: self.cooling_until,
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

/// The columns of a [`UserRow`] (also read, prefixed `u.`, by `sessions`).
pub const COLUMNS: &str = "id, username, password_hash, role, disabled, created_at, \
    must_change_password, qualified_since, qualified_by, cooling_until, oidc_issuer, oidc_subject";

/// Inserts a person. Fails with a UNIQUE violation when the name is taken.
pub async fn insert(db: impl Executor<'_>, new: &NewUser<'_>) -> sqlx::Result<UserRow> {
    on!(db, |cn| sqlx::query_as(&format!(
        "INSERT INTO users (id, username, password_hash, role, created_at, qualified_since)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(to_millis(new.now))
    .fetch_one(cn)
    .await)
}

/// Inserts a person only if there is nobody yet (the first-run admin). `None` when
/// someone already exists, so two racing first runs cannot both succeed.
pub async fn insert_first(
    db: impl Executor<'_>,
    new: &NewUser<'_>,
) -> sqlx::Result<Option<UserRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "INSERT INTO users (id, username, password_hash, role, created_at, qualified_since)
         SELECT $1, $2, $3, $4, $5, $5 WHERE NOT EXISTS (SELECT 1 FROM users)
         RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(to_millis(new.now))
    .fetch_optional(cn)
    .await)
}

/// The password hash of an account that signs in with the OpenID provider: not a PHC
/// string, so no password ever matches it.
pub const NO_PASSWORD: &str = "!oidc";

/// Inserts a person who signs in with the OpenID provider (no password). Fails with a
/// UNIQUE violation when the name or the identity is taken.
pub async fn insert_oidc(
    db: impl Executor<'_>,
    new: &NewUser<'_>,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<UserRow> {
    on!(db, |cn| sqlx::query_as(&format!(
        "INSERT INTO users (id, username, password_hash, role, created_at, qualified_since,
                            oidc_issuer, oidc_subject)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.username)
    .bind(NO_PASSWORD)
    .bind(new.role.as_str())
    .bind(to_millis(new.now))
    .bind(issuer)
    .bind(subject)
    .fetch_one(cn)
    .await)
}

/// Finds the account of an identity at the OpenID provider.
pub async fn find_by_identity(
    db: impl Executor<'_>,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<Option<UserRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(cn)
    .await)
}

/// The usernames that are `prefix` or `prefix-…` (`_` in `prefix` matches more than
/// itself, which only widens the list the caller compares against).
pub async fn taken_names(db: impl Executor<'_>, prefix: &str) -> sqlx::Result<Vec<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT username FROM users WHERE username = $1 OR username LIKE $2"
    )
    .bind(prefix)
    .bind(format!("{prefix}-%"))
    .fetch_all(cn)
    .await)
}

/// Finds a person by (normalised) username.
pub async fn find_by_username(
    db: impl Executor<'_>,
    username: &str,
) -> sqlx::Result<Option<UserRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(cn)
    .await)
}

/// Everyone, oldest account first.
pub async fn list(db: impl Executor<'_>) -> sqlx::Result<Vec<UserRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY created_at, username"
    ))
    .fetch_all(cn)
    .await)
}

/// Whether anyone exists yet.
pub async fn any(db: impl Executor<'_>) -> sqlx::Result<bool> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users)"
    )
    .fetch_one(cn)
    .await)
}

/// Enables or disables an account; enabling a disabled one restarts its qualification at
/// `now_ms`. Returns whether the account exists.
pub async fn set_disabled(
    db: impl Executor<'_>,
    username: &str,
    disabled: bool,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| {
        sqlx::query(
        "UPDATE users SET
            qualified_since = CASE WHEN disabled = TRUE AND $1 = FALSE THEN $2 ELSE qualified_since END,
            qualified_by = CASE WHEN disabled = TRUE AND $1 = FALSE THEN 'enabled' ELSE qualified_by END,
            disabled = $1
         WHERE username = $3",
    )
    .bind(disabled)
    .bind(now_ms)
    .bind(username)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// Changes a person's role; a raise restarts their qualification at `now_ms`.
pub async fn set_role(
    db: impl Executor<'_>,
    id: &str,
    role: Role,
    raised: bool,
    now_ms: i64,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE users SET role = $1,
            qualified_since = CASE WHEN $2 = TRUE THEN $3 ELSE qualified_since END,
            qualified_by = CASE WHEN $2 = TRUE THEN 'role_raised' ELSE qualified_by END
         WHERE id = $4",
    )
    .bind(role)
    .bind(raised)
    .bind(now_ms)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Someone else set a person's password: they must choose their own at their next
/// sign-in, their qualification restarts at `now_ms`, and they may not sign anything off
/// before `cooling_until` (ms).
pub async fn reset_password(
    db: impl Executor<'_>,
    id: &str,
    password_hash: &str,
    now_ms: i64,
    cooling_until: i64,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = TRUE,
            qualified_since = $2, qualified_by = 'password_reset',
            cooling_until = CASE WHEN cooling_until IS NULL OR cooling_until < $3
                                 THEN $3 ELSE cooling_until END
         WHERE id = $4",
    )
    .bind(password_hash)
    .bind(now_ms)
    .bind(cooling_until)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// A person sets their own password. One that replaces a password someone else set
/// restarts their qualification at `now_ms`: credentials count from when their holder
/// chose them.
pub async fn set_own_password(
    db: impl Executor<'_>,
    id: &str,
    password_hash: &str,
    now_ms: i64,
) -> sqlx::Result<()> {
    on!(db, |cn| {
        sqlx::query(
        "UPDATE users SET password_hash = $1,
            qualified_since = CASE WHEN must_change_password = TRUE THEN $2 ELSE qualified_since END,
            qualified_by = CASE WHEN must_change_password = TRUE THEN 'password_reset'
                                ELSE qualified_by END,
            must_change_password = FALSE
         WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now_ms)
    .bind(id)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(())
}

/// How many enabled admins there are.
pub async fn active_admins(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = FALSE"
    )
    .fetch_one(cn)
    .await)
}

/// How many enabled managers and admins there are (the people who can sign off).
pub async fn active_managers(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role IN ('manager', 'admin') AND disabled = FALSE",
    )
    .fetch_one(cn)
    .await)
}

/// Active managers and admins other than `except` who could sign off something filed at
/// `filed` (ms) at `now_ms`: qualified since before it, and not cooling off after a reset.
pub async fn qualified_managers(
    db: impl Executor<'_>,
    filed: i64,
    now_ms: i64,
    except: &str,
) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users
         WHERE role IN ('manager', 'admin') AND disabled = FALSE AND qualified_since <= $1
           AND (cooling_until IS NULL OR cooling_until <= $2) AND id <> $3",
    )
    .bind(filed)
    .bind(now_ms)
    .bind(except)
    .fetch_one(cn)
    .await)
}

/// One person by id.
pub async fn find_by_id(db: impl Executor<'_>, id: &str) -> sqlx::Result<Option<UserRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// Ids of the accounts created after `at` (ms): they never sign off what was asked before
/// they existed.
pub async fn created_after(db: impl Executor<'_>, at: i64) -> sqlx::Result<Vec<String>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT id FROM users WHERE created_at > $1"
    )
    .bind(at)
    .fetch_all(cn)
    .await)
}
