//! SQL for the insights: hourly rollups, call patterns, dismissed suggestions, card views
//! and the facts the rubber-stamp watch reads.

use crate::domain::insights::{Counts, BUCKETS};
use crate::store::{Conn, Executor};
use sqlx::FromRow;

/// Most distinct patterns counted per tool; further values fold into one pattern.
pub const MAX_PATTERNS_PER_TOOL: i64 = 20;

/// How far the rollups have read the audit log.
pub async fn last_event(db: impl Executor<'_>) -> sqlx::Result<i64> {
    on!(db, |cn| sqlx::query_scalar(
        "SELECT last_event_id FROM insight_state WHERE id = 1"
    )
    .fetch_one(cn)
    .await)
}

/// Moves the read position from `from` to `to`; false when someone else moved it first.
pub async fn advance(conn: &mut Conn, from: i64, to: i64) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| sqlx::query(
        "UPDATE insight_state SET last_event_id = $1 WHERE id = 1 AND last_event_id = $2",
    )
    .bind(to)
    .bind(from)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(done.rows_affected() == 1)
}

/// What the rollups need of a call.
#[derive(Debug, Clone, FromRow)]
pub struct CallBrief {
    pub id: String,
    pub agent_id: String,
    pub tool: String,
    pub args: String,
    pub rule: Option<String>,
    pub created_at: i64,
}

/// The calls with these ids (unknown ids are left out).
pub async fn call_briefs(db: impl Executor<'_>, ids: &[String]) -> sqlx::Result<Vec<CallBrief>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = super::numbered(&format!(
        "SELECT id, agent_id, tool, args, rule, created_at FROM calls WHERE id IN ({})",
        super::marks(ids.len())
    ));
    on!(db, |cn| {
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(id);
        }
        q.fetch_all(cn).await
    })
}

/// The stored name of a pattern of `tool`: itself when known or when the tool has room
/// for another, else the tool's "other values" pattern. Registers new patterns.
pub async fn resolve_pattern(
    conn: &mut Conn,
    tool: &str,
    pattern: &str,
    rule: Option<&str>,
    args: &str,
) -> sqlx::Result<String> {
    let known: Option<String> = on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT pattern FROM insight_patterns WHERE tool = $1 AND pattern = $2"
    )
    .bind(tool)
    .bind(pattern)
    .fetch_optional(cn)
    .await)?;
    if let Some(known) = known {
        if rule.is_some() {
            on!(&mut *conn, |cn| sqlx::query(
                "UPDATE insight_patterns SET rule = $1 WHERE tool = $2 AND pattern = $3"
            )
            .bind(rule)
            .bind(tool)
            .bind(pattern)
            .execute(cn)
            .await
            .map(super::Done::from))?;
        }
        return Ok(known);
    }
    let count: i64 = on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM insight_patterns WHERE tool = $1"
    )
    .bind(tool)
    .fetch_one(cn)
    .await)?;
    let (name, args) = if count < MAX_PATTERNS_PER_TOOL {
        (pattern.to_string(), args)
    } else {
        (
            format!("{} (other values)", crate::domain::inbox::visible(tool)),
            "{}",
        )
    };
    on!(&mut *conn, |cn| sqlx::query(
        "INSERT INTO insight_patterns (tool, pattern, rule, args) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tool, pattern) DO NOTHING",
    )
    .bind(tool)
    .bind(&name)
    .bind(rule)
    .bind(args)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(name)
}

