//! `/auth/oidc/*`: the redirect to the OpenID provider and its callback. Thin handlers over
//! `auth::oidc`; every failure ends on the sign-in page with a sentence (never a 500).

use super::state::AppState;
use crate::auth::oidc::{Callback, FLOW_COOKIE, FLOW_TTL};
use crate::auth::token;
use crate::domain::sign_in::SignInFailure;
use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

/// Where a refused sign-in goes: the sign-in page, saying why.
fn refused(failure: SignInFailure, secure: bool) -> Response {
    let mut response =
        Redirect::to(&format!("/login?oidc_error={}", failure.as_str())).into_response();
    set_cookie(&mut response, &flow_cookie("", 0, secure));
    response
}

fn flow_cookie(state: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    // Lax: the provider's redirect back is a top-level navigation from another site.
    format!(
        "{FLOW_COOKIE}={state}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// What `/auth/oidc/start` accepts.
#[derive(Debug, serde::Deserialize)]
pub struct Start {
    next: Option<String>,
}

/// `GET /auth/oidc/start?next=/path`: records the flow and sends the browser to the
/// provider (`404` when no provider is configured).
pub async fn start(State(state): State<AppState>, Query(q): Query<Start>) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let secure = state.settings.secure_cookies;
    match oidc
        .start(&state.pool, state.clock.as_ref(), q.next.as_deref())
        .await
    {
        Ok(started) => {
            let mut response = Redirect::to(&started.redirect).into_response();
            set_cookie(
                &mut response,
                &flow_cookie(&started.state, FLOW_TTL.num_seconds(), secure),
            );
            response
        }
        Err(failure) => refused(failure, secure),
    }
}

/// `GET /auth/oidc/callback`: the provider's answer. Signs the person in and goes on to
/// a page that continues where they were going (a same-site navigation, so the `Strict`
/// session cookie is sent), or back to the sign-in page saying why not.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let secure = state.settings.secure_cookies;
    match oidc
        .finish(
            &state.pool,
            state.clock.as_ref(),
            state.settings.session_ttl,
            callback,
            cookie(&headers, FLOW_COOKIE),
        )
        .await
    {
        Ok(done) => {
            let next = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &done.next)
                .finish();
            let mut response = Redirect::to(&format!("/auth/continue?{next}")).into_response();
            set_cookie(&mut response, &flow_cookie("", 0, secure));
            set_cookie(
                &mut response,
                &token::set_cookie(
                    &done.signed_in.token,
                    state.settings.session_ttl.num_seconds(),
                    secure,
                ),
            );
            response
        }
        Err(failure) => refused(failure, secure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; askfirst_oidc=s1"),
        );
        assert_eq!(cookie(&headers, FLOW_COOKIE), Some("s1"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xaskfirst_oidc=s1"),
        );
        assert_eq!(cookie(&headers, FLOW_COOKIE), None);
        assert!(flow_cookie("s", 600, true).ends_with("; Secure"));
    }
}
