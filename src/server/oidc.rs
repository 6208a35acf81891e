//! `/auth/oidc/*`: the redirect to the OpenID provider and its callback. Thin handlers over
//! `auth::oidc`; every failure ends on the sign-in page with a sentence (never a 500).

use super::state::AppState;
use crate::auth::oidc::{flow_cookie_name, Callback, FLOW_TTL};
use crate::auth::token;
use crate::domain::sign_in::SignInFailure;
use axum::{
    extract::{ConnectInfo, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use std::net::SocketAddr;

/// Where a refused sign-in goes: the sign-in page, saying why. The flow cookie is left
/// alone: a stranger's callback does not cancel a sign-in under way in this browser.
fn refused(failure: SignInFailure) -> Response {
    Redirect::to(&format!("/login?oidc_error={}", failure.as_str())).into_response()
}

fn flow_cookie(state: &str, max_age: i64, secure: bool) -> String {
    let name = flow_cookie_name(secure);
    // Lax: the provider's redirect back is a top-level navigation from another site.
    // `__Host-` (when secure) needs `Path=/`.
    let (path, secure) = if secure {
        ("/", "; Secure")
    } else {
        ("/auth/oidc", "")
    };
    format!("{name}={state}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The first value of each parameter of a query (a repeated one does not fail the
/// request; its later values are ignored).
fn first_values(query: Option<&str>) -> std::collections::HashMap<String, String> {
    let mut values = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        values
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    values
}

/// Who is calling, for the per-address budget: the peer, or the client a trusted proxy
/// names.
fn client_addr(state: &AppState, request: &Parts) -> String {
    let Some(ConnectInfo(peer)) = request.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".into();
    };
    let forwarded: Vec<&str> = request
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    crate::auth::client_addr::client_key(peer.ip(), &forwarded, &state.settings.trusted_proxies)
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

/// `GET /auth/oidc/start?next=/path`: records the flow and sends the browser to the
/// provider (`404` when no provider is configured).
pub async fn start(State(state): State<AppState>, request: Parts) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let secure = state.settings.secure_cookies;
    let q = first_values(request.uri.query());
    let addr = client_addr(&state, &request);
    match oidc
        .start(
            &state.pool,
            state.clock.as_ref(),
            &addr,
            q.get("next").map(String::as_str),
        )
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
        Err(failure) => refused(failure),
    }
}

/// `GET /auth/oidc/callback`: the provider's answer. Signs the person in and goes on to
/// a page that continues where they were going (a same-site navigation, so the `Strict`
/// session cookie is sent), or back to the sign-in page saying why not.
pub async fn callback(State(state): State<AppState>, request: Parts) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let secure = state.settings.secure_cookies;
    let mut q = first_values(request.uri.query());
    let callback = Callback {
        code: q.remove("code"),
        state: q.remove("state"),
        error: q.remove("error"),
        error_description: q.remove("error_description"),
    };
    let addr = client_addr(&state, &request);
    match oidc
        .finish(
            &state.pool,
            state.clock.as_ref(),
            state.settings.session_ttl,
            callback,
            cookie(&request.headers, flow_cookie_name(secure)),
            &addr,
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
        Err(failure) => refused(failure),
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
        assert_eq!(cookie(&headers, flow_cookie_name(false)), Some("s1"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xaskfirst_oidc=s1"),
        );
        assert_eq!(cookie(&headers, flow_cookie_name(false)), None);
        assert_eq!(
            flow_cookie("s", 600, true),
            "__Host-askfirst_oidc=s; Path=/; HttpOnly; SameSite=Lax; Max-Age=600; Secure"
        );
    }

    #[test]
    fn a_repeated_parameter_keeps_its_first_value() {
        let q = first_values(Some("state=a&state=b&next=%2Fx"));
        assert_eq!(q["state"], "a");
        assert_eq!(q["next"], "/x");
        assert!(first_values(None).is_empty());
    }
}
