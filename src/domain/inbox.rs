//! What the inbox, the decision card and the history page show, and the pure helpers that
//! make a call readable in five seconds (labels, key arguments, countdowns, diffs).

use super::call::{CallStatus, CallView};
use super::risk::RiskClass;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One pending call in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    pub id: String,
    pub agent: String,
    pub tool: String,
    /// The arguments that decide first, truncated for a one-line summary.
    pub key_args: Vec<KeyArg>,
    /// The agent's reason, cut to one line's worth.
    pub reason: Option<String>,
    /// Whether the person looking may decide it now (the review engine's answer).
    pub mine: bool,
    /// When it is not theirs to decide: why, in words ("you approved it · 1 more needed").
    pub waiting_on: Option<String>,
    pub risk: Vec<RiskClass>,
    pub approvals: u32,
    pub approvals_required: u32,
    /// Deadline, milliseconds since the epoch.
    pub deadline_ms: i64,
    /// Hash of the arguments shown (what a batch decision of this row reviews).
    pub hash: String,
    /// Whether approving needs a typed phrase (batch approval leaves it out).
    pub confirm: bool,
    /// Calls with the same key are "similar": the same tool and the same deciding
    /// arguments (the rule's `grant_match`, else all arguments).
    pub similar: String,
    /// The deciding arguments in words, for a group's header.
    pub similar_text: String,
    /// After an escalation: to whom, in words.
    pub escalated_to: Option<String>,
}

/// What a batch decision did to one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub id: String,
    pub tool: String,
    /// `approved`, `approval_recorded`, `denied` or `left_out`.
    pub outcome: String,
    /// Why it was left out (or what is still needed).
    pub why: Option<String>,
}

/// Most calls one batch decision may take.
pub const MAX_BATCH: usize = 50;

/// The similarity key and its words for a call of `tool` with `args` (whose canonical
/// JSON hashes to `args_hash`), deciding by `pointers` (empty: every argument, keyed by
/// the hash so a row stays small whatever the arguments' size).
pub fn similar_key(
    tool: &str,
    args: &Value,
    args_hash: &str,
    pointers: &[String],
) -> (String, String) {
    if pointers.is_empty() {
        let text = key_args(args, 3)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        return (format!("{tool}\u{0}{args_hash}"), text);
    }
    let values: Vec<(String, String)> = pointers
        .iter()
        .map(|p| {
            let v = args
                .pointer(p)
                .map(short_value)
                .unwrap_or_else(|| "—".into());
            (p.clone(), v)
        })
        .collect();
    let key = values
        .iter()
        .map(|(p, v)| format!("{p}={v}"))
        .collect::<Vec<_>>()
        .join("\u{0}");
    let text = values
        .iter()
        .map(|(p, v)| format!("{}={}", p.trim_start_matches('/'), truncate(v, 60)))
        .collect::<Vec<_>>()
        .join(" ");
    (format!("{tool}\u{0}{key}"), text)
}

/// How many pending calls match one filter value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterCount {
    /// `agent`, `tool` or `risk`.
    pub dimension: String,
    pub value: String,
    pub count: i64,
}

/// The inbox: pending calls and filter counts, as of `now_ms` on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxData {
    /// The soonest-deadline pending calls matching the filters (at most a page of them).
    pub items: Vec<InboxItem>,
    /// How many pending calls match the filters in all.
    pub total: i64,
    pub counts: Vec<FilterCount>,
    pub now_ms: i64,
    /// The preset denial reasons, for a batch denial.
    pub reasons: Vec<crate::domain::workflow::DenialReason>,
    /// Whether the person looking may decide calls (a viewer may not: no boxes to tick,
    /// no keys to approve).
    #[serde(default)]
    pub may_decide: bool,
    /// What the person's decision on a call just did (`?after=ID`, the triage loop).
    #[serde(default)]
    pub after: Option<DecidedNote>,
}

/// How people decided this agent's earlier calls of this tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolStats {
    pub approved: u32,
    pub denied: u32,
    /// Median time from proposal to decision, in seconds.
    pub median_decision_secs: Option<i64>,
}

/// Another call from the same agent session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCall {
    pub id: String,
    pub tool: String,
    pub status: CallStatus,
    pub created_at: String,
}

