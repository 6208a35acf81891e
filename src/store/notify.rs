//! SQL for notifications: `notify_channels`, `notify_routes`, the `notify_outbox` with its
//! delivery log `notify_attempts`, and the audit-log cursor `notify_cursor`.

use crate::clock::to_millis;
use crate::domain::notify::{ChannelKind, NoticeKind};
use crate::store::{Conn, Executor};
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A stored channel (its secret still sealed or an `env:` reference).
#[derive(Debug, Clone, FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub config: String,
    pub secret: String,
    pub private: bool,
    pub reminder_percent: Option<i64>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: i64,
}

/// A channel to insert.
#[derive(Debug, Clone)]
pub struct NewChannel<'a> {
    pub name: &'a str,
    pub kind: ChannelKind,
    pub config: &'a str,
    pub secret: &'a str,
    pub private: bool,
    pub reminder_percent: Option<u8>,
    pub created_by: &'a str,
    pub now: DateTime<Utc>,
}

/// A stored route.
#[derive(Debug, Clone, FromRow)]
pub struct RouteRow {
    pub id: i64,
    pub channel_id: i64,
    pub rule: String,
    pub risk: String,
    pub agent: String,
    pub audience: String,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub channel_id: i64,
    /// None for the audit head.
    pub call_id: Option<String>,
    pub kind: NoticeKind,
    pub detail: String,
    pub attempts: i64,
}

/// One line of the delivery log.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub channel: String,
    pub call_id: Option<String>,
    pub kind: NoticeKind,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub skipped_at: Option<i64>,
    pub last_result: Option<String>,
    pub last_at: Option<i64>,
}

const CHANNEL: &str = "SELECT id, name, kind, config, secret, private, reminder_percent, enabled,
    created_by, created_at FROM notify_channels";

/// Inserts a channel; returns its id.
pub async fn insert_channel(conn: &mut Conn, c: &NewChannel<'_>) -> sqlx::Result<i64> {
    on!(conn, |cn| sqlx::query_scalar(
        "INSERT INTO notify_channels
           (name, kind, config, secret, private, reminder_percent, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(c.name)
    .bind(c.kind)
    .bind(c.config)
    .bind(c.secret)
    .bind(c.private)
    .bind(c.reminder_percent.map(i64::from))
    .bind(c.created_by)
    .bind(to_millis(c.now))
    .fetch_one(cn)
    .await)
}

/// Every channel, by name.
pub async fn channels(db: impl Executor<'_>) -> sqlx::Result<Vec<ChannelRow>> {
    on!(db, |cn| sqlx::query_as(&format!("{CHANNEL} ORDER BY name"))
        .fetch_all(cn)
        .await)
}

/// One channel by name.
pub async fn channel_named(db: impl Executor<'_>, name: &str) -> sqlx::Result<Option<ChannelRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "{CHANNEL} WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(cn)
    .await)
}

/// One channel by id.
pub async fn channel(db: impl Executor<'_>, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    on!(db, |cn| sqlx::query_as(&format!("{CHANNEL} WHERE id = $1"))
        .bind(id)
        .fetch_optional(cn)
        .await)
}

/// Deletes a channel (its routes and outbox rows go with it); whether it existed.
pub async fn delete_channel(conn: &mut Conn, id: i64) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| sqlx::query(
        "DELETE FROM notify_channels WHERE id = $1"
    )
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Pauses or resumes a channel; whether it existed.
pub async fn set_enabled(conn: &mut Conn, id: i64, enabled: bool) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| sqlx::query(
        "UPDATE notify_channels SET enabled = $1 WHERE id = $2"
    )
    .bind(enabled)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Adds a route; returns its id.
pub async fn insert_route(
    conn: &mut Conn,
    route: &RouteRow,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    on!(conn, |cn| sqlx::query_scalar(
        "INSERT INTO notify_routes (channel_id, rule, risk, agent, audience, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(route.channel_id)
    .bind(&route.rule)
    .bind(&route.risk)
    .bind(&route.agent)
    .bind(&route.audience)
    .bind(to_millis(now))
    .fetch_one(cn)
    .await)
}

/// Deletes a route; the route as it was, if it existed.
pub async fn delete_route(conn: &mut Conn, id: i64) -> sqlx::Result<Option<RouteRow>> {
    on!(conn, |cn| sqlx::query_as(
        "DELETE FROM notify_routes WHERE id = $1
         RETURNING id, channel_id, rule, risk, agent, audience",
    )
    .bind(id)
    .fetch_optional(cn)
    .await)
}

/// Every route, oldest first.
pub async fn routes(db: impl Executor<'_>) -> sqlx::Result<Vec<RouteRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, channel_id, rule, risk, agent, audience FROM notify_routes ORDER BY id",
    )
    .fetch_all(cn)
    .await)
}

/// The newest audit event already read for notifications, if reading ever began.
pub async fn cursor(db: impl Executor<'_>) -> sqlx::Result<Option<i64>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT audit_id FROM notify_cursor WHERE id = 1"
    )
    .fetch_optional(cn)
    .await)
}

