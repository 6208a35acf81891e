//! SQL for `sign_in_failures`: sign-in attempts counted in the database, so that the rate
//! limit holds across instances sharing it.

use super::{Conn, Executor};

/// One key's limit: at most `max` failures within `window_ms`.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimit<'a> {
    pub key: &'a str,
    pub max: usize,
    pub window_ms: i64,
}

/// Inside a write transaction: counts one attempt against every key, or says how many
/// milliseconds the first key at its limit must wait (then nothing is counted). Returns the
/// ids of the rows counted. Failures older than every window are forgotten on the way.
pub async fn reserve(
    conn: &mut Conn,
    keys: &[KeyLimit<'_>],
    now_ms: i64,
) -> sqlx::Result<Result<Vec<i64>, i64>> {
    let longest = keys.iter().map(|k| k.window_ms).max().unwrap_or(0);
    on!(&mut *conn, |cn| sqlx::query(
        "DELETE FROM sign_in_failures WHERE at <= $1"
    )
    .bind(now_ms - longest)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    let mut wait = 0;
    for k in keys {
        let recent: Vec<i64> = on!(&mut *conn, |cn| sqlx::query_scalar(
            "SELECT at FROM sign_in_failures WHERE key = $1 AND at > $2
             ORDER BY at DESC LIMIT $3",
        )
        .bind(k.key)
        .bind(now_ms - k.window_ms)
        .bind(k.max as i64)
        .fetch_all(cn)
        .await)?;
        if recent.len() >= k.max {
            let oldest = recent.last().copied().unwrap_or(now_ms);
            wait = wait.max(oldest + k.window_ms - now_ms);
        }
    }
    if wait > 0 {
        return Ok(Err(wait));
    }
    let mut ids = Vec::with_capacity(keys.len());
    for k in keys {
        let id: i64 = on!(&mut *conn, |cn| sqlx::query_scalar(
            "INSERT INTO sign_in_failures (key, at) VALUES ($1, $2) RETURNING id",
        )
        .bind(k.key)
        .bind(now_ms)
        .fetch_one(cn)
        .await)?;
        ids.push(id);
    }
    Ok(Ok(ids))
}

/// Gives back counted attempts (`ids`), and forgets every failure of `forget_key`.
pub async fn release(
    db: impl Executor<'_>,
    ids: &[i64],
    forget_key: Option<&str>,
) -> sqlx::Result<()> {
    let sql = super::numbered(&format!(
        "DELETE FROM sign_in_failures WHERE id IN ({}) OR key = ?",
        super::marks(ids.len().max(1))
    ));
    on!(db, |cn| {
        let mut query = sqlx::query(&sql);
        if ids.is_empty() {
            query = query.bind(0_i64);
        }
        for id in ids {
            query = query.bind(*id);
        }
        query
            .bind(forget_key.unwrap_or(""))
            .execute(cn)
            .await
            .map(super::Done::from)
    })?;
    Ok(())
}
