//! The gate: proposing calls, deciding them, executing them — the service layer shared by
//! the agent API, the CLI and (later) the inbox pages. Policy and agent keys are held in
//! memory; every write goes through the group-commit [`writer::Writer`].

pub mod agents;
pub mod audit_export;
pub mod audit_views;
pub mod background;
pub mod bypass;
pub mod callbacks;
pub mod decide;
pub mod hub;
pub mod insights;
pub mod lifecycle;
pub mod limits;
pub mod local_notice;
pub mod metrics;
pub mod notify;
mod open_calls;
pub mod policy_admin;
pub mod policy_changes;
pub mod policy_console;
pub mod preview;
pub mod propose;
pub mod receipts;
mod settings;
pub mod signoff;
pub mod views;
pub mod webhooks;
pub mod workflow;
pub mod writer;

use crate::clock::SharedClock;
use crate::domain::AppError;
use crate::policy::CompiledPolicy;
use crate::store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Tunables of the gate.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// First webhook retry delay; doubles per attempt.
    pub webhook_retry_base: Duration,
    /// Longest delay between webhook attempts.
    pub webhook_retry_max: Duration,
    /// Attempts before a webhook is given up.
    pub webhook_max_attempts: u32,
    /// How often the watcher looks at the audit log for changes made by other processes.
    pub watch_interval: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            webhook_retry_base: Duration::from_secs(1),
            webhook_retry_max: Duration::from_secs(300),
            webhook_max_attempts: 12,
            watch_interval: Duration::from_millis(250),
        }
    }
}

/// An authenticated agent, as cached in memory.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    /// For a previous key during its grace period: until when (ms) it works.
    pub valid_until: Option<i64>,
    /// Callback origins an admin allowed for it even though they are inside the network.
    pub callback_origins: Arc<Vec<String>>,
    /// Its allowed calls always get a receipt.
    pub receipts_always: bool,
}

/// The gate service.
pub struct Gate {
    pub pool: crate::store::Pool,
    pub clock: SharedClock,
    pub config: GateConfig,
    pub hub: Arc<hub::Hub>,
    pub writer: writer::Writer,
    /// What `/metrics` exposes; recorded along the way.
    pub metrics: Arc<metrics::Metrics>,
    policy: RwLock<Arc<CompiledPolicy>>,
    /// Enabled agents by key hash.
    agents: RwLock<HashMap<String, AgentInfo>>,
    /// Bumped (under the `agents` write lock) each time the cache is cleared: a lookup that
    /// read the database before a clear must not put what it read back after it.
    agents_epoch: std::sync::atomic::AtomicU64,
    /// When each agent was last seen (ms), and whether that is not stored yet.
    last_seen: std::sync::Mutex<HashMap<String, (i64, bool)>>,
    /// Active bypasses, compiled.
    bypasses: RwLock<Arc<Vec<bypass::ActiveBypass>>>,
    /// Scans of recent calls for bypass previews that may run at once.
    previews: tokio::sync::Semaphore,
    /// Audit exports streaming at once (each holds a place until its download ends).
    exports: Arc<tokio::sync::Semaphore>,
    /// Insights reports (the page, the rubber-stamp watch) computed at once.
    reports: tokio::sync::Semaphore,
    /// The admin's limits, as last loaded.
    limits: RwLock<crate::domain::limits::Limits>,
    /// Pending calls being admitted under the per-agent cap.
    admissions: limits::Admissions,
    /// How far the audit chain is verified (see [`audit_views`]).
    chain: audit_views::ChainWatch,
    /// Active remembered grants.
    grants: RwLock<Arc<Vec<workflow::ActiveGrant>>>,
    /// Until when (ms) some do-not-retry denial holds; proposals skip the lookup after.
    no_retry_until: std::sync::atomic::AtomicI64,
    /// The keys that sign approval receipts.
    receipts: receipts::ReceiptKeys,
    /// Whether other instances may share the database (PostgreSQL): checks that in-memory
    /// state alone would answer for one instance are then made inside the write.
    pub shared: bool,
}

