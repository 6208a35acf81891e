//! Sending one message: an HTTP POST (Slack, signed webhooks) through the callbacks'
//! guarded client, or an e-mail over SMTP to an address checked the same way — resolved
//! here, refused when only internal addresses answer (unless allowed), and connected to by
//! address so the name cannot resolve differently between the check and the connection.

use super::channels::{ChannelConfig, Destination, SmtpTls};
use super::render::Message;
use crate::gate::callbacks::{
    is_internal, literal_refusal as url_refusal, origin_allowed, refusal_in,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Time an SMTP server gets for the whole exchange.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (HTTP 2xx, or SMTP accepted the mail).
    Delivered { status: Option<u16> },
    /// Not accepted; worth trying again.
    Failed { status: Option<u16>, error: String },
    /// The destination is inside the network and not allowed: never retried.
    Refused(String),
}

/// Why a destination whose host is a literal internal address may not be used, if so.
pub fn literal_refusal(dest: &Destination, allowed: &[String]) -> Option<String> {
    match dest {
        Destination::Http(url) => url_refusal(url, allowed).map(|_| {
            format!(
                "{} is inside the network; allow it under \"Allowed destinations\" first",
                url.origin().ascii_serialization()
            )
        }),
        Destination::Smtp { host, .. } => {
            let ip: IpAddr = host.parse().ok()?;
            let origin = dest.origin();
            (is_internal(ip) && !allowed.contains(&origin)).then(|| {
                format!(
                    "{origin} is inside the network; allow it under \"Allowed destinations\" first"
                )
            })
        }
    }
}

/// POSTs `body` as JSON to `url` with `headers`.
pub async fn post(
    clients: &crate::gate::webhooks::Clients,
    url: &reqwest::Url,
    allowed: &[String],
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Outcome {
    if let Some(why) = literal_refusal(&Destination::Http(url.clone()), allowed) {
        return Outcome::Refused(why);
    }
    let mut req = clients
        .pick(origin_allowed(url, allowed))
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    match req.body(body).send().await {
        Ok(res) if res.status().is_success() => Outcome::Delivered {
            status: Some(res.status().as_u16()),
        },
        Ok(res) => Outcome::Failed {
            status: Some(res.status().as_u16()),
            error: format!("receiver answered {}", res.status().as_u16()),
        },
        Err(e) => match refusal_in(&e) {
            Some(why) => Outcome::Refused(why),
            // Never the URL: a Slack webhook's URL is its secret.
            None => Outcome::Failed {
                status: None,
                error: describe(&e),
            },
        },
    }
}

/// A delivery error in words, without the URL (which may be a secret).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected (not followed)"
    } else {
        "request failed"
    };
    let mut cause = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(c) = cause {
        detail = c.to_string();
        cause = c.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", super::render::clean(&detail, 200))
    }
}

/// The address to connect to for an SMTP host: its first address outside the network, or
/// any when its origin is allowed.
async fn smtp_address(host: &str, port: u16, allowed: &[String]) -> Result<SocketAddr, Outcome> {
    let origin = Destination::Smtp {
        host: host.to_string(),
        port,
    }
    .origin();
    let trusted = allowed.contains(&origin);
    let found: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            return Err(Outcome::Failed {
                status: None,
                error: format!("could not resolve {host}: {e}"),
            })
        }
    };
    found
        .iter()
        .copied()
        .find(|a| trusted || !is_internal(a.ip()))
        .ok_or_else(|| {
            Outcome::Refused(format!(
                "{host} resolves only to addresses inside the network; allow {origin} under \
                 \"Allowed destinations\" first"
            ))
        })
}

/// Sends `notice` as an e-mail through the channel's SMTP server.
pub async fn mail(
    config: &ChannelConfig,
    password: &str,
    notice: &Message,
    allowed: &[String],
) -> Outcome {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    let ChannelConfig::Email {
        host,
        port,
        tls,
        username,
        from,
        to,
    } = config
    else {
        return Outcome::Failed {
            status: None,
            error: "not an e-mail channel".into(),
        };
    };
    let failed = |error: String| Outcome::Failed {
        status: None,
        error: super::render::clean(&error, 300),
    };
    let addr = match smtp_address(host, *port, allowed).await {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    let mut message = lettre::Message::builder().subject(notice.subject());
    match from.parse::<Mailbox>() {
        Ok(m) => message = message.from(m),
        Err(e) => return failed(format!("the sender address: {e}")),
    }
    for rcpt in to {
        match rcpt.parse::<Mailbox>() {
            Ok(m) => message = message.to(m),
            Err(e) => return failed(format!("recipient {rcpt}: {e}")),
        }
    }
    let message = match message.multipart(MultiPart::alternative_plain_html(
        notice.mail_text(),
        notice.mail_html(),
    )) {
        Ok(m) => m,
        Err(e) => return failed(format!("building the message: {e}")),
    };
    let tls = match tls {
        SmtpTls::None => Tls::None,
        mode => match TlsParameters::new(host.clone()) {
            Ok(params) if *mode == SmtpTls::Tls => Tls::Wrapper(params),
            Ok(params) => Tls::Required(params),
            Err(e) => return failed(format!("TLS for {host}: {e}")),
        },
    };
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
    if let Some(user) = username {
        transport = transport.credentials(Credentials::new(user.clone(), password.to_string()));
    }
    match transport.build().send(message).await {
        // SMTP has no HTTP status: delivered mail records none.
        Ok(_) => Outcome::Delivered { status: None },
        Err(e) => failed(format!("SMTP: {e}")),
    }
}
