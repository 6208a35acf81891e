//! The agent API under `/api/v1`: JSON over HTTP, agents authenticated by API key.

pub mod auth;
pub mod bypasses;
pub mod calls;
pub mod docs;
pub mod events;
pub mod extract;
pub mod policy;
pub mod reference;

use crate::server::state::AppState;
use axum::{
    routing::{get, post},
    Router,
};

/// The `/api/v1` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calls", post(calls::propose))
        .route("/calls/{id}", get(calls::get_call))
        .route("/calls/{id}/execute", post(calls::execute))
        .route("/calls/{id}/cancel", post(calls::cancel))
        .route("/calls/{id}/outcome", post(calls::outcome))
        .route("/events", get(events::stream))
        .route("/bypasses", get(bypasses::list))
        .route("/policy/preview", post(policy::preview))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::reference_page))
        .route("/docs.js", get(docs::reference_script))
        .method_not_allowed_fallback(|| async {
            // axum still adds the `Allow` header listing the route's methods.
            crate::domain::AppError::MethodNotAllowed("this route does not take that method".into())
        })
        .fallback(|| async { crate::domain::AppError::NotFound("no such API route".into()) })
}
