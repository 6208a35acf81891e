//! What every request handler and server function can reach.

use crate::auth::rate_limit::LoginLimiter;
use crate::clock::SharedClock;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::SqlitePool;
use std::sync::Arc;

/// Settings that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a sign-in lasts.
    pub session_ttl: chrono::Duration,
    /// Whether cookies carry `Secure` (set this behind HTTPS).
    pub secure_cookies: bool,
}

/// Shared application state: cheap to clone, handed to axum and provided to server functions.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: SqlitePool,
    pub clock: SharedClock,
    pub limiter: Arc<LoginLimiter>,
    pub settings: Arc<Settings>,
    pub gate: Arc<crate::gate::Gate>,
}
