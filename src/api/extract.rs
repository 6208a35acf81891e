//! Extractors whose rejections use our JSON error format.

use crate::domain::AppError;
use axum::extract::{
    rejection::{JsonRejection, PathRejection, QueryRejection},
    FromRequest, FromRequestParts, Request,
};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `Json<T>` with errors as `{ "error": … }`: malformed JSON → 400, wrong shape → 422,
/// too large → 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => AppError::Invalid(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => AppError::BadRequest(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => {
                    AppError::BadRequest("send `Content-Type: application/json`".into())
                }
                other if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    AppError::TooLarge("the request body is too large".into())
                }
                other if is_timeout(&other) => {
                    AppError::Timeout("the request body did not arrive in time".into())
                }
                other => AppError::BadRequest(other.body_text()),
            }),
        }
    }
}

/// [`ApiJson`] for an optional body: no body at all reads as `T::default()`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for ApiJsonOrEmpty<T> {
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
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(value)| ApiJsonOrEmpty(value))
    }
}

/// Whether the body failed because the body-read timeout fired.
fn is_timeout(rejection: &JsonRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        std::error::Error::source(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
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
