//! The HTTP stack: routes, static files, and the layers around them.

use super::{middleware, state::AppState};
use crate::app::{shell, App};
use axum::{
    extract::State,
    http::{header, HeaderName, HeaderValue},
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::path::Path;
use tower_http::{
    compression::{
        predicate::{DefaultPredicate, Predicate, SizeAbove},
        CompressionLayer,
    },
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

/// Largest request body accepted anywhere but a proposal.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A proposal's body may exceed the admin's largest arguments by this much: the rest of the
/// proposal (context and checkpoint, 64 KiB each, reason, alternatives) and whitespace.
pub const PROPOSAL_OVERHEAD: usize = 1024 * 1024;

/// The CSP for everything that is not a page (pages set their own, with a script nonce).
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Builds the whole application router over `state`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let pkg_dir = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };

    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(super::metrics::metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/auth/oidc/start", get(super::oidc::start))
        .route("/auth/oidc/callback", get(super::oidc::callback))
        .merge(super::install::router())
        .nest("/api/v1", crate::api::router())
        .route("/inbox/events", get(super::inbox_stream::inbox_events))
        .route("/reviews/events", get(super::inbox_stream::signoff_events))
        .route("/audit/export.csv", get(super::audit_export::export_csv))
        .route(
            "/audit/export.jsonl",
            get(super::audit_export::export_jsonl),
        )
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .nest_service(
            "/pkg",
            ServeDir::new(pkg_dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::form_redirects,
        ))
        .layer(axum::middleware::from_fn(middleware::refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::known_host,
        ))
        // Bodies are limited by `body_limit` alone, not also by axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::body_limit,
        ))
        .layer(axum::middleware::from_fn(middleware::error_statuses))
        .layer(axum::middleware::from_fn(middleware::page_nonce))
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))),
        )
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            DEFAULT_CSP,
        ))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// `GET /.well-known/jwks.json`: the keys receipts are signed with (public, no sign-in).
/// Cached for five minutes: a verifier that meets an unknown `kid` fetches it again. Any
/// origin may read it (public keys; a verifier may run in a browser).
async fn jwks(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Json(state.gate.jwks()),
    )
}

/// `GET /healthz`: 200 when the database answers, else 503.
async fn healthz(
    State(state): State<AppState>,
) -> (axum::http::StatusCode, Json<serde_json::Value>) {
    match crate::store::ping(&state.pool).await {
        Ok(_) => (
            axum::http::StatusCode::OK,
            Json(serde_json::json!({ "status": "ok" })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
        }
    }
}
