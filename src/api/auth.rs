//! Agent authentication: `Authorization: Bearer <key>`. Sessions of people never work here.

use crate::domain::AppError;
use crate::gate::AgentInfo;
use crate::server::state::AppState;
use axum::{extract::FromRequestParts, http::request::Parts};

/// The agent making the request.
pub struct Agent(pub AgentInfo);

impl FromRequestParts<AppState> for Agent {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = bearer(&parts.headers).ok_or(AppError::Unauthenticated)?;
        state.gate.authenticate(key).await.map(Agent)
    }
}

/// The agent key a request carries (`Authorization: Bearer <key>`), if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 256)
}
