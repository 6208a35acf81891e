//! Notifications: admins configure channels (Slack, e-mail over SMTP, signed webhooks) and
//! routes; a background dispatcher tails the audit log for gated and escalated calls,
//! queues one message per (call, kind, channel) in a durable outbox — with a reminder before
//! the deadline — and delivers it with retries, never holding up the gate. Deliveries obey
//! the outbound-address rules of agents' callbacks (`super::callbacks`).

pub mod channels;
pub mod dispatch;
pub mod render;
pub mod routes;
pub mod secrets;
pub mod send;

use super::Gate;
use crate::domain::notify::{ChannelView, DeliveryView, NotifyPage, NotifySettings, RouteView};
use crate::domain::AppError;
use crate::store::{self, audit};
use channels::ChannelInput;
use secrets::SecretKey;
use serde_json::json;
use std::sync::Arc;

/// The admin setting holding [`NotifySettings`].
pub const SETTINGS_KEY: &str = "notifications";

/// How many deliveries the page's log shows.
pub const LOG_ROWS: i64 = 100;

/// A channel just added, with its signing secret when one was made for it (shown once).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AddedChannel {
    pub channel: ChannelView,
    pub secret_once: Option<String>,
}

/// The notification service: configuration for admins, and the dispatcher.
pub struct Notifier {
    gate: Arc<Gate>,
    key: SecretKey,
    /// The base of card links (`<base>/calls/<id>`), without a trailing slash.
    link_base: String,
    clients: super::webhooks::Clients,
    /// The audit-head period last seen (minutes, and the period's number since the epoch):
    /// the head is published when it changes.
    head_slot: std::sync::Mutex<Option<(u32, i64)>>,
}

impl Notifier {
    /// The key secrets are sealed with (channel secrets, and secrets shown once).
    pub fn secrets_key(&self) -> &SecretKey {
        &self.key
    }

    /// A notifier for `gate`, sealing secrets with `key`, linking cards under `link_base`.
    pub fn new(gate: Arc<Gate>, key: SecretKey, link_base: &str) -> Self {
        Self {
            gate,
            key,
            link_base: link_base.trim_end_matches('/').to_string(),
            clients: super::webhooks::Clients::new(),
            head_slot: std::sync::Mutex::new(None),
        }
    }

    /// The settings in force.
    pub async fn settings(&self) -> Result<NotifySettings, AppError> {
        super::settings::read(&self.gate.pool, SETTINGS_KEY).await
    }

    /// Everything the notifications page shows.
    pub async fn page(&self) -> Result<NotifyPage, AppError> {
        Ok(NotifyPage {
            channels: self.channels().await?,
            deliveries: self.deliveries(LOG_ROWS).await?,
            settings: self.settings().await?,
            link_base: self.link_base.clone(),
        })
    }