/// Notes a decision by people on a pattern: an approval extends its run of approvals, a
/// denial ends it.
pub async fn note_decision(
    conn: &mut Conn,
    tool: &str,
    pattern: &str,
    approved: bool,
) -> sqlx::Result<()> {
    on!(conn, |cn| sqlx::query(
        "UPDATE insight_patterns SET approvals_in_row =
             CASE WHEN $1 THEN approvals_in_row + 1 ELSE 0 END
         WHERE tool = $2 AND pattern = $3",
    )
    .bind(approved)
    .bind(tool)
    .bind(pattern)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

const COUNT_COLUMNS: [&str; 12] = [
    "proposed",
    "allowed",
    "denied_policy",
    "gated",
    "bypassed",
    "approved",
    "denied_people",
    "expired",
    "cancelled",
    "stale",
    "executed",
    "flagged",
];

fn count_values(c: &Counts) -> [i64; 12] {
    [
        c.proposed,
        c.allowed,
        c.denied_policy,
        c.gated,
        c.bypassed,
        c.approved,
        c.denied_people,
        c.expired,
        c.cancelled,
        c.stale,
        c.executed,
        c.flagged,
    ]
}

fn bucket_columns() -> Vec<String> {
    (0..BUCKETS).map(|i| format!("d{i}")).collect()
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Adds `counts` to one hour's row of an agent, tool and pattern, and to its day's row.
pub async fn add(
    conn: &mut Conn,
    hour: i64,
    agent_id: &str,
    tool: &str,
    pattern: &str,
    counts: &Counts,
) -> sqlx::Result<()> {
    let columns: Vec<String> = COUNT_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(bucket_columns())
        .collect();
    let marks = super::marks(columns.len());
    let day = hour.div_euclid(DAY_MS) * DAY_MS;
    for (table, key, at) in [
        ("insight_rollups", "hour", hour),
        ("insight_daily", "day", day),
    ] {
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        let sql = super::numbered(&format!(
            "INSERT INTO {table} ({key}, agent_id, tool, pattern, {}) VALUES (?, ?, ?, ?, {marks})
             ON CONFLICT ({key}, agent_id, tool, pattern) DO UPDATE SET {}",
            columns.join(", "),
            sets.join(", ")
        ));
        on!(&mut *conn, |cn| {
            let mut q = sqlx::query(&sql)
                .bind(at)
                .bind(agent_id)
                .bind(tool)
                .bind(pattern);
            for v in count_values(counts).into_iter().chain(counts.buckets) {
                q = q.bind(v);
            }
            q.execute(cn).await.map(super::Done::from)
        })?;
    }
    Ok(())
}

/// The rows covering `[from, to)` (hour-aligned): whole UTC days from the daily table, the
/// ragged ends from the hourly one. `columns` are selected from both under `at` as the
/// row's start; its binds come back in order.
fn covering(columns: &str, from: i64, to: i64, days: bool) -> (String, [i64; 6]) {
    let first_day = (from + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
    let last_day = to.div_euclid(DAY_MS) * DAY_MS;
    let (d0, d1) = if days && first_day < last_day {
        (first_day, last_day)
    } else {
        (to, to) // no whole day inside: all hourly
    };
    // Three single ranges (not one `OR`), so each reads its slice of the primary key.
    let sql = format!(
        "SELECT hour AS at, {columns} FROM insight_rollups WHERE hour >= $1 AND hour < $2
         UNION ALL
         SELECT hour AS at, {columns} FROM insight_rollups WHERE hour >= $3 AND hour < $4
         UNION ALL
         SELECT day AS at, {columns} FROM insight_daily WHERE day >= $5 AND day < $6"
    );
    (sql, [from, d0.min(to), d1.max(from), to, d0, d1])
}

fn sums() -> String {
    COUNT_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(bucket_columns())
        // PostgreSQL sums integers as NUMERIC: cast back to the integers they are.
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts_from<R: sqlx::Row>(row: &R, first: usize) -> sqlx::Result<Counts>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let v = |i: usize| -> sqlx::Result<i64> {
        Ok(row.try_get::<Option<i64>, _>(first + i)?.unwrap_or(0))
    };
    let mut buckets = [0; BUCKETS];
    for (i, b) in buckets.iter_mut().enumerate() {
        *b = v(COUNT_COLUMNS.len() + i)?;
    }
    Ok(Counts {
        proposed: v(0)?,
        allowed: v(1)?,
        denied_policy: v(2)?,
        gated: v(3)?,
        bypassed: v(4)?,
        approved: v(5)?,
        denied_people: v(6)?,
        expired: v(7)?,
        cancelled: v(8)?,
        stale: v(9)?,
        executed: v(10)?,
        flagged: v(11)?,
        buckets,
    })
}

/// One agent's counts for one tool and pattern over a time range.
#[derive(Debug, Clone)]
pub struct GroupCounts {
    pub agent: String,
    pub tool: String,
    pub pattern: String,
    pub counts: Counts,
}

fn columns() -> String {
    COUNT_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(bucket_columns())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts per agent, tool and pattern in `[from, to)` (hour-aligned).
pub async fn groups(db: impl Executor<'_>, from: i64, to: i64) -> sqlx::Result<Vec<GroupCounts>> {
    use sqlx::Row;
    let (rows_sql, binds) = covering(
        &format!("agent_id, tool, pattern, {}", columns()),
        from,
        to,
        true,
    );
    let sql = format!(
        "SELECT a.name, g.tool, g.pattern, g.* FROM (
             SELECT agent_id, tool, pattern, {} FROM ({rows_sql}) AS sub GROUP BY agent_id, tool, pattern
         ) g JOIN agents a ON a.id = g.agent_id",
        sums()
    );
    on!(db, |cn| {
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(cn).await?;
        rows.iter()
            .map(|row| {
                Ok(GroupCounts {
                    agent: row.try_get(0)?,
                    tool: row.try_get(1)?,
                    pattern: row.try_get(2)?,
                    // g.* repeats agent_id, tool, pattern before the sums.
                    counts: counts_from(row, 6)?,
                })
            })
            .collect()
    })
}

/// Counts per row start in `[from, to)`, oldest first: with `days`, hours at the ragged
/// ends and whole UTC days between; without, every hour.
pub async fn series(
    db: impl Executor<'_>,
    from: i64,
    to: i64,
    days: bool,
) -> sqlx::Result<Vec<(i64, Counts)>> {
    use sqlx::Row;
    let (rows_sql, binds) = covering(&columns(), from, to, days);
    let sql = format!(
        "SELECT at, {} FROM ({rows_sql}) AS sub GROUP BY at ORDER BY at",
        sums()
    );
    on!(db, |cn| {
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(cn).await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, counts_from(row, 1)?)))
            .collect()
    })
}

/// A known call pattern.
#[derive(Debug, Clone, FromRow)]
pub struct PatternRow {
    pub tool: String,
    pub pattern: String,
    pub rule: Option<String>,
    pub args: String,
    pub approvals_in_row: i64,
}

/// Every known pattern (at most 20 per tool).
pub async fn patterns(db: impl Executor<'_>) -> sqlx::Result<Vec<PatternRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT tool, pattern, rule, args, approvals_in_row FROM insight_patterns
         ORDER BY tool, pattern LIMIT 20000",
    )
    .fetch_all(cn)
    .await)
}

