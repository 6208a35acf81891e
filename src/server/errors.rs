//! How [`AppError`] leaves the server: the JSON body `{ "error": { "code", "message" } }`
//! with its status. Internal details are logged, never sent.

use crate::domain::AppError;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(&self)).into_response();
        if let Some(secs) = self.retry_after() {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if crate::store::is_busy(&err) {
            tracing::warn!(error = %err, "a write waited too long for the database's write lock");
            return AppError::Busy(1);
        }
        // PostgreSQL stores no NUL character in text (SQLite does): a client's text that
        // carries one is the client's mistake, not ours.
        if let Some(db) = err.as_database_error() {
            if db.code().as_deref() == Some("22021") {
                return AppError::Invalid(
                    "text must not contain the NUL character (U+0000)".into(),
                );
            }
        }
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
