//! The server's Prometheus metrics: one registry, its names and labels, and typed handles
//! the rest of the gate records through. Recording is an atomic add, or a short
//! uncontended lock for a histogram; nothing here touches the database except
//! [`Metrics::render`], which counts pending calls at most once a second.
//!
//! Labels are bounded by construction: outcomes and webhook results are enums, and rule
//! names come from the admins' policy (past [`MAX_RULE_LABELS`] outcome-and-rule pairs,
//! new ones count as `(other)`). Nothing an agent writes (tool names, sessions, call ids) is ever a label.

use crate::domain::call::CallStatus;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::{
    counter::Counter,
    family::Family,
    gauge::Gauge,
    histogram::{exponential_buckets, Histogram},
    info::Info,
};
use prometheus_client::registry::{Registry, Unit};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `rule` label of calls no rule matched (the policy's default effect decided).
pub const DEFAULT_RULE: &str = "(default)";
/// The `rule` label once [`MAX_RULE_LABELS`] distinct rule names have been seen.
pub const OTHER_RULE: &str = "(other)";
/// Most `{outcome, rule}` pairs kept, whatever the policy's history.
pub const MAX_RULE_LABELS: usize = 1000;
/// How long a count of pending calls is reused, so scrapes cannot hammer the database.
pub const PENDING_CACHE: Duration = Duration::from_secs(1);
/// Longest a scrape waits for the pending count before answering with the last one.
const PENDING_TIMEOUT: Duration = Duration::from_secs(2);

/// The content type of [`Metrics::render`]'s output (OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A call status as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub CallStatus);

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// What became of one webhook delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookResult {
    /// The receiver answered 2xx.
    Delivered,
    /// Not delivered; it will be tried again.
    Retrying,
    /// Not delivered, and this was the last attempt.
    Failed,
    /// Refused: the callback reaches inside the network (never retried).
    Refused,
}

impl EncodeLabelValue for WebhookResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            WebhookResult::Delivered => "delivered",
            WebhookResult::Retrying => "retrying",
            WebhookResult::Failed => "failed",
            WebhookResult::Refused => "refused",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProposedLabels {
    outcome: Status,
    rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: WebhookResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one server, and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    proposed: Family<ProposedLabels, Counter>,
    /// `{outcome, rule}` pairs created in `proposed` so far.
    proposed_sets: AtomicUsize,
    decided: Family<OutcomeLabels, Counter>,
    decision_seconds: HistogramFamily<OutcomeLabels>,
    pending: Gauge,
    gate_check_seconds: Histogram,
    long_polls_open: Gauge,
    event_streams_open: Gauge,
    webhook_deliveries: Family<ResultLabels, Counter>,
    notification_deliveries: Family<ResultLabels, Counter>,
    writer: WriterMetrics,
    /// When the pending count was last read.
    pending_read: tokio::sync::Mutex<Option<Instant>>,
}

/// The group-commit writer's metrics, recorded in the writer task.
#[derive(Debug, Clone)]
pub struct WriterMetrics {
    batch_size: Histogram,
    commit_seconds: Histogram,
}