/// One pattern.
pub async fn pattern(
    db: impl Executor<'_>,
    tool: &str,
    pattern: &str,
) -> sqlx::Result<Option<PatternRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT tool, pattern, rule, args, approvals_in_row FROM insight_patterns
         WHERE tool = $1 AND pattern = $2",
    )
    .bind(tool)
    .bind(pattern)
    .fetch_optional(cn)
    .await)
}

/// A denial by a person with its feedback, and what the call was.
#[derive(Debug, Clone, FromRow)]
pub struct Denial {
    pub tool: String,
    pub args: String,
    pub rule: Option<String>,
    pub feedback: String,
}

/// The newest denials with feedback made at or after `since` (ms), at most `limit`.
pub async fn denials_since(
    db: impl Executor<'_>,
    since: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<Denial>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT c.tool, c.args, c.rule, r.feedback FROM reviews r JOIN calls c ON c.id = r.call_id
         WHERE r.decision = 'deny' AND r.at >= $1 AND r.at < $2 AND r.feedback IS NOT NULL
         ORDER BY r.at DESC LIMIT $3",
    )
    .bind(since)
    .bind(until)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// The latest dismissal of a suggestion: (decisions, denials) it was dismissed with.
#[derive(Debug, Clone, FromRow)]
pub struct Dismissal {
    pub kind: String,
    pub tool: String,
    pub pattern: String,
    pub decisions: i64,
    pub denials: i64,
    pub reason: String,
    pub username: String,
    pub at: i64,
}

/// The latest dismissal of each suggestion.
pub async fn dismissals(db: impl Executor<'_>) -> sqlx::Result<Vec<Dismissal>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT d.kind, d.tool, d.pattern, d.decisions, d.denials, d.reason, d.username, d.at
         FROM insight_dismissals d
         WHERE d.id = (SELECT MAX(e.id) FROM insight_dismissals e
                       WHERE e.kind = d.kind AND e.tool = d.tool AND e.pattern = d.pattern)
         ORDER BY d.id DESC LIMIT 5000",
    )
    .fetch_all(cn)
    .await)
}

