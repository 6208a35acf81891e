//! People and sessions: the service functions behind the sign-in pages, the People page
//! and the `askfirst user` commands. Callers check roles before calling what needs one.

use super::{password, rate_limit::LoginLimiter, token};
use crate::clock::to_millis;
use crate::clock::Clock;
use crate::domain::{
    user::{check_password, normalize_username},
    AppError, Role, UserView,
};
use crate::store::Pool;
use crate::store::{self, sessions, users};
use chrono::Duration;

/// Creates a person with a role (with its audit event naming `actor`).
pub async fn create_user(
    pool: &Pool,
    clock: &dyn Clock,
    actor: Actor<'_>,
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
    let mut tx = write_tx(pool).await?;
    let row = match users::insert(&mut *tx, &new).await {
        Ok(row) => row,
        Err(e) if store::is_unique_violation(&e) => {
            return Err(AppError::Conflict(format!(
                "the username `{username}` is taken"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    audit_user(
        &mut tx,
        clock,
        &actor.name(),
        "user.created",
        serde_json::json!({ "user": username, "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(row.view())
}

/// Creates the first admin; refused once anybody exists.
pub async fn create_first_admin(
    pool: &Pool,
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
    let mut tx = write_tx(pool).await?;
    let Some(row) = users::insert_first(&mut *tx, &new).await? else {
        return Err(AppError::Conflict(
            "askfirst is already set up; sign in instead".into(),
        ));
    };
    audit_user(
        &mut tx,
        clock,
        "setup",
        "user.created",
        serde_json::json!({ "user": row.username, "role": Role::Admin }),
    )
    .await?;
    tx.commit().await?;
    Ok(row.view())
}

/// Whether the first-run page should still be offered.
pub async fn needs_first_run(pool: &Pool) -> Result<bool, AppError> {
    Ok(!users::any(pool).await?)
}

/// Everyone, oldest account first.
pub async fn list_users(pool: &Pool) -> Result<Vec<UserView>, AppError> {
    Ok(users::list(pool)
        .await?
        .iter()
        .map(users::UserRow::view)
        .collect())
}

/// A transaction that holds SQLite's write lock from its start: a change that reads before
/// it writes cannot then fail because another writer committed in between (it waits).
async fn write_tx(pool: &Pool) -> Result<crate::store::Tx, AppError> {
    Ok(crate::store::write_tx(pool).await?)
}

/// One audit event about a person, inside the transaction of the change.
async fn audit_user(
    conn: &mut crate::store::Conn,
    clock: &dyn Clock,
    actor: &str,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    crate::store::audit::append(
        conn,
        &crate::store::audit::NewEvent {
            at: clock.now(),
            actor,
            kind,
            agent_id: None,
            call_id: None,
            from_status: None,
            to_status: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Who changes a person: `cli`, or a signed-in admin (who may not demote themselves).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Cli,
    Admin(&'a UserView),
}

impl Actor<'_> {
    fn name(&self) -> String {
        match self {
            Actor::Cli => "cli".into(),
            Actor::Admin(u) => format!("user:{}", u.username),
        }
    }
}

/// Refuses a change that would leave no active admin.
async fn keep_an_admin(
    conn: &mut crate::store::Conn,
    target: &users::UserRow,
) -> Result<(), AppError> {
    if target.role() == Role::Admin
        && !target.disabled
        && users::active_admins(&mut *conn).await? <= 1
    {
        return Err(AppError::Conflict(format!(
            "`{}` is the last active admin; make someone else an admin first",
            target.username
        )));
    }
    Ok(())
}

async fn target(conn: &mut crate::store::Conn, username: &str) -> Result<users::UserRow, AppError> {
    let username = normalize_username(username).map_err(AppError::Invalid)?;
    users::find_by_username(&mut *conn, &username)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user named `{username}`")))
}

/// Disables or re-enables an account; disabling also ends its sessions. The last active
/// admin cannot be disabled.
pub async fn set_disabled(
    pool: &Pool,
    clock: &dyn Clock,
    actor: Actor<'_>,
    username: &str,
    disabled: bool,
) -> Result<(), AppError> {
    let mut tx = write_tx(pool).await?;
    let row = target(&mut tx, username).await?;
    if disabled {
        if let Actor::Admin(me) = actor {
            if me.id == row.id {
                return Err(AppError::Conflict(
                    "you cannot disable your own account".into(),
                ));
            }
        }
        keep_an_admin(&mut tx, &row).await?;
    }
    users::set_disabled(&mut *tx, &row.username, disabled, to_millis(clock.now())).await?;
    if disabled {
        sessions::delete_for_user(&mut *tx, &row.id).await?;
    }
    let kind = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    audit_user(
        &mut tx,
        clock,
        &actor.name(),
        kind,
        serde_json::json!({ "user": row.username }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a person's role. Nobody can demote the last active admin, and an admin cannot
/// demote themselves.
pub async fn set_role(
    pool: &Pool,
    clock: &dyn Clock,
    actor: Actor<'_>,
    username: &str,
    role: Role,
) -> Result<UserView, AppError> {
    let mut tx = write_tx(pool).await?;
    let row = target(&mut tx, username).await?;
    if row.is_oidc() {
        return Err(AppError::Conflict(format!(
            "`{}` gets their role from the identity provider's groups at each sign-in; change \
             their groups there (or disable the account here)",
            row.username
        )));
    }
    let from = row.role();
    if from == Role::Admin && role != Role::Admin {
        if let Actor::Admin(me) = actor {
            if me.id == row.id {
                return Err(AppError::Conflict(
                    "you cannot demote yourself; another admin must".into(),
                ));
            }
        }
        keep_an_admin(&mut tx, &row).await?;
    }
    // A raise restarts the clock sign-off eligibility is measured from.
    let raised = !from.includes(role);
    users::set_role(&mut *tx, &row.id, role, raised, to_millis(clock.now())).await?;
    audit_user(
        &mut tx,
        clock,
        &actor.name(),
        "user.role_changed",
        serde_json::json!({ "user": row.username, "from": from, "to": role }),
    )
    .await?;
    tx.commit().await?;
    let mut view = row.view();
    view.role = role;
    Ok(view)
}

/// Sets a new password for someone (an admin's reset): they must change it at their next
/// sign-in, and their sessions end.
pub async fn reset_password(
    pool: &Pool,
    clock: &dyn Clock,
    actor: Actor<'_>,
    username: &str,
    password: &str,
) -> Result<(), AppError> {
    check_password(password).map_err(AppError::Invalid)?;
    let hash = password::hash_blocking(password.to_string()).await?;
    let mut tx = write_tx(pool).await?;
    let row = target(&mut tx, username).await?;
    if row.is_oidc() {
        return Err(AppError::Conflict(format!(
            "`{}` signs in with the identity provider and has no password here",
            row.username
        )));
    }
    // Until its holder sets their own password and the cooling-off is over, the account
    // signs nothing off: a reset cannot turn one person into two.
    let now_ms = to_millis(clock.now());
    let settings = crate::gate::signoff::read_settings(&mut *tx).await?;
    let cooling_until =
        now_ms.saturating_add((settings.cooling_secs(now_ms) as i64).saturating_mul(1000));
    users::reset_password(&mut *tx, &row.id, &hash, now_ms, cooling_until).await?;
    sessions::delete_for_user(&mut *tx, &row.id).await?;
    audit_user(
        &mut tx,
        clock,
        &actor.name(),
        "user.password_reset",
        serde_json::json!({
            "user": row.username,
            "role": row.role(),
            "cooling_until": crate::store::calls::rfc3339(cooling_until),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A person changes their own password: the current one is required (and counts toward
/// the sign-in rate limit when wrong); every other session of theirs ends.
#[allow(clippy::too_many_arguments)]
pub async fn change_own_password(
    pool: &Pool,
    clock: &dyn Clock,
    limiter: &LoginLimiter,
    user: &UserView,
    current: &str,
    new: &str,
    keep_token: &str,
    client_addr: &str,
) -> Result<(), AppError> {
    if current.len() > crate::domain::user::PASSWORD_MAX_BYTES {
        return Err(AppError::InvalidCredentials);
    }
    check_password(new).map_err(AppError::Invalid)?;
    if new == current {
        return Err(AppError::Invalid(
            "choose a password different from the current one".into(),
        ));
    }
    let row = users::find_by_username(pool, &user.username)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if row.is_oidc() {
        return Err(AppError::Conflict(
            "you sign in with the identity provider: change your password there".into(),
        ));
    }
    let attempt = reserve(pool, limiter, &user.username, client_addr, clock.now()).await?;
    if !password::verify_blocking(current.to_string(), row.password_hash.clone()).await? {
        return Err(AppError::Invalid("the current password is wrong".into()));
    }
    attempt.succeeded(pool, limiter).await?;
    let hash = password::hash_blocking(new.to_string()).await?;
    let mut tx = write_tx(pool).await?;
    users::set_own_password(&mut *tx, &row.id, &hash, to_millis(clock.now())).await?;
    sessions::delete_others(&mut *tx, &row.id, &token::hash(keep_token)).await?;
    audit_user(
        &mut tx,
        clock,
        &format!("user:{}", row.username),
        "user.password_changed",
        serde_json::json!({ "user": row.username }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A sign-in attempt counted before its password is checked: in this process and, when
/// several instances share the database, in the database too.
struct Reserved {
    local: crate::auth::rate_limit::Attempt,
    /// The rows counted in the database, and the username they count against.
    shared: Option<(Vec<i64>, String)>,
}

impl Reserved {
    /// The password was right: the username's failures are forgotten, and the attempt no
    /// longer counts against the address.
    async fn succeeded(self, pool: &Pool, limiter: &LoginLimiter) -> Result<(), AppError> {
        limiter.succeeded(self.local);
        if let Some((ids, username)) = self.shared {
            let key = format!("u:{username}");
            crate::store::sign_in_failures::release(pool, &ids, Some(&key)).await?;
        }
        Ok(())
    }
}

/// Counts an attempt for `username` from `addr`, or says how long to wait
/// (`rate_limited`). On a database several instances share, the attempts of all of them
/// count (the count and the new rows are one serialised write).
async fn reserve(
    pool: &Pool,
    limiter: &LoginLimiter,
    username: &str,
    addr: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Reserved, AppError> {
    use crate::store::sign_in_failures::{self as failures, KeyLimit};
    let local = limiter
        .reserve(username, addr, now)
        .map_err(AppError::RateLimited)?;
    if crate::store::Backend::of(pool) != crate::store::Backend::Postgres {
        return Ok(Reserved {
            local,
            shared: None,
        });
    }
    let (per_user, per_addr) = limiter.limits();
    let (user_key, addr_key) = (format!("u:{username}"), format!("a:{addr}"));
    let keys = [
        KeyLimit {
            key: &user_key,
            max: per_user.max_failures,
            window_ms: per_user.window.num_milliseconds(),
        },
        KeyLimit {
            key: &addr_key,
            max: per_addr.max_failures,
            window_ms: per_addr.window.num_milliseconds(),
        },
    ];
    let counted = async {
        let mut tx = write_tx(pool).await?;
        let counted = failures::reserve(&mut tx, &keys, crate::clock::to_millis(now)).await?;
        tx.commit().await?;
        Ok::<_, AppError>(counted)
    }
    .await;
    match counted {
        Ok(Ok(ids)) => Ok(Reserved {
            local,
            shared: Some((ids, username.to_string())),
        }),
        Ok(Err(wait_ms)) => {
            limiter.release(local);
            Err(AppError::RateLimited(((wait_ms + 999) / 1000).max(1) as u64))
        }
        Err(e) => {
            limiter.release(local);
            Err(e)
        }
    }
}

/// Who may sign in with a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Passwords {
    /// Every local account (the default).
    #[default]
    Everyone,
    /// Only these break-glass accounts (`--oidc-only`); each use is an audit event.
    BreakGlassOnly(Vec<String>),
}

/// The audit event of a break-glass sign-in.
pub const BREAK_GLASS_KIND: &str = "user.break_glass_sign_in";

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
    pool: &Pool,
    clock: &dyn Clock,
    limiter: &LoginLimiter,
    passwords: &Passwords,
    ttl: Duration,
    username: &str,
    password: &str,
    client_addr: &str,
) -> Result<SignedIn, AppError> {
    let name = username.trim().to_lowercase();
    if name.is_empty() || password.is_empty() {
        return Err(AppError::Invalid("enter your username and password".into()));
    }
    // Nothing longer than an account can have is worth any work.
    if name.chars().count() > crate::domain::user::USERNAME_MAX
        || password.len() > crate::domain::user::PASSWORD_MAX_BYTES
    {
        return Err(AppError::InvalidCredentials);
    }
    // Counted before the password is checked: a burst of concurrent guesses gets no more
    // verifications than the limit.
    let attempt = reserve(pool, limiter, &name, client_addr, clock.now()).await?;

    let row = users::find_by_username(pool, &name).await?;
    // An account of the OpenID provider has no password here: it costs the same time and
    // fails the same way as a wrong one.
    let phc = row
        .as_ref()
        .filter(|r| !r.is_oidc())
        .map_or(password::dummy_hash(), |r| r.password_hash.as_str());
    let matches = password::verify_blocking(password.to_string(), phc.to_string()).await?;
    let row = match row {
        Some(row) if matches && !row.disabled && !row.is_oidc() => row,
        _ => return Err(AppError::InvalidCredentials),
    };
    attempt.succeeded(pool, limiter).await?;
    // Refused like a wrong password: a right one is not confirmed to anybody (the sign-in
    // page says passwords are for emergency accounts only).
    let break_glass = match passwords {
        Passwords::Everyone => false,
        Passwords::BreakGlassOnly(names) if names.contains(&row.username) => true,
        Passwords::BreakGlassOnly(_) => return Err(AppError::InvalidCredentials),
    };

    let token = token::generate();
    let now = clock.now();
    let mut tx = write_tx(pool).await?;
    sessions::insert(&mut *tx, &token::hash(&token), &row.id, now, now + ttl).await?;
    if break_glass {
        audit_user(
            &mut tx,
            clock,
            &format!("user:{}", row.username),
            BREAK_GLASS_KIND,
            serde_json::json!({ "user": row.username, "from": client_addr }),
        )
        .await?;
        tracing::warn!(user = %row.username, "break-glass sign-in");
    }
    tx.commit().await?;
    Ok(SignedIn {
        user: row.view(),
        token,
    })
}

/// The person a session token belongs to, if the session is live and the account enabled.
pub async fn session_user(
    pool: &Pool,
    clock: &dyn Clock,
    token: &str,
) -> Result<Option<UserView>, AppError> {
    Ok(sessions::find_user(pool, &token::hash(token), clock.now())
        .await?
        .map(|row| row.view()))
}

/// Ends the session a token belongs to (a no-op if there is none).
pub async fn sign_out(pool: &Pool, token: &str) -> Result<(), AppError> {
    Ok(sessions::delete(pool, &token::hash(token)).await?)
}
