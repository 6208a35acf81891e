//! New calls and their audit events, written together: the gate's hot path. Each
//! statement is a round trip to the SQLite connection's own thread, and on a machine at
//! rest every round trip wakes two sleeping threads; so on SQLite, when the chain's last
//! hash is already known, one batch costs one round trip instead of five.

use super::{audit, calls, Conn};

/// What the fast path did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Committed; the chain's new last hash.
    Committed(String),
    /// The chain had moved on (another writer appended since `head` was read): nothing
    /// was written; write the batch the ordinary way.
    Stale,
}

/// Whether [`sqlite_fast`] takes a batch of `n` calls with one event each.
pub fn fits(n: usize) -> bool {
    n <= calls::INSERT_CHUNK.min(audit::CHUNK)
}

/// Writes `new` calls and their `events` (one each, linked onto `head`, the hash the
/// chain ended with when this writer last wrote) in one SQLite write transaction, sent as
/// one batch of statements: `BEGIN IMMEDIATE`, both INSERTs — each guarded by the chain
/// still ending at `head` — and `COMMIT`. When the chain has moved on, nothing is
/// inserted ([`Appended::Stale`]). On an error the transaction is rolled back.
pub async fn sqlite_fast(
    conn: &mut Conn,
    new: &[&calls::NewCall],
    events: &[audit::OwnedEvent],
    head: &str,
) -> sqlx::Result<Appended> {
    debug_assert!(fits(new.len()) && fits(events.len()) && !events.is_empty());
    let linked = audit::link_all(events, head);
    // Reading the table it inserts into, SQLite runs each SELECT to its end before
    // inserting: the guard sees the chain as it was, and the rows keep their order.
    let guard = format!(
        "WHERE COALESCE((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), '{}') = ?",
        audit::GENESIS
    );
    let sql = format!(
        "BEGIN IMMEDIATE; {} {guard}; {} {guard} RETURNING id; COMMIT",
        super::sql::insert_select(&calls::insert_sql(new.len())),
        super::sql::insert_select(&audit::insert_sql(linked.len())),
    );
    // Anonymous `?` marks, bound in order across the statements (SQLite would look `$n`
    // names up one by one: quadratic in the thousands of values of a batch). The events
    // written come back as rows (a row count would not do: SQLite reports the last
    // INSERT's count again for `COMMIT`).
    let rows = on!(&mut *conn, |cn| {
        let mut q = sqlx::query(&sql);
        for c in new {
            q = calls::bind_new!(q, c);
        }
        q = q.bind(head);
        for l in &linked {
            q = audit::bind_linked!(q, l);
        }
        q.bind(head).fetch_all(cn).await.map(|rows| rows.len())
    });
    let written = match rows {
        Ok(n) => n,
        Err(e) => {
            // Whichever statement failed, no transaction is left open.
            let _ = super::tx::rollback(conn).await;
            return Err(e);
        }
    };
    if written == 0 {
        return Ok(Appended::Stale);
    }
    if written != linked.len() {
        // Cannot happen: the INSERT either took every row or none.
        return Err(sqlx::Error::Protocol(format!(
            "wrote {written} of {} audit events",
            linked.len()
        )));
    }
    Ok(Appended::Committed(audit::last_hash(&linked, head)))
}
