//! Extractors whose rejections use our JSON error format.

use crate::domain::AppError;
use axum::extract::{
    rejection::{PathRejection, QueryRejection},
    FromRequest, FromRequestParts, Request,
};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `Json<T>` with errors as `{ "error": … }`: malformed JSON → 400, wrong shape → 422 (a
/// JSON array where an object is due included), too large → 413. A large body is parsed on
/// the blocking pool, so a few megabytes of arguments do not hold up the async workers.
pub struct ApiJson<T>(pub T);

/// Bodies above this many bytes are parsed off the async workers.
const PARSE_INLINE_MAX: usize = 64 * 1024;

impl<T: DeserializeOwned + Send + 'static, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::BadRequest(
                "send `Content-Type: application/json`".into(),
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) => {
                return Err(
                    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                        AppError::TooLarge("the request body is too large".into())
                    } else if caused_by_timeout(&rejection) {
                        AppError::Timeout("the request body did not arrive in time".into())
                    } else {
                        AppError::BadRequest(rejection.body_text())
                    },
                )
            }
        };
        if bytes.len() <= PARSE_INLINE_MAX {
            return parse(&bytes).map(ApiJson);
        }
        tokio::task::spawn_blocking(move || parse(&bytes))
            .await
            .map_err(|e| AppError::Internal(format!("parsing a request body: {e}")))?
            .map(ApiJson)
    }
}

/// Parses a request body that must be one JSON object.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(AppError::Invalid(
            "the body must be a JSON object, not an array".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| match e.inner().classify() {
            serde_json::error::Category::Data => AppError::Invalid(format!(
                "Failed to deserialize the JSON body into the target type: {e}"
            )),
            _ => AppError::BadRequest(format!("Failed to parse the request body as JSON: {e}")),
        })?;
    // Nothing but whitespace may follow the value.
    de.end().map_err(|e| {
        AppError::BadRequest(format!("Failed to parse the request body as JSON: {e}"))
    })?;
    Ok(value)
}

/// Whether the request says its body is JSON (`application/json` or `…+json`).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether reading the body failed because the body-read timeout fired.
fn caused_by_timeout(rejection: &dyn std::error::Error) -> bool {
    let mut source = rejection.source();
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// [`ApiJson`] for an optional body: no body at all reads as `T::default()`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default + Send + 'static, S: Send + Sync> FromRequest<S>
    for ApiJsonOrEmpty<T>
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (!req.headers().contains_key(axum::http::header::CONTENT_TYPE)
                && !req
                    .headers()
                    .contains_key(axum::http::header::TRANSFER_ENCODING)
                && !req
                    .headers()
                    .contains_key(axum::http::header::CONTENT_LENGTH));
        if empty {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        // `null` is no body too (the API document allows it).
        ApiJson::<Option<T>>::from_request(req, state)
            .await
            .map(|ApiJson(value)| ApiJsonOrEmpty(value.unwrap_or_default()))
    }
}

/// `Query<T>` with errors as `{ "error": … }` (400).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| AppError::BadRequest(e.body_text()))
    }
}

/// `Path<T>` with errors as `{ "error": … }` (400), e.g. for an id that is not UTF-8.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| AppError::BadRequest(e.body_text()))
    }
}
