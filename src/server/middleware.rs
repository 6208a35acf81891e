//! Middleware of our own: cross-site request refusal for server functions, and error
//! statuses and bodies that follow our JSON error format.

use crate::domain::AppError;
use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Path prefix of every server function.
pub const RPC_PREFIX: &str = "/rpc/";

/// Refuses requests whose `Host` is not one this server answers to (see
/// [`super::state::Settings::answers_to`]): a page on another name that resolves here (DNS
/// rebinding) reaches nothing. `/healthz` answers anyone.
pub async fn known_host(
    axum::extract::State(state): axum::extract::State<super::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() != "/healthz" {
        let host = req
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("?"));
        if let Some(host) = host {
            if !state
                .settings
                .answers_to(host, state.leptos_options.site_addr.ip())
            {
                let shown: String = host.chars().take(100).collect();
                return AppError::BadRequest(format!(
                    "this server does not answer to `{shown}` (see --public-url)"
                ))
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// Cuts every request body at [`super::http::BODY_LIMIT`], except a proposal's
/// (`POST /api/v1/calls`), whose limit follows the admin's largest arguments plus room for
/// the rest of the proposal. A declared length over the limit is refused at once; a body
/// that grows past it fails its read, which the extractors answer with `413`.
pub async fn body_limit(
    axum::extract::State(state): axum::extract::State<super::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let limit = if req.method() == Method::POST && req.uri().path() == "/api/v1/calls" {
        state.gate.limits().max_args_bytes as usize + super::http::PROPOSAL_OVERHEAD
    } else {
        super::http::BODY_LIMIT
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return AppError::TooLarge(format!(
            "the request body is larger than {} KiB",
            limit / 1024
        ))
        .into_response();
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// Refuses state-changing server-function calls that come from another site.
///
/// `SameSite=Strict` already keeps the session cookie off cross-site requests; this also
/// refuses them outright, using `Sec-Fetch-Site` when the browser sends it and otherwise
/// comparing `Origin` with `Host`.
pub async fn refuse_cross_site(req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && req.uri().path().starts_with(RPC_PREFIX) && is_cross_site(req.headers()) {
        return AppError::Forbidden("cross-site requests are refused".into()).into_response();
    }
    next.run(req).await
}

/// Whether the request headers show a cross-site origin.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false; // not a browser request (curl, the SDK): no ambient cookie to abuse
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// Gives server-function errors their real status (the framework answers every error with
/// 500), turns plain-text 413s from the body limit into our JSON error, and keeps what a
/// server error says internal: the detail is logged with a request id, and the client
/// gets a generic message with that id (also in `x-request-id`).
pub async fn error_statuses(req: Request, next: Next) -> Response {
    let is_rpc = req.uri().path().starts_with(RPC_PREFIX);
    let path = req.uri().path().to_string();
    let res = statuses(is_rpc, next.run(req).await).await;
    let status = res.status();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return conceal(res, &path).await;
    }
    res
}

/// A server error as the client sees it: generic, with the request id the log has.
async fn conceal(res: Response, path: &str) -> Response {
    let (mut parts, body) = res.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let detail = serde_json::from_slice::<AppError>(&bytes)
        .map(|e| e.to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).into());
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    tracing::error!(request_id = %id, status = parts.status.as_u16(), path, detail, "server error");
    let body = serde_json::json!({
        "error": {
            "code": "internal",
            "message": format!("internal error (request {id}); the server log has the details"),
            "request_id": id,
        }
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        parts.headers.insert("x-request-id", value);
    }
    Response::from_parts(parts, Body::from(body.to_string()))
}

async fn statuses(is_rpc: bool, res: Response) -> Response {
    match res.status() {
        StatusCode::INTERNAL_SERVER_ERROR if is_rpc => {
            let (mut parts, body) = res.into_parts();
            let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
                return AppError::Internal("internal error".into()).into_response();
            };
            if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
                parts.status = StatusCode::from_u16(err.status()).unwrap_or(parts.status);
                if let Some(secs) = err.retry_after() {
                    parts.headers.insert(header::RETRY_AFTER, secs.into());
                }
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        StatusCode::PAYLOAD_TOO_LARGE if !is_json(res.headers()) => {
            AppError::TooLarge("the request body is too large".into()).into_response()
        }
        // A route outside the API (health, metrics, keys, exports) asked with another
        // method: the same JSON error as the API's, `Allow` kept.
        StatusCode::METHOD_NOT_ALLOWED if !is_json(res.headers()) => {
            let allow = res.headers().get(header::ALLOW).cloned();
            let mut json =
                AppError::MethodNotAllowed("this route does not take that method".into())
                    .into_response();
            if let Some(allow) = allow {
                json.headers_mut().insert(header::ALLOW, allow);
            }
            json
        }
        _ => res,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_detection() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], false),
            (&[("host", "127.0.0.1:3000")], false),
            (
                &[
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://127.0.0.1:3000"),
                ],
                false,
            ),
            (
                &[
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://evil.example"),
                ],
                true,
            ),
            (&[("host", "127.0.0.1:3000"), ("origin", "null")], true),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (&[("sec-fetch-site", "cross-site")], true),
            (&[("sec-fetch-site", "same-site")], true),
            (&[("sec-fetch-site", "none")], false),
        ];
        for (pairs, expected) in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in *pairs {
                headers.insert(*k, v.parse().unwrap());
            }
            assert_eq!(is_cross_site(&headers), *expected, "{pairs:?}");
        }
    }
}

