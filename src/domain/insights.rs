//! Approvals as a teaching signal: what happened to calls over a period (counts, approval
//! rate, time to decide), the thresholds that turn that into suggestions to ungate or
//! tighten a call pattern, feedback grouped by similarity, and the rubber-stamp measures.
//! Pure: the rollups that feed it live in `src/store/insights.rs`.

use serde::{Deserialize, Serialize};

/// Upper bounds (seconds, exclusive) of the time-to-decide buckets; the last bucket holds
/// everything from 24 h on.
pub const BUCKET_BOUNDS_SECS: [i64; 15] = [
    5, 10, 20, 30, 60, 120, 300, 600, 1_200, 1_800, 3_600, 7_200, 14_400, 28_800, 86_400,
];
/// Number of time-to-decide buckets.
pub const BUCKETS: usize = BUCKET_BOUNDS_SECS.len() + 1;

/// An ungate suggestion needs at least this many decisions by people in the period…
pub const UNGATE_MIN_DECISIONS: i64 = 50;
/// …at least this share of them approvals (percent)…
pub const UNGATE_MIN_APPROVAL_PCT: i64 = 98;
/// …and no denial in at least this many of the latest decisions.
pub const UNGATE_CLEAN_RUN: i64 = 20;
/// A pattern policy lets through needs at least this many flagged executions to be
/// suggested for a gate.
pub const TIGHTEN_MIN_FLAGS: i64 = 3;
/// A tighten suggestion needs at least this many denials by people in the period…
pub const TIGHTEN_MIN_DENIALS: i64 = 5;
/// …making at least this share of the decisions (percent).
pub const TIGHTEN_MIN_DENIAL_PCT: i64 = 25;

/// The bucket of a time to decide, in milliseconds.
pub fn bucket(ms: i64) -> usize {
    let secs = ms.max(0) / 1000;
    BUCKET_BOUNDS_SECS
        .iter()
        .position(|bound| secs < *bound)
        .unwrap_or(BUCKETS - 1)
}

/// What happened to the calls of one group (a tool, an agent, a pattern) over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub proposed: i64,
    pub allowed: i64,
    pub denied_policy: i64,
    pub gated: i64,
    pub bypassed: i64,
    pub approved: i64,
    pub denied_people: i64,
    pub expired: i64,
    pub cancelled: i64,
    pub stale: i64,
    pub executed: i64,
    /// Executions people flagged afterwards.
    pub flagged: i64,
    /// Decisions by people per time-to-decide bucket.
    pub buckets: [i64; BUCKETS],
}

impl Counts {
    /// Adds another group's counts.
    pub fn add(&mut self, other: &Counts) {
        self.proposed += other.proposed;
        self.allowed += other.allowed;
        self.denied_policy += other.denied_policy;
        self.gated += other.gated;
        self.bypassed += other.bypassed;
        self.approved += other.approved;
        self.denied_people += other.denied_people;
        self.expired += other.expired;
        self.cancelled += other.cancelled;
        self.stale += other.stale;
        self.executed += other.executed;
        self.flagged += other.flagged;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }

    /// Decisions by people: approvals and denials.
    pub fn decisions(&self) -> i64 {
        self.approved + self.denied_people
    }

    /// Approvals among decisions by people, in percent (none without decisions).
    pub fn approval_pct(&self) -> Option<f64> {
        let n = self.decisions();
        (n > 0).then(|| self.approved as f64 * 100.0 / n as f64)
    }

    /// The median time to decide, in seconds.
    pub fn median_secs(&self) -> Option<f64> {
        quantile(&self.buckets, 0.5)
    }

    /// The 90th percentile time to decide, in seconds.
    pub fn p90_secs(&self) -> Option<f64> {
        quantile(&self.buckets, 0.9)
    }
}

