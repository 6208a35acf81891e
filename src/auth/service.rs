//! People and sessions: the service functions behind the sign-in pages, the People page
//! and the `askfirst user` commands. Callers check roles before calling what needs one.

use super::{password, rate_limit::LoginLimiter, token};
use crate::clock::Clock;
use crate::domain::{
    user::{check_password, normalize_username},
    AppError, Role, UserView,
};
use crate::store::{self, sessions, users};
use chrono::Duration;
use sqlx::SqlitePool;

/// Creates a person with a role.
pub async fn create_user(
    pool: &SqlitePool,
    clock: &dyn Clock,
    username: &str,
    password: &str,
    role: Role,
) -> Result<UserView, AppError> {
    let username = normalize_username(username).map_err(AppError::Invalid)?;
    check_password(password).map_err(AppError::Invalid)?;
    let hash = password::hash_blocking(password.to_string()).await?;
    let new = users::NewUser {
        username: &username,
        password_hash: &hash,
        role,
        now: clock.now(),
    };
    match users::insert(pool, &new).await {
        Ok(row) => Ok(row.view()),
        Err(e) if store::is_unique_violation(&e) => Err(AppError::Conflict(format!(
            "the username `{username}` is taken"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Creates the first admin; refused once anybody exists.
pub async fn create_first_admin(
    pool: &SqlitePool,
    clock: &dyn Clock,
    username: &str,
    password: &str,
) -> Result<UserView, AppError> {
    let username = normalize_username(username).map_err(AppError::Invalid)?;
    check_password(password).map_err(AppError::Invalid)?;
    let hash = password::hash_blocking(password.to_string()).await?;
    let new = users::NewUser {
        username: &username,
        password_hash: &hash,
        role: Role::Admin,
        now: clock.now(),
    };
    users::insert_first(pool, &new)
        .await?
        .map(|row| row.view())
        .ok_or_else(|| AppError::Conflict("askfirst is already set up; sign in instead".into()))
}

/// Whether the first-run page should still be offered.
pub async fn needs_first_run(pool: &SqlitePool) -> Result<bool, AppError> {
    Ok(!users::any(pool).await?)
}

/// Everyone, oldest account first.
pub async fn list_users(pool: &SqlitePool) -> Result<Vec<UserView>, AppError> {
    Ok(users::list(pool)
        .await?
        .iter()
        .map(users::UserRow::view)
        .collect())
}

/// Disables or re-enables an account; disabling also ends its sessions.
pub async fn set_disabled(
    pool: &SqlitePool,
    username: &str,
    disabled: bool,
) -> Result<(), AppError> {
    let username = normalize_username(username).map_err(AppError::Invalid)?;
    let mut tx = pool.begin().await?;
    let row = users::find_by_username(&mut *tx, &username)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user named `{username}`")))?;
    users::set_disabled(&mut *tx, &username, disabled).await?;
    if disabled {
        sessions::delete_for_user(&mut *tx, &row.id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a successful sign-in hands back: the person and the token for their cookie.
pub struct SignedIn {
    pub user: UserView,
    pub token: String,
}

/// Checks a username and password and opens a session lasting `ttl`.
///
/// Every failure looks the same to the caller (no hint whether the user exists), costs
/// the same hashing time, and counts toward the rate limit for the name and the address.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in(
    pool: &SqlitePool,
    clock: &dyn Clock,
    limiter: &LoginLimiter,
    ttl: Duration,
    username: &str,
    password: &str,
    client_addr: &str,
) -> Result<SignedIn, AppError> {
    let name = username.trim().to_lowercase();
    if name.is_empty() || password.is_empty() {
        return Err(AppError::Invalid("enter your username and password".into()));
    }
    limiter
        .check(&name, client_addr, clock.now())
        .map_err(AppError::RateLimited)?;

    let row = users::find_by_username(pool, &name).await?;
    let phc = row
        .as_ref()
        .map_or(password::dummy_hash(), |r| r.password_hash.as_str());
    let matches = password::verify_blocking(password.to_string(), phc.to_string()).await;
    let row = match row {
        Some(row) if matches && !row.disabled => row,
        _ => {
            limiter.record_failure(&name, client_addr, clock.now());
            return Err(AppError::InvalidCredentials);
        }
    };
    limiter.record_success(&name);

    let token = token::generate();
    let now = clock.now();
    sessions::insert(pool, &token::hash(&token), &row.id, now, now + ttl).await?;
    Ok(SignedIn {
        user: row.view(),
        token,
    })
}

/// The person a session token belongs to, if the session is live and the account enabled.
pub async fn session_user(
    pool: &SqlitePool,
    clock: &dyn Clock,
    token: &str,
) -> Result<Option<UserView>, AppError> {
    Ok(sessions::find_user(pool, &token::hash(token), clock.now())
        .await?
        .map(|row| row.view()))
}

/// Ends the session a token belongs to (a no-op if there is none).
pub async fn sign_out(pool: &SqlitePool, token: &str) -> Result<(), AppError> {
    Ok(sessions::delete(pool, &token::hash(token)).await?)
}
