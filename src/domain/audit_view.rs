//! The audit page and exports: which events a filter selects, which page of them, and
//! what one event looks like to a person. Parsing lives here so the page, the exports and
//! the CLI refuse the same input with the same message.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Events per page.
pub const PAGE_SIZE: i64 = 50;

/// Characters of an event's detail JSON the page shows (the export has all of it).
pub const DETAIL_CHARS: usize = 240;

/// Kinds the filter offers (free text is accepted too; a value ending in `.` is a prefix).
pub const KNOWN_KINDS: &[&str] = &[
    "call.",
    "call.proposed",
    "call.approval_recorded",
    "call.candidate_created",
    "call.approved",
    "call.denied",
    "call.expired",
    "call.cancelled",
    "call.executed",
    "call.stale",
    "bypass.",
    "bypass.requested",
    "bypass.reviewed",
    "bypass.activated",
    "bypass.denied",
    "bypass.expired",
    "bypass.used",
    "bypass.revoked",
    "bypass.ended",
    "policy.",
    "policy.changed",
    "policy.change.proposed",
    "policy.change.reviewed",
    "policy.change.applied",
    "policy.change.denied",
    "policy.change.expired",
    "policy.change.voided",
    "policy.change.withdrawn",
    "agent.",
    "user.",
    "settings.changed",
    "receipts.key_rotated",
];

/// How the `kind` filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KindFilter {
    /// Exactly this kind.
    Exact(String),
    /// Every kind starting with this (which ends in `.`).
    Prefix(String),
}

/// Which events to show or export. Every field narrows; none given selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub kind: Option<KindFilter>,
    /// Exactly this actor (`user:ada`, `agent:bot`, `cli`, `system`).
    pub actor: Option<String>,
    /// Events about the agent with this name.
    pub agent: Option<String>,
    /// Events about this call.
    pub call: Option<String>,
    /// At or after this instant (ms since the epoch, UTC).
    pub from: Option<i64>,
    /// Before this instant (ms, exclusive).
    pub to: Option<i64>,
}

/// Which page of the filtered events, newest first, by event id (never by offset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditPage {
    #[default]
    Newest,
    /// Events older than this id.
    Before(i64),
    /// Events newer than this id (going back towards the newest).
    After(i64),
}

/// The query parameters of `/audit` and its exports, as typed (empty means not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub agent: Option<String>,
    pub call: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The filter parameters, in the order links carry them.
pub const FILTER_KEYS: [&str; 6] = ["kind", "actor", "agent", "call", "from", "to"];

impl AuditQuery {
    /// The value of a filter parameter by name (for links that keep the filter).
    pub fn filter_value(&self, key: &str) -> Option<&str> {
        match key {
            "kind" => self.kind.as_deref(),
            "actor" => self.actor.as_deref(),
            "agent" => self.agent.as_deref(),
            "call" => self.call.as_deref(),
            "from" => self.from.as_deref(),
            "to" => self.to.as_deref(),
            _ => None,
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }

    /// The filter, or a message saying which parameter is wrong and why.
    pub fn filter(&self) -> Result<AuditFilter, String> {
        let text =
            |key: &str, max: usize, ok: fn(char) -> bool| -> Result<Option<String>, String> {
                match self.filter_value(key) {
                    None => Ok(None),
                    Some(v) if v.chars().count() > max => {
                        Err(format!("`{key}` is longer than {max} characters"))
                    }
                    Some(v) if !v.chars().all(ok) => Err(format!(
                        "`{key}` has characters an audit {key} never has: `{}`",
                        super::inbox::truncate(v, 80)
                    )),
                    Some(v) => Ok(Some(v.to_string())),
                }
            };
        let kind = text("kind", 100, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)
        })?
        .map(|k| match k.ends_with('.') {
            true => KindFilter::Prefix(k),
            false => KindFilter::Exact(k),
        });
        let actor = text("actor", 200, |c| !c.is_control())?;
        let agent = text("agent", 200, |c| !c.is_control())?;
        let call = text("call", 64, |c| {
            c.is_ascii_alphanumeric() || "-_".contains(c)
        })?;
        let from = self
            .filter_value("from")
            .map(|v| instant("from", v))
            .transpose()?;
        let to = self
            .filter_value("to")
            .map(|v| instant("to", v))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err("`from` must be before `to`".into());
            }
        }
        Ok(AuditFilter {
            kind,
            actor,
            agent,
            call,
            from,
            to,
        })
    }

    /// The page named by `before` or `after` (an event id; not both).
    pub fn page(&self) -> Result<AuditPage, String> {
        let id = |key: &str, v: &str| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    format!(
                        "`{key}` must be an event id, not `{}`",
                        super::inbox::truncate(v, 40)
                    )
                })
        };
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        match (nonempty(&self.before), nonempty(&self.after)) {
            (Some(_), Some(_)) => Err("give `before` or `after`, not both".into()),
            (Some(b), None) => Ok(AuditPage::Before(id("before", &b)?)),
            (None, Some(a)) => Ok(AuditPage::After(id("after", &a)?)),
            (None, None) => Ok(AuditPage::Newest),
        }
    }
}

/// An instant as a filter gives it: RFC 3339 (`2026-01-01T09:00:00Z`, any offset), or a
/// browser's `datetime-local` value (`2026-01-01T09:00`, optionally with seconds), read as
/// UTC. Returns milliseconds since the epoch.
pub fn instant(key: &str, text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!(
        "`{key}` must be a time like 2026-01-01T09:00 (UTC) or 2026-01-01T09:00:00Z, not `{}`",
        super::inbox::truncate(text, 40)
    ))
}

