//! SQL for reading the audit log by filter: the audit page (newest first, keyset on `id`)
//! and the exports (oldest first, in chunks, each its own short read).

use super::audit::EventRow;
use crate::domain::audit_view::{AuditFilter, AuditPage, KindFilter};
use crate::store::Executor;
use sqlx::FromRow;

/// An event with the name of the agent it is about.
#[derive(Debug, Clone, FromRow)]
pub struct ListedEvent {
    #[sqlx(flatten)]
    pub event: EventRow,
    pub agent_name: Option<String>,
}

const SELECT: &str = "SELECT e.id, e.at, e.actor, e.kind, e.agent_id, e.call_id, e.from_status,
    e.to_status, e.detail, e.prev_hash, e.hash, a.name AS agent_name
    FROM audit_events e LEFT JOIN agents a ON a.id = e.agent_id";

/// A bound value of a filter.
enum Bind {
    Text(String),
    Int(i64),
}

/// `WHERE …` for `filter`, with its values.
fn filter_sql(filter: &AuditFilter) -> (String, Vec<Bind>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut binds = Vec::new();
    match &filter.kind {
        Some(KindFilter::Exact(kind)) => {
            sql += " AND e.kind = ?";
            binds.push(Bind::Text(kind.clone()));
        }
        Some(KindFilter::Prefix(prefix)) => {
            // A range, not LIKE (whose `_` and `%` would be wildcards). Comparing `kind || ''`
            // rather than the column keeps SQLite off the kind index: a prefix such as `call.` matches most of the log, and
            // sorting that by id costs more than walking the primary key backwards.
            let mut upper = prefix.clone();
            let last = upper.pop().map_or('\u{10FFFF}', |c| {
                char::from_u32(c as u32 + 1).unwrap_or('\u{10FFFF}')
            });
            upper.push(last);
            sql += " AND e.kind || '' >= ? AND e.kind || '' < ?";
            binds.push(Bind::Text(prefix.clone()));
            binds.push(Bind::Text(upper));
        }
        None => {}
    }
    if let Some(actor) = &filter.actor {
        sql += " AND e.actor = ?";
        binds.push(Bind::Text(actor.clone()));
    }
    if let Some(agent) = &filter.agent {
        sql += " AND e.agent_id = (SELECT id FROM agents WHERE name = ?)";
        binds.push(Bind::Text(agent.clone()));
    }
    if let Some(call) = &filter.call {
        sql += " AND e.call_id = ?";
        binds.push(Bind::Text(call.clone()));
    }
    if let Some(from) = filter.from {
        sql += " AND e.at >= ?";
        binds.push(Bind::Int(from));
    }
    if let Some(to) = filter.to {
        sql += " AND e.at < ?";
        binds.push(Bind::Int(to));
    }
    (sql, binds)
}

async fn fetch(
    db: impl Executor<'_>,
    sql: &str,
    binds: Vec<Bind>,
    tail: &[i64],
) -> sqlx::Result<Vec<ListedEvent>> {
    let sql = super::numbered(sql);
    on!(db, |cn| {
        let mut q = sqlx::query_as(&sql);
        for b in binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        for i in tail {
            q = q.bind(*i);
        }
        q.fetch_all(cn).await
    })
}

/// At most `limit` events matching `filter`, newest first, from where `page` starts.
pub async fn page(
    db: impl Executor<'_>,
    filter: &AuditFilter,
    page: AuditPage,
    limit: i64,
) -> sqlx::Result<Vec<ListedEvent>> {
    let (mut clause, binds) = filter_sql(filter);
    let mut tail = Vec::new();
    let order = match page {
        AuditPage::Newest => "DESC",
        AuditPage::Before(id) => {
            clause += " AND e.id < ?";
            tail.push(id);
            "DESC"
        }
        AuditPage::After(id) => {
            clause += " AND e.id > ?";
            tail.push(id);
            "ASC"
        }
    };
    tail.push(limit);
    let sql = format!("{SELECT}{clause} ORDER BY e.id {order} LIMIT ?");
    let mut rows = fetch(db, &sql, binds, &tail).await?;
    if matches!(page, AuditPage::After(_)) {
        rows.reverse();
    }
    Ok(rows)
}

/// At most `limit` events matching `filter` with `after < id <= up_to`, oldest first: one
/// chunk of an export (each chunk is its own short read, so a long download never holds a
/// read transaction open and never keeps the WAL from being checkpointed).
pub async fn chunk(
    db: impl Executor<'_>,
    filter: &AuditFilter,
    after: i64,
    up_to: i64,
    limit: i64,
) -> sqlx::Result<Vec<ListedEvent>> {
    let (clause, binds) = filter_sql(filter);
    let sql = format!("{SELECT}{clause} AND e.id > ? AND e.id <= ? ORDER BY e.id LIMIT ?");
    fetch(db, &sql, binds, &[after, up_to, limit]).await
}

/// The kinds of event that change who may sign something off.
pub const ACCOUNT_KINDS: [&str; 6] = [
    "user.created",
    "user.role_changed",
    "user.enabled",
    "user.disabled",
    "user.password_reset",
    "user.password_changed",
];

/// Changes to people's accounts after `after_ms`, oldest first (at most `limit`): what a
/// sign-off request lists as having touched its reviewers since it was filed.
pub async fn account_changes_since(
    db: impl Executor<'_>,
    after_ms: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT id, at, actor, kind, agent_id, call_id, from_status, to_status, detail,
                prev_hash, hash
         FROM audit_events
         WHERE kind IN ($1, $2, $3, $4, $5, $6) AND at > $7
         ORDER BY id LIMIT $8",
    )
    .bind(ACCOUNT_KINDS[0])
    .bind(ACCOUNT_KINDS[1])
    .bind(ACCOUNT_KINDS[2])
    .bind(ACCOUNT_KINDS[3])
    .bind(ACCOUNT_KINDS[4])
    .bind(ACCOUNT_KINDS[5])
    .bind(after_ms)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// For each actor with events of `kind`, when (ms) their latest one happened.
pub async fn latest_by_actor(
    db: impl Executor<'_>,
    kind: &str,
) -> sqlx::Result<Vec<(String, i64)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT actor, MAX(at) FROM audit_events WHERE kind = $1 GROUP BY actor"
    )
    .bind(kind)
    .fetch_all(cn)
    .await)
}
