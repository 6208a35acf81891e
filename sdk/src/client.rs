//! The HTTP client: one method per API route.

use crate::call::ProposedCall;
use crate::error::{from_response, Error};
use crate::events::{parse_events, CallEvent};
use crate::preview::{
    PreviewAnswer, PreviewRequest, PreviewResponse, PreviewTool, MAX_PREVIEW_TOOLS,
};
use crate::types::{Bypass, CallView, Executed, Outcome, Proposal, Status};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// Longest single long-poll the server allows, in seconds.
const MAX_POLL_SECS: u64 = 60;
/// Time allowed for a request that does not long-poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest pause between two polls when the server answers early.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Pauses before re-sending a request that failed in transit (see [`Error::is_transient`]):
/// long enough in all for a load balancer to notice an instance died and route elsewhere.
const RETRY_PAUSES: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(700),
    Duration::from_millis(1500),
    Duration::from_millis(3000),
];

/// Sends what `request` builds until it succeeds, fails for good, or the pauses of
/// [`RETRY_PAUSES`] are used up. Only for requests that are safe to repeat.
async fn with_retries<T, F, Fut>(mut request: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut pauses = RETRY_PAUSES.iter();
    loop {
        match request().await {
            Err(e) if e.is_transient() => match pauses.next() {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// A client for one agent (one API key). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// How long an idle kept-alive connection is kept for the next request: well under the
/// server's default header timeout (10 s), after which the server closes idle connections.
/// A connection reused just as the server closes it fails the request.
const POOL_IDLE: Duration = Duration::from_secs(5);

impl Client {
    /// A client for the askfirst server at `base_url` (e.g. `http://127.0.0.1:3000`),
    /// authenticating with an agent key.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(POOL_IDLE)
            .build()?;
        Ok(Self {
            base: base_url.into().trim_end_matches('/').to_string(),
            key: api_key.into(),
            http,
        })
    }

    /// Uses your own `reqwest` client. Give it no overall timeout shorter than 75 s, or
    /// long-polls and the event stream are cut short, and a `pool_idle_timeout` shorter
    /// than the server's `--header-timeout-secs` (10 s by default), or a request may reuse
    /// a connection the server is closing.
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn call_url(&self, id: &str, action: &str) -> Result<String, Error> {
        if matches!(id, "" | "." | "..") {
            return Err(Error::Usage(format!("`{id}` is not a call id")));
        }
        Ok(self.url(&format!("/calls/{}{action}", encode_segment(id))))
    }

    async fn read<T: DeserializeOwned>(res: reqwest::Response, what: &str) -> Result<T, Error> {
        if !res.status().is_success() {
            return Err(from_response(res).await);
        }
        let body = res.bytes().await?;
        serde_json::from_slice(&body).map_err(|e| Error::Decode(format!("{what}: {e}")))
    }

    /// Proposes a call; policy answers `allowed`, `denied` or `pending`. With an
    /// idempotency key, a proposal that failed in transit is sent again (the server answers
    /// a repeat with the first answer), so an instance dying mid-request costs nothing.
    pub async fn propose(&self, call: &ProposedCall) -> Result<Proposal, Error> {
        let send = || async {
            let mut req = self
                .http
                .post(self.url("/calls"))
                .bearer_auth(&self.key)
                .timeout(REQUEST_TIMEOUT)
                .json(call);
            if let Some(key) = &call.idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            Self::read(req.send().await?, "proposal").await
        };
        match call.idempotency_key {
            Some(_) => with_retries(send).await,
            None => send().await,
        }
    }

    /// The active bypasses that cover this agent: managers signed them off, and a matching
    /// gated call is approved at once (`approved_by: Bypass(id)`), so an agent can tell a
    /// person why a call went through without them.
    pub async fn bypasses(&self) -> Result<Vec<Bypass>, Error> {
        let req = self
            .http
            .get(self.url("/bypasses"))
            .bearer_auth(&self.key)
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "bypasses").await
    }

    /// What policy would do with calls of each tool by this agent (`allow`, `gate`, `deny`
    /// or `depends`), in the order asked; records nothing. Long lists are sent in parts.
    pub async fn preview(&self, tools: &[PreviewTool]) -> Result<Vec<PreviewAnswer>, Error> {
        let mut out = Vec::with_capacity(tools.len());
        for part in tools.chunks(MAX_PREVIEW_TOOLS) {
            let req = self
                .http
                .post(self.url("/policy/preview"))
                .bearer_auth(&self.key)
                .timeout(REQUEST_TIMEOUT)
                .json(&PreviewRequest { tools: part });
            let answer: PreviewResponse = Self::read(req.send().await?, "preview").await?;
            out.extend(answer.tools);
        }
        Ok(out)
    }

    /// The call as it is now.
    pub async fn get(&self, id: &str) -> Result<CallView, Error> {
        self.poll(id, 0).await
    }

    /// Reading a call is safe to repeat: one that failed in transit is sent again.
    async fn poll(&self, id: &str, wait_secs: u64) -> Result<CallView, Error> {
        let url = self.call_url(id, "")?;
        with_retries(|| async {
            let mut req = self
                .http
                .get(&url)
                .bearer_auth(&self.key)
                .timeout(REQUEST_TIMEOUT + Duration::from_secs(wait_secs));
            if wait_secs > 0 {
                req = req.query(&[("wait", wait_secs)]);
            }
            Self::read(req.send().await?, "call").await
        })
        .await
    }

    /// Waits until the call leaves `pending` or `max` passes, with long-polls of at most
    /// 60 s; returns the call as it then is (still `pending` if nobody decided).
    pub async fn wait(&self, id: &str, max: Duration) -> Result<CallView, Error> {
        let end = Instant::now().checked_add(max);
        loop {
            let left = end.map_or(Duration::MAX, |e| {
                e.saturating_duration_since(Instant::now())
            });
            let started = Instant::now();
            let view = self.poll(id, left.as_secs().min(MAX_POLL_SECS)).await?;
            let now = Instant::now();
            if view.status != Status::Pending || end.is_some_and(|e| now >= e) {
                return Ok(view);
            }
            // The server answered before the wait ran out: do not spin.
            let pause = MIN_POLL_INTERVAL.saturating_sub(now - started);
            let pause = end.map_or(pause, |e| pause.min(e.saturating_duration_since(now)));
            tokio::time::sleep(pause).await;
        }
    }

    /// Reports that the agent is executing the call; returns the arguments to run with
    /// (possibly edited by an approver), exactly once. Works for `approved` and `allowed`
    /// calls; otherwise `409` with code `approval_stale` (propose again),
    /// `already_executed` or `not_approved`.
    pub async fn execute(&self, id: &str) -> Result<Executed, Error> {
        let req = self
            .http
            .post(self.call_url(id, "/execute")?)
            .bearer_auth(&self.key)
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "execute").await
    }

    /// Like [`Client::execute`], but the call is `running` until the agent reports how it
    /// went with [`Client::report_outcome`]: askfirst records it executed only once the
    /// tool returned a result, and failed when it did not.
    pub async fn start(&self, id: &str) -> Result<Executed, Error> {
        let req = self
            .http
            .post(self.call_url(id, "/execute")?)
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "report_outcome": true }))
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "execute").await
    }

    /// Like [`Client::execute`] (or [`Client::start`] with `report_outcome`), recording in
    /// askfirst's audit log that receipt `jti` (the one handed to the tool server) was used
    /// by this execution. `409 receipt_mismatch` if `jti` is not the call's current receipt.
    pub async fn execute_with_receipt(
        &self,
        id: &str,
        jti: &str,
        report_outcome: bool,
    ) -> Result<Executed, Error> {
        let req = self
            .http
            .post(self.call_url(id, "/execute")?)
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "report_outcome": report_outcome, "jti": jti }))
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "execute").await
    }

    /// Reports how running a `running` call went, once; `detail` says what happened (an
    /// error message). `409 not_running` if it is not running.
    pub async fn report_outcome(
        &self,
        id: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<CallView, Error> {
        let req = self
            .http
            .post(self.call_url(id, "/outcome")?)
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "result": outcome, "detail": detail }))
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "outcome").await
    }

    /// Withdraws a pending call; `409 not_pending` if it was already decided.
    pub async fn cancel(&self, id: &str) -> Result<CallView, Error> {
        let req = self
            .http
            .post(self.call_url(id, "/cancel")?)
            .bearer_auth(&self.key)
            .timeout(REQUEST_TIMEOUT);
        Self::read(req.send().await?, "cancel").await
    }

    /// This agent's calls as they leave `pending`. With `Some(n)`, first replays every
    /// event after id `n` (`Some(0)`: all of them). Returns once the server has accepted
    /// the subscription, so a call proposed afterwards cannot be missed. The stream ends
    /// when the connection does: reconnect with the last [`CallEvent::id`] seen.
    pub async fn events(
        &self,
        last_event_id: Option<u64>,
    ) -> Result<impl Stream<Item = Result<CallEvent, Error>> + Send + Unpin + 'static, Error> {
        let mut req = self
            .http
            .get(self.url("/events"))
            .bearer_auth(&self.key)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await?;
        if !res.status().is_success() {
            return Err(from_response(res).await);
        }
        Ok(parse_events(res.bytes_stream()))
    }
}

/// Percent-encodes a path segment (call ids are the server's, but never trust input).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Client::new("http://127.0.0.1:3000/", "k").unwrap();
        assert_eq!(c.url("/calls"), "http://127.0.0.1:3000/api/v1/calls");
        assert_eq!(
            c.call_url("c-1", "/execute").unwrap(),
            "http://127.0.0.1:3000/api/v1/calls/c-1/execute"
        );
        assert_eq!(
            c.call_url("../x?y=1 z", "").unwrap(),
            "http://127.0.0.1:3000/api/v1/calls/..%2Fx%3Fy%3D1%20z"
        );
        for bad in ["", ".", ".."] {
            assert!(matches!(c.call_url(bad, ""), Err(Error::Usage(_))));
        }
    }
}
