//! The HTTP client.

use crate::error::{from_response, Error};
use crate::types::{CallView, Executed, Proposal, ProposedCall, Status};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// Longest single long-poll the server allows.
const MAX_POLL_SECS: u64 = 60;

/// A client for one agent (one API key).
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// A call leaving `pending`, from the event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The event id; pass the last one seen to [`Client::events`] to resume.
    pub id: u64,
    pub call: CallView,
}

impl Client {
    /// A client for the askfirst server at `base_url` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self::with_http(base_url, api_key, http))
    }

    /// The same, with your own `reqwest` client (timeouts must allow 60 s long-polls).
    pub fn with_http(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            base: base_url.into().trim_end_matches('/').to_string(),
            key: api_key.into(),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn read<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, Error> {
        if !res.status().is_success() {
            return Err(from_response(res).await);
        }
        let bytes = res.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))
    }

    /// Proposes a call; policy answers allowed, denied or pending.
    pub async fn propose(&self, call: &ProposedCall) -> Result<Proposal, Error> {
        let mut req = self
            .http
            .post(self.url("/calls"))
            .bearer_auth(&self.key)
            .json(call);
        if let Some(key) = &call.idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        Self::read(req.send().await?).await
    }

    /// The call's current view.
    pub async fn get(&self, id: &str) -> Result<CallView, Error> {
        Self::read(
            self.http
                .get(self.url(&format!("/calls/{id}")))
                .bearer_auth(&self.key)
                .send()
                .await?,
        )
        .await
    }

    /// Waits until the call leaves `pending` or `max` passes (long-polls of at most 60 s).
    pub async fn wait(&self, id: &str, max: Duration) -> Result<CallView, Error> {
        let end = Instant::now() + max;
        loop {
            let left = end
                .saturating_duration_since(Instant::now())
                .as_secs()
                .clamp(1, MAX_POLL_SECS);
            let res = self
                .http
                .get(self.url(&format!("/calls/{id}?wait={left}")))
                .bearer_auth(&self.key)
                .timeout(Duration::from_secs(left + 15))
                .send()
                .await?;
            let view: CallView = Self::read(res).await?;
            if view.status != Status::Pending || Instant::now() >= end {
                return Ok(view);
            }
        }
    }

    /// Says the agent is about to execute; returns the arguments to run with, exactly once.
    /// `409` errors: `approval_stale`, `already_executed`, `not_approved`.
    pub async fn execute(&self, id: &str) -> Result<Executed, Error> {
        Self::read(
            self.http
                .post(self.url(&format!("/calls/{id}/execute")))
                .bearer_auth(&self.key)
                .send()
                .await?,
        )
        .await
    }

    /// Withdraws a pending call.
    pub async fn cancel(&self, id: &str) -> Result<CallView, Error> {
        Self::read(
            self.http
                .post(self.url(&format!("/calls/{id}/cancel")))
                .bearer_auth(&self.key)
                .send()
                .await?,
        )
        .await
    }

    /// This agent's calls as they leave `pending`, from after `last_event_id` (replayed)
    /// onward. The stream ends when the connection does; reconnect with the last id seen.
    pub async fn events(
        &self,
        last_event_id: Option<u64>,
    ) -> Result<impl Stream<Item = Result<CallEvent, Error>>, Error> {
        let mut req = self.http.get(self.url("/events")).bearer_auth(&self.key);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await?;
        if !res.status().is_success() {
            return Err(from_response(res).await);
        }
        use eventsource_stream::Eventsource;
        Ok(res
            .bytes_stream()
            .eventsource()
            .filter_map(|item| async move {
                match item {
                    Err(e) => Some(Err(Error::Decode(e.to_string()))),
                    Ok(ev) if ev.event != "call" => None,
                    Ok(ev) => Some(
                        ev.id
                            .parse::<u64>()
                            .map_err(|_| Error::Decode(format!("event id `{}`", ev.id)))
                            .and_then(|id| {
                                serde_json::from_str(&ev.data)
                                    .map(|call| CallEvent { id, call })
                                    .map_err(|e| Error::Decode(e.to_string()))
                            }),
                    ),
                }
            }))
    }
}
