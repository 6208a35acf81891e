//! The audit page: a filtered page of events, and how far the hash chain is verified.
//!
//! Verifying the whole chain reads every event (seconds for a million), so the server
//! verifies it piecewise and remembers where it got: the last verified event's id and hash.
//! A page load first checks that this event is still there unchanged (one lookup: catches
//! truncation and a rewritten newest event), then verifies at most [`PAGE_BUDGET`] newer events; a
//! background task ([`Gate::verify_chain_in_background`]) does the rest in small steps.
//! A break, once found, stays shown until the server restarts. Tampering with events the
//! server already verified, below the newest verified one, shows on the next full check
//! (`askfirst audit verify`, or the server's start).

use super::Gate;
use crate::clock::from_millis;
use crate::domain::audit_view::{
    AuditEventView, AuditPage, AuditPageData, AuditQuery, ChainStatus, DETAIL_CHARS, PAGE_SIZE,
};
use crate::domain::AppError;
use crate::store::{audit, audit_query, calls::rfc3339};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Most events one page load verifies (the background task verifies the rest).
pub const PAGE_BUDGET: u64 = 2_000;

/// Events the background task verifies per step, between pauses.
const BACKGROUND_STEP: u64 = 5_000;

/// Where verification of the chain got, and the status pages show.
#[derive(Default)]
pub struct ChainWatch {
    /// The last verified event (id 0: none yet) and its hash; held while verifying, so
    /// one verification runs at a time.
    progress: tokio::sync::Mutex<(i64, String)>,
    /// The status as of the last step.
    status: RwLock<ChainStatus>,
}

impl ChainWatch {
    fn status(&self) -> ChainStatus {
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Gate {
    /// The chain's status after verifying at most `budget` more events. If another
    /// verification is running past a moment, the status as it last left it.
    pub async fn chain_status(&self, budget: u64) -> Result<ChainStatus, AppError> {
        let newest = audit::last_id(&self.pool).await?;
        // Another verification holds the progress for one short step at most; past a
        // moment, answer with the status it last left rather than wait.
        let lock = self.chain.progress.lock();
        let Ok(mut progress) = tokio::time::timeout(Duration::from_millis(250), lock).await else {
            return Ok(ChainStatus {
                newest,
                ..self.chain.status()
            });
        };
        let mut status = self.chain.status();
        status.newest = newest;
        if status.broken.is_some() {
            return Ok(status);
        }
        let (after, prev) = match &*progress {
            (0, _) => (0, audit::GENESIS.to_string()),
            (id, hash) => (*id, hash.clone()),
        };
        let mut conn = self.pool.acquire().await?;
        let changed = match after {
            0 => None,
            _ => audit::recheck(&mut conn, audit::key(), after, &prev).await?,
        };
        if let Some(reason) = changed {
            status.broken = Some((after, reason));
        } else {
            match audit::verify_step(&mut conn, audit::key(), after, &prev, budget).await? {
                audit::Step::Intact { id, hash, .. } => {
                    status.verified_up_to = id;
                    *progress = (id, hash);
                }
                audit::Step::Broken { id, reason } => status.broken = Some((id, reason)),
            }
        }
        status.newest = status.newest.max(status.verified_up_to);
        status.checked_at = Some(rfc3339(self.clock.now().timestamp_millis()));
        if let Some((id, reason)) = &status.broken {
            tracing::error!(event = id, reason, "the audit log's hash chain is broken");
        }
        *self.chain.status.write().unwrap_or_else(|e| e.into_inner()) = status.clone();
        Ok(status)
    }

    /// Keeps verifying the chain in small steps until the pool closes: catches up with a
    /// long log after a start, then follows new events every few seconds.
    pub async fn verify_chain_in_background(self: Arc<Self>) {
        while !self.pool.is_closed() {
            let started = std::time::Instant::now();
            let pause = match self.chain_status(BACKGROUND_STEP).await {
                Ok(s) if s.broken.is_none() && s.verified_up_to < s.newest => {
                    super::background::catch_up_pause(started.elapsed())
                        .max(Duration::from_millis(20))
                }
                Ok(_) => Duration::from_secs(5),
                Err(e) => {
                    if !self.pool.is_closed() {
                        tracing::warn!(error = %e, "verifying the audit chain failed");
                    }
                    Duration::from_secs(30)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// One page of the audit log, newest first, with the chain's status. `400` for a
    /// filter or position that does not parse.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPageData, AppError> {
        let filter = query.filter().map_err(AppError::BadRequest)?;
        let page = query.page().map_err(AppError::BadRequest)?;
        let mut rows = audit_query::page(&self.pool, &filter, page, PAGE_SIZE + 1).await?;
        let newer = match page {
            AuditPage::Newest => None,
            AuditPage::Before(_) => rows.first().map(|r| r.event.id),
            AuditPage::After(_) if rows.len() as i64 > PAGE_SIZE => {
                rows.remove(0);
                rows.first().map(|r| r.event.id)
            }
            AuditPage::After(_) => {
                // Back at the top: the newest full page rather than a short one.
                rows = audit_query::page(&self.pool, &filter, AuditPage::Newest, PAGE_SIZE + 1)
                    .await?;
                None
            }
        };
        let older = if rows.len() as i64 > PAGE_SIZE {
            rows.truncate(PAGE_SIZE as usize);
            rows.last().map(|r| r.event.id)
        } else if matches!(page, AuditPage::After(_)) && newer.is_some() {
            rows.last().map(|r| r.event.id)
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|r| AuditEventView {
                id: r.event.id,
                at: rfc3339(r.event.at),
                actor: r.event.actor,
                kind: r.event.kind,
                agent: r.agent_name.or(r.event.agent_id),
                call_id: r.event.call_id,
                from_status: r.event.from_status,
                to_status: r.event.to_status,
                detail: crate::domain::inbox::truncate(&r.event.detail, DETAIL_CHARS),
            })
            .collect();
        let chain = self.chain_status(PAGE_BUDGET).await?;
        Ok(AuditPageData {
            items,
            newer,
            older,
            chain,
        })
    }
}

/// When an export was made, for its file name (`20260101T090000Z`).
pub fn export_stamp(gate: &Gate) -> String {
    from_millis(gate.clock.now().timestamp_millis())
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}
