//! What a channel is made of: the settings that are not secret (stored as JSON), the one
//! secret each kind has, and the checks a new channel passes before it is stored.

use super::secrets::{self, SecretKey};
use crate::domain::notify::{ChannelKind, ChannelView, RouteView};
use crate::domain::AppError;
use crate::store::notify::{ChannelRow, RouteRow};
use serde::{Deserialize, Serialize};

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
    /// No encryption: only for a relay on a trusted network (an allowed destination).
    None,
}

impl std::str::FromStr for SmtpTls {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        match s {
            "" | "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            _ => Err(AppError::Invalid(
                "SMTP security is `starttls`, `tls` or `none`".into(),
            )),
        }
    }
}

/// A channel's settings that are not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// The incoming-webhook URL is the secret.
    Slack {},
    /// The password is the secret (empty: no authentication).
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        username: Option<String>,
        from: String,
        to: Vec<String>,
    },
    /// The signing secret is the secret.
    Webhook { url: String },
}

/// What an admin submits to add a channel.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    pub name: String,
    pub kind: String,
    /// Slack: the incoming-webhook URL (or `env:NAME`); webhook: where to POST.
    pub url: String,
    /// Webhook: the signing secret (empty: one is made and shown once); e-mail: the SMTP
    /// password (empty: no authentication). Either may be `env:NAME`.
    pub secret: String,
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_tls: String,
    pub smtp_username: String,
    pub mail_from: String,
    pub mail_to: String,
    pub private: bool,
    /// Empty: the global default.
    pub reminder_percent: String,
}

/// A checked channel, ready to store: its config, its secret in clear (to be sealed), and
/// the destination origin outbound rules judge (`https://host:port`, `smtp://host:port`).
#[derive(Debug, Clone)]
pub struct CheckedChannel {
    pub name: String,
    pub kind: ChannelKind,
    pub config: ChannelConfig,
    pub secret: String,
    /// Whether the secret was made here (it is shown once).
    pub generated_secret: bool,
    pub private: bool,
    pub reminder_percent: Option<u8>,
}

const MAX_FIELD: usize = 2_000;

fn field<'a>(what: &str, text: &'a str, max: usize) -> Result<&'a str, AppError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(AppError::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(text)
}

