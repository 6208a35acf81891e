//! Group commit: one task owns writing. Callers hand it jobs; it drains whatever has queued
//! up, runs the jobs in one transaction (each inside its own savepoint, so one failing job
//! does not undo the others), commits once, and only then answers each caller.
//! No fsync per request, and no answer before the data is on disk.
//!
//! New calls (the hot path) take a cheaper road: consecutive ones in a batch are written with
//! multi-row inserts, their audit events chained in memory; on SQLite a batch of nothing but
//! new calls is written with two round trips to the database ([`store::append`]), from the
//! chain's last hash as this writer last wrote it.

use super::metrics::WriterMetrics;
use crate::domain::AppError;
use crate::store::append::{self, Appended};
use crate::store::tx::{self, Savepoint};
use crate::store::{self, audit, calls, changes, Backend};
use crate::store::{Conn, Pool};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// Most jobs waiting for the writer: a few commits' worth (a fraction of a second at the
/// writer's pace). A new call that finds the queue full is refused at once with
/// `503 busy` and `Retry-After` — past its capacity the server sheds load instead of
/// letting every caller's latency grow without bound.
pub const QUEUE: usize = 2048;

/// How many times the writer lets proposals still on their way run before it commits
/// without them (see [`gather`]).
const MAX_YIELDS: usize = 8;

type Reply = Box<dyn FnOnce(Result<(), AppError>) + Send>;
type Work = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Reply> + Send>;

/// A unit of work for the writer.
enum Job {
    /// Arbitrary work in its own savepoint.
    Work(Work),
    /// A new call and its audit event, written in bulk with its neighbours.
    Append(Box<Append>),
}

struct Append {
    call: calls::NewCall,
    event: audit::OwnedEvent,
    reply: oneshot::Sender<Result<(), AppError>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Proposals being checked that will hand the writer a job soon ([`Arriving`]).
    arriving: Arc<AtomicUsize>,
}

/// A proposal on its way to the writer: counted from when it is being checked until its
/// job is handed over (or it turns out to need none), so that the writer can wait for it
/// to join the next commit rather than commit without it.
pub struct Arriving(Arc<AtomicUsize>);

impl Drop for Arriving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Writer {
    /// Starts the writer task over `pool`; `after_commit` runs after every commit that
    /// someone may be waiting for (to wake whoever watches for changes).
    /// Each commit's batch size and duration go to `metrics`.
    pub fn start(
        pool: Pool,
        metrics: WriterMetrics,
        after_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self::start_with_queue(pool, metrics, QUEUE, after_commit)
    }

    /// [`Writer::start`] with room for `queue` waiting jobs.
    pub fn start_with_queue(
        pool: Pool,
        metrics: WriterMetrics,
        queue: usize,
        after_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(queue);
        let arriving = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(pool, rx, arriving.clone(), metrics, after_commit));
        Self { jobs, arriving }
    }

    /// How many jobs wait for the writer.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Counts a proposal as on its way until the returned guard is dropped (by
    /// [`Writer::append_call`], once its job is handed over).
    pub fn arriving(&self) -> Arriving {
        self.arriving.fetch_add(1, Ordering::AcqRel);
        Arriving(self.arriving.clone())
    }

    /// Runs `work` inside the next group transaction and returns its result once committed.
    /// If `work` fails, its own changes are rolled back and the error returned.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, AppError>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, AppError>>();
        let job: Work = Box::new(move |conn: &mut Conn| {
            Box::pin(async move {
                let result = run_in_savepoint(conn, work).await;
                let reply: Reply = Box::new(move |commit: Result<(), AppError>| {
                    let _ = tx.send(commit.and(result));
                });
                reply
            })
        });
        self.jobs
            .send(Job::Work(job))
            .await
            .map_err(|_| AppError::Internal("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| AppError::Internal("the writer dropped a job".into()))?
    }

    /// Inserts a new call with its audit event; returns once committed. `arriving`, the
    /// proposal's count, ends once the job is handed over. With the queue full the call is
    /// refused at once: [`AppError::Busy`] (`503`, `Retry-After: 1`), nothing written.
    pub async fn append_call(
        &self,
        call: calls::NewCall,
        event: audit::OwnedEvent,
        arriving: Arriving,
    ) -> Result<(), AppError> {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .jobs
            .try_send(Job::Append(Box::new(Append { call, event, reply })));
        drop(arriving);
        match sent {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(AppError::Busy(1)),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(AppError::Internal("the writer has stopped".into()))
            }
        }
        rx.await
            .map_err(|_| AppError::Internal("the writer dropped a job".into()))?
    }
}

