//! Asking askfirst about one MCP tool call and waiting for people: propose, wait with
//! progress notifications, execute exactly once what was allowed or approved — or refuse,
//! and fail closed when askfirst cannot be asked.

use askfirst_sdk::{CallView, Client, ProposedCall, Status};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a waiting call reports progress to the client.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Most fresh proposals one tool call makes before giving up (each earlier one was already
/// used up: executed, expired, cancelled or stale).
const MAX_GENERATIONS: u32 = 20;

/// What to do with one tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Run it with these arguments (as approved, possibly edited), now and once; askfirst
    /// has recorded the execution.
    Run { call_id: String, args: Value },
    /// It will not run; the text says why (a person's feedback, policy's message).
    Refused(String),
    /// Nobody decided in time. The same call (same session, tool and arguments) asked again
    /// finds this pending call, and runs with its one approval.
    Waiting { call_id: String, url: String },
    /// The client cancelled the request; the pending call was withdrawn.
    Cancelled,
}

/// Where to send progress notifications while waiting: the client's peer and the progress
/// token of its request.
pub struct Progress {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

impl Progress {
    async fn send(&self, step: u32, message: String) {
        let mut p = ProgressNotificationParam::new(self.token.clone(), f64::from(step));
        p.message = Some(message);
        if let Err(e) = self.peer.notify_progress(p).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}

/// Proposes tool calls of one agent session to askfirst and waits for the answers.
pub struct Gatekeeper {
    client: Client,
    session: String,
    max_wait: Duration,
    /// Per call (idempotency key without its generation): how many generations were used up.
    used: Mutex<HashMap<String, u32>>,
}

impl Gatekeeper {
    /// A gatekeeper proposing as `client`'s agent in `session`, waiting at most `max_wait`
    /// for people on any one call.
    pub fn new(client: Client, session: String, max_wait: Duration) -> Self {
        Self {
            client,
            session,
            max_wait,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The askfirst session calls are proposed in.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The askfirst client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The card of call `id` in the inbox.
    pub fn call_url(&self, id: &str) -> String {
        format!("{}/calls/{id}", self.client.base_url())
    }

    /// Decides a call of `tool` with `args` claiming `risk`: proposes it (with an
    /// idempotency key from the session, tool and arguments), waits up to the maximum wait
    /// while policy gates it, sending progress, and reports execution when it may run.
    /// `cancelled` resolves when the client withdraws the request. An error means askfirst
    /// could not be asked: the call must not run.
    pub async fn decide(
        &self,
        tool: &str,
        args: Value,
        risk: Vec<String>,
        progress: Option<&Progress>,
        cancelled: impl Future<Output = ()>,
    ) -> Result<Verdict, askfirst_sdk::Error> {
        let base = call_key(&self.session, tool, &args);
        let mut cancelled = std::pin::pin!(cancelled);
        for _ in 0..MAX_GENERATIONS {
            let generation = self.generation(&base);
            let call = ProposedCall::new(&self.session, tool)
                .args(args.clone())
                .risk(risk.clone())
                .idempotency_key(format!("{base}-{generation}"));
            let proposal = self.client.propose(&call).await?;
            let id = proposal.id;
            let view = match proposal.status {
                Status::Pending => {
                    match self.wait(tool, &id, progress, cancelled.as_mut()).await? {
                        Some(view) => view,
                        None => {
                            self.use_up(&base, generation);
                            return Ok(Verdict::Cancelled);
                        }
                    }
                }
                // Allowed: execute below. Denied: policy's message is in the view.
                _ => self.client.get(&id).await?,
            };
            match view.status {
                Status::Allowed | Status::Approved => match self.client.execute(&id).await {
                    Ok(executed) => {
                        self.use_up(&base, generation);
                        return Ok(Verdict::Run {
                            call_id: id,
                            args: executed.args,
                        });
                    }
                    // Used up meanwhile (another retry ran it, or the approval went
                    // stale): ask again as a new call.
                    Err(e)
                        if e.is_conflict("already_executed") || e.is_conflict("approval_stale") =>
                    {
                        self.use_up(&base, generation)
                    }
                    Err(e) => return Err(e),
                },
                Status::Denied => {
                    self.use_up(&base, generation);
                    return Ok(Verdict::Refused(view.feedback()));
                }
                Status::Pending => {
                    return Ok(Verdict::Waiting {
                        url: self.call_url(&id),
                        call_id: id,
                    })
                }
                // An earlier answer to this same call that can no longer run: ask anew.
                Status::Executed | Status::Expired | Status::Cancelled | Status::Stale => {
                    self.use_up(&base, generation)
                }
                Status::Unknown => {
                    return Err(askfirst_sdk::Error::Decode(format!(
                        "call {id} has a status this proxy does not know"
                    )))
                }
            }
        }
        Ok(Verdict::Refused(format!(
            "askfirst: this call was asked {MAX_GENERATIONS} times and never ran; not asking again"
        )))
    }

    /// Long-polls call `id` until it leaves `pending` or the maximum wait passes (then the
    /// pending view), reporting progress every few seconds; `None` when the client cancelled
    /// (the call is then withdrawn).
    async fn wait(
        &self,
        tool: &str,
        id: &str,
        progress: Option<&Progress>,
        mut cancelled: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Option<CallView>, askfirst_sdk::Error> {
        let end = Instant::now() + self.max_wait;
        let url = self.call_url(id);
        let mut step = 0;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            // Long-polls are whole seconds: a last slice under one second asks once more.
            let slice = left.min(PROGRESS_EVERY).max(Duration::from_secs(1));
            let view = tokio::select! {
                () = cancelled.as_mut() => {
                    match self.client.cancel(id).await {
                        Ok(_) => {}
                        // Decided meanwhile: nothing is left to withdraw, and it will not run.
                        Err(e) if e.is_conflict("not_pending") => {}
                        Err(e) => tracing::warn!("could not cancel call {id}: {e}"),
                    }
                    return Ok(None);
                }
                view = self.client.wait(id, slice) => view?,
            };
            if view.status != Status::Pending || Instant::now() >= end {
                return Ok(Some(view));
            }
            step += 1;
            if let Some(p) = progress {
                p.send(
                    step,
                    format!("askfirst: waiting for a person to approve `{tool}` — {url}"),
                )
                .await;
            }
        }
    }

    fn generation(&self, base: &str) -> u32 {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.get(base).copied().unwrap_or(0)
    }

    fn use_up(&self, base: &str, generation: u32) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let next = used.entry(base.to_string()).or_insert(0);
        *next = (*next).max(generation + 1);
    }
}

/// The idempotency key of a call without its generation: the same session, tool and
/// arguments (in canonical JSON, so key order does not matter) give the same key, which
/// askfirst answers with the same call. 68 visible ASCII characters.
pub fn call_key(session: &str, tool: &str, args: &Value) -> String {
    let mut h = Sha256::new();
    for part in [session, tool, &crate::store::json::canonical(args)] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("mcp-{}", hex::encode(h.finalize()))
}

/// A fresh session name for one run of a proxy or permission-prompt server.
pub fn new_session(server: &str) -> String {
    format!("mcp-{server}-{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_keys() {
        let k = call_key(
            "s",
            "files.write_file",
            &json!({ "path": "a", "content": "b" }),
        );
        assert!(k.starts_with("mcp-") && k.len() == 68, "{k}");
        assert!(k.bytes().all(|b| b.is_ascii_graphic()));
        // Key order does not matter; anything else does.
        let same = call_key(
            "s",
            "files.write_file",
            &json!({ "content": "b", "path": "a" }),
        );
        assert_eq!(k, same);
        for other in [
            call_key(
                "t",
                "files.write_file",
                &json!({ "path": "a", "content": "b" }),
            ),
            call_key(
                "s",
                "files.read_file",
                &json!({ "path": "a", "content": "b" }),
            ),
            call_key(
                "s",
                "files.write_file",
                &json!({ "path": "a", "content": "c" }),
            ),
            call_key("s", "files.write_file", &json!({ "path": "a" })),
            // Lengths are part of the hash: parts cannot slide into each other.
            call_key(
                "sf",
                "iles.write_file",
                &json!({ "path": "a", "content": "b" }),
            ),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn generations_move_on_only_when_used_up() {
        let g = Gatekeeper::new(
            Client::new("http://127.0.0.1:9", "k").unwrap(),
            "s".into(),
            Duration::from_secs(1),
        );
        assert_eq!(g.generation("a"), 0);
        g.use_up("a", 0);
        g.use_up("a", 0);
        assert_eq!((g.generation("a"), g.generation("b")), (1, 0));
        g.use_up("a", 3);
        assert_eq!(g.generation("a"), 4);
        assert_eq!(g.call_url("c1"), "http://127.0.0.1:9/calls/c1");
    }
}
