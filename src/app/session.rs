//! Who is signed in: the server functions for the session and the context pages read it from.

use crate::domain::{sign_in::SignInChoices, AppError, UserView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::auth::{guard, service, token};

/// The signed-in person, or `None`.
#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<UserView>, AppError> {
    guard::current_user().await
}

/// Whether askfirst still needs its first admin.
#[server(prefix = "/rpc", endpoint = "needs_setup")]
pub async fn needs_setup() -> Result<bool, AppError> {
    service::needs_first_run(&guard::state()?.pool).await
}

/// Checks a username and password, sets the session cookie and goes home.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    let state = guard::state()?;
    let addr = client_addr();
    let signed_in = service::sign_in(
        &state.pool,
        state.clock.as_ref(),
        &state.limiter,
        &state.settings.passwords,
        state.settings.session_ttl,
        &username,
        &password,
        &addr,
    )
    .await?;
    set_session_cookie(&signed_in.token, &state);
    // Someone whose password an admin set chooses their own before anything else.
    leptos_axum::redirect(if signed_in.user.must_change_password {
        "/account"
    } else {
        "/"
    });
    Ok(())
}

/// The ways to sign in: the OpenID provider's button, and whether passwords are for all.
#[server(prefix = "/rpc", endpoint = "sign_in_options")]
pub async fn sign_in_options() -> Result<SignInChoices, AppError> {
    let state = guard::state()?;
    Ok(SignInChoices {
        provider: state.oidc.as_ref().map(|o| o.config.label.clone()),
        passwords_for_all: state.settings.passwords == service::Passwords::Everyone,
    })
}

/// Ends the session and goes to the sign-in page — by way of `/signed-out`, which ends the
/// provider's session too, for an account of the OpenID provider.
#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let state = guard::state()?;
    let user = guard::current_user().await?;
    if let Some(token) = guard::request_token() {
        service::sign_out(&state.pool, &token).await?;
    }
    append_cookie(&token::clear_cookie(state.settings.secure_cookies));
    let provider = state.oidc.is_some() && user.is_some_and(|u| u.oidc_subject.is_some());
    if provider {
        // Only a sign-out that just happened here sends the browser on to the provider's:
        // a link to `/signed-out` from elsewhere does not sign anybody out there.
        append_cookie(&signed_out_cookie("1", 60, state.settings.secure_cookies));
    }
    leptos_axum::redirect(if provider { "/signed-out" } else { "/login" });
    Ok(())
}

/// The cookie that lets `/signed-out` go on to the provider's sign-out, once.
#[cfg(feature = "ssr")]
const SIGNED_OUT: &str = "askfirst_signed_out";

#[cfg(feature = "ssr")]
fn signed_out_cookie(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SIGNED_OUT}={value}; Path=/signed-out; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// Where to end the session at the OpenID provider, with its label, if it offers that.
#[server(prefix = "/rpc", endpoint = "provider_sign_out")]
pub async fn provider_sign_out() -> Result<Option<(String, String)>, AppError> {
    let state = guard::state()?;
    let Some(oidc) = state.oidc.clone() else {
        return Ok(None);
    };
    let just_signed_out = use_context::<http::request::Parts>().is_some_and(|p| {
        p.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|pair| pair.trim() == format!("{SIGNED_OUT}=1"))
    });
    if !just_signed_out {
        return Ok(None);
    }
    append_cookie(&signed_out_cookie("", 0, state.settings.secure_cookies));
    Ok(oidc
        .logout_url()
        .await
        .map(|url| (oidc.config.label.clone(), url)))
}

/// Sets the session cookie for a token just issued.
#[cfg(feature = "ssr")]
pub fn set_session_cookie(token: &str, state: &crate::server::state::AppState) {
    let max_age = state.settings.session_ttl.num_seconds();
    append_cookie(&token::set_cookie(
        token,
        max_age,
        state.settings.secure_cookies,
    ));
}

#[cfg(feature = "ssr")]
fn append_cookie(cookie: &str) {
    if let (Some(res), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(cookie),
    ) {
        res.append_header(http::header::SET_COOKIE, value);
    }
}

/// Who the caller is for the sign-in rate limit: their address (the one a trusted proxy
/// forwarded, if the peer is one; IPv6 grouped by /64).
#[cfg(feature = "ssr")]
pub fn client_addr() -> String {
    let trusted = use_context::<crate::server::state::AppState>()
        .map(|s| s.settings.trusted_proxies.clone())
        .unwrap_or_default();
    use_context::<http::request::Parts>()
        .and_then(|p| {
            let peer = p
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
                .0
                .ip();
            let forwarded: Vec<&str> = p
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            Some(crate::auth::client_addr::client_key(
                peer, &forwarded, &trusted,
            ))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Session state shared by every page: signing out.
///
/// Pages that sign someone in (login, setup) own their actions, so that errors sent back
/// to a form without JavaScript reach them; every such flow ends in a navigation. Who is
/// signed in is read by each page that needs it with [`get_current_user`], awaited
/// directly: pages render on the server only, so no resource needs its value serialised
/// (see [`crate::app`] on why pages hold no resources).
#[derive(Clone, Copy)]
pub struct Session {
    pub sign_out: ServerAction<SignOut>,
}

impl Session {
    /// Creates the sign-out action. Must be called inside the router.
    pub fn new() -> Self {
        Self {
            sign_out: ServerAction::<SignOut>::new(),
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// The session from context.
pub fn use_session() -> Session {
    expect_context::<Session>()
}