/// Everything the decision card shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardData {
    pub call: CallView,
    pub deadline_ms: Option<i64>,
    pub now_ms: i64,
    pub stats: ToolStats,
    pub session_calls: Vec<SessionCall>,
    /// Whether the signed-in person may decide this call now (the review engine's answer).
    pub can_decide: bool,
    /// Why not, when they may not.
    pub cannot_decide_reason: Option<String>,
    /// Approvers' edits of the arguments, oldest first (version 1 is the proposal).
    pub versions: Vec<VersionView>,
    /// For a pending call: what it still needs, in words.
    pub still_needed: Option<String>,
    /// People's flags on a call that ran: it should not have.
    pub flags: Vec<FlagView>,
    /// The preset denial reasons to pick from.
    pub reasons: Vec<crate::domain::workflow::DenialReason>,
    /// For someone who may decide: the remembered grant they may give with an approval.
    pub grant: Option<GrantOffer>,
    /// For someone who may review a pending call: how much more time they may give it.
    pub extend: Option<ExtendOffer>,
    /// The top-level arguments the deciding and risk-tagging rules read, in that order.
    pub deciding: Vec<String>,
    /// For a pending call: what happens at its deadline ("then it escalates to managers").
    pub at_deadline: Option<String>,
    /// Whether the person looking approved the version under review.
    pub you_approved: bool,
    /// What their decision on another call just did (`?after=ID`, the triage loop).
    pub after: Option<DecidedNote>,
}

/// What a person's decision on a call did, said on the page they land on next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedNote {
    pub id: String,
    pub tool: String,
    /// "approved: it may run now", "your approval is recorded · 1 more needed", "denied".
    pub what: String,
}

/// What a remembered grant may be for this call (its rule allows them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantOffer {
    pub max_secs: u64,
    pub max_uses: u32,
    /// The deciding arguments (`grant_match`); empty: identical calls only.
    pub pointers: Vec<String>,
}

/// How far a pending call's deadline may be extended now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendOffer {
    /// Most seconds one extension adds.
    pub max_secs: u64,
    /// Extensions left (of 2).
    pub left: u32,
}

/// One person's flag on a call that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagView {
    pub username: String,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
}

/// One edit of a call's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    /// 2 for the first edit, and so on.
    pub version: u32,
    /// Who made it.
    pub author: String,
    /// RFC 3339.
    pub at: String,
    /// The rule that matched the edited arguments.
    pub rule: Option<String>,
    pub args: Value,
}

/// A page of decided calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryData {
    pub items: Vec<HistoryItem>,
    /// The position to page newer from (`after=`), unless this is the newest page.
    pub newer: Option<String>,
    /// The position to page older from (`before=`), if older calls exist.
    pub older: Option<String>,
}

/// One decided call in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub status: CallStatus,
    pub risk: Vec<RiskClass>,
    pub decided_by: Vec<String>,
    /// The bypass that approved it, if one did.
    pub bypass: Option<i64>,
    pub created_at: String,
    pub decided_at: Option<String>,
}

/// Longest text shown before an expander.
pub const SHOWN_CHARS: usize = 160;