impl WriterMetrics {
    /// Records one group commit: how many jobs it held and how long it took.
    pub fn committed(&self, jobs: usize, took: Duration) {
        self.batch_size.observe(jobs as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }
}

fn decision_histogram() -> Histogram {
    // 1 s to ~36 h: people decide in seconds to hours; deadlines can be days.
    Histogram::new(exponential_buckets(1.0, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("askfirst");
        let proposed = Family::<ProposedLabels, Counter>::default();
        registry.register(
            "calls_proposed",
            "Calls proposed, by what policy (or a bypass) answered and the rule that decided",
            proposed.clone(),
        );
        let decided = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "calls_decided",
            "Calls that left pending, by where they went (also decided by the CLI or a bypass)",
            decided.clone(),
        );
        let decision_seconds: HistogramFamily<OutcomeLabels> =
            Family::new_with_constructor(decision_histogram);
        registry.register_with_unit(
            "decision",
            "Time from proposal to a person's decision or expiry (bypasses and cancels excluded)",
            Unit::Seconds,
            decision_seconds.clone(),
        );
        let pending = Gauge::default();
        registry.register("calls_pending", "Calls waiting for people", pending.clone());
        // 10 µs to ~160 ms.
        let gate_check_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 15));
        registry.register_with_unit(
            "gate_check",
            "Policy evaluation of a proposal, with the novelty lookup when a rule needs it",
            Unit::Seconds,
            gate_check_seconds.clone(),
        );
        let long_polls_open = Gauge::default();
        registry.register(
            "long_polls_open",
            "Agents long-polling GET /api/v1/calls/{id}?wait= right now",
            long_polls_open.clone(),
        );
        let event_streams_open = Gauge::default();
        registry.register(
            "event_streams_open",
            "Open event streams: agents' /api/v1/events and people's inbox and review streams",
            event_streams_open.clone(),
        );
        let webhook_deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result",
            webhook_deliveries.clone(),
        );
        let notification_deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "notification_deliveries",
            "Notification delivery attempts (Slack, e-mail, signed webhooks), by result",
            notification_deliveries.clone(),
        );
        let writer = WriterMetrics {
            // 1 to 512 jobs (the writer's largest batch).
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            // 100 µs to ~1.6 s.
            commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 15)),
        };
        registry.register(
            "writer_batch_size",
            "Jobs committed together by the group-commit writer",
            writer.batch_size.clone(),
        );
        registry.register_with_unit(
            "writer_commit",
            "Time the group-commit writer takes to write and commit one batch",
            Unit::Seconds,
            writer.commit_seconds.clone(),
        );
        registry.register(
            "build",
            "The askfirst version serving",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        let started = Gauge::<f64, AtomicU64>::default();
        started.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        registry.register_with_unit(
            "process_start_time",
            "When this server process started, in seconds since the Unix epoch",
            Unit::Seconds,
            started,
        );
        // Every bounded label set starts at zero, so rates and alerts see it from the first
        // scrape (a series that appears only with its first event looks like no change).
        for to in [
            CallStatus::Approved,
            CallStatus::Denied,
            CallStatus::Expired,
            CallStatus::Cancelled,
        ] {
            let labels = OutcomeLabels {
                outcome: Status(to),
            };
            let _ = decided.get_or_create(&labels);
            if to != CallStatus::Cancelled {
                let _ = decision_seconds.get_or_create(&labels);
            }
        }
        for result in [
            WebhookResult::Delivered,
            WebhookResult::Retrying,
            WebhookResult::Failed,
            WebhookResult::Refused,
        ] {
            let _ = webhook_deliveries.get_or_create(&ResultLabels { result });
            let _ = notification_deliveries.get_or_create(&ResultLabels { result });
        }
        Self {
            registry,
            proposed,
            proposed_sets: AtomicUsize::new(0),
            decided,
            decision_seconds,
            pending,
            gate_check_seconds,
            long_polls_open,
            event_streams_open,
            webhook_deliveries,
            notification_deliveries,
            writer,
            pending_read: tokio::sync::Mutex::new(None),
        }
    }

    /// The writer's handles (for [`super::writer::Writer::start`]).
    pub fn writer(&self) -> WriterMetrics {
        self.writer.clone()
    }

    /// A call was proposed and answered `outcome`, decided by `rule` (`None`: the default).
    pub fn proposed(&self, outcome: CallStatus, rule: Option<&str>) {
        // Allowed and started at once (`run_if_allowed`) is policy's "allow".
        let outcome = match outcome {
            CallStatus::Running => CallStatus::Allowed,
            other => other,
        };
        let mut labels = ProposedLabels {
            outcome: Status(outcome),
            rule: rule.unwrap_or(DEFAULT_RULE).to_string(),
        };
        if let Some(counter) = self.proposed.get(&labels) {
            counter.inc();
            return;
        }
        // Approximate under races (two first sightings may both count), which is fine for
        // a cap.
        if self.proposed_sets.fetch_add(1, Ordering::Relaxed) >= MAX_RULE_LABELS {
            labels.rule = OTHER_RULE.to_string();
        }
        self.proposed.get_or_create(&labels).inc();
    }

    /// A call left `pending` for `to`; `waited` is the time since its proposal when a
    /// person's decision or its deadline resolved it (`None` for bypasses and cancels).
    pub fn decided(&self, to: CallStatus, waited: Option<Duration>) {
        let labels = OutcomeLabels {
            outcome: Status(to),
        };
        self.decided.get_or_create(&labels).inc();
        if let Some(waited) = waited {
            self.decision_seconds
                .get_or_create(&labels)
                .observe(waited.as_secs_f64());
        }
    }

    /// Records how long one gate check took.
    pub fn gate_checked(&self, took: Duration) {
        self.gate_check_seconds.observe(took.as_secs_f64());
    }

    /// Counts a long-poll as open until the returned guard is dropped.
    pub fn long_poll(&self) -> OpenGuard {
        OpenGuard::new(self.long_polls_open.clone())
    }

    /// Counts an event stream as open until the returned guard is dropped.
    pub fn event_stream(&self) -> OpenGuard {
        OpenGuard::new(self.event_streams_open.clone())
    }

    /// Records one webhook delivery attempt.
    pub fn webhook(&self, result: WebhookResult) {
        self.webhook_deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// One notification delivery attempt and what became of it.
    pub fn notification(&self, result: WebhookResult) {
        self.notification_deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// The exposition (OpenMetrics text, [`CONTENT_TYPE`]), with the pending count read
    /// from `pool` unless it was read less than [`PENDING_CACHE`] ago.
    pub async fn render(&self, pool: &crate::store::Pool) -> Result<String, std::fmt::Error> {
        {
            let mut read = self.pending_read.lock().await;
            if read.is_none_or(|at| at.elapsed() >= PENDING_CACHE) {
                match tokio::time::timeout(
                    PENDING_TIMEOUT,
                    crate::store::calls::count_pending(pool),
                )
                .await
                {
                    Ok(Ok(n)) => {
                        self.pending.set(n);
                        *read = Some(Instant::now());
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "counting pending calls failed"),
                    Err(_) => tracing::warn!("counting pending calls timed out"),
                }
            }
        }
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One open long-poll or stream in its gauge; given back on drop.
#[derive(Debug)]
pub struct OpenGuard(Gauge);

impl OpenGuard {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &Metrics) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry).unwrap();
        text
    }

    #[test]
    fn names_labels_and_guards() {
        let m = Metrics::new();
        m.proposed(CallStatus::Pending, Some("gate-prod"));
        m.proposed(CallStatus::Allowed, None);
        m.decided(CallStatus::Approved, Some(Duration::from_secs(3)));
        m.decided(CallStatus::Cancelled, None);
        m.webhook(WebhookResult::Refused);
        m.writer().committed(3, Duration::from_millis(2));
        let poll = m.long_poll();
        let _stream = m.event_stream();
        let text = render(&m);
        for line in [
            r#"askfirst_calls_proposed_total{outcome="pending",rule="gate-prod"} 1"#,
            r#"askfirst_calls_proposed_total{outcome="allowed",rule="(default)"} 1"#,
            r#"askfirst_calls_decided_total{outcome="approved"} 1"#,
            r#"askfirst_calls_decided_total{outcome="cancelled"} 1"#,
            r#"askfirst_decision_seconds_count{outcome="approved"} 1"#,
            r#"askfirst_webhook_deliveries_total{result="refused"} 1"#,
            "askfirst_writer_batch_size_count 1",
            "askfirst_long_polls_open 1",
            "askfirst_event_streams_open 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(text.contains(r#"askfirst_calls_decided_total{outcome="expired"} 0"#));
        assert!(text.contains(r#"askfirst_webhook_deliveries_total{result="failed"} 0"#));
        assert!(!text.contains(r#"decision_seconds_count{outcome="cancelled"}"#));
        drop(poll);
        assert!(render(&m).contains("askfirst_long_polls_open 0"));
    }

    #[test]
    fn rule_labels_are_capped() {
        let m = Metrics::new();
        for i in 0..MAX_RULE_LABELS + 5 {
            m.proposed(CallStatus::Allowed, Some(&format!("rule-{i}")));
        }
        m.proposed(CallStatus::Allowed, Some("rule-0"));
        let text = render(&m);
        assert!(text.contains(r#"rule="rule-0"} 2"#));
        assert!(
            text.contains(r#"askfirst_calls_proposed_total{outcome="allowed",rule="(other)"} 5"#)
        );
    }
}
