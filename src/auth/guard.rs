//! The role check every server function uses. It reads the session cookie from the
//! request the server function is answering; hiding a button is never the check.

use super::{service, token};
use crate::domain::{AppError, Role, UserView};
use crate::server::state::AppState;
use leptos::prelude::use_context;

/// The application state, as provided to server functions.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::Internal("server state missing".into()))
}

/// The session token sent with the current request, if any.
pub fn request_token() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token::from_cookie_header)
        .map(str::to_string)
}

/// The signed-in person making the current request, if any.
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    let state = state()?;
    match request_token() {
        Some(token) => service::session_user(&state.pool, state.clock.as_ref(), &token).await,
        None => Ok(None),
    }
}

/// The signed-in person, provided their role includes `min`: `401` when nobody is signed
/// in, `403` when the role is too low or they must first change the password an admin set.
pub async fn require_role(min: Role) -> Result<UserView, AppError> {
    match current_user().await? {
        None => Err(AppError::Unauthenticated),
        Some(user) if user.must_change_password => Err(AppError::Forbidden(
            "choose a new password first (Account): an admin set your current one".into(),
        )),
        Some(user) if !user.role.includes(min) => Err(AppError::needs_role(min)),
        Some(user) => Ok(user),
    }
}

/// The signed-in person, whoever they are — also one who must change their password (the
/// account page is where they do it).
pub async fn require_signed_in() -> Result<UserView, AppError> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}
