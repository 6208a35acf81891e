//! Handlers for `/api/v1/calls`.

use super::{
    auth::Agent,
    extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery},
};
use crate::domain::call::{
    CallView, ExecuteRequest, ExecuteResponse, OutcomeRequest, ProposeRequest, ProposeResponse,
};
use crate::domain::AppError;
use crate::server::state::AppState;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use std::time::Duration;

/// Query of `GET /calls/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Long-poll: seconds (0–60) to wait for the call to leave `pending`.
    #[param(minimum = 0, maximum = 60, nullable = false)]
    pub wait: Option<u64>,
}

/// Propose a tool call; policy answers allowed, denied or pending.
#[utoipa::path(
    post, path = "/api/v1/calls", tag = "calls",
    request_body = ProposeRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 200, pattern = "^[!-~]+$",
        description = "Same key from the same agent for the same call (session, tool, arguments) returns the first answer and creates nothing new; for another call it is `409 idempotency_key_reused` (1-200 visible ASCII characters)")),
    responses(
        (status = 201, description = "Decided by policy", body = ProposeResponse),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the `Idempotency-Key` was first used for another call", body = ErrorBody),
        (status = 413, description = "Body or field too large", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 429, description = "`too_many_pending`: the call would be gated, and this agent already has as many pending calls as the admins allow", body = ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn propose(
    State(state): State<AppState>,
    Agent(agent): Agent,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> Result<(StatusCode, Json<ProposeResponse>), AppError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    AppError::BadRequest("`Idempotency-Key` must be visible ASCII".into())
                })?
                .to_string(),
        ),
        None => None,
    };
    let response = state.gate.propose(&agent, req, key).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// A call's current view; with `wait`, long-polls until it leaves `pending`.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "Call id"), WaitQuery),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = ErrorBody),
        (status = 404, description = "No such call for this agent", body = ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn get_call(
    State(state): State<AppState>,
    Agent(agent): Agent,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<Json<CallView>, AppError> {
    let max = crate::gate::lifecycle::MAX_WAIT.as_secs();
    let view = match query.wait {
        Some(secs) if secs > max => {
            return Err(AppError::BadRequest(format!(
                "`wait` is at most {max} seconds; poll again for longer"
            )))
        }
        Some(secs) if secs > 0 => {
            state
                .gate
                .wait(&id, &agent, Duration::from_secs(secs))
                .await?
        }
        _ => state.gate.view(&id, Some(&agent)).await?,
    };
    Ok(Json(view))
}

/// Report execution: returns the approved arguments exactly once. The body is optional;
/// with `{"report_outcome": true}` the call is `running` until `outcome` is reported.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/execute", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    request_body(content = Option<ExecuteRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Execute with these arguments", body = ExecuteResponse),
        (status = 400, description = "Malformed call id or body", body = ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = ErrorBody),
        (status = 404, description = "No such call for this agent", body = ErrorBody),
        (status = 409, description = "`approval_stale`, `already_executed`, `not_approved`, or `receipt_mismatch` (`jti` is not this call's receipt)", body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn execute(
    State(state): State<AppState>,
    Agent(agent): Agent,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<ExecuteRequest>,
) -> Result<Json<ExecuteResponse>, AppError> {
    Ok(Json(state.gate.execute(&id, &agent, req).await?))
}

/// Report how running a `running` call went: `succeeded` or `tool_error` (the tool
/// returned a result) make it `executed`; `failed` (no result: a crash, a timeout, a lost
/// connection) makes it `failed`. Once.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/outcome", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "Recorded", body = CallView),
        (status = 400, description = "Malformed call id or body", body = ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = ErrorBody),
        (status = 404, description = "No such call for this agent", body = ErrorBody),
        (status = 409, description = "`not_running`", body = ErrorBody),
        (status = 422, description = "Body of the wrong shape, or `detail` too long", body = ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn outcome(
    State(state): State<AppState>,
    Agent(agent): Agent,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<CallView>, AppError> {
    Ok(Json(state.gate.report_outcome(&id, &agent, req).await?))
}

/// Withdraw a pending call.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/cancel", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "Cancelled", body = CallView),
        (status = 400, description = "Malformed call id", body = ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = ErrorBody),
        (status = 404, description = "No such call for this agent", body = ErrorBody),
        (status = 409, description = "`not_pending`", body = ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Agent(agent): Agent,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CallView>, AppError> {
    Ok(Json(state.gate.cancel(&id, &agent).await?))
}

/// The error body every failure carries (one type, also what the server sends).
pub use crate::domain::error::{ErrorBody, ErrorDetail};
