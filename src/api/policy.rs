//! Handler for `POST /api/v1/policy/preview`.

use super::{auth::Agent, extract::ApiJson};
use crate::domain::AppError;
use crate::gate::preview::{PreviewRequest, PreviewResponse};
use crate::server::state::AppState;
use axum::{extract::State, Json};

/// What policy would do with calls of these tools by the calling agent — `allow`, `gate`,
/// `deny`, or `depends` (on the arguments or on the tool being new in the session) — so an
/// MCP client can be told which tools a person may be asked about. Records nothing.
#[utoipa::path(
    post, path = "/api/v1/policy/preview", tag = "policy",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "One answer per tool, in order", body = PreviewResponse),
        (status = 400, description = "Malformed JSON", body = super::calls::ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = super::calls::ErrorBody),
        (status = 413, description = "Body too large", body = super::calls::ErrorBody),
        (status = 422, description = "Invalid field: 1-200 tools, names of 1-200 characters, at most 100 params each, known risk classes", body = super::calls::ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    Agent(agent): Agent,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewResponse>, AppError> {
    Ok(Json(state.gate.preview(&agent, &req)?))
}
