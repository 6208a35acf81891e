//! The dispatcher: tails the audit log (so calls gated or escalated by any process are
//! seen, and nothing is lost across a restart: the cursor moves in the same transaction as
//! the messages it queues), and delivers due messages with retries and backoff. A message
//! whose call left `pending` is skipped; a reminder follows its call's current deadline.

use super::channels::ChannelConfig;
use super::render::{HeadNotice, Message, Summary};
use super::routes::{channels_for, Route, Subject};
use super::send::{self, Outcome};
use super::Notifier;
use crate::clock::{from_millis, to_millis};
use crate::domain::call::CallStatus;
use crate::domain::notify::{backoff_ms, reminder_at, NoticeKind, NotifySettings};
use crate::domain::risk::RiskClass;
use crate::domain::AppError;
use crate::gate::metrics::WebhookResult;
use crate::store::audit::EventRow;
use crate::store::calls::CallRow;
use crate::store::notify::{self as db, ChannelRow, OutboxRow};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

/// The audit events the dispatcher reads.
pub const EVENT_KINDS: [&str; 2] = ["call.proposed", ESCALATED];
/// A pending call moved to another audience (role or group) with a new deadline.
pub const ESCALATED: &str = "call.escalated";
/// Events read per look at the audit log.
const BATCH: i64 = 200;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;

/// Why a call was escalated, as its audit event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The role (`manager`) or named group (`group:oncall`) that decides now: what route
    /// audiences match.
    pub audience: String,
    /// The same in words ("managers", "the oncall group"), for messages.
    pub label: String,
}

/// The escalation an audit event records: `call.escalated` naming its new audience in
/// `detail.to` (and in words in `detail.to_text`).
pub fn escalation_of(event: &EventRow) -> Option<Escalation> {
    if event.kind != ESCALATED {
        return None;
    }
    let detail: serde_json::Value = serde_json::from_str(&event.detail).ok()?;
    let text = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let audience = text("to")?;
    let label = text("to_text").unwrap_or_else(|| audience.clone());
    Some(Escalation { audience, label })
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub channel_id: i64,
    pub call_id: String,
    pub kind: NoticeKind,
    pub detail: String,
    pub due: DateTime<Utc>,
}

