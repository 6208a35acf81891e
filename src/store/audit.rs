//! SQL for `audit_events`: the append-only, hash-chained log of every transition,
//! decision and policy change. With a key ([`set_key`], from `--audit-key-file`) each link
//! is an HMAC under a key that lives outside the database, so whoever can write the file
//! cannot rebuild a valid chain; `audit head` / `verify --head` catch truncation, and
//! [`missing_tail`] catches it without a kept head, from what the database remembers apart
//! from the chain.

use super::json::canonical;
use crate::clock::to_millis;
use crate::store::{Conn, Executor};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::FromRow;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Event kinds written outside a status transition (transitions are `call.<status>`).
pub mod kinds {
    /// An approval that counted but did not reach the threshold.
    pub const APPROVAL_RECORDED: &str = "call.approval_recorded";
    /// An approver's edit became the call's next candidate.
    pub const CANDIDATE_CREATED: &str = "call.candidate_created";
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub kind: &'a str,
    pub agent_id: Option<&'a str>,
    pub call_id: Option<&'a str>,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub detail: Value,
}

impl<'a> NewEvent<'a> {
    /// An event about neither an agent nor a call (people, bypasses, policy, settings);
    /// `from`/`to` are its subject's statuses when it moved.
    pub fn about(
        at: DateTime<Utc>,
        actor: &'a str,
        kind: &'a str,
        from: Option<&'a str>,
        to: Option<&'a str>,
        detail: Value,
    ) -> Self {
        Self {
            at,
            actor,
            kind,
            agent_id: None,
            call_id: None,
            from_status: from,
            to_status: to,
            detail,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub agent_id: Option<String>,
    pub call_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl EventRow {
    /// Whether an inbox shows this change: a call arriving in or leaving `pending`, an
    /// approval that does not decide the call yet, or an edit of its arguments.
    pub fn matters_to_inbox(&self) -> bool {
        self.from_status.as_deref() == Some("pending")
            || self.to_status.as_deref() == Some("pending")
            || self.kind == kinds::APPROVAL_RECORDED
            || self.kind == kinds::CANDIDATE_CREATED
            || self.kind == "call.extended"
            || self.kind == "call.escalated"
    }

    /// The detail as JSON (`null` if unreadable).
    pub fn detail_json(&self) -> Value {
        serde_json::from_str(&self.detail).unwrap_or(Value::Null)
    }
}

impl EventRow {
    /// Whether the review page shows this change: anything that happens to a bypass or a
    /// pending policy change, and new policy versions (which make pending changes stale).
    pub fn matters_to_signoff(&self) -> bool {
        (self.kind.starts_with("bypass.") && self.kind != "bypass.used")
            || self.kind.starts_with("policy.")
    }
}

const COLUMNS: &str =
    "id, at, actor, kind, agent_id, call_id, from_status, to_status, detail, prev_hash, hash";

static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Keys the chain for this process (set once, at start, before anything is written).
pub fn set_key(key: Vec<u8>) -> Result<(), String> {
    if key.len() < 32 {
        return Err("the audit key must be at least 32 bytes".into());
    }
    KEY.set(key)
        .map_err(|_| "the audit key is already set".to_string())
}

/// The key in use, if any.
pub fn key() -> Option<&'static [u8]> {
    KEY.get().map(Vec::as_slice)
}

/// The hash of an event given its predecessor's hash: SHA-256, or with a key HMAC-SHA256.
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    key: Option<&[u8]>,
    prev_hash: &str,
    at: i64,
    actor: &str,
    kind: &str,
    agent_id: Option<&str>,
    call_id: Option<&str>,
    from_status: Option<&str>,
    to_status: Option<&str>,
    detail: &str,
) -> String {
    let content = canonical(&json!({
        "at": at, "actor": actor, "kind": kind, "agent_id": agent_id, "call_id": call_id,
        "from_status": from_status, "to_status": to_status, "detail": detail,
    }));
    match key {
        Some(key) => {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(prev_hash.as_bytes());
            mac.update(content.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            h.update(content.as_bytes());
            hex::encode(h.finalize())
        }
    }
}

/// Appends an event; call inside the transaction of the change it records, after that
/// change's first write (so the write lock is held and the chain cannot fork).
pub async fn append(conn: &mut Conn, event: &NewEvent<'_>) -> sqlx::Result<i64> {
    let prev: Option<String> = on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1"
    )
    .fetch_optional(cn)
    .await)?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_string());
    let at = to_millis(event.at);
    let detail = canonical(&event.detail);
    let hash = chain_hash(
        key(),
        &prev,
        at,
        event.actor,
        event.kind,
        event.agent_id,
        event.call_id,
        event.from_status,
        event.to_status,
        &detail,
    );
    on!(&mut *conn, |cn| sqlx::query_scalar(
        "INSERT INTO audit_events
           (at, actor, kind, agent_id, call_id, from_status, to_status, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(at)
    .bind(event.actor)
    .bind(event.kind)
    .bind(event.agent_id)
    .bind(event.call_id)
    .bind(event.from_status)
    .bind(event.to_status)
    .bind(detail)
    .bind(prev)
    .bind(hash)
    .fetch_one(cn)
    .await)
}

/// An event to append, owning its fields (for batches).
#[derive(Debug, Clone)]
pub struct OwnedEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub agent_id: Option<String>,
    pub call_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: Value,
}

