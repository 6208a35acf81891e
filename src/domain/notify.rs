//! Notifications as people see and configure them: channels (Slack, e-mail, signed
//! webhooks), routes that say which gated calls go where, the delivery log, and the pure
//! rules of timing — when a reminder is due and how long a failed delivery waits.

use serde::{Deserialize, Serialize};

/// Where a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A Slack incoming webhook (Block Kit message).
    Slack,
    /// E-mail over SMTP.
    Email,
    /// A generic webhook, signed like agents' callbacks.
    Webhook,
}

impl ChannelKind {
    /// Every kind, in the order forms list them.
    pub const ALL: [ChannelKind; 3] =
        [ChannelKind::Slack, ChannelKind::Email, ChannelKind::Webhook];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Slack => "Slack",
            ChannelKind::Email => "E-mail (SMTP)",
            ChannelKind::Webhook => "Signed webhook",
        }
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown channel kind `{s}` (slack, email or webhook)"))
    }
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A call was gated and waits for people.
    Gated,
    /// A pending call's deadline is near.
    Reminder,
    /// A pending call moved to another audience (with a new deadline).
    Escalated,
    /// The audit log's newest event, published so that a copy lives outside the database.
    AuditHead,
}

impl NoticeKind {
    /// The stored name (also the generic webhook's `event`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Gated => "gated",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Escalated => "escalated",
            NoticeKind::AuditHead => "audit_head",
        }
    }
}

/// A channel as admins see it: secrets only masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Where it delivers, with every secret masked (`https://hooks.slack.com/…/••••abcd`).
    pub target: String,
    /// Whether the secret is stored encrypted (`false`: read from an environment variable).
    pub secret_from_env: bool,
    /// Whether messages may carry the call's arguments.
    pub private: bool,
    /// Percent of a call's time left when its reminder goes (`None`: the global default).
    pub reminder_percent: Option<u8>,
    pub enabled: bool,
    pub routes: Vec<RouteView>,
    pub created_at: String,
}

/// Which gated calls a channel hears about: every filter must match (`*`: anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub id: i64,
    pub channel_id: i64,
    /// Glob over the gate rule's name.
    pub rule: String,
    /// A risk class the call carries, or `*`.
    pub risk: String,
    /// Glob over the agent's name.
    pub agent: String,
    /// Glob over who approves: the call's approver role, or the role or group it was
    /// escalated to.
    pub audience: String,
}

/// One delivery in the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub channel: String,
    /// The call it is about (none for the audit head).
    pub call_id: Option<String>,
    pub kind: NoticeKind,
    /// `waiting`, `delivered`, `failed` (gave up), `skipped` (the call left `pending`).
    pub state: String,
    pub attempts: i64,
    /// The latest attempt's HTTP status or SMTP outcome, or why it failed.
    pub last_result: Option<String>,
    pub due_at: String,
    pub updated_at: Option<String>,
}

/// Settings that apply to every channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySettings {
    /// Percent of a call's time left when its reminder goes out (1-99).
    pub reminder_percent: u8,
    /// Destinations inside the network (`https://host:port`, `smtp://host:port`) that
    /// channels may reach; every other internal address is refused, as for callbacks.
    pub allowed_origins: Vec<String>,
    /// Every how many minutes the audit log's head (newest event id and hash) goes to the
    /// server log and every enabled channel; 0: never.
    #[serde(default = "default_audit_head_minutes")]
    pub audit_head_minutes: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            reminder_percent: DEFAULT_REMINDER_PERCENT,
            allowed_origins: Vec::new(),
            audit_head_minutes: DEFAULT_AUDIT_HEAD_MINUTES,
        }
    }
}

/// Default head publication: hourly.
pub const DEFAULT_AUDIT_HEAD_MINUTES: u32 = 60;
/// Longest period between head publications: a week.
pub const MAX_AUDIT_HEAD_MINUTES: u32 = 7 * 24 * 60;

fn default_audit_head_minutes() -> u32 {
    DEFAULT_AUDIT_HEAD_MINUTES
}

/// Default reminder: when 20 % of a call's time is left.
pub const DEFAULT_REMINDER_PERCENT: u8 = 20;

/// Everything the notifications page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyPage {
    pub channels: Vec<ChannelView>,
    pub deliveries: Vec<DeliveryView>,
    pub settings: NotifySettings,
    /// The base of the links in messages (`<base>/calls/<id>`).
    pub link_base: String,
}

/// Parses a reminder percentage: 1 to 99.
pub fn parse_percent(text: &str) -> Result<u8, String> {
    let text = text.trim().trim_end_matches('%').trim();
    match text.parse::<u8>() {
        Ok(n) if (1..=99).contains(&n) => Ok(n),
        _ => Err(format!(
            "a reminder is given as the percent of time left, 1 to 99 (got `{}`)",
            text.chars().take(20).collect::<String>()
        )),
    }
}

/// When a call created at `created_ms` with deadline `deadline_ms` is reminded: when
/// `percent` of its time is left. `None` when it has no time to speak of (the deadline is not
/// after its creation).
pub fn reminder_at(created_ms: i64, deadline_ms: i64, percent: u8) -> Option<i64> {
    let total = deadline_ms.checked_sub(created_ms).filter(|t| *t > 0)?;
    let left = total.saturating_mul(i64::from(percent.min(100))) / 100;
    Some(deadline_ms - left)
}

/// The wait after failed attempt number `attempt` (1-based): `base` doubled per attempt,
/// at most `max`.
pub fn backoff_ms(attempt: i64, base_ms: i64, max_ms: i64) -> i64 {
    let shift = (attempt.max(1) - 1).min(30) as u32;
    base_ms.saturating_mul(1_i64 << shift).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_come_when_the_share_of_time_is_left() {
        let cases = [
            // (created, deadline, percent, expected)
            (0, 100_000, 20, Some(80_000)),
            (0, 100_000, 50, Some(50_000)),
            (1_000, 601_000, 20, Some(481_000)),
            (0, 3_600_000, 10, Some(3_240_000)),
            (0, 1, 20, Some(1)),
            (5_000, 5_000, 20, None),
            (5_000, 4_000, 20, None),
        ];
        for (created, deadline, percent, want) in cases {
            assert_eq!(
                reminder_at(created, deadline, percent),
                want,
                "{created}..{deadline} at {percent}%"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let cases = [
            (1, 1_000, 300_000, 1_000),
            (2, 1_000, 300_000, 2_000),
            (5, 1_000, 300_000, 16_000),
            (10, 1_000, 300_000, 300_000),
            (0, 1_000, 300_000, 1_000),
            (200, 1_000, 300_000, 300_000),
            (63, i64::MAX / 2, i64::MAX, i64::MAX),
        ];
        for (attempt, base, max, want) in cases {
            assert_eq!(backoff_ms(attempt, base, max), want, "attempt {attempt}");
        }
    }

    #[test]
    fn percents_are_between_one_and_ninety_nine() {
        let cases = [
            ("20", Ok(20)),
            (" 5 % ", Ok(5)),
            ("99", Ok(99)),
            ("0", Err(())),
            ("100", Err(())),
            ("-3", Err(())),
            ("lots", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_percent(text).map_err(|_| ()), want, "{text}");
        }
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>(), Ok(kind));
        }
        assert!("sms".parse::<ChannelKind>().is_err());
    }
}