/// What one audit event means for notifications, given the call as it is now, the enabled
/// channels' routes and reminder settings: the messages to queue (none for a call no longer
/// pending).
pub fn plan(
    event: &EventRow,
    call: &CallRow,
    routes: &[Route],
    channels: &[ChannelRow],
    settings: &NotifySettings,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    if call.status != CallStatus::Pending {
        return Vec::new();
    }
    let (kind, audience, detail) = match event.kind.as_str() {
        "call.proposed" if event.to_status.as_deref() == Some("pending") => (
            NoticeKind::Gated,
            call.approver_role
                .map_or_else(|| "approver".to_string(), |r| r.as_str().to_string()),
            "{}".to_string(),
        ),
        ESCALATED => match escalation_of(event) {
            Some(e) => (
                NoticeKind::Escalated,
                e.audience.clone(),
                serde_json::json!({ "audience": e.label }).to_string(),
            ),
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    let risk: Vec<RiskClass> = serde_json::from_str(&call.risk).unwrap_or_default();
    let subject = Subject {
        rule: call.rule.as_deref(),
        risk: &risk,
        agent: &call.agent_name,
        audience: &audience,
    };
    let mut out = Vec::new();
    for channel_id in channels_for(routes, &subject) {
        let Some(channel) = channels.iter().find(|c| c.id == channel_id && c.enabled) else {
            continue;
        };
        out.push(Planned {
            channel_id,
            call_id: call.id.clone(),
            kind,
            detail: detail.clone(),
            due: now,
        });
        if let Some(at) = reminder_due(call, channel, settings) {
            out.push(Planned {
                channel_id,
                call_id: call.id.clone(),
                kind: NoticeKind::Reminder,
                detail: "{}".into(),
                due: from_millis(at),
            });
        }
    }
    out
}

/// When a call's reminder is due on `channel` (ms), from its current deadline.
pub fn reminder_due(
    call: &CallRow,
    channel: &ChannelRow,
    settings: &NotifySettings,
) -> Option<i64> {
    let percent = channel
        .reminder_percent
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(settings.reminder_percent);
    reminder_at(call.created_at, call.deadline?, percent)
}

impl Notifier {
    /// Starts the dispatcher; it ends when the pool closes.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        let mut calls = self.gate.hub.subscribe_inbox();
        while !self.gate.pool.is_closed() {
            if let Err(e) = self.tail().await {
                if !self.gate.pool.is_closed() {
                    tracing::warn!(error = %e, "reading the audit log for notifications failed");
                }
            }
            if let Err(e) = self.publish_head().await {
                if !self.gate.pool.is_closed() {
                    tracing::warn!(error = %e, "publishing the audit head failed");
                }
            }
            if let Err(e) = self.deliver_due().await {
                if !self.gate.pool.is_closed() {
                    tracing::warn!(error = %e, "notification delivery failed");
                }
            }
            tokio::select! {
                _ = calls.recv() => {}
                _ = tokio::time::sleep(self.gate.config.watch_interval.max(std::time::Duration::from_millis(50))) => {}
            }
        }
    }

    /// Publishes the audit log's head — its newest event's id and hash — to the server log
    /// and queues it for every enabled channel, once per period of the admin's
    /// `audit_head_minutes` (periods are counted from the epoch, so instances agree and the
    /// outbox's dedupe key sends each period's head once). At start, and after the period
    /// is changed, it is logged (and, after a change, sent) at once. Returns whether it
    /// published.
    pub async fn publish_head(&self) -> Result<bool, AppError> {
        let minutes = self.settings().await?.audit_head_minutes;
        let now = self.gate.clock.now();
        let slot = match minutes {
            0 => None,
            m => Some((m, to_millis(now).div_euclid(i64::from(m) * 60_000))),
        };
        let last = {
            let mut seen = self.head_slot.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *seen, slot)
        };
        let Some((minutes, period)) = slot.filter(|s| last != Some(*s)) else {
            return Ok(false);
        };
        let Some((id, hash)) = crate::store::audit::head(&self.gate.pool).await? else {
            return Ok(false);
        };
        tracing::info!(id, hash = %hash, "audit head id={id} hash={hash}");
        // At start only the log: a restart must not send an extra message to channels.
        if last.is_none() {
            return Ok(true);
        }
        let head = HeadNotice {
            id,
            hash,
            at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let detail = serde_json::to_string(&head)
            .map_err(|e| AppError::Internal(format!("the audit head: {e}")))?;
        let channels: Vec<i64> = db::channels(&self.gate.pool)
            .await?
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| c.id)
            .collect();
        let key = format!("{minutes}m{period}");
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    for channel in channels {
                        db::enqueue_head(&mut *conn, channel, &key, &detail, now).await?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(true)
    }

    /// Turns new audit events into queued messages; returns how many were queued.
    pub async fn tail(&self) -> Result<usize, AppError> {
        let pool = &self.gate.pool;
        let Some(after) = db::cursor(pool).await? else {
            // First start: calls gated before notifications existed are not announced.
            let last = crate::store::audit::last_id(pool).await?;
            self.gate
                .writer
                .write(move |conn| Box::pin(async move { Ok(db::set_cursor(conn, last).await?) }))
                .await?;
            return Ok(0);
        };
        let (events, seen) =
            crate::store::audit::of_kinds_after(pool, &EVENT_KINDS, after, BATCH).await?;
        if seen == after {
            return Ok(0);
        }
        let mut planned = Vec::new();
        if !events.is_empty() {
            let channels = db::channels(pool).await?;
            let routes: Vec<Route> = db::routes(pool)
                .await?
                .iter()
                .filter_map(Route::compile)
                .collect();
            let settings = self.settings().await?;
            let now = self.gate.clock.now();
            if !routes.is_empty() {
                for event in &events {
                    let Some(call_id) = &event.call_id else {
                        continue;
                    };
                    let Some(call) = crate::store::calls::get(pool, call_id).await? else {
                        continue;
                    };
                    planned.extend(plan(event, &call, &routes, &channels, &settings, now));
                }
            }
        }
        let now = self.gate.clock.now();
        let queued = self
            .gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut queued = 0;
                    for p in &planned {
                        if db::enqueue(
                            &mut *conn,
                            p.channel_id,
                            &p.call_id,
                            p.kind,
                            &p.detail,
                            now,
                            p.due,
                        )
                        .await?
                        {
                            queued += 1;
                        }
                    }
                    db::set_cursor(conn, seen).await?;
                    Ok(queued)
                })
            })
            .await?;
        Ok(queued)
    }

    /// Delivers every due message, [`CONCURRENCY`] at once, and waits for them; returns
    /// how many were looked at. Rows are read again only after the batch finished, so a
    /// message is never sent twice for one attempt.
    pub async fn deliver_due(&self) -> Result<usize, AppError> {
        let now = self.gate.clock.now();
        let due = db::due(&self.gate.pool, now, 64).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let n = due.len();
        let channels = db::channels(&self.gate.pool).await?;
        let settings = self.settings().await?;
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |row| {
                let channel = channels.iter().find(|c| c.id == row.channel_id).cloned();
                let settings = &settings;
                async move {
                    if let Err(e) = self.deliver(row, channel, settings).await {
                        if !self.gate.pool.is_closed() {
                            tracing::warn!(error = %e, "notification bookkeeping failed");
                        }
                    }
                }
            })
            .await;
        Ok(n)
    }

    async fn skip(&self, id: i64, why: String) -> Result<(), AppError> {
        let now = self.gate.clock.now();
        self.gate
            .writer
            .write(move |conn| Box::pin(async move { Ok(db::skip(conn, id, now, &why).await?) }))
            .await?;
        Ok(())
    }

    async fn deliver(
        &self,
        row: OutboxRow,
        channel: Option<ChannelRow>,
        settings: &NotifySettings,
    ) -> Result<(), AppError> {
        // Another instance may have read the same due row: one claims the attempt, and
        // holds it well past the send timeout (only an instance that died lets it go).
        let now = self.gate.clock.now();
        let until = to_millis(now) + 60_000;
        // Through the writer, as part of its next commit (a write of its own would wait on
        // SQLite's lock behind the writer's commits).
        let (id, attempts) = (row.id, row.attempts);
        let claimed = self
            .gate
            .writer
            .write(move |conn| {
                Box::pin(async move { Ok(db::claim(conn, id, attempts, now, until).await?) })
            })
            .await?;
        if !claimed {
            return Ok(());
        }
        let Some(channel) = channel.filter(|c| c.enabled) else {
            return self.skip(row.id, "the channel is paused".into()).await;
        };
        let message = match (&row.call_id, row.kind) {
            (None, NoticeKind::AuditHead) => match serde_json::from_str(&row.detail) {
                Ok(head) => Message::Head(head),
                Err(e) => {
                    return self
                        .skip(row.id, format!("an unreadable audit head: {e}"))
                        .await
                }
            },
            (Some(call_id), _) => match self.call_message(&row, call_id, &channel, settings).await?
            {
                Some(message) => message,
                None => return Ok(()),
            },
            (None, _) => return self.skip(row.id, "the call is gone".into()).await,
        };
        let started = Instant::now();
        let outcome = self.send(&channel, &message, row.id, settings).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        self.record(&row, outcome, duration_ms).await
    }

    /// The message about `call_id`, or `None` when it was skipped (the call left `pending`)
    /// or put off (its reminder moved with the deadline).
    async fn call_message(
        &self,
        row: &OutboxRow,
        call_id: &str,
        channel: &ChannelRow,
        settings: &NotifySettings,
    ) -> Result<Option<Message>, AppError> {
        let Some(call) = crate::store::calls::get(&self.gate.pool, call_id).await? else {
            self.skip(row.id, "the call is gone".into()).await?;
            return Ok(None);
        };
        let now = self.gate.clock.now();
        // A due expiry counts even before the sweeper made it durable.
        let status = match call.deadline {
            Some(d) if call.status == CallStatus::Pending && to_millis(now) >= d => {
                CallStatus::Expired
            }
            _ => call.status,
        };
        if status != CallStatus::Pending {
            self.skip(
                row.id,
                format!("the call is {} (no longer pending)", status.as_str()),
            )
            .await?;
            return Ok(None);
        }
        if row.kind == NoticeKind::Reminder {
            if let Some(at) = reminder_due(&call, channel, settings) {
                if to_millis(now) < at && row.attempts == 0 {
                    // The deadline moved (extended or escalated): follow it.
                    let id = row.id;
                    self.gate
                        .writer
                        .write(move |conn| {
                            Box::pin(async move {
                                Ok(db::reschedule(conn, id, 0, from_millis(at)).await?)
                            })
                        })
                        .await?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(Message::Call(Box::new(
            self.summary(row, &call, channel, now),
        ))))
    }

    fn summary(
        &self,
        row: &OutboxRow,
        call: &CallRow,
        channel: &ChannelRow,
        now: DateTime<Utc>,
    ) -> Summary {
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap_or_default();
        let args = channel.private.then(|| {
            let text = call.approved_args.as_deref().unwrap_or(&call.args);
            serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
        });
        Summary {
            kind: row.kind,
            call_id: call.id.clone(),
            agent: call.agent_name.clone(),
            tool: call.tool.clone(),
            risk: serde_json::from_str(&call.risk).unwrap_or_default(),
            reason: call.reason.clone(),
            rule: call.rule.clone(),
            time_left_ms: call.deadline.map(|d| d - to_millis(now)),
            deadline: call.deadline.map(|d| from_millis(d).to_rfc3339()),
            link: self.link(&call.id),
            args,
            escalated_to: detail
                .get("audience")
                .and_then(|a| a.as_str())
                .map(str::to_string),
            confirm: call.confirm.clone(),
        }
    }

    async fn send(
        &self,
        channel: &ChannelRow,
        message: &Message,
        outbox_id: i64,
        settings: &NotifySettings,
    ) -> Outcome {
        let failed = |error: String| Outcome::Failed {
            status: None,
            error,
        };
        let config: ChannelConfig = match serde_json::from_str(&channel.config) {
            Ok(c) => c,
            Err(e) => return failed(format!("the channel's settings are unreadable: {e}")),
        };
        let secret = match self.key.reveal(&channel.name, &channel.secret) {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let allowed = &settings.allowed_origins;
        match &config {
            ChannelConfig::Email { .. } => send::mail(&config, &secret, message, allowed).await,
            ChannelConfig::Slack {} | ChannelConfig::Webhook { .. } => {
                let url = match config.destination(&secret) {
                    Ok(super::channels::Destination::Http(url)) => url,
                    Ok(_) => return failed("not an HTTP channel".into()),
                    Err(e) => return failed(e),
                };
                let now = self.gate.clock.now();
                let (body, headers) = match config {
                    ChannelConfig::Webhook { .. } => {
                        let body = message.webhook(&now.to_rfc3339()).to_string().into_bytes();
                        let signature =
                            crate::gate::webhooks::signature(&secret, now.timestamp(), &body);
                        (
                            body,
                            vec![
                                (crate::gate::webhooks::SIGNATURE_HEADER, signature),
                                ("Askfirst-Notification-Id", outbox_id.to_string()),
                            ],
                        )
                    }
                    _ => (message.slack().to_string().into_bytes(), Vec::new()),
                };
                send::post(&self.clients, &url, allowed, &headers, body).await
            }
        }
    }

    async fn record(
        &self,
        row: &OutboxRow,
        outcome: Outcome,
        duration_ms: i64,
    ) -> Result<(), AppError> {
        let attempt = row.attempts + 1;
        let now = self.gate.clock.now();
        let config = &self.gate.config;
        let (delivered, status, error, retry_at, result) = match outcome {
            Outcome::Delivered { status } => (true, status, None, None, WebhookResult::Delivered),
            Outcome::Refused(why) => (false, None, Some(why), None, WebhookResult::Refused),
            Outcome::Failed { status, error } => {
                let retry_at = (attempt < i64::from(config.webhook_max_attempts)).then(|| {
                    let delay = backoff_ms(
                        attempt,
                        config.webhook_retry_base.as_millis() as i64,
                        config.webhook_retry_max.as_millis() as i64,
                    );
                    now + Duration::milliseconds(delay)
                });
                let result = if retry_at.is_some() {
                    WebhookResult::Retrying
                } else {
                    WebhookResult::Failed
                };
                (false, status, Some(error), retry_at, result)
            }
        };
        if !delivered {
            tracing::info!(
                outbox = row.id,
                attempt,
                error = error.as_deref().unwrap_or(""),
                gave_up = retry_at.is_none(),
                "notification not delivered"
            );
        }
        let id = row.id;
        let recorded = self
            .gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(db::record_attempt(
                        conn,
                        &db::Attempt {
                            outbox_id: id,
                            attempt,
                            at: now,
                            status_code: status,
                            error: error.as_deref(),
                            duration_ms,
                            delivered,
                            retry_at,
                        },
                    )
                    .await?)
                })
            })
            .await?;
        if recorded {
            self.gate.metrics.notification(result);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::store::notify::RouteRow;

    fn call(status: CallStatus) -> CallRow {
        CallRow {
            id: "c1".into(),
            agent_id: "a1".into(),
            agent_name: "deploy-bot".into(),
            session: "s".into(),
            tool: "deploy".into(),
            args: "{}".into(),
            reason: None,
            context: None,
            risk: r#"["production"]"#.into(),
            alternatives: "[]".into(),
            checkpoint: None,
            callback_url: None,
            status,
            rule: Some("gate-prod".into()),
            message: None,
            approvals_required: Some(1),
            approver_role: Some(Role::Approver),
            confirm: None,
            approval_ttl_ms: None,
            deadline: Some(600_000),
            approved_args: None,
            approved_args_hash: None,
            approval_expires_at: None,
            idempotency_key: None,
            response: String::new(),
            created_at: 0,
            decided_at: None,
            executed_at: None,
            outcome: None,
            outcome_detail: None,
            finished_at: None,
            wants_receipt: false,
            candidate: 1,
            bypass_id: None,
            workflow: None,
            escalated_at: None,
            escalated_to: None,
            escalated_ids: None,
            extensions: 0,
            reason_code: None,
            retry: None,
            grant_id: None,
        }
    }

    fn channel(id: i64, percent: Option<i64>, enabled: bool) -> ChannelRow {
        ChannelRow {
            id,
            name: format!("ch{id}"),
            kind: crate::domain::notify::ChannelKind::Slack,
            config: "{}".into(),
            secret: String::new(),
            private: false,
            reminder_percent: percent,
            enabled,
            created_by: "t".into(),
            created_at: 0,
        }
    }

    fn event(kind: &str, to: Option<&str>, detail: &str) -> EventRow {
        EventRow {
            id: 1,
            at: 0,
            actor: "x".into(),
            kind: kind.into(),
            agent_id: Some("a1".into()),
            call_id: Some("c1".into()),
            from_status: None,
            to_status: to.map(str::to_string),
            detail: detail.into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn route(channel_id: i64, audience: &str) -> Route {
        Route::compile(&RouteRow {
            id: 0,
            channel_id,
            rule: "*".into(),
            risk: "*".into(),
            agent: "*".into(),
            audience: audience.into(),
        })
        .unwrap()
    }

    /// (event, call status, expected (channel, kind, due ms) list)
    #[test]
    fn events_plan_messages() {
        let routes = [route(1, "approver"), route(2, "manager"), route(3, "*")];
        let channels = [
            channel(1, None, true),
            channel(2, Some(50), true),
            channel(3, None, false),
        ];
        let settings = NotifySettings::default();
        let now = from_millis(1_000);
        let gated = event("call.proposed", Some("pending"), "{}");
        let allowed = event("call.proposed", Some("allowed"), "{}");
        let escalated = event(
            ESCALATED,
            Some("pending"),
            r#"{"to":"manager","to_text":"managers","deadline":"x"}"#,
        );
        let escalated_to_group = event(ESCALATED, None, r#"{"to":"group:oncall"}"#);
        let unknown = event(ESCALATED, None, r#"{"nothing":1}"#);
        type Expected = Vec<(i64, NoticeKind, i64)>;
        let cases: Vec<(&EventRow, CallStatus, Expected)> = vec![
            (
                &gated,
                CallStatus::Pending,
                vec![
                    (1, NoticeKind::Gated, 1_000),
                    (1, NoticeKind::Reminder, 480_000),
                ],
            ),
            (&gated, CallStatus::Approved, vec![]),
            (&allowed, CallStatus::Pending, vec![]),
            (
                &escalated,
                CallStatus::Pending,
                vec![
                    (2, NoticeKind::Escalated, 1_000),
                    (2, NoticeKind::Reminder, 300_000),
                ],
            ),
            (&escalated_to_group, CallStatus::Pending, vec![]),
            (&unknown, CallStatus::Pending, vec![]),
        ];
        for (event, status, want) in cases {
            let got: Vec<(i64, NoticeKind, i64)> =
                plan(event, &call(status), &routes, &channels, &settings, now)
                    .into_iter()
                    .map(|p| (p.channel_id, p.kind, to_millis(p.due)))
                    .collect();
            assert_eq!(got, want, "{} {:?}", event.kind, status);
        }
        assert_eq!(
            escalation_of(&escalated_to_group),
            Some(Escalation {
                audience: "group:oncall".into(),
                label: "group:oncall".into(),
            })
        );
        let planned = plan(
            &escalated,
            &call(CallStatus::Pending),
            &routes,
            &channels,
            &settings,
            now,
        );
        assert_eq!(planned[0].detail, r#"{"audience":"managers"}"#);
    }
}
