//! `GET /metrics`: the Prometheus scrape endpoint (OpenMetrics text). Open when no
//! `--metrics-token` is set (meant for a scraper on the local network; the server listens
//! on localhost by default); with one, only `Authorization: Bearer <token>` gets through.

use super::state::AppState;
use crate::domain::AppError;
use crate::gate::metrics::CONTENT_TYPE;
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

/// The exposition, or `401` without the configured token.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.settings.metrics_token {
        let given = crate::api::auth::bearer(&headers).unwrap_or_default();
        if !same_token(given, expected) {
            let mut res = AppError::Unauthenticated.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return res;
        }
    }
    match state.gate.metrics.render(&state.pool).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => AppError::Internal(format!("encoding the metrics: {e}")).into_response(),
    }
}

/// Whether two tokens are equal, in time that depends on neither: their SHA-256 digests
/// (equal lengths) are compared in full.
fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_token() {
        for (given, expected, same) in [
            ("s3cret-token", "s3cret-token", true),
            ("s3cret-token", "s3cret-tokeN", false),
            ("", "s3cret-token", false),
            ("s3cret-token-and-more", "s3cret-token", false),
        ] {
            assert_eq!(super::same_token(given, expected), same, "{given:?}");
        }
    }
}