/// An http(s) URL with a host.
pub fn check_url(what: &str, text: &str) -> Result<reqwest::Url, AppError> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| AppError::Invalid(format!("{what} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AppError::Invalid(format!(
            "{what} must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

/// A plausible e-mail address (`name@host`, no spaces or angle brackets).
fn check_address(what: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    let ok = text.len() <= 254
        && text.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && !d.is_empty() && !d.starts_with('.') && !d.ends_with('.')
        })
        && !text.contains(|c: char| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if ok {
        Ok(text.to_string())
    } else {
        Err(AppError::Invalid(format!(
            "{what}: `{}` is not an e-mail address",
            crate::domain::inbox::truncate(text, 60)
        )))
    }
}

impl ChannelInput {
    /// Checks everything an admin typed; the error says what to fix.
    pub fn check(&self) -> Result<CheckedChannel, AppError> {
        let name = field("the name", &self.name, 64)?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(AppError::Invalid(
                "a channel name is 1-64 letters, digits, `.`, `_` or `-`".into(),
            ));
        }
        let kind: ChannelKind = self.kind.trim().parse().map_err(AppError::Invalid)?;
        let reminder_percent = match self.reminder_percent.trim() {
            "" => None,
            text => Some(crate::domain::notify::parse_percent(text).map_err(AppError::Invalid)?),
        };
        let secret = field("the secret", &self.secret, MAX_FIELD)?.to_string();
        let url = field("the URL", &self.url, MAX_FIELD)?;
        let (config, secret, generated_secret) = match kind {
            ChannelKind::Slack => {
                if url.is_empty() {
                    return Err(AppError::Invalid(
                        "a Slack channel needs its incoming-webhook URL (or `env:NAME`)".into(),
                    ));
                }
                match url.strip_prefix("env:") {
                    Some(var) => secrets::check_env_name(var)?,
                    None => {
                        check_url("the Slack webhook URL", url)?;
                    }
                }
                (ChannelConfig::Slack {}, url.to_string(), false)
            }
            ChannelKind::Webhook => {
                check_url("the webhook URL", url)?;
                let (secret, generated) = if secret.is_empty() {
                    (crate::auth::token::generate(), true)
                } else {
                    (secret, false)
                };
                (
                    ChannelConfig::Webhook {
                        url: url.to_string(),
                    },
                    secret,
                    generated,
                )
            }
            ChannelKind::Email => {
                let host = field("the SMTP host", &self.smtp_host, 253)?;
                if host.is_empty()
                    || !host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
                {
                    return Err(AppError::Invalid(
                        "the SMTP host is a host name or address".into(),
                    ));
                }
                let tls: SmtpTls = self.smtp_tls.trim().parse()?;
                let port = match self.smtp_port.trim() {
                    "" => match tls {
                        SmtpTls::Tls => 465,
                        SmtpTls::Starttls => 587,
                        SmtpTls::None => 25,
                    },
                    p => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        AppError::Invalid("the SMTP port is a number from 1 to 65535".into())
                    })?,
                };
                let username = field("the SMTP user", &self.smtp_username, 254)?;
                let from = check_address("the sender", &self.mail_from)?;
                let to = field("the recipients", &self.mail_to, MAX_FIELD)?
                    .split([',', ';', '\n'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| check_address("a recipient", t))
                    .collect::<Result<Vec<_>, _>>()?;
                if to.is_empty() || to.len() > 50 {
                    return Err(AppError::Invalid(
                        "an e-mail channel needs 1 to 50 recipients".into(),
                    ));
                }
                if !username.is_empty() && secret.is_empty() {
                    return Err(AppError::Invalid(
                        "an SMTP user needs a password (or `env:NAME`)".into(),
                    ));
                }
                (
                    ChannelConfig::Email {
                        host: host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_string(),
                        port,
                        tls,
                        username: (!username.is_empty()).then(|| username.to_string()),
                        from,
                        to,
                    },
                    secret,
                    false,
                )
            }
        };
        if let Some(var) = secret.strip_prefix("env:") {
            secrets::check_env_name(var)?;
        }
        Ok(CheckedChannel {
            name: name.to_string(),
            kind,
            config,
            secret,
            generated_secret,
            private: self.private,
            reminder_percent,
        })
    }
}

impl ChannelConfig {
    /// The destination outbound rules judge, and the URL to POST to (HTTP kinds), given the
    /// channel's secret in clear.
    pub fn destination(&self, secret: &str) -> Result<Destination, String> {
        match self {
            ChannelConfig::Slack {} => {
                let url = reqwest::Url::parse(secret)
                    .map_err(|_| "the stored Slack webhook URL is not a URL".to_string())?;
                Ok(Destination::Http(url))
            }
            ChannelConfig::Webhook { url } => reqwest::Url::parse(url)
                .map(Destination::Http)
                .map_err(|_| "the stored webhook URL is not a URL".to_string()),
            ChannelConfig::Email { host, port, .. } => Ok(Destination::Smtp {
                host: host.clone(),
                port: *port,
            }),
        }
    }
}

/// Where a channel's messages go.
#[derive(Debug, Clone)]
pub enum Destination {
    Http(reqwest::Url),
    Smtp { host: String, port: u16 },
}

impl Destination {
    /// `https://host:port` or `smtp://host:port`: what the allowed-destinations list names.
    pub fn origin(&self) -> String {
        match self {
            Destination::Http(url) => url.origin().ascii_serialization(),
            Destination::Smtp { host, port } => {
                if host.contains(':') {
                    format!("smtp://[{host}]:{port}")
                } else {
                    format!("smtp://{}:{port}", host.to_ascii_lowercase())
                }
            }
        }
    }
}

