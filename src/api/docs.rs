//! The OpenAPI 3.1 document, generated from the handlers and types, and a readable
//! reference page rendered from it.

use super::{bypasses, calls, events, policy};
use crate::domain::bypass::{AgentBypass, ApprovedBy, Scope};
use crate::domain::call::{
    CallStatus, CallView, CandidateView, DecisionView, Denial, Escalation, ExecuteRequest,
    ExecuteResponse, ExecutionResult, OutcomeRequest, ProposeRequest, ProposeResponse,
};
use crate::domain::review::Verdict;
use crate::domain::risk::RiskClass;
use crate::gate::preview::{
    PreviewAnswer, PreviewDecision, PreviewRequest, PreviewResponse, PreviewTool,
};
use crate::server::state::{AppState, Settings};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{Html, IntoResponse, Response},
    Json,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The agent API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "askfirst agent API",
        version = "1",
        description = "Propose tool calls, wait for people's decisions, and execute only what was approved. \
                       Authenticate with `Authorization: Bearer <agent key>` (from `askfirst agent create`). \
                       Errors are always `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(calls::propose, calls::get_call, calls::execute, calls::outcome, calls::cancel, events::stream, bypasses::list, policy::preview),
    components(schemas(
        ProposeRequest, ProposeResponse, CallView, CandidateView, DecisionView, Denial, Escalation, Verdict, ExecuteRequest, ExecuteResponse, OutcomeRequest, ExecutionResult, CallStatus, RiskClass,
        calls::ErrorBody, calls::ErrorDetail, ApprovedBy, AgentBypass, Scope,
        PreviewRequest, PreviewTool, PreviewAnswer, PreviewDecision, PreviewResponse
    )),
    modifiers(&AgentKey),
    tags(
        (name = "calls", description = "Proposing, waiting for, executing and cancelling gated calls"),
        (name = "events", description = "Server-Sent Events for async gates"),
        (name = "bypasses", description = "Bypasses managers signed off that cover this agent"),
        (name = "policy", description = "What policy would do with calls of a tool, without proposing one")
    )
)]
pub struct ApiDoc;

struct AgentKey;

impl Modify for AgentKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "agent_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /api/v1/docs`: the API reference as a page, rendered from the same document as
/// `openapi.json` (see [`super::reference`]); its `curl` lines use this server's base URL.
pub async fn reference_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state.settings, &headers);
    let mut res = Html(super::reference::render(&ApiDoc::openapi(), &base)).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

/// `GET /api/v1/docs.js`: the reference page's copy buttons, served from the binary.
pub async fn reference_script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        include_str!("../../public/api-docs.js"),
    )
        .into_response()
}

/// The base URL agents reach this server at: the first `--public-url`, else the `Host`
/// the request named (the `known_host` middleware already refused hosts we do not answer to).
fn base_url(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_base_url {
        return url.trim_end_matches('/').to_string();
    }
    let scheme = if settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:3000");
    format!("{scheme}://{host}")
}
