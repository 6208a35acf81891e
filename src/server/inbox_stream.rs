//! Server-Sent Events streams for signed-in people's pages: `GET /inbox/events` (a call
//! changed; the inbox reloads its list) and `GET /reviews/events` (a bypass request or a
//! policy change changed; the review page reloads, managers and above). Browsers'
//! `EventSource` reconnects by itself.

use super::state::AppState;
use crate::auth::{service, token};
use crate::domain::{AppError, Role};
use crate::store::audit::EventRow;
use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

/// The inbox event stream; `401` without a live session.
pub async fn inbox_events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    signed_in(&state, &headers, Role::Viewer).await?;
    Ok(stream(&state, state.gate.hub.subscribe_inbox(), "call"))
}

/// The review page's event stream; `401` without a live session, `403` below manager.
pub async fn signoff_events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    signed_in(&state, &headers, Role::Manager).await?;
    Ok(stream(
        &state,
        state.gate.hub.subscribe_signoff(),
        "signoff",
    ))
}

async fn signed_in(state: &AppState, headers: &HeaderMap, role: Role) -> Result<(), AppError> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token::from_cookie_header)
        .ok_or(AppError::Unauthenticated)?;
    let user = service::session_user(&state.pool, state.clock.as_ref(), token)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if user.disabled || !user.role.includes(role) {
        return Err(AppError::Forbidden(format!(
            "this stream needs the {role} role"
        )));
    }
    Ok(())
}

fn stream(
    state: &AppState,
    rx: broadcast::Receiver<Arc<EventRow>>,
    name: &'static str,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let shutdown = state.gate.hub.shutdown_signal();
    let events =
        futures::stream::unfold((rx, shutdown), move |(mut rx, mut shutdown)| async move {
            let event = tokio::select! {
                got = rx.recv() => match got {
                    Ok(row) => {
                        let data = serde_json::json!({
                            "call": row.call_id, "kind": row.kind, "status": row.to_status,
                        });
                        Event::default().id(row.id.to_string()).event(name).data(data.to_string())
                    }
                    Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                    Err(RecvError::Closed) => return None,
                },
                _ = shutdown.changed() => return None,
            };
            Some((Ok(event), (rx, shutdown)))
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}
