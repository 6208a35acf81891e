//! A fake askfirst server on 127.0.0.1:0 with scripted policy and people: the agent API's
//! routes and error shapes, long-polls, Server-Sent Events with replay, and signed
//! webhooks (signed here with its own HMAC code, not the SDK's).

use askfirst_sdk::Client;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use futures_util::{stream, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

pub const KEY: &str = "af_test_key";
pub const SECRET: &str = "whsec_test";

/// What people do with a gated call.
#[derive(Debug, Clone)]
pub enum Then {
    /// Approve, optionally with edited arguments.
    Approve(Option<Value>),
    /// Deny, optionally with feedback.
    Deny(Option<&'static str>),
    /// Let the deadline pass.
    Expire,
    /// Nobody does anything.
    Never,
}

/// Policy's answer for a tool.
#[derive(Debug, Clone)]
pub enum Policy {
    Allow,
    Deny(&'static str),
    Gate(Then),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: &'static str,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub last_event_id: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Data {
    policies: HashMap<String, Policy>,
    calls: HashMap<String, Value>,
    answers: HashMap<String, Value>,
    stale: HashMap<String, u32>,
    events: Vec<(u64, Value)>,
    seen: Vec<Seen>,
    webhooks: Vec<u16>,
    next_id: u64,
    raw_events: Option<String>,
    ignore_wait: bool,
    deadline_in: Option<i64>,
}

struct Shared {
    data: Mutex<Data>,
    changes: broadcast::Sender<(u64, Value)>,
}

type S = Arc<Shared>;

/// A running fake server; stops when dropped.
pub struct Fake {
    pub url: String,
    shared: S,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Fake {
    pub async fn start() -> Fake {
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            changes: broadcast::channel(256).0,
        });
        let app = Router::new()
            .route("/api/v1/calls", post(propose))
            .route("/api/v1/calls/{id}", get(get_call))
            .route("/api/v1/calls/{id}/execute", post(execute))
            .route("/api/v1/calls/{id}/cancel", post(cancel))
            .route("/api/v1/events", get(events))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake {
            url,
            shared,
            server,
        }
    }

    /// A client with the right key.
    pub fn client(&self) -> Client {
        Client::new(&self.url, KEY).unwrap()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap()
    }

    pub fn policy(&self, tool: &str, policy: Policy) -> &Self {
        self.data().policies.insert(tool.into(), policy);
        self
    }

    /// The next `n` executes of `tool` find the approval stale.
    pub fn stale(&self, tool: &str, n: u32) -> &Self {
        self.data().stale.insert(tool.into(), n);
        self
    }

    /// `/events` answers with exactly this text, then ends.
    pub fn raw_events(&self, text: &str) {
        self.data().raw_events = Some(text.into());
    }

    /// Long-polls answer at once (a server that ignores `wait`).
    pub fn ignore_wait(&self) {
        self.data().ignore_wait = true;
    }

    /// Deadlines of new pending calls, in seconds from now (default 60).
    pub fn deadline_in(&self, secs: i64) {
        self.data().deadline_in = Some(secs);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.data().seen.clone()
    }

    /// Requests with this method whose path ends with `suffix`.
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        self.data()
            .seen
            .iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .count()
    }

    pub fn proposals(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path == "/api/v1/calls")
            .collect()
    }

    pub fn call(&self, id: &str) -> Value {
        self.data().calls[id].clone()
    }

    pub fn calls(&self) -> usize {
        self.data().calls.len()
    }

    /// HTTP statuses of webhook deliveries, in order.
    pub fn webhooks(&self) -> Vec<u16> {
        self.data().webhooks.clone()
    }

    /// People act on a pending call now.
    pub fn decide(&self, id: &str, then: Then) {
        decide(&self.shared, id, then);
    }
}

fn record(s: &S, method: &'static str, path: String, headers: &HeaderMap, body: Value) {
    s.data.lock().unwrap().seen.push(Seen {
        method,
        path,
        idempotency_key: header(headers, "idempotency-key"),
        last_event_id: header(headers, "last-event-id"),
        body,
    });
}

/// The `401` answer, unless the request carries the agent key.
fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {KEY}");
    (header(headers, "authorization").as_deref() != Some(&expected)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing or invalid agent key",
        )
    })
}

