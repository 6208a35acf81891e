//! The gate: proposing calls, deciding them, executing them — the service layer shared by
//! the agent API, the CLI and (later) the inbox pages. Policy and agent keys are held in
//! memory; every write goes through the group-commit [`writer::Writer`].

pub mod agents;
pub mod background;
pub mod decide;
pub mod hub;
pub mod lifecycle;
pub mod policy_admin;
pub mod policy_console;
pub mod propose;
pub mod views;
pub mod webhooks;
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
    pub webhook_secret: String,
}

/// The gate service.
pub struct Gate {
    pub pool: sqlx::SqlitePool,
    pub clock: SharedClock,
    pub config: GateConfig,
    pub hub: Arc<hub::Hub>,
    pub writer: writer::Writer,
    policy: RwLock<Arc<CompiledPolicy>>,
    /// Enabled agents by key hash.
    agents: RwLock<HashMap<String, AgentInfo>>,
}

impl Gate {
    /// Opens the gate over a migrated pool: loads (or installs the default) policy and
    /// starts the writer. Background work (watcher, sweeper, webhooks) is started separately
    /// by [`background::start`], in the server only.
    pub async fn open(
        pool: sqlx::SqlitePool,
        clock: SharedClock,
        config: GateConfig,
    ) -> Result<Arc<Self>, AppError> {
        let hub = Arc::new(hub::Hub::default());
        let writer = {
            let hub = hub.clone();
            writer::Writer::start(pool.clone(), move || hub.changed.notify_one())
        };
        let policy = policy_admin::load_policy(&pool, &writer, clock.as_ref()).await?;
        Ok(Arc::new(Self {
            pool,
            clock,
            config,
            hub,
            writer,
            policy: RwLock::new(Arc::new(policy)),
            agents: RwLock::new(HashMap::new()),
        }))
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

    /// The enabled agent owning an API key.
    pub async fn authenticate(&self, key: &str) -> Result<AgentInfo, AppError> {
        let hash = agents::hash_key(key);
        if let Some(agent) = self
            .agents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(agent.clone());
        }
        match store::agents::find_by_key_hash(&self.pool, &hash).await? {
            Some(row) if !row.disabled => {
                let agent = AgentInfo {
                    id: row.id,
                    name: row.name,
                    webhook_secret: row.webhook_secret,
                };
                self.agents
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hash, agent.clone());
                Ok(agent)
            }
            _ => Err(AppError::Unauthenticated),
        }
    }

    /// Forgets cached agents (after one was disabled).
    pub fn forget_agents(&self) {
        self.agents
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
