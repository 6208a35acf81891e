//! SQL for the webhook outbox (`webhooks`) and its delivery log (`webhook_attempts`).

use crate::clock::to_millis;
use crate::store::Executor;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A webhook waiting to be delivered.
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub call_id: String,
    /// The call's agent (read from `calls`).
    pub agent_id: String,
    pub url: String,
    pub event_id: i64,
    pub attempts: i64,
}

/// One delivery attempt.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub webhook_id: i64,
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Queues a delivery, due now.
pub async fn enqueue(
    db: impl Executor<'_>,
    call_id: &str,
    url: &str,
    event_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(db, |cn| sqlx::query(
        "INSERT INTO webhooks (call_id, url, event_id, next_attempt_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(call_id)
    .bind(url)
    .bind(event_id)
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Deliveries due at `now`.
pub async fn due(
    db: impl Executor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<WebhookRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT w.id, w.call_id, c.agent_id, w.url, w.event_id, w.attempts
         FROM webhooks w JOIN calls c ON c.id = w.call_id
         WHERE w.delivered_at IS NULL AND w.gave_up_at IS NULL AND w.next_attempt_at <= $1
         ORDER BY w.next_attempt_at LIMIT $2",
    )
    .bind(to_millis(now))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Takes the next attempt of a due delivery until `until` (ms): a conditional write, so when
/// several instances read the same due row exactly one of them sends it. Should that
/// instance die mid-attempt, the row falls due again at `until`.
pub async fn claim(
    db: impl Executor<'_>,
    id: i64,
    attempts: i64,
    now: DateTime<Utc>,
    until: i64,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE webhooks SET next_attempt_at = $1
         WHERE id = $2 AND attempts = $3 AND next_attempt_at <= $4
           AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(until)
    .bind(id)
    .bind(attempts)
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Records an attempt and what follows from it: delivered, retry at `retry_at`, or given up
/// (neither).
#[allow(clippy::too_many_arguments)]
pub async fn record_attempt(
    conn: &mut crate::store::Conn,
    webhook_id: i64,
    attempt: i64,
    now: DateTime<Utc>,
    status_code: Option<u16>,
    error: Option<&str>,
    duration_ms: i64,
    delivered: bool,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<bool> {
    let now_ms = to_millis(now);
    // Recorded only as the next attempt of a webhook still waiting: a stale second
    // delivery of the same attempt records nothing.
    let fresh = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE webhooks SET attempts = attempts
         WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(webhook_id)
    .bind(attempt - 1)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    if fresh.rows_affected() != 1 {
        return Ok(false);
    }
    on!(&mut *conn, |cn| sqlx::query(
        "INSERT INTO webhook_attempts (webhook_id, attempt, at, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(webhook_id)
    .bind(attempt)
    .bind(now_ms)
    .bind(status_code.map(i64::from))
    .bind(error)
    .bind(duration_ms)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    on!(&mut *conn, |cn| sqlx::query(
        "UPDATE webhooks SET attempts = $1,
           delivered_at = CASE WHEN $2 THEN $3 END,
           next_attempt_at = COALESCE($4, next_attempt_at),
           gave_up_at = CASE WHEN NOT $5 AND $6 IS NULL THEN $7 END
         WHERE id = $8",
    )
    .bind(attempt)
    .bind(delivered)
    .bind(now_ms)
    .bind(retry_at.map(to_millis))
    .bind(delivered)
    .bind(retry_at.map(to_millis))
    .bind(now_ms)
    .bind(webhook_id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(true)
}

/// Every attempt for a call's webhooks, oldest first.
pub async fn attempts_for_call(
    db: impl Executor<'_>,
    call_id: &str,
) -> sqlx::Result<Vec<AttemptRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT a.webhook_id, a.attempt, a.at, a.status_code, a.error, a.duration_ms
         FROM webhook_attempts a JOIN webhooks w ON w.id = a.webhook_id
         WHERE w.call_id = $1 ORDER BY a.at, a.attempt",
    )
    .bind(call_id)
    .fetch_all(cn)
    .await)
}
