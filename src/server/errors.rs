//! How [`AppError`] leaves the server: the JSON body `{ "error": { "code", "message" } }`
//! with its status. Internal details are logged, never sent.

use crate::domain::AppError;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// The JSON body for an error.
pub fn body(err: &AppError) -> serde_json::Value {
    json!({ "error": { "code": err.code(), "message": err.to_string() } })
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(body(&self))).into_response();
        if let AppError::RateLimited(secs) = self {
            if let Ok(v) = secs.to_string().parse() {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error");
        AppError::Internal("internal error; see the server log".into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        tracing::error!(error = format!("{err:#}"), "internal error");
        AppError::Internal("internal error; see the server log".into())
    }
}
