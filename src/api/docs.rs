//! The OpenAPI 3.1 document, generated from the handlers and types, and a readable
//! reference page rendered from it.

use super::{bypasses, calls, events, policy};
use crate::domain::bypass::{AgentBypass, ApprovedBy, Scope};
use crate::domain::call::{
    CallStatus, CallView, CandidateView, DecisionView, ExecuteResponse, ProposeRequest,
    ProposeResponse,
};
use crate::domain::review::Verdict;
use crate::domain::risk::RiskClass;
use crate::gate::preview::{
    PreviewAnswer, PreviewDecision, PreviewRequest, PreviewResponse, PreviewTool,
};
use axum::{
    http::{header, HeaderValue},
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
    paths(calls::propose, calls::get_call, calls::execute, calls::cancel, events::stream, bypasses::list, policy::preview),
    components(schemas(
        ProposeRequest, ProposeResponse, CallView, CandidateView, DecisionView, Verdict, ExecuteResponse, CallStatus, RiskClass,
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /api/v1/docs`: the API reference as a page.
pub async fn reference_page() -> Response {
    let doc = ApiDoc::openapi();
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>askfirst agent API</title><link rel=\"stylesheet\" href=\"/pkg/askfirst.css\"></head>\
         <body><main class=\"api-docs\">",
    );
    html += &format!(
        "<h1>{} <small>v{}</small></h1>",
        esc(&doc.info.title),
        esc(&doc.info.version)
    );
    if let Some(d) = &doc.info.description {
        html += &format!("<p>{}</p>", esc(d));
    }
    html +=
        "<p>Machine-readable: <a href=\"/api/v1/openapi.json\">openapi.json</a> (OpenAPI 3.1).</p>";
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            html += &format!(
                "<section class=\"card\"><h2><code>{method} {}</code></h2>",
                esc(path)
            );
            if let Some(s) = &op.summary {
                html += &format!("<p>{}</p>", esc(s));
            }
            if let Some(params) = &op.parameters {
                html += "<h3>Parameters</h3><ul>";
                for p in params {
                    let desc = p.description.as_deref().unwrap_or("");
                    html += &format!("<li><code>{}</code> — {}</li>", esc(&p.name), esc(desc));
                }
                html += "</ul>";
            }
            if let Some(body) = &op.request_body {
                let types: Vec<_> = body.content.keys().map(|k| esc(k)).collect();
                html += &format!("<h3>Body</h3><p>{}</p>", types.join(", "));
            }
            html += "<h3>Responses</h3><ul>";
            for (code, resp) in &op.responses.responses {
                let desc = match resp {
                    utoipa::openapi::RefOr::T(r) => r.description.clone(),
                    utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                };
                html += &format!("<li><code>{}</code> — {}</li>", esc(code), esc(&desc));
            }
            html += "</ul></section>";
        }
    }
    html += "</main></body></html>";
    let mut res = Html(html).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; frame-ancestors 'none'"),
    );
    res
}