/// The `q` quantile (0–1) of the bucketed times, interpolated linearly inside its bucket;
/// in the open last bucket it is that bucket's lower bound (24 h).
pub fn quantile(buckets: &[i64; BUCKETS], q: f64) -> Option<f64> {
    let total: i64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0.0;
    for (i, n) in buckets.iter().enumerate() {
        let n = *n as f64;
        if n > 0.0 && below + n >= rank {
            let lower = if i == 0 {
                0.0
            } else {
                BUCKET_BOUNDS_SECS[i - 1] as f64
            };
            let Some(upper) = BUCKET_BOUNDS_SECS.get(i) else {
                return Some(lower);
            };
            let within = ((rank - below) / n).clamp(0.0, 1.0);
            return Some(lower + within * (*upper as f64 - lower));
        }
        below += n;
    }
    None
}

/// Whether a pattern's evidence calls for ungating it: at least 50 decisions in the period,
/// at least 98 % of them approvals, and the latest 20 decisions all approvals.
pub fn ungate_due(counts: &Counts, approvals_in_row: i64) -> bool {
    let n = counts.decisions();
    n >= UNGATE_MIN_DECISIONS
        && counts.approved * 100 >= UNGATE_MIN_APPROVAL_PCT * n
        && approvals_in_row >= UNGATE_CLEAN_RUN
}

/// Whether a pattern's evidence calls for tightening it: people deny it often (at least 5
/// denials making at least a quarter of the decisions), or policy let it run and people
/// flagged at least 3 of its executions afterwards.
pub fn tighten_due(counts: &Counts) -> bool {
    let n = counts.decisions();
    let denied = counts.denied_people >= TIGHTEN_MIN_DENIALS
        && counts.denied_people * 100 >= TIGHTEN_MIN_DENIAL_PCT * n;
    let flagged = counts.allowed > 0 && counts.flagged >= TIGHTEN_MIN_FLAGS;
    denied || flagged
}

/// Whether evidence changed enough since a suggestion was dismissed to show it again: the
/// decisions grew by half (and at least 20), or the denial share moved by 10 points.
pub fn materially_changed(then: (i64, i64), now: (i64, i64)) -> bool {
    let ((d0, x0), (d1, x1)) = (then, now);
    let grew = d1 - d0 >= 20 && d1 * 2 >= d0 * 3;
    let share = |d: i64, x: i64| {
        if d == 0 {
            0.0
        } else {
            x as f64 * 100.0 / d as f64
        }
    };
    grew || (share(d1, x1) - share(d0, x0)).abs() >= 10.0
}

/// Feedback texts that say much the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackGroup {
    /// How many denials gave feedback in this group.
    pub count: usize,
    /// Distinct texts, most frequent first (at most five).
    pub examples: Vec<String>,
}

/// Words that carry no meaning for grouping.
const STOPWORDS: [&str; 24] = [
    "the", "and", "for", "not", "this", "that", "with", "you", "are", "was", "but", "use",
    "please", "dont", "don", "its", "it's", "from", "into", "have", "has", "should", "must", "all",
];

fn words(text: &str) -> std::collections::BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(w))
        .map(|w| w.trim_end_matches('s').to_string())
        .collect()
}

/// Groups feedback texts by similarity: two texts are alike when they share at least half
/// of their meaningful words (Jaccard ≥ 0.5), and a group is every text linked by such
/// likeness. Largest groups first; empty texts are skipped.
pub fn group_feedback(texts: &[String]) -> Vec<FeedbackGroup> {
    let items: Vec<(&str, std::collections::BTreeSet<String>)> = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| (t, words(t)))
        .collect();
    let mut parent: Vec<usize> = (0..items.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            let (a, b) = (&items[i].1, &items[j].1);
            let alike = if a.is_empty() || b.is_empty() {
                items[i].0.eq_ignore_ascii_case(items[j].0)
            } else {
                let shared = a.intersection(b).count();
                shared * 2 >= a.union(b).count()
            };
            if alike {
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri] = rj;
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<&str>> = Default::default();
    for (i, (text, _)) in items.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(text);
    }
    let mut out: Vec<FeedbackGroup> = groups
        .into_values()
        .map(|texts| {
            let mut freq: Vec<(usize, &str)> = Vec::new();
            for t in &texts {
                match freq.iter_mut().find(|(_, s)| s == t) {
                    Some(entry) => entry.0 += 1,
                    None => freq.push((1, t)),
                }
            }
            freq.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            FeedbackGroup {
                count: texts.len(),
                examples: freq
                    .into_iter()
                    .take(5)
                    .map(|(_, t)| t.to_string())
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.examples.cmp(&b.examples)));
    out
}