/// `send_email` / `sendEmail` / `send-email` → "Send email".
/// Invisible characters in the name are marked in the label (after the words are made, so
/// the marks keep their case).
pub fn tool_label(tool: &str) -> String {
    let mut words = String::with_capacity(tool.len() + 4);
    let mut prev_lower = false;
    for c in tool.chars() {
        if c == '_' || c == '-' || c == '.' || c == ' ' {
            if !words.ends_with(' ') && !words.is_empty() {
                words.push(' ');
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        words.extend(c.to_lowercase());
    }
    let words = words.trim();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => visible(&first.to_uppercase().chain(chars).collect::<String>()),
        None => String::new(),
    }
}

pub use super::invisible::visible;

/// Cuts `s` to at most `max` characters, marking the cut with `…`; invisible characters
/// are marked (see [`visible`]).
pub fn truncate(s: &str, max: usize) -> String {
    let s = visible(s);
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A size for people: `900 bytes`, `200 KiB`, `3.9 MiB`.
pub fn size_label(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    match bytes {
        n if n < KIB => format!("{n} bytes"),
        n if n < MIB => format!("{} KiB", n.div_ceil(KIB)),
        n => format!("{:.1} MiB", n as f64 / MIB as f64),
    }
}

/// A one-line rendering of a JSON value (strings without quotes).
pub fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One top-level argument as a row or the card lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyArg {
    pub key: String,
    /// The value in short (a string without its quotes), cut to the caller's length.
    pub value: String,
    /// Read by the rule that decided the call or by a risk-tagging rule for its tool.
    pub deciding: bool,
}

/// The top-level arguments the deciding `pointers` read (`/targets/0/host` → `targets`),
/// in their order, each once.
pub fn deciding_keys(pointers: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    for pointer in pointers {
        let Some(first) = pointer
            .strip_prefix('/')
            .map(|p| p.split('/').next().unwrap_or(""))
        else {
            continue;
        };
        // RFC 6901: `~1` is `/` and `~0` is `~`, in that order.
        let key = first.replace("~1", "/").replace("~0", "~");
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Up to `max` top-level arguments in the order that decides: those named in `deciding`
/// first (in its order, marked), then the rest; values cut to `width` characters.
pub fn ordered_args(args: &Value, deciding: &[String], max: usize, width: usize) -> Vec<KeyArg> {
    let Value::Object(map) = args else {
        return Vec::new();
    };
    let line = |key: &String, value: &Value, deciding: bool| KeyArg {
        key: truncate(key, 40),
        value: truncate(&short_value(value), width),
        deciding,
    };
    let first = deciding
        .iter()
        .filter_map(|k| map.get_key_value(k))
        .map(|(k, v)| line(k, v, true));
    let rest = map
        .iter()
        .filter(|(k, _)| !deciding.contains(k))
        .map(|(k, v)| line(k, v, false));
    first.chain(rest).take(max).collect()
}

/// The first `max` top-level arguments as (name, short value), values cut to 60 characters.
pub fn key_args(args: &Value, max: usize) -> Vec<(String, String)> {
    match args {
        Value::Object(map) => map
            .iter()
            .take(max)
            .map(|(k, v)| (truncate(k, 40), truncate(&short_value(v), 60)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Time left as text: `2h 05m`, `4:07`, `0:09`, or `expired`.
pub fn countdown(ms_left: i64) -> String {
    if ms_left <= 0 {
        return "expired".into();
    }
    let secs = (ms_left + 999) / 1000;
    if secs >= 3600 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// Whether a countdown should look urgent (the last minute).
pub fn is_urgent(ms_left: i64) -> bool {
    ms_left < 60_000
}

/// One line of an argument diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffLine {
    Same(String, String),
    Changed(String, String, String),
    Added(String, String),
    Removed(String, String),
}

/// Top-level differences between proposed and edited arguments.
pub fn arg_diff(before: &Value, after: &Value) -> Vec<DiffLine> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| match (b.get(k), a.get(k)) {
            (Some(x), Some(y)) if x == y => DiffLine::Same(k.clone(), x.to_string()),
            (Some(x), Some(y)) => DiffLine::Changed(k.clone(), x.to_string(), y.to_string()),
            (None, Some(y)) => DiffLine::Added(k.clone(), y.to_string()),
            (Some(x), None) => DiffLine::Removed(k.clone(), x.to_string()),
            (None, None) => DiffLine::Same(k.clone(), String::new()),
        })
        .collect()
}

/// The median of some numbers.
pub fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciding_keys_are_the_top_level_arguments_pointers_read() {
        let cases: [(&[&str], &[&str]); 5] = [
            (&["/to", "/workspace"], &["to", "workspace"]),
            (
                &["/targets/0/host", "/targets/1/host", "/env"],
                &["targets", "env"],
            ),
            (&["/a~1b/c", "/t~0x"], &["a/b", "t~x"]),
            (&["", "env"], &[]),
            (&[], &[]),
        ];
        for (pointers, keys) in cases {
            let pointers: Vec<String> = pointers.iter().map(|p| p.to_string()).collect();
            assert_eq!(deciding_keys(&pointers), keys, "{pointers:?}");
        }
    }

    #[test]
    fn arguments_that_decide_come_first_and_are_marked() {
        let args = serde_json::json!({
            "body": "Hello", "cc": "x@y", "subject": "Hi", "to": "ceo@corp.example", "workspace": "prod-eu"
        });
        let decides = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        // (deciding keys, how many, what comes out: key and whether it decides)
        type Case<'a> = (&'a [&'a str], usize, &'a [(&'a str, bool)]);
        let cases: [Case; 4] = [
            (
                &["to", "workspace"],
                3,
                &[("to", true), ("workspace", true), ("body", false)],
            ),
            (
                &["workspace", "missing"],
                2,
                &[("workspace", true), ("body", false)],
            ),
            (&[], 2, &[("body", false), ("cc", false)]),
            (
                &["subject"],
                9,
                &[
                    ("subject", true),
                    ("body", false),
                    ("cc", false),
                    ("to", false),
                    ("workspace", false),
                ],
            ),
        ];
        for (deciding, max, want) in cases {
            let got: Vec<(String, bool)> = ordered_args(&args, &decides(deciding), max, 60)
                .into_iter()
                .map(|a| (a.key, a.deciding))
                .collect();
            let want: Vec<(String, bool)> = want.iter().map(|(k, d)| (k.to_string(), *d)).collect();
            assert_eq!(got, want, "{deciding:?}");
        }
        assert!(ordered_args(&serde_json::json!([1]), &[], 3, 60).is_empty());
        let long = ordered_args(&serde_json::json!({"k": "x".repeat(100)}), &[], 1, 10);
        assert_eq!(long[0].value.chars().count(), 10);
    }

    #[test]
    fn sizes_for_people() {
        let cases = [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1 KiB"),
            (200 * 1024, "200 KiB"),
            (200 * 1024 + 1, "201 KiB"),
            (4 * 1024 * 1024 - 1024, "4.0 MiB"),
            (1024 * 1024, "1.0 MiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size_label(bytes), want, "{bytes}");
        }
    }
    use serde_json::json;

    #[test]
    fn tool_labels() {
        let cases = [
            ("send_email", "Send email"),
            ("sendEmail", "Send email"),
            ("deploy", "Deploy"),
            ("k8s.scale-deployment", "K8s scale deployment"),
            ("__x__", "X"),
            ("deploy\u{E0041}", "Deploy⟨U+E0041⟩"),
            ("", ""),
        ];
        for (tool, label) in cases {
            assert_eq!(tool_label(tool), label, "{tool}");
        }
    }

    #[test]
    fn countdowns() {
        let cases = [
            (0, "expired"),
            (-5, "expired"),
            (1, "0:01"),
            (9_000, "0:09"),
            (59_001, "1:00"),
            (247_000, "4:07"),
            (3_600_000, "1h 00m"),
            (7_500_000, "2h 05m"),
        ];
        for (ms, text) in cases {
            assert_eq!(countdown(ms), text, "{ms}");
        }
        assert!(is_urgent(59_999) && !is_urgent(60_000));
    }

    #[test]
    fn summaries() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        let args = json!({ "b": "x".repeat(100), "a": 1, "c": { "d": true } });
        let got = key_args(&args, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], ("a".to_string(), "1".to_string()));
        assert_eq!(got[1].1.chars().count(), 60);
        assert!(key_args(&json!([1]), 3).is_empty());
    }

    #[test]
    fn diffs() {
        let before = json!({ "env": "production", "force": true, "x": 1 });
        let after = json!({ "env": "staging", "x": 1, "dry_run": true });
        assert_eq!(
            arg_diff(&before, &after),
            vec![
                DiffLine::Added("dry_run".into(), "true".into()),
                DiffLine::Changed("env".into(), "\"production\"".into(), "\"staging\"".into()),
                DiffLine::Removed("force".into(), "true".into()),
                DiffLine::Same("x".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn medians() {
        let cases: [(Vec<i64>, Option<i64>); 4] = [
            (vec![], None),
            (vec![5], Some(5)),
            (vec![3, 1, 2], Some(2)),
            (vec![4, 1, 3, 2], Some(2)),
        ];
        for (values, expected) in cases {
            assert_eq!(median(values.clone()), expected, "{values:?}");
        }
    }
}

/// A time difference for people: `delta_ms` is the moment minus now — "just now",
/// "3 min ago", "in 12 min", "2 h ago", "in 3 d".
pub fn relative(delta_ms: i64) -> String {
    let secs = delta_ms.unsigned_abs() / 1000;
    let amount = match secs {
        0..45 => return "just now".into(),
        45..3_600 => format!("{} min", (secs + 30) / 60),
        3_600..86_400 => format!("{} h", (secs + 1_800) / 3_600),
        _ => format!("{} d", (secs + 43_200) / 86_400),
    };
    if delta_ms < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod relative_tests {
    #[test]
    fn relative_times() {
        let cases = [
            (0, "just now"),
            (-44_000, "just now"),
            (-45_000, "1 min ago"),
            (-180_000, "3 min ago"),
            (720_000, "in 12 min"),
            (-7_200_000, "2 h ago"),
            (3 * 86_400_000, "in 3 d"),
        ];
        for (delta, want) in cases {
            assert_eq!(super::relative(delta), want, "{delta}");
        }
    }
}
