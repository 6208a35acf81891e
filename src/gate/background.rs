//! The server's background work: the watcher that turns audit events into wake-ups (also
//! for changes made by the CLI in another process), the expiry sweeper, webhook delivery, and
//! verification of the audit chain.

use super::Gate;
use crate::domain::call::CallStatus;
use crate::store::{audit, calls};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Starts the background tasks; they end when the pool closes.
pub fn start(gate: Arc<Gate>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if gate.shared {
        // Other instances' commits wake the watcher at once, not at its next poll.
        let hub = gate.hub.clone();
        tasks.push(tokio::spawn(crate::store::changes::listen(
            gate.pool.clone(),
            move || hub.changed.notify_one(),
        )));
    }
    tasks.extend([
        tokio::spawn(watch(gate.clone())),
        tokio::spawn(sweep(gate.clone())),
        tokio::spawn(roll_up(gate.clone())),
        tokio::spawn(gate.clone().verify_chain_in_background()),
        tokio::spawn(deliver(gate)),
    ]);
    tasks
}

async fn watch(gate: Arc<Gate>) {
    // From the last event before the gate loaded its state (`Gate::open`).
    let mut last = *gate.hub.watched.borrow();
    while !gate.pool.is_closed() {
        tokio::select! {
            _ = gate.hub.changed.notified() => {}
            _ = tokio::time::sleep(gate.config.watch_interval) => {}
        }
        loop {
            let (batch, seen) = match audit::since_for_listeners(&gate.pool, last, 500).await {
                Ok(b) => b,
                Err(e) => {
                    if !gate.pool.is_closed() {
                        tracing::warn!(error = %e, "audit watcher failed to read");
                    }
                    break;
                }
            };
            let full = batch.len() == 500;
            let mut decided = Vec::new();
            last = seen;
            for event in batch {
                match event.kind.as_str() {
                    "policy.changed" | "policy.change.applied" => {
                        if let Err(e) = gate.reload_policy().await {
                            tracing::error!(error = %e, "reloading the policy failed");
                        }
                    }
                    "bypass.activated" | "bypass.revoked" | "bypass.ended" => {
                        if let Err(e) = gate.reload_bypasses().await {
                            tracing::error!(error = %e, "reloading the bypasses failed");
                        }
                    }
                    "grant.created" | "grant.revoked" | "grant.ended" | "grant.used_up" => {
                        if let Err(e) = gate.reload_grants().await {
                            tracing::error!(error = %e, "reloading the grants failed");
                        }
                    }
                    "call.denied" => {
                        if let Some(until) = event
                            .detail_json()
                            .get("no_retry_until")
                            .and_then(|v| v.as_i64())
                        {
                            gate.note_no_retry(until);
                        }
                    }
                    super::receipts::ROTATED => {
                        if let Err(e) = gate.reload_receipt_keys().await {
                            tracing::error!(error = %e, "reloading the receipt keys failed");
                        }
                    }
                    "settings.changed" => {
                        if let Err(e) = gate.reload_limits().await {
                            tracing::error!(error = %e, "reloading the limits failed");
                        }
                    }
                    kind if kind.starts_with("agent.") => gate.forget_agents(),
                    _ => {}
                }
                if event.from_status.as_deref() == Some("pending") {
                    gate.hub.webhooks_due.notify_one();
                    decided.push(event.clone());
                }
                gate.hub.publish(event);
            }
            gate.hub.watched.send_replace(last);
            // Counted after everyone waiting was woken: the reads it takes never delay them.
            for event in decided.drain(..) {
                count_decision(&gate, &event).await;
            }
            if !full {
                break;
            }
        }
    }
}

/// Keeps the insights' rollups within about a second of the audit log; after a burst of
/// calls, catches up a step at a time, paced by [`catch_up_pause`].
async fn roll_up(gate: Arc<Gate>) {
    while !gate.pool.is_closed() {
        let started = std::time::Instant::now();
        let pause = match gate.roll_up().await {
            Ok(n) if n as i64 >= super::insights::STEP => catch_up_pause(started.elapsed()),
            Ok(_) => Duration::from_secs(1),
            Err(e) => {
                if !gate.pool.is_closed() {
                    tracing::warn!(error = %e, "rolling up insights failed");
                }
                Duration::from_secs(1)
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// The pause after a step of background catch-up work (rollups, chain verification) that
/// took `took`: three times as long, so that catching up after a burst of calls takes at
/// most a quarter of a core and the calls arriving meanwhile are served first. (Unpaced,
/// the catch-up after 100,000 calls took the whole core for seconds: an open-loop load at
/// half the server's capacity fell behind and its p99 ran to a second.)
pub(super) fn catch_up_pause(took: Duration) -> Duration {
    (took * 3).max(Duration::from_millis(5))
}

/// Counts a call leaving `pending` in the metrics, whichever process moved it (the watcher
/// sees the CLI's decisions too). The time it waited is observed when a person or the
/// deadline resolved it; calls a bypass approved or the agent withdrew are only counted.
async fn count_decision(gate: &Gate, event: &audit::EventRow) {
    let Some(to) = event
        .to_status
        .as_deref()
        .and_then(|s| s.parse::<CallStatus>().ok())
    else {
        return;
    };
    let timed = matches!(
        to,
        CallStatus::Approved | CallStatus::Denied | CallStatus::Expired
    ) && !event.actor.starts_with("bypass:");
    let waited = match (&event.call_id, timed) {
        (Some(id), true) => match calls::created_at(&gate.pool, id).await {
            Ok(created) => created.map(|c| Duration::from_millis((event.at - c).max(0) as u64)),
            Err(e) => {
                tracing::warn!(error = %e, "reading a decided call's age failed");
                None
            }
        },
        _ => None,
    };
    gate.metrics.decided(to, waited);
}

async fn sweep(gate: Arc<Gate>) {
    while !gate.pool.is_closed() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = gate.flush_last_seen().await {
            if !gate.pool.is_closed() {
                tracing::warn!(error = %e, "storing when agents were last seen failed");
            }
        }
        match gate.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(calls = n, "expired calls and approvals"),
            Err(e) => {
                if !gate.pool.is_closed() {
                    tracing::warn!(error = %e, "expiry sweep failed");
                }
            }
        }
        let signoffs = async {
            Ok::<_, crate::domain::AppError>(
                gate.sweep_bypasses().await?
                    + gate.sweep_changes().await?
                    + gate.sweep_grants().await?,
            )
        };
        match signoffs.await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "ended bypasses and expired sign-off requests"),
            Err(e) => {
                if !gate.pool.is_closed() {
                    tracing::warn!(error = %e, "sign-off sweep failed");
                }
            }
        }
    }
}

async fn deliver(gate: Arc<Gate>) {
    let clients = Arc::new(super::webhooks::Clients::new());
    let in_flight = Arc::new(super::webhooks::InFlight::default());
    while !gate.pool.is_closed() {
        tokio::select! {
            _ = gate.hub.webhooks_due.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Err(e) = gate.dispatch_due_webhooks(&clients, &in_flight).await {
            if !gate.pool.is_closed() {
                tracing::warn!(error = %e, "webhook delivery failed");
            }
        }
    }
}