/// Records a dismissal.
#[allow(clippy::too_many_arguments)]
pub async fn dismiss(
    conn: &mut Conn,
    kind: &str,
    tool: &str,
    pattern: &str,
    evidence: (i64, i64),
    reason: &str,
    user: (&str, &str),
    at: i64,
) -> sqlx::Result<()> {
    on!(conn, |cn| sqlx::query(
        "INSERT INTO insight_dismissals (kind, tool, pattern, decisions, denials, reason,
             user_id, username, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(kind)
    .bind(tool)
    .bind(pattern)
    .bind(evidence.0)
    .bind(evidence.1)
    .bind(reason)
    .bind(user.0)
    .bind(user.1)
    .bind(at)
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// Notes that a person opened a call's card (`expanded`: its full arguments). Only the
/// first opening and the first expansion are kept.
pub async fn card_seen(
    conn: &mut Conn,
    call_id: &str,
    user_id: &str,
    expanded: bool,
    at: i64,
) -> sqlx::Result<()> {
    on!(conn, |cn| sqlx::query(
        "INSERT INTO card_views (call_id, user_id, opened_at, expanded_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (call_id, user_id) DO UPDATE SET
             expanded_at = COALESCE(card_views.expanded_at, excluded.expanded_at)",
    )
    .bind(call_id)
    .bind(user_id)
    .bind(at)
    .bind(expanded.then_some(at))
    .execute(cn)
    .await
    .map(super::Done::from))?;
    Ok(())
}

/// One review with when its reviewer opened the card, for the rubber-stamp watch.
#[derive(Debug, Clone, FromRow)]
pub struct ReviewFactRow {
    pub user_id: String,
    pub username: String,
    pub decision: String,
    pub at: i64,
    pub opened_at: Option<i64>,
    pub expanded_at: Option<i64>,
    pub risk: String,
}

/// Reviews of calls made in `[since, until)`, by reviewer and time, at most `limit`.
pub async fn review_facts(
    db: impl Executor<'_>,
    since: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<ReviewFactRow>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT r.user_id, r.username, r.decision, r.at, v.opened_at, v.expanded_at, c.risk
         FROM reviews r JOIN calls c ON c.id = r.call_id
         LEFT JOIN card_views v ON v.call_id = r.call_id AND v.user_id = r.user_id
         WHERE r.at >= $1 AND r.at < $2
         ORDER BY r.user_id, r.at LIMIT $3",
    )
    .bind(since)
    .bind(until)
    .bind(limit)
    .fetch_all(cn)
    .await)
}

/// Flags `user`'s concern on a call that ran; false when they flagged it already.
pub async fn flag(
    conn: &mut Conn,
    call_id: &str,
    user: (&str, &str),
    reason: &str,
    at: i64,
) -> sqlx::Result<bool> {
    let done = on!(conn, |cn| {
        sqlx::query(
        "INSERT INTO call_flags (call_id, user_id, username, reason, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (call_id, user_id) DO NOTHING",
    )
    .bind(call_id)
    .bind(user.0)
    .bind(user.1)
    .bind(reason)
    .bind(at)
    .execute(cn)
    .await.map(super::Done::from)
    })?;
    Ok(done.rows_affected() == 1)
}

/// A call's flags: (who, why, when in ms), oldest first.
pub async fn flags_of(
    db: impl Executor<'_>,
    call_id: &str,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT username, reason, at FROM call_flags WHERE call_id = $1 ORDER BY at"
    )
    .bind(call_id)
    .fetch_all(cn)
    .await)
}

/// The newest flags made in `[since, until)`, with what the call was, at most `limit`.
pub async fn flags_since(
    db: impl Executor<'_>,
    since: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<Denial>> {
    on!(db, |cn| sqlx::query_as(
        "SELECT c.tool, c.args, c.rule, f.reason AS feedback
         FROM call_flags f JOIN calls c ON c.id = f.call_id
         WHERE f.at >= $1 AND f.at < $2 ORDER BY f.at DESC LIMIT $3",
    )
    .bind(since)
    .bind(until)
    .bind(limit)
    .fetch_all(cn)
    .await)
}
