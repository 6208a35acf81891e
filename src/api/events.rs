//! `GET /api/v1/events`: Server-Sent Events of the agent's calls leaving `pending`. Every
//! event's id is its audit-log id; `Last-Event-ID` replays what the agent missed.

use super::auth::Agent;
use crate::domain::error::StateCode;
use crate::domain::AppError;
use crate::gate::hub::{StreamSlot, MAX_STREAMS};
use crate::gate::{AgentInfo, Gate};
use crate::server::state::AppState;
use crate::store::audit::{self, EventRow};
use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, Sse},
};
use futures::Stream;
use std::{collections::VecDeque, convert::Infallible, sync::Arc};
use tokio::sync::{broadcast, watch};

/// One event of the `/api/v1/events` stream (documentation only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    /// Always `call`.
    #[schema(pattern = "^call$")]
    event: String,
    /// Position in this agent's stream; send it back as `Last-Event-ID` to resume.
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    /// The call as JSON (a `CallView`).
    #[schema(examples("{\"id\":\"0194bc1e-7a00-7000-8000-000000000001\",\"status\":\"approved\",\"tool\":\"deploy\",…}"))]
    data: String,
}

/// Stream this agent's calls as they leave `pending`.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "Replay events after this id")),
    responses(
        (status = 200, description = "`text/event-stream`; each event: `event: call`, `id: <n>`, `data: <CallView>`", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Bad Last-Event-ID", body = super::calls::ErrorBody),
        (status = 401, description = "Missing or invalid agent key", body = super::calls::ErrorBody),
        (status = 409, description = "`replay_window_exceeded`: more than 10,000 events were missed since `Last-Event-ID`; re-read your calls and reconnect without it", body = super::calls::ErrorBody),
        (status = 429, description = "`too_many_streams`: this agent holds 8 streams open already", body = super::calls::ErrorBody),
    ),
    security(("agent_key" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    Agent(agent): Agent,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let last = match headers.get("last-event-id") {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                AppError::BadRequest("`Last-Event-ID` must be a non-negative integer".into())
            })?,
    };
    let slot = state
        .gate
        .hub
        .open_stream(format!("agent:{}", agent.id))
        .ok_or_else(|| {
            AppError::State(
                StateCode::TooManyStreams,
                format!("this agent holds {MAX_STREAMS} event streams open already"),
            )
        })?;
    if headers.contains_key("last-event-id")
        && audit::count_leaving_pending(&state.gate.pool, &agent.id, last, REPLAY_WINDOW + 1)
            .await?
            > REPLAY_WINDOW
    {
        return Err(AppError::State(
            StateCode::ReplayWindowExceeded,
            format!(
                "more than {REPLAY_WINDOW} events were missed since event {last}: re-read your \
                 calls (GET /api/v1/calls/{{id}}) and reconnect without Last-Event-ID"
            ),
        ));
    }
    // Subscribe before replaying, so nothing falls between the two.
    let live = state.gate.hub.subscribe_agent(&agent.id);
    let shutdown = state.gate.hub.shutdown_signal();
    let replay = headers.contains_key("last-event-id");
    let key = super::auth::bearer(&headers)
        .ok_or(AppError::Unauthenticated)?
        .to_string();
    let cursor = Cursor {
        _slot: slot,
        gate: state.gate.clone(),
        agent,
        key,
        recheck: tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK),
        live,
        shutdown,
        last,
        queue: VecDeque::new(),
        replaying: replay,
    };
    let events =
        futures::stream::unfold(
            cursor,
            |mut c| async move { c.next().await.map(|e| (Ok(e), c)) },
        );
    Ok(crate::server::sse::stream(events))
}

/// How often a stream checks that its agent may still read it.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Most events a stream replays after `Last-Event-ID`.
pub const REPLAY_WINDOW: i64 = 10_000;

struct Cursor {
    /// This stream's place among the agent's open streams.
    _slot: StreamSlot,
    gate: Arc<Gate>,
    agent: AgentInfo,
    /// The key the stream was opened with: once it stops working (agent disabled, key
    /// rotated out), the stream ends.
    key: String,
    recheck: tokio::time::Interval,
    live: broadcast::Receiver<Arc<EventRow>>,
    shutdown: watch::Receiver<bool>,
    last: i64,
    queue: VecDeque<EventRow>,
    replaying: bool,
}

impl Cursor {
    /// The next SSE event, or `None` when the server shuts down or the agent's key stops
    /// working.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(row) = self.queue.pop_front() {
                self.last = row.id;
                let Some(call_id) = row.call_id.as_deref() else {
                    continue;
                };
                match self.gate.view(call_id, Some(&self.agent)).await {
                    Ok(view) => {
                        let event = Event::default().id(row.id.to_string()).event("call");
                        match event.json_data(&view) {
                            Ok(e) => return Some(e),
                            Err(e) => tracing::warn!(error = %e, "could not encode an event"),
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not load a call for an event"),
                }
                continue;
            }
            if self.replaying {
                match audit::leaving_pending(&self.gate.pool, &self.agent.id, self.last, 500).await
                {
                    Ok(batch) if !batch.is_empty() => self.queue.extend(batch),
                    Ok(_) => self.replaying = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "event replay failed");
                        return None;
                    }
                }
                continue;
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(row) if row.id > self.last => self.queue.push_back((*row).clone()),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.replaying = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.shutdown.changed() => return None,
                _ = self.recheck.tick() => {
                    if self.gate.authenticate(&self.key).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}
