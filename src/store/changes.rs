//! Change notices between instances sharing a PostgreSQL database. The writer raises one in
//! each transaction that others should react to (delivered when it commits); every instance
//! listens and wakes its audit watcher, which reads the log on from the last event it saw.
//! A notice lost while the listener reconnects therefore loses nothing: the reconnection
//! itself wakes the watcher for a catch-up read, and the watcher also polls.

use super::{Backend, Conn, Pool};
use sqlx::postgres::PgListener;
use std::time::Duration;

/// The notification channel.
const CHANNEL: &str = "askfirst_changes";

/// Raises a change notice, delivered to every listening instance when the transaction
/// commits (notices within one transaction fold into one). Nothing on SQLite, whose
/// readers are in one process or poll.
pub async fn announce(conn: &mut Conn) -> sqlx::Result<()> {
    if Backend::of_conn(conn) == Backend::Postgres {
        on!(&mut *conn, |cn| sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(cn)
            .await
            .map(super::Done::from))?;
    }
    Ok(())
}

/// Calls `on_change` for every notice raised by any instance (this one included), and once
/// after every (re)connection; returns when the pool closes. Only for PostgreSQL pools.
pub async fn listen(pool: Pool, on_change: impl Fn() + Send) {
    let Pool::Postgres(pg) = &pool else {
        return;
    };
    let mut backoff = Duration::from_millis(100);
    while !pool.is_closed() {
        let mut listener = match connect(pg).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "listening for changes from other instances failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Whatever was committed while no one listened is read now.
        on_change();
        loop {
            tokio::select! {
                notice = listener.try_recv() => match notice {
                    Ok(Some(_)) => on_change(),
                    // The connection dropped and was re-established: catch up.
                    Ok(None) => on_change(),
                    Err(e) => {
                        if !pool.is_closed() {
                            tracing::warn!(error = %e, "the change listener lost its connection");
                        }
                        break;
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if pool.is_closed() {
                        return;
                    }
                }
            }
        }
    }
}

async fn connect(pool: &sqlx::PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