/// One audit event as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub kind: String,
    /// The agent's name, when the event is about one.
    pub agent: Option<String>,
    pub call_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// The detail JSON, cut to [`DETAIL_CHARS`] (untrusted: rendered as text).
    pub detail: String,
}

/// How far the hash chain is known to be intact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// Every event up to and including this id was verified (0: none yet).
    pub verified_up_to: i64,
    /// The newest event id when the status was taken.
    pub newest: i64,
    /// The first event whose hash does not match, and why.
    pub broken: Option<(i64, String)>,
    /// When the verification last advanced (RFC 3339).
    pub checked_at: Option<String>,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPageData {
    pub items: Vec<AuditEventView>,
    /// The id to page newer from (`after=`), unless this is the newest page.
    pub newer: Option<i64>,
    /// The id to page older from (`before=`), if older events match.
    pub older: Option<i64>,
    pub chain: ChainStatus,
}

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    /// The file extension (and the `--format` value).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    /// The `Content-Type` of an export.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            other => Err(format!(
                "the format is `csv` or `jsonl`, not `{}`",
                super::inbox::truncate(other, 20)
            )),
        }
    }
}

/// A query string (`k=v&…`, percent-encoded) carrying the filter of `query`, plus `extra`.
pub fn query_string(query: &AuditQuery, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = FILTER_KEYS
        .iter()
        .filter_map(|k| query.filter_value(k).map(|v| format!("{k}={}", encode(v))))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}={}", encode(&v)));
    }
    parts.join("&")
}

/// Percent-encodes a query value (filter values are people's and agents' text).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> AuditQuery {
        let mut q = AuditQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "kind" => q.kind = v,
                "actor" => q.actor = v,
                "agent" => q.agent = v,
                "call" => q.call = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "before" => q.before = v,
                "after" => q.after = v,
                _ => unreachable!(),
            }
        }
        q
    }

    #[test]
    fn filters_parse_or_say_what_is_wrong() {
        let jan1 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let long = "a".repeat(201);
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<AuditFilter, &'a str>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(AuditFilter::default())),
            (
                vec![("kind", ""), ("actor", "  ")],
                Ok(AuditFilter::default()),
            ),
            (
                vec![("kind", "call.approved")],
                Ok(AuditFilter {
                    kind: Some(KindFilter::Exact("call.approved".into())),
                    ..Default::default()
                }),
            ),
            (
                vec![("kind", "bypass.")],
                Ok(AuditFilter {
                    kind: Some(KindFilter::Prefix("bypass.".into())),
                    ..Default::default()
                }),
            ),
            (vec![("kind", "Call'; DROP")], Err("`kind` has characters")),
            (
                vec![("actor", "user:ada"), ("agent", "bot"), ("call", "0193-ab")],
                Ok(AuditFilter {
                    actor: Some("user:ada".into()),
                    agent: Some("bot".into()),
                    call: Some("0193-ab".into()),
                    ..Default::default()
                }),
            ),
            (vec![("call", "x y")], Err("`call` has characters")),
            (vec![("actor", long.as_str())], Err("`actor` is longer")),
            (
                vec![("from", "2026-01-01T00:00"), ("to", "2026-01-01T01:00:00Z")],
                Ok(AuditFilter {
                    from: Some(jan1),
                    to: Some(jan1 + 3_600_000),
                    ..Default::default()
                }),
            ),
            (
                vec![("from", "2026-01-01T02:00:00+02:00")],
                Ok(AuditFilter {
                    from: Some(jan1),
                    ..Default::default()
                }),
            ),
            (vec![("from", "yesterday")], Err("`from` must be a time")),
            (vec![("to", "2026-13-01T00:00")], Err("`to` must be a time")),
            (
                vec![("from", "2026-01-02T00:00"), ("to", "2026-01-01T00:00")],
                Err("`from` must be before `to`"),
            ),
        ];
        for (pairs, want) in cases {
            let got = q(&pairs).filter();
            match (&got, &want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{pairs:?}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{pairs:?}: {g}"),
                _ => panic!("{pairs:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn pages_by_event_id() {
        let cases = [
            (vec![], Ok(AuditPage::Newest)),
            (vec![("before", "120")], Ok(AuditPage::Before(120))),
            (vec![("after", "7")], Ok(AuditPage::After(7))),
            (vec![("before", "")], Ok(AuditPage::Newest)),
            (vec![("before", "1"), ("after", "2")], Err(())),
            (vec![("before", "0")], Err(())),
            (vec![("after", "-3")], Err(())),
            (vec![("before", "12.abc")], Err(())),
        ];
        for (pairs, want) in cases {
            assert_eq!(q(&pairs).page().map_err(|_| ()), want, "{pairs:?}");
        }
    }

    #[test]
    fn links_keep_the_filter_encoded() {
        let query = q(&[
            ("kind", "bypass."),
            ("actor", "user:a&b=c"),
            ("before", "9"),
        ]);
        assert_eq!(
            query_string(&query, Some(("after", "5".into()))),
            "kind=bypass.&actor=user%3Aa%26b%3Dc&after=5"
        );
        assert_eq!(query_string(&AuditQuery::default(), None), "");
    }

    #[test]
    fn export_formats() {
        assert_eq!("csv".parse(), Ok(ExportFormat::Csv));
        assert_eq!("jsonl".parse(), Ok(ExportFormat::Jsonl));
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }
}