/// Most rows in one multi-row INSERT (SQLite limits bound variables).
pub const CHUNK: usize = 256;

/// An event of a batch with its place in the chain worked out.
pub struct Linked<'e> {
    pub(crate) event: &'e OwnedEvent,
    pub(crate) at: i64,
    pub(crate) detail: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

/// Links `events` in order onto the chain whose last hash is `prev`.
pub fn link_all<'e>(events: &'e [OwnedEvent], prev: &str) -> Vec<Linked<'e>> {
    let mut prev = prev.to_string();
    events
        .iter()
        .map(|e| {
            let at = to_millis(e.at);
            let detail = canonical(&e.detail);
            let hash = chain_hash(
                key(),
                &prev,
                at,
                &e.actor,
                &e.kind,
                e.agent_id.as_deref(),
                e.call_id.as_deref(),
                e.from_status.as_deref(),
                e.to_status.as_deref(),
                &detail,
            );
            Linked {
                event: e,
                at,
                detail,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            }
        })
        .collect()
}

/// The hash of the last of `linked`, or `prev` when there are none.
pub fn last_hash(linked: &[Linked<'_>], prev: &str) -> String {
    linked
        .last()
        .map_or_else(|| prev.to_string(), |l| l.hash.clone())
}

/// The INSERT of `n` linked events, with unnumbered `?` marks ([`bind_linked`] binds each).
pub fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events
           (at, actor, kind, agent_id, call_id, from_status, to_status, detail, prev_hash, hash) VALUES ",
    );
    sql += &vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
    sql
}

/// Binds one event's row of [`insert_sql`] to a statement of either backend.
macro_rules! bind_linked {
    ($q:expr, $l:expr) => {{
        let l: &$crate::store::audit::Linked<'_> = $l;
        let e = l.event;
        $q.bind(l.at)
            .bind(&e.actor)
            .bind(&e.kind)
            .bind(&e.agent_id)
            .bind(&e.call_id)
            .bind(&e.from_status)
            .bind(&e.to_status)
            .bind(&l.detail)
            .bind(&l.prev_hash)
            .bind(&l.hash)
    }};
}
pub(crate) use bind_linked;

/// The hash of the chain's last event ([`GENESIS`] while there is none).
pub async fn head_hash(conn: &mut Conn) -> sqlx::Result<String> {
    let prev: Option<String> = on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1"
    )
    .fetch_optional(cn)
    .await)?;
    Ok(prev.unwrap_or_else(|| GENESIS.to_string()))
}

/// Appends many events in order with a handful of statements: the chain is computed in
/// memory from the last stored hash. Same rules as [`append`]. Returns the new last hash.
pub async fn append_many(conn: &mut Conn, events: &[OwnedEvent]) -> sqlx::Result<String> {
    let mut prev = head_hash(conn).await?;
    for chunk in super::power_of_two_chunks(events, CHUNK) {
        let linked = link_all(chunk, &prev);
        let sql = super::marks_for(super::Backend::of_conn(conn), insert_sql(linked.len()));
        on!(&mut *conn, |cn| {
            let mut q = sqlx::query(&sql);
            for l in &linked {
                q = bind_linked!(q, l);
            }
            q.execute(cn).await.map(super::Done::from)
        })?;
        prev = last_hash(&linked, &prev);
    }
    Ok(prev)
}