/// One approver's review of one call, for the rubber-stamp watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewFact {
    /// Approve (`true`) or deny.
    pub approve: bool,
    /// When the review was made (ms).
    pub at: i64,
    /// When the reviewer first opened the card (ms), if it was recorded.
    pub opened_at: Option<i64>,
    /// Whether the reviewer ever expanded the full arguments.
    pub expanded: bool,
    /// Whether the call carried a high-stakes risk class.
    pub high_risk: bool,
}

/// The rubber-stamp measures of one approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampMeasures {
    pub approvals: usize,
    pub denials: usize,
    /// Median seconds from opening the card to approving a high-risk call.
    pub median_high_risk_secs: Option<f64>,
    pub high_risk_approvals: usize,
    /// Approvals since the last denial (the current streak).
    pub streak: usize,
    /// Approvals of calls whose full arguments the approver never expanded.
    pub unexpanded_approvals: usize,
    /// Why this approver's pattern may deserve a look (empty: nothing stands out).
    pub prompts: Vec<String>,
}

/// Fast high-risk approvals: a median under this many seconds is worth a look.
pub const STAMP_FAST_SECS: f64 = 5.0;
/// An approve streak this long without a deny is worth a look.
pub const STAMP_STREAK: usize = 30;

/// Measures one approver's reviews (in time order).
pub fn stamp_measures(reviews: &[ReviewFact]) -> StampMeasures {
    let approvals: Vec<&ReviewFact> = reviews.iter().filter(|r| r.approve).collect();
    let mut fast: Vec<i64> = approvals
        .iter()
        .filter(|r| r.high_risk)
        .filter_map(|r| r.opened_at.map(|o| (r.at - o).max(0)))
        .collect();
    fast.sort_unstable();
    let median_high_risk_secs = match fast.len() {
        0 => None,
        n if n % 2 == 1 => Some(fast[n / 2] as f64 / 1000.0),
        n => Some((fast[n / 2 - 1] + fast[n / 2]) as f64 / 2000.0),
    };
    let streak = reviews.iter().rev().take_while(|r| r.approve).count();
    let unexpanded_approvals = approvals.iter().filter(|r| !r.expanded).count();
    let high_risk_approvals = approvals.iter().filter(|r| r.high_risk).count();
    let mut prompts = Vec::new();
    if let Some(m) = median_high_risk_secs.filter(|m| *m < STAMP_FAST_SECS && fast.len() >= 5) {
        prompts.push(format!(
            "approves high-risk calls {m:.1} s after opening them (median of {})",
            fast.len()
        ));
    }
    if streak >= STAMP_STREAK {
        prompts.push(format!("{streak} approvals in a row without a denial"));
    }
    if approvals.len() >= 10 && unexpanded_approvals * 2 >= approvals.len() {
        prompts.push(format!(
            "{unexpanded_approvals} of {} approvals without opening the full arguments",
            approvals.len()
        ));
    }
    StampMeasures {
        approvals: approvals.len(),
        denials: reviews.len() - approvals.len(),
        median_high_risk_secs,
        high_risk_approvals,
        streak,
        unexpanded_approvals,
        prompts,
    }
}

/// The period an insights view covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Start (ms, inclusive, on an hour).
    pub from: i64,
    /// End (ms, exclusive, on an hour).
    pub to: i64,
}

