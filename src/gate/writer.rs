//! Group commit: one task owns writing. Callers hand it jobs; it drains whatever has queued
//! up, runs the jobs in one transaction (each inside its own savepoint, so one failing job
//! does not undo the others), commits once, and only then answers each caller.
//! No fsync per request, and no answer before the data is on disk.

use crate::domain::AppError;
use futures::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(Result<(), AppError>) + Send>;
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Reply> + Send>;

/// Handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task over `pool`; `after_commit` runs after every commit (to wake
    /// whoever watches for changes).
    pub fn start(pool: SqlitePool, after_commit: impl Fn() + Send + Sync + 'static) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(16 * 1024);
        tokio::spawn(run(pool, rx, after_commit));
        Self { jobs }
    }

    /// Runs `work` inside the next group transaction and returns its result once committed.
    /// If `work` fails, its own changes are rolled back and the error returned.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, AppError>>
            + Send
            + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, AppError>>();
        let job: Job = Box::new(move |conn: &mut SqliteConnection| {
            Box::pin(async move {
                let result = run_in_savepoint(conn, work).await;
                let reply: Reply = Box::new(move |commit: Result<(), AppError>| {
                    let _ = tx.send(commit.and(result));
                });
                reply
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| AppError::Internal("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| AppError::Internal("the writer dropped a job".into()))?
    }
}

async fn run_in_savepoint<T, F>(conn: &mut SqliteConnection, work: F) -> Result<T, AppError>
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, AppError>>,
{
    sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    let result = work(&mut *conn).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
    }
    sqlx::query("RELEASE job").execute(&mut *conn).await?;
    result
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, after_commit: impl Fn() + Send + Sync) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut replies = Vec::with_capacity(batch.len());
        let outcome = commit_batch(&pool, batch.drain(..), &mut replies).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, jobs = replies.len(), "group commit failed");
        }
        for reply in replies {
            reply(outcome.clone());
        }
        after_commit();
    }
}

async fn commit_batch(
    pool: &SqlitePool,
    jobs: impl Iterator<Item = Job>,
    replies: &mut Vec<Reply>,
) -> Result<(), AppError> {
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            // Jobs that never ran still need an answer.
            for job in jobs {
                replies.push(Box::new(move |_| drop(job)));
            }
            return Err(e.into());
        }
    };
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        for job in jobs {
            replies.push(Box::new(move |_| drop(job)));
        }
        return Err(e.into());
    }
    for job in jobs {
        replies.push(job(&mut conn).await);
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e.into())
        }
    }
}