async fn run_in_savepoint<T, F>(conn: &mut Conn, work: F) -> Result<T, AppError>
where
    F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, AppError>>,
{
    tx::savepoint(conn, Savepoint::Job).await?;
    let result = work(&mut *conn).await;
    if result.is_err() {
        tx::rollback_to(conn, Savepoint::Job).await?;
    }
    tx::release(conn, Savepoint::Job).await?;
    result
}

/// While proposals are on their way (being checked on other tasks, their jobs not yet
/// handed over), lets them run — a few times at most — and takes what they hand over.
/// Under load a commit then carries more calls and its fixed cost (the round trip to the
/// database's thread, the `fsync`) is shared by more of them; with nothing else arriving
/// it costs nothing.
async fn gather(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, arriving: &AtomicUsize) {
    for _ in 0..MAX_YIELDS {
        if arriving.load(Ordering::Acquire) == 0 || batch.len() >= MAX_BATCH {
            return;
        }
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
    }
}

async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<Job>,
    arriving: Arc<AtomicUsize>,
    metrics: WriterMetrics,
    after_commit: impl Fn() + Send + Sync,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // The audit chain's last hash, as this writer last wrote it (`None`: read it first).
    let mut head: Option<String> = None;
    // One connection kept for writing, its page cache warm between batches.
    let mut held: Option<store::Pooled> = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        gather(&mut rx, &mut batch, &arriving).await;
        // Calls that policy allowed or denied outright wake nobody; only other changes
        // send the watcher to read the audit log.
        let wakes_listeners = batch.iter().any(|job| match job {
            Job::Work(_) => true,
            Job::Append(a) => a.call.status == crate::domain::call::CallStatus::Pending,
        });
        let (jobs, started) = (batch.len(), std::time::Instant::now());
        let mut replies = Vec::with_capacity(jobs);
        let outcome = commit_batch(
            &pool,
            &mut held,
            batch.drain(..),
            &mut replies,
            wakes_listeners,
            &mut head,
        )
        .await;
        metrics.committed(jobs, started.elapsed());
        if let Err(e) = &outcome {
            tracing::error!(error = %e, jobs = replies.len(), "group commit failed");
            // Whatever state it was left in, the next batch starts on a fresh connection.
            if let Some(mut conn) = held.take() {
                conn.close_on_drop();
            }
        }
        for reply in replies {
            reply(outcome.clone());
        }
        if wakes_listeners {
            after_commit();
        }
    }
}

async fn commit_batch(
    pool: &Pool,
    held: &mut Option<store::Pooled>,
    jobs: impl Iterator<Item = Job>,
    replies: &mut Vec<Reply>,
    announce: bool,
    head: &mut Option<String>,
) -> Result<(), AppError> {
    if held.is_none() {
        match pool.acquire().await {
            Ok(c) => *held = Some(c),
            Err(e) => {
                // Jobs that never ran still need an answer: dropping them answers with an
                // error.
                replies.extend(jobs.map(|job| -> Reply { Box::new(move |_| drop(job)) }));
                return Err(e.into());
            }
        }
    }
    let Some(held) = held.as_mut() else {
        unreachable!("a connection was just acquired")
    };
    let conn: &mut Conn = held;
    let jobs: Vec<Job> = jobs.collect();
    if jobs.iter().all(|job| matches!(job, Job::Append(_))) {
        // Only new calls (the hot path): no savepoint needed — if the rows cannot be
        // written, the whole transaction is rolled back and every caller hears why.
        let appends: Vec<Append> = jobs
            .into_iter()
            .filter_map(|job| match job {
                Job::Append(a) => Some(*a),
                Job::Work(_) => None,
            })
            .collect();
        let written = write_new_calls(conn, &appends, announce, head).await;
        for a in appends {
            replies.push(Box::new(move |commit| {
                let _ = a.reply.send(commit);
            }));
        }
        return written;
    }
    // Other work may append audit events of its own: the chain's end is read again
    // before the commit.
    *head = None;
    if let Err(e) = store::begin_write(conn).await {
        replies.extend(
            jobs.into_iter()
                .map(|job| -> Reply { Box::new(move |_| drop(job)) }),
        );
        return Err(e.into());
    }
    let mut appends: Vec<Append> = Vec::new();
    for job in jobs {
        match job {
            Job::Append(a) => appends.push(*a),
            Job::Work(work) => {
                flush_appends(conn, &mut appends, replies).await;
                replies.push(work(conn).await);
            }
        }
    }
    flush_appends(conn, &mut appends, replies).await;
    if announce {
        if let Err(e) = changes::announce(conn).await {
            let _ = tx::rollback(conn).await;
            return Err(e.into());
        }
    }
    let last = audit::head_hash(conn).await.ok();
    match tx::commit(conn).await {
        Ok(_) => {
            *head = last;
            Ok(())
        }
        Err(e) => {
            let _ = tx::rollback(conn).await;
            Err(e.into())
        }
    }
}