/// The event that let call `call_id` run — its approval (the last, if there were several),
/// or the proposal policy allowed — with its id, hash, time (ms) and the status it gave.
pub async fn approval_of(
    db: impl Executor<'_>,
    call_id: &str,
) -> sqlx::Result<Option<(i64, String, i64, Option<String>)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, hash, at, to_status FROM audit_events
          WHERE call_id = $1 AND (to_status = 'approved'
             OR (kind = 'call.proposed' AND to_status IN ('allowed', 'running')))
          ORDER BY id DESC LIMIT 1",
    )
    .bind(call_id)
    .fetch_optional(cn)
    .await)
}

/// Events after `after_id`, oldest first.
pub async fn since(
    db: impl Executor<'_>,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Events after `after_id` that somebody may be waiting for — everything but proposals
/// that policy settled at once (allowed or denied calls wake nobody) — oldest first, at
/// most `limit`. Also returns the id the caller has now seen everything up to.
pub async fn since_for_listeners(
    db: &crate::store::Pool,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<(Vec<EventRow>, i64)> {
    // Every row up to the newest committed id is committed (one writer at a time: SQLite's
    // write lock, or on PostgreSQL the advisory lock every write transaction takes before
    // it draws an id), so bounding the scan by it never skips a row that commits later.
    let newest = last_id(db).await?;
    if newest <= after_id {
        return Ok((Vec::new(), after_id));
    }
    let rows: Vec<EventRow> = on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE id > $1 AND id <= $2
           AND NOT (kind = 'call.proposed' AND to_status IN ('allowed', 'denied'))
         ORDER BY id LIMIT $3"
    ))
    .bind(after_id)
    .bind(newest)
    .bind(limit)
    .fetch_all(cn)
    .await)?;
    let seen = match rows.last() {
        Some(last) if rows.len() as i64 == limit => last.id,
        _ => newest,
    };
    Ok((rows, seen))
}

/// The newest event id (0 when empty).
pub async fn last_id(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COALESCE(MAX(id), 0) FROM audit_events"
    )
    .fetch_one(cn)
    .await)
}

/// One agent's calls leaving `pending` after `after_id` (for event-stream replay).
pub async fn leaving_pending(
    db: impl Executor<'_>,
    agent_id: &str,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events
         WHERE agent_id = $1 AND from_status = 'pending' AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(agent_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// How many of one agent's calls left `pending` after `after_id`, counting at most `cap`.
pub async fn count_leaving_pending(
    db: impl Executor<'_>,
    agent_id: &str,
    after_id: i64,
    cap: i64,
) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM audit_events
         WHERE agent_id = $1 AND from_status = 'pending' AND id > $2 LIMIT $3) AS sub",
    )
    .bind(agent_id)
    .bind(after_id)
    .bind(cap)
    .fetch_one(cn)
    .await)
}

/// Every event of one call, oldest first.
pub async fn for_call(db: impl Executor<'_>, call_id: &str) -> sqlx::Result<Vec<EventRow>> {
    on!(db, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE call_id = $1 ORDER BY id"
    ))
    .bind(call_id)
    .fetch_all(cn)
    .await)
}

/// The hash of the arguments recorded as approved for a call (`args_hash` of its
/// `call.approved` event), if that event records one.
pub async fn approved_args_hash(
    db: impl Executor<'_>,
    call_id: &str,
) -> sqlx::Result<Option<String>> {
    let detail: Option<String> = on!(db, |cn| sqlx::query_scalar(
        "SELECT detail FROM audit_events
         WHERE call_id = $1 AND kind = 'call.approved' ORDER BY id DESC LIMIT 1",
    )
    .bind(call_id)
    .fetch_optional(cn)
    .await)?;
    Ok(detail
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .and_then(|d| d.get("args_hash")?.as_str().map(str::to_string)))
}

/// Result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every event's hash matches its content and predecessor.
    Intact { events: u64 },
    /// The first event whose hash does not match.
    Broken { id: i64, reason: String },
}

/// The newest event: its id and hash (what `askfirst audit head` prints, to keep elsewhere).
pub async fn head(db: impl Executor<'_>) -> sqlx::Result<Option<(i64, String)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1"
    )
    .fetch_optional(cn)
    .await)
}

