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
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthenticated)?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(AppError::Unauthenticated)?;
        state.gate.authenticate(key).await.map(Agent)
    }
}
