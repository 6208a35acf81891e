//! Webhook delivery for async gates: signed POSTs of the call's view, retried with
//! exponential backoff for a bounded number of attempts; every attempt is recorded.
//! Deliveries are dispatched continuously, each in its own task, with bounded concurrency
//! overall and per agent, so one agent's slow receiver never delays another agent's
//! webhooks. Callbacks inside the network are refused unless allowed (`super::callbacks`).

use super::callbacks::{literal_refusal, origin_allowed, refusal_in, GuardedResolver};
use super::metrics::WebhookResult;
use super::Gate;
use crate::domain::AppError;
use crate::store::{self, webhooks::WebhookRow};
use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "Askfirst-Signature";
/// Deliveries in flight at once, over all agents.
pub const CONCURRENCY: usize = 16;
/// Deliveries in flight at once for one agent.
pub const PER_AGENT: usize = 4;
/// Time a receiver gets to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Time a receiver gets to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long an instance holds an attempt it claimed: well past [`TIMEOUT`], so only an
/// instance that died lets the attempt fall due again.
const CLAIM: std::time::Duration = std::time::Duration::from_secs(60);

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    signatures(&[secret], t, body)
}

/// One `v1=` per secret: while a rotated secret's grace period lasts, webhooks are signed
/// with the new and the old one, and a receiver holding either verifies them.
pub fn signatures(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header += &format!(",v1={}", hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// The HTTP clients for deliveries: no redirects, bounded time. `guarded` resolves names
/// only to public addresses; `open` is for callback origins an admin allowed.
pub struct Clients {
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl Clients {
    /// Both clients.
    pub fn new() -> Self {
        let builder = || {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("askfirst/", env!("CARGO_PKG_VERSION")))
        };
        Self {
            guarded: builder()
                .dns_resolver(std::sync::Arc::new(GuardedResolver))
                .build()
                .unwrap_or_default(),
            open: builder().build().unwrap_or_default(),
        }
    }
}

impl Clients {
    /// The client for a destination: `open` when an admin allowed its origin inside the
    /// network, otherwise the one whose resolver refuses internal addresses.
    pub fn pick(&self, trusted: bool) -> &reqwest::Client {
        if trusted {
            &self.open
        } else {
            &self.guarded
        }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Self::new()
    }
}

/// Deliveries in flight (which webhooks, for which agents), and which finished while the
/// latest look at the outbox was under way (its rows for them may be stale).
#[derive(Debug, Default)]
pub struct InFlight(Mutex<Flights>);

#[derive(Debug, Default)]
struct Flights {
    running: HashMap<i64, String>,
    /// Webhook id → the look (epoch) during which its delivery finished.
    finished: HashMap<i64, u64>,
    /// Looks at the outbox begun.
    epoch: u64,
}

impl InFlight {
    /// A new look at the outbox begins: deliveries that finished before it are reflected
    /// in what it reads.
    fn begin(&self) -> u64 {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.epoch += 1;
        let epoch = f.epoch;
        f.finished.retain(|_, e| *e >= epoch);
        epoch
    }

    /// Takes a slot for `hook` unless it is in flight, finished during this look (the row
    /// read may predate it), its agent has [`PER_AGENT`] in flight, or [`CONCURRENCY`] are
    /// in flight overall.
    fn take(&self, hook: &WebhookRow, epoch: u64) -> bool {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let of_agent = f.running.values().filter(|a| **a == hook.agent_id).count();
        if f.running.len() >= CONCURRENCY
            || of_agent >= PER_AGENT
            || f.running.contains_key(&hook.id)
            || f.finished.get(&hook.id).is_some_and(|e| *e >= epoch)
        {
            return false;
        }
        f.running.insert(hook.id, hook.agent_id.clone());
        true
    }

    fn release(&self, id: i64) {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.running.remove(&id);
        let epoch = f.epoch;
        f.finished.insert(id, epoch);
    }
}

impl Gate {
    /// Starts a task for every webhook that is due and has a free slot; returns how many
    /// started. Each task records its attempt and frees its slot when done.
    pub async fn dispatch_due_webhooks(
        self: &Arc<Self>,
        clients: &Arc<Clients>,
        in_flight: &Arc<InFlight>,
    ) -> Result<usize, AppError> {
        let epoch = in_flight.begin();
        let due = store::webhooks::due(&self.pool, self.clock.now(), 256).await?;
        let mut started = 0;
        for hook in due {
            if !in_flight.take(&hook, epoch) {
                continue;
            }
            started += 1;
            let (gate, clients, in_flight) = (self.clone(), clients.clone(), in_flight.clone());
            tokio::spawn(async move {
                let id = hook.id;
                // Another instance may have read the same due row: one claims the attempt.
                // Through the writer, as part of its next commit: a write of its own would
                // wait on SQLite's lock behind the writer's commits (up to seconds under a
                // stream of decisions, with every delivery queued behind it).
                let now = gate.clock.now();
                let until = crate::clock::to_millis(now) + CLAIM.as_millis() as i64;
                let attempts = hook.attempts;
                let claimed = gate
                    .writer
                    .write(move |conn| {
                        Box::pin(async move {
                            Ok(store::webhooks::claim(conn, id, attempts, now, until).await?)
                        })
                    })
                    .await;
                match claimed {
                    Ok(true) => {}
                    Ok(false) => {
                        in_flight.release(id);
                        return;
                    }
                    Err(e) => {
                        if !gate.pool.is_closed() {
                            tracing::warn!(error = %e, "claiming a webhook delivery failed");
                        }
                        in_flight.release(id);
                        return;
                    }
                }
                if let Err(e) = gate.deliver(&clients, hook).await {
                    if !gate.pool.is_closed() {
                        tracing::warn!(error = %e, "webhook delivery bookkeeping failed");
                    }
                }
                in_flight.release(id);
                gate.hub.webhooks_due.notify_one();
            });
        }
        Ok(started)
    }

    async fn deliver(&self, clients: &Clients, hook: WebhookRow) -> Result<(), AppError> {
        let row = self.call_row(&hook.call_id, None).await?;
        let agent = store::agents::find(&self.pool, &row.agent_id)
            .await?
            .ok_or_else(|| AppError::Internal("webhook for a call without an agent".into()))?;
        let mut view = row.view(&store::reviews::of_call(&self.pool, &row.id).await?);
        view.receipt = self
            .receipt_of(&view, row.created_at, row.wants_receipt)
            .await?;
        let body = serde_json::to_vec(&view).map_err(|e| AppError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let t = now.timestamp();
        let mut secrets = vec![agent.webhook_secret.as_str()];
        if let (Some(old), Some(until)) = (&agent.old_webhook_secret, agent.old_secret_until) {
            if crate::clock::to_millis(now) < until {
                secrets.push(old);
            }
        }
        let allowed: Vec<String> =
            serde_json::from_str(&agent.callback_origins).unwrap_or_default();
        let url = reqwest::Url::parse(&hook.url).ok();
        let trusted = url.as_ref().is_some_and(|u| origin_allowed(u, &allowed));
        // A literal address inside the network is refused before any connection.
        let mut refused = url.as_ref().and_then(|u| literal_refusal(u, &allowed));
        let started = Instant::now();
        let result = match refused {
            Some(_) => None,
            None => Some(
                if trusted {
                    &clients.open
                } else {
                    &clients.guarded
                }
                .post(&hook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signatures(&secrets, t, &body))
                .header("Askfirst-Event-Id", hook.event_id.to_string())
                .body(body)
                .send()
                .await,
            ),
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        let (status, error) = match &result {
            Some(Ok(res)) => (Some(res.status().as_u16()), None),
            Some(Err(e)) => {
                refused = refusal_in(e);
                (None, Some(refused.clone().unwrap_or_else(|| e.to_string())))
            }
            None => (None, refused.clone()),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let error = error
            .or_else(|| (!delivered).then(|| format!("receiver answered {}", status.unwrap_or(0))));
        let attempt = hook.attempts + 1;
        let now = self.clock.now();
        // A refused address is not retried: it will not stop being inside.
        let retry_at =
            (!delivered && refused.is_none() && attempt < self.config.webhook_max_attempts as i64)
                .then(|| {
                    let base = self.config.webhook_retry_base.as_millis() as i64;
                    let max = self.config.webhook_retry_max.as_millis() as i64;
                    let delay = base.saturating_mul(1_i64 << (attempt - 1).min(30)).min(max);
                    now + Duration::milliseconds(delay)
                });
        if !delivered {
            tracing::info!(url = %hook.url, attempt, error = error.as_deref().unwrap_or(""), gave_up = retry_at.is_none(), refused = refused.is_some(), "webhook not delivered");
        }
        let result = match (delivered, &refused, &retry_at) {
            (true, _, _) => WebhookResult::Delivered,
            (false, Some(_), _) => WebhookResult::Refused,
            (false, None, Some(_)) => WebhookResult::Retrying,
            (false, None, None) => WebhookResult::Failed,
        };
        let id = hook.id;
        let recorded = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let recorded = store::webhooks::record_attempt(
                        conn,
                        id,
                        attempt,
                        now,
                        status,
                        error.as_deref(),
                        duration_ms,
                        delivered,
                        retry_at,
                    )
                    .await?;
                    if !recorded {
                        tracing::warn!(
                            webhook = id,
                            attempt,
                            "a stale repeat delivery was not recorded"
                        );
                    }
                    Ok(recorded)
                })
            })
            .await?;
        if recorded {
            self.metrics.webhook(result);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_format() {
        // Known-answer: HMAC-SHA256("secret", "1700000000.{}").
        let sig = signature("secret", 1_700_000_000, b"{}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(sig, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(sig, signature("secret", 1_700_000_001, b"{}"));
    }
}