/// Recomputes the whole chain; with `key`, every link must be its HMAC (a database
/// written without the key is re-linked once with [`rekey`]). With `head`, that event must
/// still be there with that hash, so truncation after it shows.
pub async fn verify(
    conn: &mut Conn,
    key: Option<&[u8]>,
    head: Option<(i64, &str)>,
) -> sqlx::Result<Verification> {
    let mut prev = GENESIS.to_string();
    let mut after = 0;
    let mut count = 0;
    let mut head_seen = false;
    loop {
        let batch = since(&mut *conn, after, 1000).await?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            if let Err(reason) = check_link(key, &prev, &e) {
                return Ok(Verification::Broken { id: e.id, reason });
            }
            if let Some((id, hash)) = head {
                if e.id == id {
                    if e.hash != hash {
                        return Ok(Verification::Broken {
                            id,
                            reason: "the event differs from the anchored head".into(),
                        });
                    }
                    head_seen = true;
                }
            }
            prev = e.hash;
            after = e.id;
            count += 1;
        }
    }
    if let Some((id, _)) = head.filter(|_| !head_seen) {
        return Ok(Verification::Broken {
            id,
            reason: "the anchored head event is gone: the log was truncated".into(),
        });
    }
    Ok(Verification::Intact { events: count })
}

/// What the database remembers apart from the chain about its newest events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailCheck {
    /// The chain's last event id (0: empty).
    pub last: i64,
    /// Each independent fact that shows events missing after `last`, in words.
    pub gaps: Vec<String>,
    /// Facts that may show a gap but may also have an innocent cause, in words.
    pub notes: Vec<String>,
}

/// Compares the chain's last event with facts written in the same transactions as events
/// but kept elsewhere: the id sequence (SQLite's `sqlite_sequence` rolls back with its
/// transaction, so it is exact; PostgreSQL's sequence does not, so a rolled-back write can
/// also move it and it is only a note), the positions of the log's readers (notification
/// cursor, insights rollup, webhook outbox), and the newest call, decision and review rows,
/// whose events must be in the chain. Deleting the newest events leaves these behind.
pub async fn missing_tail(conn: &mut Conn) -> sqlx::Result<TailCheck> {
    let last = last_id(&mut *conn).await?;
    let mut check = TailCheck {
        last,
        ..Default::default()
    };
    match crate::store::Backend::of_conn(conn) {
        crate::store::Backend::Sqlite => {
            let seq: Option<i64> = on!(&mut *conn, |cn| sqlx::query_scalar(
                "SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'"
            )
            .fetch_optional(cn)
            .await)?;
            if let Some(seq) = seq.filter(|&seq| seq > last) {
                check.gaps.push(format!(
                    "the id sequence has handed out event {seq}, but the chain ends at {last}"
                ));
            }
        }
        crate::store::Backend::Postgres => {
            let seq: Option<i64> = on!(&mut *conn, |cn| {
                sqlx::query_scalar(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence('audit_events', 'id')::regclass)",
            )
            .fetch_one(cn)
            .await
            })?;
            if let Some(seq) = seq.filter(|&seq| seq > last) {
                check.notes.push(format!(
                    "the id sequence has handed out event {seq}, but the chain ends at {last} \
                     (on PostgreSQL a rolled-back write also uses ids)"
                ));
            }
        }
    }
    let positions: [(&str, &str); 3] = [
        (
            "the notification dispatcher has read up to event",
            "SELECT audit_id FROM notify_cursor WHERE id = 1",
        ),
        (
            "the insights rollup has read up to event",
            "SELECT last_event_id FROM insight_state WHERE id = 1",
        ),
        (
            "a webhook in the outbox reports event",
            "SELECT MAX(event_id) FROM webhooks",
        ),
    ];
    for (what, sql) in positions {
        let position: Option<Option<i64>> = on!(&mut *conn, |cn| sqlx::query_scalar(sql)
            .fetch_optional(cn)
            .await)?;
        if let Some(position) = position.flatten().filter(|&p| p > last) {
            check
                .gaps
                .push(format!("{what} {position}, but the chain ends at {last}"));
        }
    }
    // Rows whose events are written in the same transaction: the newest of each must find
    // its event in the chain.
    let newest: [(&str, &str, &str); 3] = [
        (
            "the newest call",
            "SELECT id, created_at FROM calls ORDER BY id DESC LIMIT 1",
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND kind = 'call.proposed'",
        ),
        (
            "the newest decided call",
            "SELECT id, decided_at FROM calls WHERE decided_at IS NOT NULL
             ORDER BY decided_at DESC, id DESC LIMIT 1",
            // Decided by people or the sweeper (it left `pending`), or at once by policy.
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND at >= $2
             AND (from_status = 'pending' OR (kind = 'call.proposed' AND to_status <> 'pending'))",
        ),
        (
            "the call of the newest review",
            "SELECT call_id, at FROM reviews ORDER BY at DESC, call_id DESC LIMIT 1",
            // Every review is recorded by an event of its own: a transition, an approval
            // that counted, or an edit.
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND at >= $2
             AND kind <> 'call.proposed'",
        ),
    ];
    for (what, row_sql, event_sql) in newest {
        let row: Option<(String, i64)> = on!(&mut *conn, |cn| sqlx::query_as(row_sql)
            .fetch_optional(cn)
            .await)?;
        let Some((call_id, at)) = row else { continue };
        let events: i64 = on!(&mut *conn, |cn| {
            let mut query = sqlx::query_scalar(event_sql).bind(&call_id);
            if event_sql.contains("$2") {
                query = query.bind(at);
            }
            query.fetch_one(cn).await
        })?;
        if events == 0 {
            check.gaps.push(format!(
                "{what} ({call_id}) has no matching event in the chain, which ends at {last}"
            ));
        }
    }
    Ok(check)
}