/// Moves a call from `pending` and tells everyone who listens.
fn leave_pending(s: &S, id: &str, change: impl FnOnce(&mut Value)) -> Option<Value> {
    let mut data = s.data.lock().unwrap();
    let view = data.calls.get_mut(id)?;
    if view["status"] != "pending" {
        return None;
    }
    change(view);
    view["decided_at"] = json!(rfc3339(now_secs()));
    let view = view.clone();
    let event_id = data.events.len() as u64 + 1;
    data.events.push((event_id, view.clone()));
    let _ = s.changes.send((event_id, view.clone()));
    Some(view)
}

fn decide(s: &S, id: &str, then: Then) {
    let view = leave_pending(s, id, |v| match then {
        Then::Approve(edit) => {
            v["status"] = json!("approved");
            v["approvals"] = json!(1);
            if let Some(args) = &edit {
                v["args"] = args.clone();
            }
            v["approval_expires_at"] = json!(rfc3339(now_secs() + 300));
            v["decisions"] = json!([{ "user": "ana", "decision": "approve", "feedback": null,
                "edited_args": edit.is_some(), "at": rfc3339(now_secs()) }]);
        }
        Then::Deny(feedback) => {
            v["status"] = json!("denied");
            v["decisions"] = json!([{ "user": "ana", "decision": "deny", "feedback": feedback,
                "edited_args": false, "at": rfc3339(now_secs()) }]);
        }
        Then::Expire => v["status"] = json!("expired"),
        Then::Never => unreachable!(),
    });
    if let Some(view) = view {
        if let Some(url) = view["callback_url"].as_str() {
            tokio::spawn(deliver(s.clone(), url.to_string(), view.clone()));
        }
    }
}