/// Moves the cursor to `audit_id`.
pub async fn set_cursor(conn: &mut Conn, audit_id: i64) -> sqlx::Result<()> {
    on!(conn, |cn| sqlx::query(
        "INSERT INTO notify_cursor (id, audit_id) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET audit_id = CASE
             WHEN excluded.audit_id > notify_cursor.audit_id THEN excluded.audit_id
             ELSE notify_cursor.audit_id END",
    )
    .bind(audit_id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Queues one message, due at `due`; `false` when the same message (call, kind, channel)
/// was queued before.
pub async fn enqueue(
    conn: &mut Conn,
    channel_id: i64,
    call_id: &str,
    kind: NoticeKind,
    detail: &str,
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let dedupe = format!("{call_id}:{}:{channel_id}", kind.as_str());
    let done = on!(conn, |cn| sqlx::query(
        "INSERT INTO notify_outbox (channel_id, call_id, kind, dedupe, detail, created_at,
             next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe) DO NOTHING",
    )
    .bind(channel_id)
    .bind(call_id)
    .bind(kind)
    .bind(dedupe)
    .bind(detail)
    .bind(to_millis(now))
    .bind(to_millis(due))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Queues the audit head `detail` for a channel, due at once; `false` when this period's
/// head (`slot`) was queued for it before (by this or another instance).
pub async fn enqueue_head(
    conn: &mut Conn,
    channel_id: i64,
    slot: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let dedupe = format!("audit_head:{slot}:{channel_id}");
    let done = on!(conn, |cn| sqlx::query(
        "INSERT INTO notify_outbox (channel_id, call_id, kind, dedupe, detail, created_at,
             next_attempt_at)
         VALUES ($1, NULL, $2, $3, $4, $5, $6) ON CONFLICT (dedupe) DO NOTHING",
    )
    .bind(channel_id)
    .bind(NoticeKind::AuditHead)
    .bind(dedupe)
    .bind(detail)
    .bind(to_millis(now))
    .bind(to_millis(now))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Messages due at `now`, soonest first.
pub async fn due(
    db: impl Executor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, channel_id, call_id, kind, detail, attempts FROM notify_outbox
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL
           AND next_attempt_at <= $1
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(to_millis(now))
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Takes the next attempt of a due message until `until` (ms): a conditional write, so
/// when several instances read the same due row exactly one of them sends it. Should that
/// instance die mid-attempt, the row falls due again at `until`.
pub async fn claim(
    db: impl Executor<'_>,
    id: i64,
    attempts: i64,
    now: DateTime<Utc>,
    until: i64,
) -> sqlx::Result<bool> {
    let done = on!(db, |cn| sqlx::query(
        "UPDATE notify_outbox SET next_attempt_at = $1
         WHERE id = $2 AND attempts = $3 AND next_attempt_at <= $4
           AND delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL",
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

/// The soonest time a waiting message is due, if any waits.
pub async fn next_due(db: impl Executor<'_>) -> sqlx::Result<Option<i64>> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notify_outbox
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL",
    )
    .fetch_one(cn)
    .await)
}

/// Moves a waiting message to `at` (a reminder whose call's deadline moved).
pub async fn reschedule(
    conn: &mut Conn,
    id: i64,
    attempts: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| sqlx::query(
        "UPDATE notify_outbox SET next_attempt_at = $1
         WHERE id = $2 AND attempts = $3 AND delivered_at IS NULL AND gave_up_at IS NULL
           AND skipped_at IS NULL",
    )
    .bind(to_millis(at))
    .bind(id)
    .bind(attempts)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// Drops a waiting message without sending it, saying why.
pub async fn skip(conn: &mut Conn, id: i64, now: DateTime<Utc>, why: &str) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| sqlx::query(
        "UPDATE notify_outbox SET skipped_at = $1, last_result = $2
         WHERE id = $3 AND delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL",
    )
    .bind(to_millis(now))
    .bind(why)
    .bind(id)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub outbox_id: i64,
    /// 1-based; recorded only as the next attempt of a message still waiting.
    pub attempt: i64,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub delivered: bool,
    /// When to try again (`None` and not delivered: given up).
    pub retry_at: Option<DateTime<Utc>>,
}

/// Records an attempt and what follows from it; `false` (nothing written) when it is not
/// the next attempt of a waiting message (a stale repeat).
pub async fn record_attempt(conn: &mut Conn, a: &Attempt<'_>) -> sqlx::Result<bool> {
    let at = to_millis(a.at);
    let result = match (a.status_code, a.error) {
        (_, Some(e)) => e.to_string(),
        (Some(s), None) => format!("HTTP {s}"),
        (None, None) => "sent".to_string(),
    };
    let done = on!(&mut *conn, |cn| sqlx::query(
        "UPDATE notify_outbox SET attempts = $1, last_result = $2,
           delivered_at = CASE WHEN $3 THEN $4 END,
           next_attempt_at = COALESCE($5, next_attempt_at),
           gave_up_at = CASE WHEN NOT $6 AND $7 IS NULL THEN $8 END
         WHERE id = $9 AND attempts = $10 AND delivered_at IS NULL AND gave_up_at IS NULL
           AND skipped_at IS NULL",
    )
    .bind(a.attempt)
    .bind(&result)
    .bind(a.delivered)
    .bind(at)
    .bind(a.retry_at.map(to_millis))
    .bind(a.delivered)
    .bind(a.retry_at.map(to_millis))
    .bind(at)
    .bind(a.outbox_id)
    .bind(a.attempt - 1)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    on!(conn, |cn| sqlx::query(
        "INSERT INTO notify_attempts (outbox_id, attempt, at, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.outbox_id)
    .bind(a.attempt)
    .bind(at)
    .bind(a.status_code.map(i64::from))
    .bind(a.error)
    .bind(a.duration_ms)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(true)
}

/// The newest `limit` messages with their state, newest first.
pub async fn deliveries(db: impl Executor<'_>, limit: i64) -> sqlx::Result<Vec<DeliveryRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT o.id, c.name AS channel, o.call_id, o.kind, o.attempts, o.next_attempt_at,
                o.delivered_at, o.gave_up_at, o.skipped_at, o.last_result,
                (SELECT MAX(at) FROM notify_attempts a WHERE a.outbox_id = o.id) AS last_at
         FROM notify_outbox o JOIN notify_channels c ON c.id = o.channel_id
         ORDER BY o.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(cn)
    .await)
}