/// Most suggestions listed at once (the most-decided patterns first).
pub const MAX_SUGGESTIONS: usize = 20;

/// The longest custom period: a year.
pub const MAX_PERIOD_DAYS: i64 = 366;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl Period {
    /// The period named by the page's parameters: `24h`, `7d`, `30d` (ending at the next
    /// hour after `now`), or `custom` with `from` and `to` dates (`YYYY-MM-DD`, UTC, both
    /// days included).
    pub fn parse(
        key: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now_ms: i64,
    ) -> Result<Self, String> {
        let end = (now_ms / HOUR_MS + 1) * HOUR_MS;
        let last = |days: i64| Period {
            from: end - days * DAY_MS,
            to: end,
        };
        match key.unwrap_or("7d") {
            "24h" => Ok(last(1)),
            "7d" => Ok(last(7)),
            "30d" => Ok(last(30)),
            "custom" => {
                let day = |text: Option<&str>, what: &str| -> Result<i64, String> {
                    let text = text.ok_or(format!("a custom period needs `{what}`"))?;
                    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| format!("`{what}` must be a date like 2026-11-30"))?;
                    Ok(date
                        .and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc().timestamp_millis())
                        .unwrap_or(0))
                };
                let from = day(from, "from")?;
                let to = day(to, "to")? + DAY_MS;
                if to <= from {
                    return Err("`to` must not be before `from`".into());
                }
                if to - from > MAX_PERIOD_DAYS * DAY_MS {
                    return Err(format!("a period is at most {MAX_PERIOD_DAYS} days"));
                }
                Ok(Period { from, to })
            }
            other => Err(format!(
                "the period is 24h, 7d, 30d or custom, not `{}`",
                super::inbox::truncate(other, 20)
            )),
        }
    }

    /// The period of the same length just before.
    pub fn previous(&self) -> Period {
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
        }
    }

    /// Chart bars: hours for a day or less, else days.
    pub fn bar_ms(&self) -> i64 {
        if self.to - self.from <= DAY_MS {
            HOUR_MS
        } else {
            DAY_MS
        }
    }
}

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Start of the bar's hour or day (RFC 3339).
    pub start: String,
    /// `14:00` or `Nov 30`.
    pub label: String,
    pub counts: Counts,
}

/// One line of an insights table: a tool, an agent or a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsightRow {
    pub label: String,
    pub counts: Counts,
    /// The same group over the previous period.
    pub previous: Counts,
}

/// What a suggestion proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// People approve it nearly always: allow it without asking.
    Ungate,
    /// People deny it often: deny it outright, or teach the agent.
    Tighten,
}

impl SuggestionKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionKind::Ungate => "ungate",
            SuggestionKind::Tighten => "tighten",
        }
    }
}

/// A suggestion with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    pub tool: String,
    pub pattern: String,
    /// The rule that gates it now.
    pub rule: Option<String>,
    /// Its counts over the period (all agents).
    pub counts: Counts,
    /// Approvals since the last denial.
    pub approvals_in_row: i64,
    /// Denial feedback grouped by similarity (tighten).
    pub feedback: Vec<FeedbackGroup>,
    /// A note for the agent's prompt quoting the feedback (tighten).
    pub prompt_note: Option<String>,
    /// Evidence in words.
    pub evidence: String,
}

/// The insights page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightsData {
    pub period: Period,
    /// `24h`, `7d`, `30d` or `custom`.
    pub period_key: String,
    pub totals: Counts,
    pub previous: Counts,
    pub bars: Vec<Bar>,
    pub by_tool: Vec<InsightRow>,
    pub by_agent: Vec<InsightRow>,
    pub by_pattern: Vec<InsightRow>,
    pub suggestions: Vec<Suggestion>,
    /// Suggestions hidden because someone dismissed them and the evidence has not changed.
    pub dismissed: usize,
    /// Suggestions beyond the ones listed (the most-decided come first).
    pub more_suggestions: usize,
    /// Whether the viewer may turn suggestions into policy (admins).
    pub may_change_policy: bool,
}