/// A page's script nonce, minted per request before rendering.
#[derive(Debug, Clone)]
pub struct PageNonce(pub std::sync::Arc<str>);

/// The Content-Security-Policy of a page: only our own scripts, the nonce'd hydration
/// script and WebAssembly compilation.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Mints the script nonce for every request and, on HTML answers, sends the page CSP that
/// allows exactly that nonce. The page reads the nonce from the request (see
/// `app::shell`), so the header never depends on what rendering put in the response
/// options; everything else keeps the default `default-src 'none'`.
pub async fn page_nonce(mut req: Request, next: Next) -> Response {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let nonce: std::sync::Arc<str> = hex::encode(bytes).into();
    req.extensions_mut().insert(PageNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let html = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        if let Ok(value) = axum::http::HeaderValue::from_str(&page_csp(&nonce)) {
            res.headers_mut()
                .insert(axum::http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    res
}

/// The cookie and query parameter that tie an error carried in a URL to the browser that
/// posted the form (see [`form_redirects`]).
pub const FORM_COOKIE: &str = "askfirst_form";
const FORM_PARAM: &str = "__form";

/// Where a server function answering a plain form sends the browser back, and what it may
/// show there. The framework redirects to the `Referer` as it came and carries an error in
/// the URL (`?__err=…&__path=…`), which anyone could put in a link: a page would then show
/// words of the link's author beside Approve. So the redirect goes only to a path of this
/// site (`/` otherwise), an error is paired with a one-time token both in the URL and in a
/// cookie of the posting browser, and an empty query left behind (`/calls/x?`) is dropped.
/// A page asked with an error whose token does not match the browser's cookie
/// ([`form_error_is_genuine`]) is answered with a redirect to itself without the error.
pub async fn form_redirects(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with(RPC_PREFIX) {
        // A page asked with an error this browser's form did not bring back (a link's):
        // the same page without it.
        // Names are compared decoded (`%5F%5Ferr` is `__err` to the router too).
        let has_error = req.uri().query().is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "__err")
        });
        if has_error && !form_error_is_genuine(req.uri(), req.headers()) {
            let target = without_error(&req.uri().to_string());
            let location = header::HeaderValue::from_str(&target)
                .unwrap_or(header::HeaderValue::from_static("/"));
            return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
        }
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The page the form was on, without what its last form did: the framework sends the
    // browser back there, and this form's outcome is not the last one's.
    let mut req = req;
    let referer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let back = referer
        .as_deref()
        .map(|referer| page_without_outcome(&same_site_path(referer, &host)));
    if let (Some(referer), Some(back)) = (&referer, &back) {
        // Still a whole URL: the framework reads it as one.
        let origin = url::Url::parse(referer)
            .map(|u| u[..url::Position::BeforePath].to_string())
            .unwrap_or_default();
        if let Ok(value) = header::HeaderValue::from_str(&format!("{origin}{back}")) {
            req.headers_mut().insert(header::REFERER, value);
        }
    }
    let endpoint = req.uri().path()[RPC_PREFIX.len()..].to_string();
    let mut res = next.run(req).await;
    let Some(location) = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return res;
    };
    let mut target = same_site_path(location, &host);
    if target.ends_with('?') {
        target.pop();
    }
    if target.contains("__err=") {
        let token = crate::auth::token::generate();
        target.push_str(&format!("&{FORM_PARAM}={token}"));
        let secure = if state.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        // Readable by the page's islands (they check the same pairing in the browser).
        let cookie = format!("{FORM_COOKIE}={token}; Path=/; Max-Age=600; SameSite=Strict{secure}");
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    } else if back.as_deref() == Some(target.as_str()) && is_name(&endpoint) {
        // Back where the form was, and it worked: the page says what was done
        // (`done=<server function>`).
        let joint = if target.contains('?') { '&' } else { '?' };
        target.push_str(&format!("{joint}done={endpoint}"));
    }
    match header::HeaderValue::from_str(&target) {
        Ok(value) => {
            res.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            res.headers_mut()
                .insert(header::LOCATION, header::HeaderValue::from_static("/"));
        }
    }
    res
}

/// `page` without what a form sent back to it: `done` and its details (`done_…`), and
/// an error with its token.
fn page_without_outcome(page: &str) -> String {
    query_without(page, |name| {
        name == "done"
            || name.starts_with("done_")
            || ["__err", "__path", FORM_PARAM].contains(&name)
    })
}

/// The page at `target` without an error in its URL: only ever a path of this site
/// (`//host/…` would be another site).
fn without_error(target: &str) -> String {
    let target = query_without(target, |name| {
        ["__err", "__path", FORM_PARAM].contains(&name)
    });
    same_site_path(&target, "")
}

