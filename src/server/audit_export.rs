//! `GET /audit/export.csv` and `GET /audit/export.jsonl`: the audit page's filtered events
//! as a download, streamed chunk by chunk (see [`crate::gate::audit_export`]). Managers and
//! admins with a live session; the query parameters are the page's filter (`before` /
//! `after` are ignored: an export holds every matching event, oldest first).

use super::state::AppState;
use crate::domain::audit_view::{AuditQuery, ExportFormat};
use crate::domain::{AppError, Role};
use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, Uri},
    response::Response,
};
use futures::TryStreamExt;

/// The CSV export.
pub async fn export_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    export(state, headers, uri, ExportFormat::Csv).await
}

/// The JSON Lines export.
pub async fn export_jsonl(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    export(state, headers, uri, ExportFormat::Jsonl).await
}

async fn export(
    state: AppState,
    headers: HeaderMap,
    uri: Uri,
    format: ExportFormat,
) -> Result<Response, AppError> {
    // Who first (an anonymous request learns nothing about its filter), then what.
    super::inbox_stream::signed_in(&state, &headers, Role::Manager).await?;
    let Query(query) =
        Query::<AuditQuery>::try_from_uri(&uri).map_err(|e| AppError::BadRequest(e.body_text()))?;
    let filter = query.filter().map_err(AppError::BadRequest)?;
    let chunks = state.gate.export_audit(filter, format).await?;
    let body = Body::from_stream(chunks.map_err(|e| {
        tracing::error!(error = %e, "an audit export stopped short");
        std::io::Error::other(e.to_string())
    }));
    let name = format!(
        "attachment; filename=\"askfirst-audit-{}.{}\"",
        crate::gate::audit_views::export_stamp(&state.gate),
        format.extension()
    );
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&name).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
