//! Handler for `GET /api/v1/bypasses`.

use super::auth::Agent;
use crate::domain::bypass::AgentBypass;
use crate::domain::AppError;
use crate::server::state::AppState;
use axum::{extract::State, Json};

/// The active bypasses that cover the calling agent: managers signed these off, and a
/// matching gated call is approved at once (`approved_by: {"bypass": id}`), so an agent
/// can tell a person why a call went through without them.
#[utoipa::path(
    get, path = "/api/v1/bypasses", tag = "bypasses",
    responses(
        (status = 200, description = "Active bypasses covering this agent", body = [AgentBypass]),
        (status = 401, description = "Missing or invalid agent key", body = super::calls::ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<Vec<AgentBypass>>, AppError> {
    Ok(Json(state.gate.agent_bypasses(&agent).await?))
}