/// One approver in the rubber-stamp watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampRow {
    pub username: String,
    pub measures: StampMeasures,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(approved: i64, denied: i64) -> Counts {
        Counts {
            approved,
            denied_people: denied,
            ..Counts::default()
        }
    }

    #[test]
    fn periods() {
        let now = 1_764_500_000_000; // 2025-11-30T10:53:20Z
        let end = 1_764_500_400_000; // the next hour
        let p = Period::parse(Some("24h"), None, None, now).unwrap();
        assert_eq!((p.from, p.to), (end - DAY_MS, end));
        assert_eq!(p.previous().to, p.from);
        assert_eq!(p.bar_ms(), HOUR_MS);
        assert_eq!(
            Period::parse(None, None, None, now).unwrap().bar_ms(),
            DAY_MS
        );
        let c = Period::parse(Some("custom"), Some("2026-11-01"), Some("2026-11-30"), now).unwrap();
        assert_eq!((c.to - c.from) / DAY_MS, 30);
        let bad = [
            (Some("1y"), None, None, "24h, 7d, 30d or custom"),
            (Some("custom"), None, Some("2026-11-30"), "needs `from`"),
            (
                Some("custom"),
                Some("2026-13-01"),
                Some("2026-11-30"),
                "a date like",
            ),
            (
                Some("custom"),
                Some("2026-11-30"),
                Some("2026-11-01"),
                "not be before",
            ),
            (
                Some("custom"),
                Some("2020-01-01"),
                Some("2026-11-30"),
                "at most 366 days",
            ),
        ];
        for (key, from, to, want) in bad {
            let err = Period::parse(key, from, to, now).unwrap_err();
            assert!(err.contains(want), "{key:?} {from:?} {to:?}: {err}");
        }
    }

    #[test]
    fn buckets_by_bound() {
        let cases = [
            (0, 0),
            (4_999, 0),
            (5_000, 1),
            (29_999, 3),
            (59_999, 4),
            (60_000, 5),
            (86_399_999, 14),
            (86_400_000, 15),
            (-3, 0),
        ];
        for (ms, want) in cases {
            assert_eq!(bucket(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let mut b = [0; BUCKETS];
        assert_eq!(quantile(&b, 0.5), None);
        b[0] = 10; // 0-5 s
        assert_eq!(quantile(&b, 0.5), Some(2.5));
        assert_eq!(quantile(&b, 1.0), Some(5.0));
        b[4] = 10; // 30-60 s
        assert_eq!(quantile(&b, 0.5), Some(5.0));
        assert_eq!(quantile(&b, 0.9), Some(30.0 + 0.8 * 30.0));
        let mut open = [0; BUCKETS];
        open[BUCKETS - 1] = 3;
        assert_eq!(quantile(&open, 0.9), Some(86_400.0));
    }

    #[test]
    fn rates() {
        assert_eq!(decided(0, 0).approval_pct(), None);
        assert_eq!(decided(3, 1).approval_pct(), Some(75.0));
        let mut total = decided(1, 1);
        total.add(&decided(2, 0));
        assert_eq!((total.approved, total.denied_people), (3, 1));
    }

    #[test]
    fn ungate_thresholds_just_below_and_above() {
        // (approved, denied, approvals in a row, due)
        let cases = [
            (50, 0, 50, true),
            (49, 0, 49, false),  // 49 decisions: one short
            (49, 1, 20, true),   // 98.0 % of 50
            (48, 1, 20, false),  // 97.96 % of 49
            (97, 2, 20, false),  // 97.98 % of 99
            (98, 2, 20, true),   // 98 % of 100
            (100, 0, 19, false), // the latest 20 include a denial
            (100, 0, 20, true),
        ];
        for (a, d, run, want) in cases {
            assert_eq!(ungate_due(&decided(a, d), run), want, "{a}/{d} run {run}");
        }
    }

    #[test]
    fn tighten_thresholds_just_below_and_above() {
        let cases = [
            (15, 5, true),  // 5 denials, 25 %
            (15, 4, false), // 4 denials
            (16, 5, false), // 23.8 %
            (0, 5, true),
            (3, 1, false),
        ];
        for (a, d, want) in cases {
            assert_eq!(tighten_due(&decided(a, d)), want, "{a}/{d}");
        }
        // (allowed by policy, flagged, due)
        for (allowed, flagged, want) in [(10, 3, true), (10, 2, false), (0, 3, false)] {
            let c = Counts {
                allowed,
                flagged,
                ..Counts::default()
            };
            assert_eq!(
                tighten_due(&c),
                want,
                "{allowed} allowed, {flagged} flagged"
            );
        }
    }

    #[test]
    fn dismissed_suggestions_return_on_material_change() {
        let cases = [
            ((60, 0), (60, 0), false),
            ((60, 0), (79, 0), false),   // grew by less than 20
            ((60, 0), (90, 0), true),    // +50 %
            ((100, 0), (121, 0), false), // +21 but not by half
            ((100, 0), (100, 10), true), // denial share +10 points
            ((100, 0), (100, 9), false),
            ((0, 0), (20, 0), true),
        ];
        for (then, now, want) in cases {
            assert_eq!(materially_changed(then, now), want, "{then:?} -> {now:?}");
        }
    }

    #[test]
    fn feedback_groups_by_shared_words() {
        let texts: Vec<String> = [
            "Use the staging database, not production",
            "use staging database instead of production!",
            "wrong ticket number",
            "Staging database please, never production",
            "the ticket number is wrong",
            "",
            "no",
            "No",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let groups = group_feedback(&texts);
        let sizes: Vec<usize> = groups.iter().map(|g| g.count).collect();
        assert_eq!(sizes, vec![3, 2, 2], "{groups:?}");
        assert!(groups[0]
            .examples
            .iter()
            .all(|e| e.to_lowercase().contains("staging")));
        assert!(groups[1..]
            .iter()
            .any(|g| g.examples.iter().any(|e| e.contains("ticket"))));
        assert!(group_feedback(&[]).is_empty());
    }

    fn review(approve: bool, open_to_decide_ms: i64, expanded: bool) -> ReviewFact {
        ReviewFact {
            approve,
            at: 1_000_000 + open_to_decide_ms,
            opened_at: Some(1_000_000),
            expanded,
            high_risk: true,
        }
    }

    #[test]
    fn rubber_stamp_measures() {
        let quick: Vec<ReviewFact> = (0..40).map(|_| review(true, 2_000, false)).collect();
        let m = stamp_measures(&quick);
        assert_eq!(
            (m.approvals, m.streak, m.unexpanded_approvals),
            (40, 40, 40)
        );
        assert_eq!(m.median_high_risk_secs, Some(2.0));
        assert_eq!(m.prompts.len(), 3, "{:?}", m.prompts);

        let mut careful: Vec<ReviewFact> = (0..40).map(|_| review(true, 45_000, true)).collect();
        careful[35] = review(false, 60_000, true);
        let m = stamp_measures(&careful);
        assert_eq!((m.streak, m.denials), (4, 1));
        assert!(m.prompts.is_empty(), "{:?}", m.prompts);

        // Just under each threshold: 4 fast ones, a streak of 29, 4 of 10 unexpanded.
        let mut edge: Vec<ReviewFact> = (0..29).map(|_| review(true, 60_000, true)).collect();
        edge.insert(0, review(false, 1_000, true));
        for r in edge.iter_mut().skip(1).take(4) {
            *r = review(true, 1_000, false);
        }
        let m = stamp_measures(&edge);
        assert_eq!(m.streak, 29);
        assert!(m.prompts.is_empty(), "{:?}", m.prompts);
    }
}