impl Gate {
    /// Opens the gate over a migrated pool: loads (or installs the default) policy and
    /// starts the writer. Background work (watcher, sweeper, webhooks) is started separately
    /// by [`background::start`], in the server only.
    pub async fn open(
        pool: crate::store::Pool,
        clock: SharedClock,
        config: GateConfig,
    ) -> Result<Arc<Self>, AppError> {
        let metrics = Arc::new(metrics::Metrics::new());
        let hub = Arc::new(hub::Hub::new(metrics.clone()));
        // Where the watcher starts: before anything is loaded, so a change another
        // instance or the CLI makes while this one loads is seen, not skipped.
        hub.watched
            .send_replace(store::audit::last_id(&pool).await?);
        let writer = {
            let hub = hub.clone();
            writer::Writer::start(pool.clone(), metrics.writer(), move || {
                hub.changed.notify_one()
            })
        };
        let policy = policy_admin::load_policy(&pool, &writer, clock.as_ref()).await?;
        let limits = limits::read_limits(&pool).await?;
        let shared = store::Backend::of(&pool) == store::Backend::Postgres;
        let gate = Arc::new(Self {
            shared,
            pool,
            clock,
            config,
            hub,
            writer,
            metrics,
            policy: RwLock::new(Arc::new(policy)),
            agents: RwLock::new(HashMap::new()),
            agents_epoch: std::sync::atomic::AtomicU64::new(0),
            last_seen: std::sync::Mutex::new(HashMap::new()),
            bypasses: RwLock::new(Arc::new(Vec::new())),
            previews: tokio::sync::Semaphore::new(2),
            reports: tokio::sync::Semaphore::new(2),
            exports: Arc::new(tokio::sync::Semaphore::new(2)),
            limits: RwLock::new(limits),
            admissions: limits::Admissions::default(),
            chain: audit_views::ChainWatch::default(),
            grants: RwLock::new(Arc::new(Vec::new())),
            no_retry_until: std::sync::atomic::AtomicI64::new(0),
            receipts: receipts::ReceiptKeys::default(),
        });
        gate.reload_bypasses().await?;
        gate.reload_grants().await?;
        gate.reload_no_retry().await?;
        Ok(gate)
    }

    /// The active bypasses, as last loaded.
    pub fn active_bypasses(&self) -> Arc<Vec<bypass::ActiveBypass>> {
        self.bypasses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_bypasses(&self, active: Vec<bypass::ActiveBypass>) {
        *self.bypasses.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<CompiledPolicy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the in-memory policy (after a change was stored).
    pub fn set_policy(&self, policy: CompiledPolicy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    /// Reloads the policy from the database.
    pub async fn reload_policy(&self) -> Result<(), AppError> {
        let policy =
            policy_admin::load_policy(&self.pool, &self.writer, self.clock.as_ref()).await?;
        self.set_policy(policy);
        Ok(())
    }

    /// The enabled agent owning an API key — its current key, or its previous one until
    /// that key's grace period ends (to the millisecond, on the injected clock).
    pub async fn authenticate(&self, key: &str) -> Result<AgentInfo, AppError> {
        let hash = agents::hash_key(key);
        let now = crate::clock::to_millis(self.clock.now());
        let cached = self
            .agents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned();
        let agent = match cached {
            Some(agent) if agent.valid_until.is_none_or(|t| now < t) => agent,
            Some(_) => {
                self.agents
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&hash);
                return Err(AppError::Unauthenticated);
            }
            None => {
                let epoch = self.agents_epoch.load(std::sync::atomic::Ordering::Acquire);
                let Some(row) = store::agents::find_by_key_hash(&self.pool, &hash).await? else {
                    return Err(AppError::Unauthenticated);
                };
                let valid_until = (row.key_hash != hash).then_some(row.old_key_until.unwrap_or(0));
                if row.disabled || valid_until.is_some_and(|t| now >= t) {
                    return Err(AppError::Unauthenticated);
                }
                let agent = AgentInfo {
                    callback_origins: Arc::new(
                        serde_json::from_str(&row.callback_origins).unwrap_or_default(),
                    ),
                    id: row.id,
                    name: row.name,
                    valid_until,
                    receipts_always: row.receipts_always,
                };
                let mut cache = self.agents.write().unwrap_or_else(|e| e.into_inner());
                // Cleared since the read (an agent changed): use the row once, cache nothing.
                if self.agents_epoch.load(std::sync::atomic::Ordering::Acquire) == epoch {
                    cache.insert(hash, agent.clone());
                }
                drop(cache);
                agent
            }
        };
        self.saw(&agent.id, now);
        Ok(agent)
    }

    /// Notes that an agent was seen; stored at most once a minute per agent.
    fn saw(&self, agent_id: &str, now: i64) {
        let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(agent_id) {
            Some((at, dirty)) if now - *at < 60_000 => {
                if now > *at && *dirty {
                    *at = now;
                }
            }
            Some(entry) => *entry = (now, true),
            None => {
                seen.insert(agent_id.to_string(), (now, true));
            }
        }
    }

    /// Stores the last-seen times noted since the last flush (the sweeper calls this).
    pub async fn flush_last_seen(&self) -> Result<(), AppError> {
        let dirty: Vec<(String, i64)> = {
            let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.iter_mut()
                .filter(|(_, (_, dirty))| *dirty)
                .map(|(id, (at, dirty))| {
                    *dirty = false;
                    (id.clone(), *at)
                })
                .collect()
        };
        if dirty.is_empty() {
            return Ok(());
        }
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for (id, at) in &dirty {
                        store::agents::touch(&mut *conn, id, *at).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Forgets cached agents (after one was disabled).
    pub fn forget_agents(&self) {
        let mut cache = self.agents.write().unwrap_or_else(|e| e.into_inner());
        cache.clear();
        self.agents_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}
