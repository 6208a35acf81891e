//! Server-Sent Events streams for signed-in people's pages: `GET /inbox/events` (a call
//! changed; the inbox reloads its list) and `GET /reviews/events` (a bypass request or a
//! policy change changed; the review page reloads, managers and above). Browsers'
//! `EventSource` reconnects by itself. Each stream checks its session every
//! [`RECHECK`] and ends once it no longer qualifies (signed out, expired, disabled, demoted).

use super::state::AppState;
use crate::auth::{service, token};
use crate::domain::{AppError, Role};
use crate::store::audit::EventRow;
use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::sse::{Event, Sse},
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
    let token = signed_in(&state, &headers, Role::Viewer).await?;
    stream(
        &state,
        state.gate.hub.subscribe_inbox(),
        "call",
        token,
        Role::Viewer,
    )
}

/// The review page's event stream; `401` without a live session, `403` below manager.
pub async fn signoff_events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let token = signed_in(&state, &headers, Role::Manager).await?;
    stream(
        &state,
        state.gate.hub.subscribe_signoff(),
        "signoff",
        token,
        Role::Manager,
    )
}

/// How often a stream checks that its session still qualifies.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// The session token, if it belongs to a live session of someone holding `role`.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    role: Role,
) -> Result<String, AppError> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(token::from_cookie_header)
        .ok_or(AppError::Unauthenticated)?
        .to_string();
    qualifies(state, &token, role).await?;
    Ok(token)
}

async fn qualifies(state: &AppState, token: &str, role: Role) -> Result<(), AppError> {
    let user = service::session_user(&state.pool, state.clock.as_ref(), token)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if user.disabled || user.must_change_password || !user.role.includes(role) {
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
    token: String,
    role: Role,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let slot = state
        .gate
        .hub
        .open_stream(format!("session:{}", token::hash(&token)))
        .ok_or_else(|| {
            AppError::State(
                crate::domain::error::StateCode::TooManyStreams,
                format!(
                    "this session holds {} event streams open already",
                    crate::gate::hub::MAX_STREAMS
                ),
            )
        })?;
    let shutdown = state.gate.hub.shutdown_signal();
    let recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    let state = state.clone();
    let events = futures::stream::unfold(
        (rx, shutdown, recheck, slot),
        move |(mut rx, mut shutdown, mut recheck, slot)| {
            let (state, token) = (state.clone(), token.clone());
            async move {
                let event = loop {
                    tokio::select! {
                        got = rx.recv() => break match got {
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
                        _ = recheck.tick() => {
                            if qualifies(&state, &token, role).await.is_err() {
                                return None;
                            }
                        }
                    }
                };
                Some((Ok(event), (rx, shutdown, recheck, slot)))
            }
        },
    );
    Ok(super::sse::stream(events))
}
