//! The installable inbox: the web app manifest, the service worker and its registration
//! script, served from the binary (so they exist whatever the site directory holds). The
//! service worker gets its own CSP: the default `default-src 'none'` would forbid it the
//! network requests it makes for the shell.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

const MANIFEST: &str = include_str!("../../public/manifest.webmanifest");
const SERVICE_WORKER: &str = include_str!("../../public/sw.js");
const REGISTER: &str = include_str!("../../public/register-sw.js");
/// What the service worker may reach: this origin only.
const WORKER_CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// `/manifest.webmanifest`, `/sw.js`, `/register-sw.js`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/manifest.webmanifest", get(manifest))
        .route("/sw.js", get(service_worker))
        .route("/register-sw.js", get(register))
}

fn text(body: &'static str, kind: &'static str, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

async fn manifest() -> Response {
    text(MANIFEST, "application/manifest+json", "no-cache")
}

async fn service_worker() -> Response {
    let mut res = text(SERVICE_WORKER, "text/javascript; charset=utf-8", "no-cache");
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(WORKER_CSP),
    );
    res.headers_mut()
        .insert("service-worker-allowed", HeaderValue::from_static("/"));
    res
}

async fn register() -> Response {
    text(REGISTER, "text/javascript; charset=utf-8", "no-cache")
}