/// Whether `e` follows an event whose hash is `prev`, and carries the hash it should.
fn check_link(key: Option<&[u8]>, prev: &str, e: &EventRow) -> Result<(), String> {
    if e.prev_hash != prev {
        return Err("prev_hash does not match the previous event".into());
    }
    if link(key, prev, e) != e.hash {
        return Err(if key.is_some() {
            "content does not match its keyed hash".into()
        } else {
            "content does not match its hash (if the log is keyed, pass the key)".into()
        });
    }
    Ok(())
}

/// How far one bounded step of verification got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every event read links up; the last one read (or the starting point, if none).
    Intact { id: i64, hash: String, checked: u64 },
    /// The first event whose hash does not match.
    Broken { id: i64, reason: String },
}

/// Verifies at most `limit` events after event `after` (whose hash is `prev`; `0` and
/// [`GENESIS`] for the start), reading 1,000 at a time: the chain checked piecewise, so a
/// server can keep up with a long log without reading all of it at once.
pub async fn verify_step(
    conn: &mut Conn,
    key: Option<&[u8]>,
    after: i64,
    prev: &str,
    limit: u64,
) -> sqlx::Result<Step> {
    let (mut id, mut prev, mut checked) = (after, prev.to_string(), 0);
    while checked < limit {
        let batch = since(&mut *conn, id, (limit - checked).min(1000) as i64).await?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            if let Err(reason) = check_link(key, &prev, &e) {
                return Ok(Step::Broken { id: e.id, reason });
            }
            (id, prev) = (e.id, e.hash);
            checked += 1;
            // Hashing is CPU work on the runtime's thread: let the requests arriving
            // meanwhile be served between every few hundred events.
            if checked % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(Step::Intact {
        id,
        hash: prev,
        checked,
    })
}

/// Whether event `id`, verified earlier with `hash`, is still there unchanged: present,
/// the same hash, and content that still matches it. One lookup: catches a truncated log
/// and a rewritten newest event without reading the chain again. The reason if not.
pub async fn recheck(
    conn: &mut Conn,
    key: Option<&[u8]>,
    id: i64,
    hash: &str,
) -> sqlx::Result<Option<String>> {
    let row: Option<EventRow> = on!(&mut *conn, |cn| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(cn)
    .await)?;
    Ok(match row {
        None => Some("this event was removed after it was verified".into()),
        Some(e) if e.hash != hash => Some("this event's hash changed after it was verified".into()),
        Some(e) => check_link(key, &e.prev_hash, &e)
            .err()
            .map(|reason| format!("{reason}, after it was verified")),
    })
}

/// The hash `e` should carry after `prev`.
fn link(key: Option<&[u8]>, prev: &str, e: &EventRow) -> String {
    chain_hash(
        key,
        prev,
        e.at,
        &e.actor,
        &e.kind,
        e.agent_id.as_deref(),
        e.call_id.as_deref(),
        e.from_status.as_deref(),
        e.to_status.as_deref(),
        &e.detail,
    )
}

/// Whether the log is linked with `key` — `None`: plainly, without a key (judged by its
/// first event; an empty log is either).
pub async fn linked_with(conn: &mut Conn, key: Option<&[u8]>) -> sqlx::Result<bool> {
    Ok(match since(&mut *conn, 0, 1).await?.first() {
        Some(first) => link(key, GENESIS, first) == first.hash,
        None => true,
    })
}

/// Re-links an intact plain chain with `key` (once, when a key is first put in use);
/// returns how many events were re-linked. Refused if the plain chain is broken. Run it in
/// a transaction: it lifts the log's no-update trigger and puts it back.
pub async fn rekey(conn: &mut Conn, key: &[u8]) -> sqlx::Result<Result<u64, String>> {
    if let Verification::Broken { id, reason } = verify(&mut *conn, None, None).await? {
        return Ok(Err(format!(
            "the plain chain is broken at event {id} ({reason}): not re-linking it"
        )));
    }
    // The log refuses updates; re-linking lifts that for this transaction only.
    let postgres = super::Backend::of_conn(conn) == super::Backend::Postgres;
    on!(&mut *conn, |cn| sqlx::query(if postgres {
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"
    } else {
        "DROP TRIGGER audit_events_no_update"
    })
    .execute(cn)
    .await
    .map(super::Done::from))?;
    let mut prev = GENESIS.to_string();
    let mut after = 0;
    let mut count = 0;
    loop {
        let batch = since(&mut *conn, after, 1000).await?;
        if batch.is_empty() {
            on!(&mut *conn, |cn| sqlx::query(if postgres {
                "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"
            } else {
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            })
            .execute(cn)
            .await
            .map(super::Done::from))?;
            return Ok(Ok(count));
        }
        for e in batch {
            let hash = link(Some(key), &prev, &e);
            on!(&mut *conn, |cn| sqlx::query(
                "UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE id = $3"
            )
            .bind(&prev)
            .bind(&hash)
            .bind(e.id)
            .execute(cn)
            .await
            .map(super::Done::from))?;
            prev = hash;
            after = e.id;
            count += 1;
        }
    }
}

/// Events of the given kinds after `after_id`, oldest first (for the notification
/// dispatcher), and the newest id read up to — every event is read when `limit` is not hit.
pub async fn of_kinds_after(
    db: &crate::store::Pool,
    kinds: &[&str],
    after_id: i64,
    limit: i64,
) -> sqlx::Result<(Vec<EventRow>, i64)> {
    let newest = last_id(db).await?;
    if newest <= after_id || kinds.is_empty() {
        return Ok((Vec::new(), newest.max(after_id)));
    }
    let sql = super::numbered(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE id > ? AND id <= ? AND kind IN ({})
         ORDER BY id LIMIT ?",
        super::marks(kinds.len())
    ));
    let rows: Vec<EventRow> = on!(db, |cn| {
        let mut query = sqlx::query_as(&sql).bind(after_id).bind(newest);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query.bind(limit).fetch_all(cn).await
    })?;
    let seen = match rows.last() {
        Some(last) if rows.len() as i64 == limit => last.id,
        _ => newest,
    };
    Ok((rows, seen))
}

#[cfg(test)]
mod tests {
    use super::EventRow;

    #[test]
    fn which_changes_an_inbox_shows() {
        let cases = [
            ("call.proposed", None, Some("allowed"), false),
            ("call.proposed", None, Some("denied"), false),
            ("call.proposed", None, Some("pending"), true),
            ("call.approval_recorded", None, None, true),
            ("call.candidate_created", None, None, true),
            ("call.approved", Some("pending"), Some("approved"), true),
            ("call.expired", Some("pending"), Some("expired"), true),
            ("call.executed", Some("approved"), Some("executed"), false),
            ("call.stale", Some("approved"), Some("stale"), false),
            ("policy.changed", None, None, false),
        ];
        for (kind, from, to, expected) in cases {
            let row = EventRow {
                id: 1,
                at: 0,
                actor: "a".into(),
                kind: kind.into(),
                agent_id: None,
                call_id: Some("c".into()),
                from_status: from.map(Into::into),
                to_status: to.map(Into::into),
                detail: "{}".into(),
                prev_hash: String::new(),
                hash: String::new(),
            };
            assert_eq!(row.matters_to_inbox(), expected, "{kind} {from:?} → {to:?}");
        }
    }
}