/// Posts a signed webhook, retrying a few times like the real server.
async fn deliver(s: S, url: String, view: Value) {
    let body = serde_json::to_vec(&view).unwrap();
    let t = now_secs();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    for _ in 0..3 {
        let res = reqwest::Client::new()
            .post(&url)
            .header("Askfirst-Signature", &signature)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let status = res.map(|r| r.status().as_u16()).unwrap_or(0);
        s.data.lock().unwrap().webhooks.push(status);
        if (200..300).contains(&status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn propose(State(s): State<S>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = unauthorized(&headers) {
        return r;
    }
    record(&s, "POST", "/api/v1/calls".into(), &headers, body.clone());
    let key = header(&headers, "idempotency-key");
    let mut data = s.data.lock().unwrap();
    if let Some(answer) = key.as_ref().and_then(|k| data.answers.get(k)) {
        return (StatusCode::CREATED, Json(answer.clone())).into_response();
    }
    let (Some(session), Some(tool)) = (body["session"].as_str(), body["tool"].as_str()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "session and tool are required",
        );
    };
    let policy = data.policies.get(tool).cloned().unwrap_or(Policy::Allow);
    data.next_id += 1;
    let id = format!("call-{}", data.next_id);
    let (status, message) = match &policy {
        Policy::Allow => ("allowed", None),
        Policy::Deny(m) => ("denied", Some(*m)),
        Policy::Gate(_) => ("pending", None),
    };
    let deadline =
        (status == "pending").then(|| rfc3339(now_secs() + data.deadline_in.unwrap_or(60)));
    let view = json!({
        "id": id, "agent": "test-bot", "session": session, "tool": tool,
        "args": body["args"], "proposed_args": body["args"], "reason": body.get("reason"),
        "context": body.get("context"), "risk": body.get("risk").cloned().unwrap_or(json!([])),
        "alternatives": body.get("alternatives").cloned().unwrap_or(json!([])),
        "status": status, "rule": "test-rule", "message": message,
        "approvals_required": 1, "approvals": 0, "decisions": [], "confirm": null,
        "deadline": deadline, "approval_expires_at": null,
        "checkpoint": body.get("checkpoint"), "callback_url": body.get("callback_url"),
        "created_at": rfc3339(now_secs()), "decided_at": null, "executed_at": null,
        "a_field_from_the_future": { "x": 1 },
    });
    let answer = json!({
        "id": id, "status": status, "rule": "test-rule", "risk": view["risk"],
        "message": message, "deadline": deadline,
        "approvals_required": (status == "pending").then_some(1),
    });
    data.calls.insert(id.clone(), view);
    if let Some(k) = key {
        data.answers.insert(k, answer.clone());
    }
    drop(data);
    if let Policy::Gate(then) = policy {
        if !matches!(then, Then::Never) {
            let s = s.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                decide(&s, &id, then);
            });
        }
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn get_call(
    State(s): State<S>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = unauthorized(&headers) {
        return r;
    }
    record(&s, "GET", format!("/api/v1/calls/{id}"), &headers, json!(q));
    if id == "garbage" {
        return (StatusCode::OK, "<html>not json</html>").into_response();
    }
    let mut changes = s.changes.subscribe();
    let (view, ignore_wait) = {
        let data = s.data.lock().unwrap();
        (data.calls.get(&id).cloned(), data.ignore_wait)
    };
    let Some(view) = view else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such call");
    };
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0);
    if view["status"] == "pending" && wait > 0 && !ignore_wait {
        let decided = async {
            while let Ok((_, v)) = changes.recv().await {
                if v["id"] == id.as_str() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(wait.min(60)), decided).await;
    }
    let view = s.data.lock().unwrap().calls[&id].clone();
    Json(view).into_response()
}

async fn execute(State(s): State<S>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = unauthorized(&headers) {
        return r;
    }
    record(
        &s,
        "POST",
        format!("/api/v1/calls/{id}/execute"),
        &headers,
        Value::Null,
    );
    let mut data = s.data.lock().unwrap();
    let Some(view) = data.calls.get(&id).cloned() else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such call");
    };
    let conflict = |code| error(StatusCode::CONFLICT, code, "conflict");
    match view["status"].as_str().unwrap() {
        "approved" | "allowed" => {
            let tool = view["tool"].as_str().unwrap().to_string();
            if let Some(n) = data.stale.get_mut(&tool).filter(|n| **n > 0) {
                *n -= 1;
                data.calls.get_mut(&id).unwrap()["status"] = json!("stale");
                return conflict("approval_stale");
            }
            let call = data.calls.get_mut(&id).unwrap();
            call["status"] = json!("executed");
            call["executed_at"] = json!(rfc3339(now_secs()));
            Json(json!({ "id": id, "status": "executed", "args": view["args"] })).into_response()
        }
        "executed" => conflict("already_executed"),
        "stale" => conflict("approval_stale"),
        _ => conflict("not_approved"),
    }
}

async fn cancel(State(s): State<S>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = unauthorized(&headers) {
        return r;
    }
    record(
        &s,
        "POST",
        format!("/api/v1/calls/{id}/cancel"),
        &headers,
        Value::Null,
    );
    if !s.data.lock().unwrap().calls.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, "not_found", "no such call");
    }
    match leave_pending(&s, &id, |v| v["status"] = json!("cancelled")) {
        Some(view) => Json(view).into_response(),
        None => error(
            StatusCode::CONFLICT,
            "not_pending",
            "the call was already decided",
        ),
    }
}

async fn events(State(s): State<S>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&headers) {
        return r;
    }
    record(&s, "GET", "/api/v1/events".into(), &headers, Value::Null);
    let live = s.changes.subscribe();
    let (raw, replay) = {
        let data = s.data.lock().unwrap();
        let last = header(&headers, "last-event-id").and_then(|l| l.parse::<u64>().ok());
        let replay: Vec<_> = match last {
            Some(n) => data
                .events
                .iter()
                .filter(|(id, _)| *id > n)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (data.raw_events.clone(), replay)
    };
    if let Some(raw) = raw {
        return ([("content-type", "text/event-stream")], raw).into_response();
    }
    let after = replay.last().map(|(id, _)| *id).unwrap_or(0);
    let live = stream::unfold(live, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((id, v)) if id > after => return Some(((id, v), rx)),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(replay).chain(live).map(|(id, view)| {
        Ok::<_, Infallible>(
            Event::default()
                .event("call")
                .id(id.to_string())
                .data(view.to_string()),
        )
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_millis(100)))
        .into_response()
}