/// Commits a batch of nothing but new calls: on SQLite with the chain's last hash known,
/// the fast way; otherwise in an ordinary write transaction. Keeps `head` up to date.
async fn write_new_calls(
    conn: &mut Conn,
    appends: &[Append],
    announce: bool,
    head: &mut Option<String>,
) -> Result<(), AppError> {
    let new: Vec<&calls::NewCall> = appends.iter().map(|a| &a.call).collect();
    let events: Vec<audit::OwnedEvent> = appends.iter().map(|a| a.event.clone()).collect();
    // SQLite needs no announcement (other processes see its file change).
    if let Some(known) = head.take() {
        if Backend::of_conn(conn) == Backend::Sqlite && append::fits(new.len()) {
            match append::sqlite_fast(conn, &new, &events, &known).await? {
                Appended::Committed(last) => {
                    *head = Some(last);
                    return Ok(());
                }
                Appended::Stale => {}
            }
        }
    }
    store::begin_write(conn).await?;
    let written = async {
        calls::insert_many(conn, &new).await?;
        let last = audit::append_many(conn, &events).await?;
        if announce {
            changes::announce(conn).await?;
        }
        Ok::<_, sqlx::Error>(last)
    }
    .await;
    let last = match written {
        Ok(last) => last,
        Err(e) => {
            let _ = tx::rollback(conn).await;
            return Err(e.into());
        }
    };
    if let Err(e) = tx::commit(conn).await {
        let _ = tx::rollback(conn).await;
        return Err(e.into());
    }
    *head = Some(last);
    Ok(())
}

/// Writes the queued appends in one savepoint; each caller hears the outcome after commit.
async fn flush_appends(conn: &mut Conn, appends: &mut Vec<Append>, replies: &mut Vec<Reply>) {
    if appends.is_empty() {
        return;
    }
    let batch = std::mem::take(appends);
    let result = write_appends(conn, &batch).await;
    if result.is_err() {
        let _ = tx::rollback_to(conn, Savepoint::Appends).await;
        let _ = tx::release(conn, Savepoint::Appends).await;
    }
    for a in batch {
        let result = result.clone();
        replies.push(Box::new(move |commit| {
            let _ = a.reply.send(commit.and(result));
        }));
    }
}

async fn write_appends(conn: &mut Conn, batch: &[Append]) -> Result<(), AppError> {
    tx::savepoint(conn, Savepoint::Appends).await?;
    write_rows(conn, batch).await?;
    tx::release(conn, Savepoint::Appends).await?;
    Ok(())
}

/// The new calls and their audit events, as multi-row inserts.
async fn write_rows(conn: &mut Conn, batch: &[Append]) -> Result<(), AppError> {
    let calls: Vec<&calls::NewCall> = batch.iter().map(|a| &a.call).collect();
    calls::insert_many(conn, &calls).await?;
    let events: Vec<audit::OwnedEvent> = batch.iter().map(|a| a.event.clone()).collect();
    audit::append_many(conn, &events).await?;
    Ok(())
}