/// `target` (a path with a query) without the query parameters whose name (decoded)
/// `drop` picks; the others as they were.
fn query_without(target: &str, drop: impl Fn(&str) -> bool) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let decoded: String = url::form_urlencoded::parse(name.as_bytes())
                .map(|(n, _)| n.into_owned())
                .collect();
            !drop(&decoded)
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// Whether `s` is a server function's name (and so safe in a URL as it is).
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `target` (a path with a query) without the query parameter `name`.
#[cfg(test)]
fn without_param(target: &str, name: &str) -> String {
    query_without(target, |n| n == name)
}

/// `location` as a path of this site (the one at `host`), or `/`.
fn same_site_path(location: &str, host: &str) -> String {
    let is_path = |p: &str| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.starts_with("/\\")
            && !p.chars().any(char::is_control)
    };
    if is_path(location) {
        return location.to_string();
    }
    match url::Url::parse(location) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url[url::Position::BeforeHost..url::Position::AfterPort]
                    .eq_ignore_ascii_case(host) =>
        {
            let rest = &url[url::Position::BeforePath..url::Position::AfterQuery];
            if is_path(rest) {
                rest.to_string()
            } else {
                "/".into()
            }
        }
        _ => "/".into(),
    }
}

/// Whether an error in this request's URL was put there by [`form_redirects`] for this
/// browser: its token matches the browser's cookie.
pub fn form_error_is_genuine(uri: &axum::http::Uri, headers: &HeaderMap) -> bool {
    let token = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == FORM_PARAM)
        .map(|(_, v)| v.into_owned());
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == FORM_COOKIE)
        .map(|(_, value)| value.to_string());
    matches!((token, cookie), (Some(t), Some(c)) if !t.is_empty() && t == c)
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn form_redirects_stay_on_this_site() {
        for (location, want) in [
            ("/calls/abc?intent=approve", "/calls/abc?intent=approve"),
            ("http://127.0.0.1:3000/calls/abc?x=1", "/calls/abc?x=1"),
            ("HTTP://127.0.0.1:3000/inbox", "/inbox"),
            ("http://evil.example/x", "/"),
            ("http://127.0.0.1:3000.evil.example/x", "/"),
            ("//evil.example/x", "/"),
            ("/\\evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("", "/"),
        ] {
            assert_eq!(
                same_site_path(location, "127.0.0.1:3000"),
                want,
                "{location}"
            );
        }
    }

    #[test]
    fn an_earlier_forms_outcome_is_dropped() {
        assert_eq!(
            without_param("/calls/x?done=extended&__err=e", "done"),
            "/calls/x?__err=e"
        );
        assert_eq!(without_param("/calls/x?done=flagged", "done"), "/calls/x");
        assert_eq!(
            without_param("/calls/x?undone=1", "done"),
            "/calls/x?undone=1"
        );
        assert_eq!(without_param("/calls/x", "done"), "/calls/x");
    }

    #[test]
    fn a_forms_page_is_what_it_shows_without_the_last_forms_outcome() {
        for (page, want) in [
            ("/people", "/people"),
            ("/people?done=add_user&done_who=vic", "/people"),
            (
                "/policy?edit=a&__err=e&__path=/rpc/x&__form=t",
                "/policy?edit=a",
            ),
            ("/insights?period=7d&done=x", "/insights?period=7d"),
        ] {
            assert_eq!(page_without_outcome(page), want, "{page}");
        }
        assert_eq!(
            page_without_outcome("/people?%5F%5Ferr=x&done%5Fwho=v&q=%5F"),
            "/people?q=%5F"
        );
        for (asked, want) in [
            ("//evil.example/x?__err=a", "/"),
            ("/\\evil.example?__err=a", "/"),
            ("/people?%5F%5Ferr=a&__path=/rpc/x&keep=1", "/people?keep=1"),
            ("/calls/x?_%5Ferr=a", "/calls/x"),
        ] {
            assert_eq!(without_error(asked), want, "{asked}");
        }
        assert_eq!(same_site_path("/\t/evil.example/", ""), "/");
        assert!(is_name("add_user"));
        assert!(!is_name("a/b") && !is_name("") && !is_name("x?y"));
    }

    #[test]
    fn an_error_in_the_url_counts_only_with_its_browsers_token() {
        let uri = |q: &str| format!("/calls/x?{q}").parse::<axum::http::Uri>().unwrap();
        let cookies = |c: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, c.parse().unwrap());
            h
        };
        let q = "__path=/rpc/decide&__err=e30&__form=t1";
        assert!(form_error_is_genuine(
            &uri(q),
            &cookies("askfirst_session=s; askfirst_form=t1")
        ));
        assert!(!form_error_is_genuine(
            &uri(q),
            &cookies("askfirst_form=t2")
        ));
        assert!(!form_error_is_genuine(&uri(q), &HeaderMap::new()));
        assert!(!form_error_is_genuine(
            &uri("__err=e30"),
            &cookies("askfirst_form=")
        ));
        assert!(!form_error_is_genuine(
            &uri("__err=e30&__form="),
            &cookies("askfirst_form=")
        ));
    }
}