/// Normalises an allowed destination an admin typed: an http(s) origin or `smtp://host:port`.
pub fn check_origin(text: &str) -> Result<String, AppError> {
    let text = text.trim().trim_end_matches('/');
    if let Some(rest) = text.strip_prefix("smtp://") {
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            AppError::Invalid(format!("`{text}`: an SMTP destination is smtp://host:port"))
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| AppError::Invalid(format!("`{text}`: the port is a number")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
        {
            return Err(AppError::Invalid(format!("`{text}`: not a host")));
        }
        return Ok(Destination::Smtp {
            host: host.to_string(),
            port,
        }
        .origin());
    }
    let url = check_url(&format!("`{text}`"), text)?;
    if url.path() != "/" || url.query().is_some() {
        return Err(AppError::Invalid(format!(
            "`{text}`: an allowed destination is an origin (scheme://host:port), without a path"
        )));
    }
    Ok(url.origin().ascii_serialization())
}

/// A stored channel as admins see it.
pub fn view(row: &ChannelRow, routes: &[RouteRow]) -> ChannelView {
    let config: Option<ChannelConfig> = serde_json::from_str(&row.config).ok();
    let target = match (&config, row.kind) {
        (Some(ChannelConfig::Slack {}), _) => secrets::mask_url(&row.secret_hint_source()),
        (Some(ChannelConfig::Webhook { url }), _) => {
            format!(
                "{url} (signing secret {})",
                secrets::mask_secret(&row.secret)
            )
        }
        (
            Some(ChannelConfig::Email {
                host,
                port,
                tls,
                username,
                from,
                to,
            }),
            _,
        ) => format!(
            "{} → {} via {host}:{port} ({}{})",
            from,
            to.join(", "),
            match tls {
                SmtpTls::Starttls => "STARTTLS",
                SmtpTls::Tls => "TLS",
                SmtpTls::None => "no TLS",
            },
            match username {
                Some(u) => format!(", user {u}, password {}", secrets::mask_secret(&row.secret)),
                None => String::new(),
            }
        ),
        (None, kind) => format!("unreadable {} settings", kind.as_str()),
    };
    ChannelView {
        id: row.id,
        name: row.name.clone(),
        kind: row.kind,
        target,
        secret_from_env: secrets::is_env(&row.secret),
        private: row.private,
        reminder_percent: row.reminder_percent.and_then(|p| u8::try_from(p).ok()),
        enabled: row.enabled,
        routes: routes
            .iter()
            .filter(|r| r.channel_id == row.id)
            .map(|r| RouteView {
                id: r.id,
                channel_id: r.channel_id,
                rule: r.rule.clone(),
                risk: r.risk.clone(),
                agent: r.agent.clone(),
                audience: r.audience.clone(),
            })
            .collect(),
        created_at: crate::clock::from_millis(row.created_at).to_rfc3339(),
    }
}

impl ChannelRow {
    /// What a Slack channel's masked target is made from: the `env:` reference, or a
    /// placeholder URL shape when sealed (the host is all that is shown).
    fn secret_hint_source(&self) -> String {
        if secrets::is_env(&self.secret) {
            return self.secret.clone();
        }
        match serde_json::from_str::<serde_json::Value>(&self.config)
            .ok()
            .and_then(|c| c.get("hint").and_then(|h| h.as_str()).map(str::to_string))
        {
            Some(hint) => hint,
            None => "••••".into(),
        }
    }
}

/// Seals a checked channel's secret; for Slack, the config keeps the masked URL (never
/// the URL) so the page can show which workspace it posts to.
pub fn sealed(key: &SecretKey, channel: &CheckedChannel) -> Result<(String, String), AppError> {
    let mut config = serde_json::to_value(&channel.config)
        .map_err(|e| AppError::Internal(format!("channel settings: {e}")))?;
    if channel.kind == ChannelKind::Slack && !secrets::is_env(&channel.secret) {
        config["hint"] = serde_json::Value::String(secrets::mask_url(&channel.secret));
    }
    let secret = if channel.secret.is_empty() {
        String::new()
    } else {
        key.store(&channel.name, &channel.secret)?
    };
    Ok((config.to_string(), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(url: &str) -> ChannelInput {
        ChannelInput {
            name: "ops".into(),
            kind: "slack".into(),
            url: url.into(),
            ..ChannelInput::default()
        }
    }

    #[test]
    fn inputs_are_checked() {
        let email = ChannelInput {
            name: "mail".into(),
            kind: "email".into(),
            smtp_host: "smtp.example.com".into(),
            mail_from: "askfirst@example.com".into(),
            mail_to: "ops@example.com, lead@example.com".into(),
            ..ChannelInput::default()
        };
        let cases: Vec<(ChannelInput, Result<(), &str>)> = vec![
            (slack("https://hooks.slack.com/services/T/B/x"), Ok(())),
            (slack("env:SLACK_URL"), Ok(())),
            (slack(""), Err("incoming-webhook URL")),
            (slack("ftp://x/y"), Err("http(s)")),
            (slack("env:BAD-NAME"), Err("environment variable")),
            (
                ChannelInput {
                    name: "bad name".into(),
                    ..slack("https://h/x")
                },
                Err("channel name"),
            ),
            (
                ChannelInput {
                    reminder_percent: "100".into(),
                    ..slack("https://h/x")
                },
                Err("1 to 99"),
            ),
            (email.clone(), Ok(())),
            (
                ChannelInput {
                    mail_to: "".into(),
                    ..email.clone()
                },
                Err("recipients"),
            ),
            (
                ChannelInput {
                    mail_to: "a@b, <x>@y".into(),
                    ..email.clone()
                },
                Err("not an e-mail address"),
            ),
            (
                ChannelInput {
                    smtp_username: "bot".into(),
                    ..email.clone()
                },
                Err("needs a password"),
            ),
            (
                ChannelInput {
                    smtp_port: "99999".into(),
                    ..email.clone()
                },
                Err("port"),
            ),
            (
                ChannelInput {
                    kind: "webhook".into(),
                    url: "https://example.com/hook".into(),
                    ..ChannelInput::default()
                },
                Err("channel name"),
            ),
        ];
        for (input, want) in cases {
            let got = input.check();
            match (got, want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{input:?}: {e}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
        let made = ChannelInput {
            name: "hook".into(),
            kind: "webhook".into(),
            url: "https://example.com/hook".into(),
            ..ChannelInput::default()
        }
        .check()
        .unwrap();
        assert!(made.generated_secret && made.secret.len() >= 32);
        match email.check().unwrap().config {
            ChannelConfig::Email { port, to, .. } => {
                assert_eq!(port, 587);
                assert_eq!(to.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn origins_are_normalised() {
        let cases = [
            ("http://127.0.0.1:9000", Ok("http://127.0.0.1:9000")),
            ("https://Hooks.Internal/", Ok("https://hooks.internal")),
            ("smtp://127.0.0.1:2525", Ok("smtp://127.0.0.1:2525")),
            ("smtp://Mail.Internal:25", Ok("smtp://mail.internal:25")),
            ("smtp://mail", Err(())),
            ("http://x/path", Err(())),
            ("nonsense", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(
                check_origin(text).map_err(|_| ()),
                want.map(str::to_string),
                "{text}"
            );
        }
    }

    #[test]
    fn views_never_hold_a_secret() {
        let key = SecretKey::from_bytes(&[1; 32]);
        let url = "https://hooks.slack.com/services/T0/B0/SECRETSECRETwxyz";
        let checked = slack(url).check().unwrap();
        let (config, secret) = sealed(&key, &checked).unwrap();
        let row = ChannelRow {
            id: 1,
            name: "ops".into(),
            kind: ChannelKind::Slack,
            config,
            secret,
            private: false,
            reminder_percent: None,
            enabled: true,
            created_by: "t".into(),
            created_at: 0,
        };
        let view = view(&row, &[]);
        assert_eq!(view.target, "https://hooks.slack.com/…/••••wxyz");
        assert!(!serde_json::to_string(&view).unwrap().contains("SECRET"));
    }
}
