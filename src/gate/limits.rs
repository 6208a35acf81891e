//! The admin's limits on what one agent may leave waiting, and admission of pending calls
//! under them.
//!
//! A proposal that policy gates is admitted only while its agent has fewer pending calls
//! than the cap. Admission is serialised per agent and counts the calls still being written
//! as well as the stored ones, so a burst of concurrent proposals cannot overshoot the cap
//! (at worst, a proposal racing with a commit is counted twice and refused a moment early).

use super::Gate;
use crate::domain::error::StateCode;
use crate::domain::limits::Limits;
use crate::domain::AppError;
use crate::store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// The limits' key in `settings`.
const SETTINGS_KEY: &str = "limits";

/// One agent's admissions: the lock that serialises them and the calls admitted but not
/// yet committed.
#[derive(Default)]
pub struct AgentAdmission {
    serial: tokio::sync::Mutex<()>,
    in_flight: AtomicI64,
}

/// Admissions per agent id.
#[derive(Default)]
pub struct Admissions(Mutex<HashMap<String, Arc<AgentAdmission>>>);

impl Admissions {
    fn of(&self, agent_id: &str) -> Arc<AgentAdmission> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(agent_id.to_string())
            .or_default()
            .clone()
    }
}

/// A place under the cap, held until the pending call is committed (or refused).
pub struct PendingSlot(Option<Arc<AgentAdmission>>);

impl Drop for PendingSlot {
    fn drop(&mut self) {
        if let Some(admission) = &self.0 {
            admission.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Gate {
    /// The limits in force, as last loaded.
    pub fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reloads the limits from the database (after any settings change).
    pub async fn reload_limits(&self) -> Result<(), AppError> {
        let limits = read_limits(&self.pool).await?;
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
        Ok(())
    }

    /// Saves the limits (`actor`: `user:<name>` or `cli`; the caller checked they may).
    pub async fn set_limits(&self, actor: &str, limits: Limits) -> Result<Limits, AppError> {
        limits.check().map_err(AppError::Invalid)?;
        let now = self.clock.now();
        let actor = actor.to_string();
        let saved = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    super::settings::save(conn, SETTINGS_KEY, &limits, &actor, now).await?;
                    Ok(limits)
                })
            })
            .await?;
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = saved;
        Ok(saved)
    }

    /// Admits one more pending call for `agent_id`, or refuses it with `429
    /// too_many_pending`. Hold the slot until the call is committed.
    pub async fn admit_pending(&self, agent_id: &str) -> Result<PendingSlot, AppError> {
        let Some(cap) = self.limits().max_pending_per_agent else {
            return Ok(PendingSlot(None));
        };
        let admission = self.admissions.of(agent_id);
        let _serial = admission.serial.lock().await;
        // In flight first, then stored: a call committed in between is counted twice (a
        // refusal a moment early), never not at all.
        let in_flight = admission.in_flight.load(Ordering::Acquire);
        let stored = store::calls::pending_of_agent(&self.pool, agent_id, i64::from(cap)).await?;
        if stored + in_flight >= i64::from(cap) {
            return Err(too_many(cap));
        }
        admission.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(PendingSlot(Some(admission.clone())))
    }
}

impl Gate {
    /// What the writer needs to check the cap itself: the cap and the agent's admissions.
    pub(super) fn cap_of(&self, agent_id: &str) -> (Option<u32>, Arc<AgentAdmission>) {
        (
            self.limits().max_pending_per_agent,
            self.admissions.of(agent_id),
        )
    }
}

/// Inside the writer: refuses one more pending call for `agent_id` at the cap, counting
/// the stored ones and those admitted but not written yet (a call that was to be approved
/// by a bypass revoked meanwhile stays pending, and must fit under the cap too).
pub(super) async fn check_room(
    conn: &mut crate::store::Conn,
    agent_id: &str,
    (cap, admission): &(Option<u32>, Arc<AgentAdmission>),
) -> Result<(), AppError> {
    let Some(cap) = *cap else {
        return Ok(());
    };
    let in_flight = admission.in_flight.load(Ordering::Acquire);
    let stored = store::calls::pending_of_agent(&mut *conn, agent_id, i64::from(cap)).await?;
    if stored + in_flight >= i64::from(cap) {
        return Err(too_many(cap));
    }
    Ok(())
}

fn too_many(cap: u32) -> AppError {
    AppError::State(
        StateCode::TooManyPending,
        format!(
            "this agent already has {cap} pending calls, the most the admins allow; wait \
             for decisions (or cancel calls) before proposing more"
        ),
    )
}

/// The stored limits, or the defaults.
pub(super) async fn read_limits(db: impl crate::store::Executor<'_>) -> Result<Limits, AppError> {
    super::settings::read(db, SETTINGS_KEY).await
}