    /// Every channel with its routes; secrets masked.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, AppError> {
        let rows = store::notify::channels(&self.gate.pool).await?;
        let routes = store::notify::routes(&self.gate.pool).await?;
        Ok(rows.iter().map(|r| channels::view(r, &routes)).collect())
    }

    /// The newest `limit` deliveries, newest first.
    pub async fn deliveries(&self, limit: i64) -> Result<Vec<DeliveryView>, AppError> {
        let rows = store::notify::deliveries(&self.gate.pool, limit).await?;
        let time = |ms: i64| crate::clock::from_millis(ms).to_rfc3339();
        Ok(rows
            .into_iter()
            .map(|r| DeliveryView {
                state: if r.delivered_at.is_some() {
                    "delivered"
                } else if r.gave_up_at.is_some() {
                    "failed"
                } else if r.skipped_at.is_some() {
                    "skipped"
                } else {
                    "waiting"
                }
                .to_string(),
                id: r.id,
                channel: r.channel,
                call_id: r.call_id,
                kind: r.kind,
                attempts: r.attempts,
                last_result: r.last_result,
                due_at: time(r.next_attempt_at),
                updated_at: r
                    .delivered_at
                    .or(r.gave_up_at)
                    .or(r.skipped_at)
                    .or(r.last_at)
                    .map(time),
            })
            .collect())
    }

    /// Adds a channel (audited without its secret); a generated signing secret is in the
    /// answer and nowhere else.
    pub async fn add_channel(
        &self,
        input: &ChannelInput,
        actor: &str,
    ) -> Result<AddedChannel, AppError> {
        let checked = input.check()?;
        // A destination inside the network must be allowed first (literal addresses are
        // refused here; names are judged on what they resolve to at delivery).
        if let Ok(dest) = checked.config.destination(&checked.secret) {
            let allowed = self.settings().await?.allowed_origins;
            if let Some(why) = send::literal_refusal(&dest, &allowed) {
                return Err(AppError::Invalid(why));
            }
        }
        let (config, secret) = channels::sealed(&self.key, &checked)?;
        let now = self.gate.clock.now();
        let actor = actor.to_string();
        let name = checked.name.clone();
        let detail = json!({
            "name": checked.name,
            "kind": checked.kind.as_str(),
            "private": checked.private,
            "reminder_percent": checked.reminder_percent,
            "secret_from_env": secrets::is_env(&checked.secret),
        });
        let (kind, private, percent) = (checked.kind, checked.private, checked.reminder_percent);
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let inserted = store::notify::insert_channel(
                        &mut *conn,
                        &store::notify::NewChannel {
                            name: &name,
                            kind,
                            config: &config,
                            secret: &secret,
                            private,
                            reminder_percent: percent,
                            created_by: &actor,
                            now,
                        },
                    )
                    .await;
                    match inserted {
                        Err(e) if store::is_unique_violation(&e) => {
                            return Err(AppError::Conflict(format!(
                                "a channel named `{name}` exists already"
                            )))
                        }
                        other => other?,
                    };
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "notify.channel.added",
                            None,
                            None,
                            detail,
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        let channel = self
            .channels()
            .await?
            .into_iter()
            .find(|c| c.name == checked.name)
            .ok_or_else(|| AppError::Internal("a new channel vanished".into()))?;
        Ok(AddedChannel {
            channel,
            secret_once: checked.generated_secret.then_some(checked.secret),
        })
    }

    async fn channel_id(&self, name: &str) -> Result<i64, AppError> {
        store::notify::channel_named(&self.gate.pool, name.trim())
            .await?
            .map(|c| c.id)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "no channel `{}`",
                    crate::domain::inbox::truncate(name, 64)
                ))
            })
    }

    /// Deletes a channel with its routes and queued messages.
    pub async fn remove_channel(&self, name: &str, actor: &str) -> Result<(), AppError> {
        let id = self.channel_id(name).await?;
        let (now, actor, name) = (
            self.gate.clock.now(),
            actor.to_string(),
            name.trim().to_string(),
        );
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    if !store::notify::delete_channel(&mut *conn, id).await? {
                        return Err(AppError::NotFound(format!("no channel `{name}`")));
                    }
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "notify.channel.removed",
                            None,
                            None,
                            json!({ "name": name }),
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Pauses (`enabled` = false) or resumes a channel; a paused channel's queued messages
    /// are skipped.
    pub async fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
    ) -> Result<(), AppError> {
        let id = self.channel_id(name).await?;
        let (now, actor, name) = (
            self.gate.clock.now(),
            actor.to_string(),
            name.trim().to_string(),
        );
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    store::notify::set_enabled(&mut *conn, id, enabled).await?;
                    let kind = if enabled {
                        "notify.channel.enabled"
                    } else {
                        "notify.channel.disabled"
                    };
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            kind,
                            None,
                            None,
                            json!({ "name": name }),
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Adds a route to channel `channel`; empty filters mean `*`.
    pub async fn add_route(
        &self,
        channel: &str,
        filters: [&str; 4],
        actor: &str,
    ) -> Result<RouteView, AppError> {
        let channel_id = self.channel_id(channel).await?;
        let [rule, risk, agent, audience] =
            routes::check(filters[0], filters[1], filters[2], filters[3])?;
        let row = store::notify::RouteRow {
            id: 0,
            channel_id,
            rule,
            risk,
            agent,
            audience,
        };
        let (now, actor, channel) = (
            self.gate.clock.now(),
            actor.to_string(),
            channel.trim().to_string(),
        );
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let id = store::notify::insert_route(&mut *conn, &row, now).await?;
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "notify.route.added",
                            None,
                            None,
                            json!({ "channel": channel, "route": id, "rule": row.rule,
                                    "risk": row.risk, "agent": row.agent, "audience": row.audience }),
                        ),
                    )
                    .await?;
                    Ok(RouteView {
                        id,
                        channel_id: row.channel_id,
                        rule: row.rule,
                        risk: row.risk,
                        agent: row.agent,
                        audience: row.audience,
                    })
                })
            })
            .await
    }

    /// Removes a route.
    pub async fn remove_route(&self, id: i64, actor: &str) -> Result<(), AppError> {
        let (now, actor) = (self.gate.clock.now(), actor.to_string());
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let Some(route) = store::notify::delete_route(&mut *conn, id).await? else {
                        return Err(AppError::NotFound(format!("no route #{id}")));
                    };
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "notify.route.removed",
                            None,
                            None,
                            json!({ "route": id, "channel_id": route.channel_id }),
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Saves the settings every channel shares (audited as `settings.changed`).
    pub async fn save_settings(
        &self,
        reminder_percent: &str,
        allowed_origins: &str,
        audit_head_minutes: &str,
        actor: &str,
    ) -> Result<NotifySettings, AppError> {
        use crate::domain::notify::{DEFAULT_AUDIT_HEAD_MINUTES, MAX_AUDIT_HEAD_MINUTES};
        let audit_head_minutes = match audit_head_minutes.trim() {
            "" => DEFAULT_AUDIT_HEAD_MINUTES,
            text => text
                .parse::<u32>()
                .ok()
                .filter(|m| *m <= MAX_AUDIT_HEAD_MINUTES)
                .ok_or_else(|| {
                    AppError::Invalid(format!(
                        "the audit head is published every 1-{MAX_AUDIT_HEAD_MINUTES} minutes, \
                         or 0 for never"
                    ))
                })?,
        };
        if allowed_origins.len() > 20_000 {
            return Err(AppError::TooLarge("too many allowed destinations".into()));
        }
        let reminder_percent = match reminder_percent.trim() {
            "" => crate::domain::notify::DEFAULT_REMINDER_PERCENT,
            text => crate::domain::notify::parse_percent(text).map_err(AppError::Invalid)?,
        };
        let mut origins = Vec::new();
        for line in allowed_origins
            .split(['\n', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let origin = channels::check_origin(line)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.len() > 100 {
            return Err(AppError::Invalid("at most 100 allowed destinations".into()));
        }
        let settings = NotifySettings {
            reminder_percent,
            allowed_origins: origins,
            audit_head_minutes,
        };
        let (now, actor, saved) = (self.gate.clock.now(), actor.to_string(), settings.clone());
        self.gate
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    super::settings::save(conn, SETTINGS_KEY, &saved, &actor, now).await
                })
            })
            .await?;
        Ok(settings)
    }

    /// The card link of a call.
    pub fn link(&self, call_id: &str) -> String {
        format!("{}/calls/{call_id}", self.link_base)
    }
}
