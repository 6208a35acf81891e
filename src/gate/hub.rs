//! Who is waiting for what: per-call notifications for long-polling agents, per-agent
//! event streams, and the inbox stream. One watcher tails the audit log — the single record
//! of every change, whichever process made it (the server or the CLI) — and wakes them.

use crate::store::audit::EventRow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch, Notify};

/// Capacity of each agent's event channel (a slow consumer skips ahead and replays).
const AGENT_CHANNEL: usize = 256;
/// Capacity of the inbox channel.
const INBOX_CHANNEL: usize = 1024;

/// Notifications hub.
pub struct Hub {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    agents: Mutex<HashMap<String, broadcast::Sender<Arc<EventRow>>>>,
    inbox: broadcast::Sender<Arc<EventRow>>,
    signoff: broadcast::Sender<Arc<EventRow>>,
    /// Pokes the watcher to look at the audit log now instead of at its next tick.
    pub changed: Notify,
    /// Pokes the webhook dispatcher: deliveries may be due.
    pub webhooks_due: Notify,
    /// The newest audit event the watcher has acted on (caches reloaded, waiters woken).
    pub watched: watch::Sender<i64>,
    /// Set when the server shuts down, so long-lived streams end.
    shutdown: watch::Sender<bool>,
    /// Open event streams per holder (`agent:<id>`, `session:<token hash>`).
    streams: Mutex<HashMap<String, usize>>,
    /// Where open streams are counted for `/metrics`.
    metrics: Arc<super::metrics::Metrics>,
}

/// Most event streams one agent, or one person's session, may hold open at once.
pub const MAX_STREAMS: usize = 8;

/// An open event stream's place in its holder's count; given back on drop.
pub struct StreamSlot {
    hub: Arc<Hub>,
    holder: String,
    _open: super::metrics::OpenGuard,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = self.hub.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.holder);
            }
        }
    }
}

impl Hub {
    /// An empty hub that counts its open streams in `metrics`.
    pub fn new(metrics: Arc<super::metrics::Metrics>) -> Self {
        Self {
            waiters: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashMap::new()),
            inbox: broadcast::channel(INBOX_CHANNEL).0,
            signoff: broadcast::channel(INBOX_CHANNEL).0,
            changed: Notify::new(),
            webhooks_due: Notify::new(),
            watched: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            streams: Mutex::new(HashMap::new()),
            metrics,
        }
    }
}

/// A registration to be woken when a call changes; unregisters on drop.
pub struct CallWaiter<'a> {
    hub: &'a Hub,
    call_id: String,
    /// The notification to wait on.
    pub notify: Arc<Notify>,
}

impl Drop for CallWaiter<'_> {
    fn drop(&mut self) {
        let mut map = self.hub.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Two owners left: the map and us — nobody else waits on this call.
        if Arc::strong_count(&self.notify) == 2 {
            map.remove(&self.call_id);
        }
    }
}

impl Hub {
    /// A place for one more event stream of `holder`, or `None` when it holds
    /// [`MAX_STREAMS`] already.
    pub fn open_stream(self: &Arc<Self>, holder: String) -> Option<StreamSlot> {
        let mut map = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(holder.clone()).or_insert(0);
        if *n >= MAX_STREAMS {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            hub: self.clone(),
            holder,
            _open: self.metrics.event_stream(),
        })
    }

    /// Tells event streams to end (the server is stopping).
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that changes when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Registers interest in a call.
    pub fn wait_on(&self, call_id: &str) -> CallWaiter<'_> {
        let mut map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let notify = map.entry(call_id.to_string()).or_default().clone();
        CallWaiter {
            hub: self,
            call_id: call_id.to_string(),
            notify,
        }
    }

    /// Wakes everyone waiting on a call.
    pub fn call_changed(&self, call_id: &str) {
        let map = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(call_id) {
            n.notify_waiters();
        }
    }

    /// Subscribes to one agent's events (calls leaving `pending`).
    pub fn subscribe_agent(&self, agent_id: &str) -> broadcast::Receiver<Arc<EventRow>> {
        let mut map = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(agent_id.to_string())
            .or_insert_with(|| broadcast::channel(AGENT_CHANNEL).0)
            .subscribe()
    }

    /// Subscribes to every call event (for the inbox).
    pub fn subscribe_inbox(&self) -> broadcast::Receiver<Arc<EventRow>> {
        self.inbox.subscribe()
    }

    /// Subscribes to sign-off events: bypass requests and policy changes (for `/reviews`).
    pub fn subscribe_signoff(&self) -> broadcast::Receiver<Arc<EventRow>> {
        self.signoff.subscribe()
    }

    /// Fans one audit event out to whoever listens.
    pub fn publish(&self, event: EventRow) {
        let event = Arc::new(event);
        if event.matters_to_signoff() {
            let _ = self.signoff.send(event.clone());
        }
        if let Some(call_id) = &event.call_id {
            self.call_changed(call_id);
        }
        if event.call_id.is_some() && event.matters_to_inbox() {
            let _ = self.inbox.send(event.clone());
        }
        if event.from_status.as_deref() == Some("pending") {
            if let Some(agent_id) = &event.agent_id {
                let mut map = self.agents.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(tx) = map.get(agent_id) {
                    if tx.send(event.clone()).is_err() {
                        map.remove(agent_id); // nobody listens any more
                    }
                }
            }
        }
    }
}
