//! What every request handler and server function can reach.

use crate::auth::rate_limit::LoginLimiter;
use crate::clock::SharedClock;
use crate::store::Pool;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// Settings that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a sign-in lasts.
    pub session_ttl: chrono::Duration,
    /// Whether cookies carry `Secure` (set this behind HTTPS).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one-time token the first-run setup needs (`None`: a random one at start).
    pub setup_token: Option<String>,
    /// Host names the server answers to besides `localhost` and its listen address
    /// (`--public-url`); requests for any other `Host` are refused (DNS rebinding).
    pub public_hosts: Vec<String>,
    /// The bearer token `GET /metrics` requires (`--metrics-token`); `None`: open.
    pub metrics_token: Option<String>,
    /// The base of links in notifications (the first `--public-url`; `None`: the listen
    /// address).
    pub public_base_url: Option<String>,
    /// The key file notification secrets are sealed with (`None`: beside the database).
    pub secrets_key_file: Option<std::path::PathBuf>,
    /// Who may sign in with a password.
    pub passwords: crate::auth::service::Passwords,
    /// The OpenID provider to sign people in with (taken into the state at start; its
    /// redirect URLs are filled in there from the public URL).
    pub oidc: Option<crate::auth::oidc::OidcConfig>,
}

impl Settings {
    /// Whether a request's `Host` header names this server, given the address it listens
    /// on: `localhost`, loopback, the listen address (any address literal when listening
    /// on all interfaces), or a `--public-url` host. The port is not compared.
    pub fn answers_to(&self, host: &str, listen: std::net::IpAddr) -> bool {
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            }),
        }
        .trim_end_matches('.')
        .to_ascii_lowercase();
        if name == "localhost" || self.public_hosts.contains(&name) {
            return true;
        }
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == listen || listen.is_unspecified(),
            Err(_) => false,
        }
    }
}

/// Shared application state: one `Arc`, so handing it to every request and server
/// function is a reference-count bump (not a copy of each field).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub pool: Pool,
    pub clock: SharedClock,
    pub limiter: Arc<LoginLimiter>,
    pub settings: Arc<Settings>,
    pub gate: Arc<crate::gate::Gate>,
    /// Notification channels, routes and their dispatcher.
    pub notifier: Arc<crate::gate::notify::Notifier>,
    /// The OpenID provider people sign in with, when one is configured.
    pub oidc: Option<Arc<crate::auth::oidc::Oidc>>,
}

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
