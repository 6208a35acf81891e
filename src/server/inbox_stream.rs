//! `GET /inbox/events`: a Server-Sent Events stream for signed-in people's inbox pages.
//! Each event names a call that changed; the page reloads its list. Browsers' `EventSource`
//! reconnects by itself.

use super::state::AppState;
use crate::auth::{service, token};
use crate::domain::AppError;
use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

/// The inbox event stream; `401` without a live session.
pub async fn inbox_events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token::from_cookie_header)
        .ok_or(AppError::Unauthenticated)?;
    service::session_user(&state.pool, state.clock.as_ref(), token)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let rx = state.gate.hub.subscribe_inbox();
    let shutdown = state.gate.hub.shutdown_signal();
    let events = futures::stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        let event = tokio::select! {
            got = rx.recv() => match got {
                Ok(row) => {
                    let data = serde_json::json!({
                        "call": row.call_id, "kind": row.kind, "status": row.to_status,
                    });
                    Event::default().id(row.id.to_string()).event("call").data(data.to_string())
                }
                Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                Err(RecvError::Closed) => return None,
            },
            _ = shutdown.changed() => return None,
        };
        Some((Ok(event), (rx, shutdown)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
