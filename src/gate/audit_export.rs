//! Exports of the audit log as CSV or JSON Lines: the one place rows become bytes, used by
//! `GET /audit/export.{csv,jsonl}` and `askfirst audit export` alike.
//!
//! An export is a stream of chunks: each reads at most [`CHUNK`] events (its own short read),
//! oldest first, up to the newest event when the export began, and renders them. A million
//! events never sit in memory, and events appended during a download are not in it.
//!
//! CSV cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a
//! tab or a carriage return) get a leading `'`, so an agent's text cannot become a formula
//! in whoever opens the file. The JSON Lines export carries values unchanged.

use super::Gate;
use crate::domain::audit_view::{AuditFilter, ExportFormat};
use crate::domain::AppError;
use crate::store::{audit, audit_query, audit_query::ListedEvent, calls::rfc3339};
use futures::Stream;
use std::borrow::Cow;

/// Events read per chunk.
pub const CHUNK: i64 = 1_000;

/// The columns (and JSON fields), in order.
pub const COLUMNS: [&str; 10] = [
    "id",
    "at",
    "actor",
    "kind",
    "agent",
    "call_id",
    "from_status",
    "to_status",
    "detail",
    "hash",
];

/// A CSV cell made inert for spreadsheets (see the module documentation).
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// Renders events in `format`; with `header`, the CSV header row first.
pub fn render(
    format: ExportFormat,
    rows: &[ListedEvent],
    header: bool,
) -> Result<Vec<u8>, AppError> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "rendering an audit export failed");
        AppError::Internal("internal error; see the server log".into())
    };
    match format {
        ExportFormat::Csv => {
            let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 256));
            if header {
                out.write_record(COLUMNS).map_err(|e| internal(&e))?;
            }
            for r in rows {
                let e = &r.event;
                let agent = r.agent_name.as_deref().or(e.agent_id.as_deref());
                let fields = [
                    Some(e.id.to_string()),
                    Some(rfc3339(e.at)),
                    Some(e.actor.clone()),
                    Some(e.kind.clone()),
                    agent.map(str::to_string),
                    e.call_id.clone(),
                    e.from_status.clone(),
                    e.to_status.clone(),
                    Some(e.detail.clone()),
                    Some(e.hash.clone()),
                ];
                out.write_record(
                    fields
                        .iter()
                        .map(|f| csv_cell(f.as_deref().unwrap_or("")).into_owned()),
                )
                .map_err(|e| internal(&e))?;
            }
            out.into_inner().map_err(|e| internal(&e))
        }
        ExportFormat::Jsonl => {
            let mut out = Vec::with_capacity(rows.len() * 320);
            for r in rows {
                let e = &r.event;
                // The stored detail is canonical JSON; anything else is carried as a string.
                let detail = serde_json::from_str::<serde_json::Value>(&e.detail)
                    .unwrap_or_else(|_| serde_json::Value::String(e.detail.clone()));
                let line = serde_json::json!({
                    "id": e.id,
                    "at": rfc3339(e.at),
                    "actor": e.actor,
                    "kind": e.kind,
                    "agent": r.agent_name.as_deref().or(e.agent_id.as_deref()),
                    "call_id": e.call_id,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "detail": detail,
                    "hash": e.hash,
                });
                serde_json::to_writer(&mut out, &line).map_err(|e| internal(&e))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

impl Gate {
    /// The events matching `filter` as a stream of rendered chunks, oldest first, up to the
    /// newest event now. An error ends the stream (a download then stops short rather than
    /// look complete). At most two run at once; a third is `503 busy` with `Retry-After`.
    pub async fn export_audit(
        &self,
        filter: AuditFilter,
        format: ExportFormat,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static, AppError> {
        // Two downloads at once, each holding its place until it ends: a third is told to
        // come back rather than slow every agent's proposals down.
        let place = self
            .exports
            .clone()
            .try_acquire_owned()
            .map_err(|_| AppError::Busy(10))?;
        let up_to = audit::last_id(&self.pool).await?;
        let pool = self.pool.clone();
        Ok(futures::stream::try_unfold(
            (0_i64, true, false),
            move |(after, first, done)| {
                let (pool, filter) = (pool.clone(), filter.clone());
                let _place = &place;
                async move {
                    if done {
                        return Ok(None);
                    }
                    let rows = audit_query::chunk(&pool, &filter, after, up_to, CHUNK).await?;
                    let last = rows.last().map_or(up_to, |r| r.event.id);
                    let done = (rows.len() as i64) < CHUNK;
                    let bytes = render(format, &rows, first && format == ExportFormat::Csv)?;
                    Ok(Some((bytes, (last, false, done))))
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::EventRow;

    #[test]
    fn formula_cells_are_made_inert() {
        let cases = [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("user:ada", "user:ada"),
            ("{\"a\":\"=1\"}", "{\"a\":\"=1\"}"),
            ("", ""),
            ("a=b", "a=b"),
        ];
        for (input, want) in cases {
            assert_eq!(csv_cell(input), want, "{input:?}");
        }
    }

    fn row(id: i64, actor: &str, detail: &str) -> ListedEvent {
        ListedEvent {
            event: EventRow {
                id,
                at: 1_767_258_000_000,
                actor: actor.into(),
                kind: "call.proposed".into(),
                agent_id: Some("agent-id".into()),
                call_id: Some("c1".into()),
                from_status: None,
                to_status: Some("pending".into()),
                detail: detail.into(),
                prev_hash: "p".into(),
                hash: "h".into(),
            },
            agent_name: Some("bot".into()),
        }
    }

    #[test]
    fn csv_quotes_and_guards_every_cell() {
        let rows = [
            row(1, "agent:bot", r#"{"reason":"a, \"b\"\nc"}"#),
            row(2, "=cmd", "{}"),
        ];
        let out = String::from_utf8(render(ExportFormat::Csv, &rows, true).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        assert_eq!(reader.headers().unwrap(), COLUMNS.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(&records[0][1], "2026-01-01T09:00:00.000Z");
        assert_eq!(&records[0][4], "bot");
        assert_eq!(&records[0][6], "");
        assert_eq!(&records[0][8], r#"{"reason":"a, \"b\"\nc"}"#);
        assert_eq!(&records[1][2], "'=cmd");
        let without = render(ExportFormat::Csv, &rows[..1], false).unwrap();
        assert!(!String::from_utf8(without).unwrap().starts_with("id,"));
    }

    #[test]
    fn json_lines_carry_detail_as_json() {
        let rows = [row(1, "=cmd", r#"{"n":1}"#), row(2, "cli", "not json")];
        let out = String::from_utf8(render(ExportFormat::Jsonl, &rows, true).unwrap()).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["detail"]["n"], 1);
        assert_eq!(
            lines[0]["actor"], "=cmd",
            "JSON is not a spreadsheet: unchanged"
        );
        assert_eq!(lines[0]["from_status"], serde_json::Value::Null);
        assert_eq!(lines[1]["detail"], "not json");
        for line in &lines {
            let mut keys: Vec<&str> = line
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort();
            let mut want = COLUMNS.to_vec();
            want.sort();
            assert_eq!(keys, want);
        }
    }
}
