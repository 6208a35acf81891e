//! Starting and stopping the server.

use super::{
    http::router,
    listen::{self, ConnectionLimits},
    state::{AppState, Settings, Shared},
};
use crate::auth::rate_limit::LoginLimiter;
use crate::clock::SharedClock;
use crate::gate::{background, Gate, GateConfig};
use crate::store;
use anyhow::Context;
use leptos::prelude::LeptosOptions;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{sync::oneshot, task::JoinHandle};

/// How long a stopping server waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// SQLite database file; created on first start.
    pub db: crate::store::Location,
    /// Directory holding the built site (`pkg/` with the wasm bundle, styles, assets).
    pub site_root: PathBuf,
    /// Settings handed to the handlers.
    pub settings: Settings,
    /// Gate tunables (webhook retries, watch interval).
    pub gate: GateConfig,
    /// Per-connection limits (header size, slow clients).
    pub limits: ConnectionLimits,
}

/// A started server.
pub struct Running {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// The state its handlers share.
    pub state: AppState,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    ///
    /// In-flight requests get [`SHUTDOWN_GRACE`] to finish (event streams end at once);
    /// connections still open after that are closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.state.gate.hub.shut_down();
        let _ = self.shutdown.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(result) => result?,
            Err(_) => {
                tracing::warn!(
                    "requests still running after the shutdown grace period; closing them"
                );
                self.task.abort();
            }
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, self.state.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still busy at shutdown");
        }
        Ok(())
    }

    /// Waits until the server stops (after [`Running::stop`] or an error).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await?;
        Ok(())
    }
}

/// Opens the database, binds the address and starts serving in the background.
pub async fn start(config: ServeConfig, clock: SharedClock) -> anyhow::Result<Running> {
    let pool = store::open(&config.db).await?;
    store::check_audit_key(&pool).await?;
    let listener =
        listen::bind(config.addr).with_context(|| format!("listening on {}", config.addr))?;
    let addr = listener.local_addr()?;

    let leptos_options = LeptosOptions::builder()
        .output_name("askfirst")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let gate = Gate::open(pool.clone(), clock.clone(), config.gate.clone())
        .await
        .map_err(|e| anyhow::anyhow!("opening the gate: {e}"))?;
    background::start(gate.clone());
    if let Some(path) = config.db.sqlite_path() {
        // The CLI's writes reach this server before its next answer.
        tokio::spawn(crate::gate::local_notice::listen(
            gate.clone(),
            crate::gate::local_notice::socket_path(path),
        ));
    }
    let mut settings = config.settings;
    let key = crate::gate::notify::secrets::SecretKey::for_db(
        &config.db,
        settings.secrets_key_file.as_deref(),
    )?;
    let link_base = settings
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    gate.start_receipts(key.clone(), &link_base)
        .await
        .map_err(|e| anyhow::anyhow!("starting receipt signing: {e}"))?;
    let notifier = Arc::new(crate::gate::notify::Notifier::new(
        gate.clone(),
        key,
        &link_base,
    ));
    notifier.start();
    let token = settings
        .setup_token
        .get_or_insert_with(crate::auth::token::generate)
        .clone();
    if !crate::store::users::any(&pool).await? {
        // Through the public URL when there is one: behind a proxy, that is where people go.
        let link = format!("{}/setup?token={token}", link_base.trim_end_matches('/'));
        println!("askfirst: nobody has an account yet. Create the first admin at {link}");
        tracing::warn!(%link, "nobody has an account yet: create the first admin with this one-time link");
    }
    if let crate::auth::service::Passwords::BreakGlassOnly(keep) = &settings.passwords {
        let ended = store::sessions::delete_password_sessions(&pool, keep).await?;
        if ended > 0 {
            tracing::warn!(
                ended,
                "password sign-in is off (--oidc-only): sessions opened with a password ended"
            );
        }
        for name in keep {
            match store::users::find_by_username(&pool, name).await? {
                None => {
                    tracing::warn!(%name, "--break-glass names no account yet; create it with `askfirst user add`")
                }
                Some(row) if row.is_oidc() => {
                    tracing::warn!(%name, "--break-glass names an account of the identity provider, which has no password")
                }
                Some(_) => {}
            }
        }
    }
    let oidc = match settings.oidc.take() {
        Some(mut oidc) => {
            let base = link_base.trim_end_matches('/');
            oidc.redirect_url = format!("{base}/auth/oidc/callback");
            oidc.after_logout_url = format!("{base}/login");
            tracing::info!(issuer = %oidc.issuer, redirect = %oidc.redirect_url, "signing in with an OpenID provider");
            // Break-glass names are never handed to accounts of the provider.
            let reserved = match &settings.passwords {
                crate::auth::service::Passwords::BreakGlassOnly(names) => names.clone(),
                crate::auth::service::Passwords::Everyone => Vec::new(),
            };
            Some(Arc::new(crate::auth::oidc::Oidc::new(oidc, reserved)?))
        }
        None => None,
    };
    let state = AppState::new(Shared {
        leptos_options,
        pool,
        clock,
        limiter: Arc::new(LoginLimiter::default()),
        settings: Arc::new(settings),
        gate,
        notifier,
        oidc,
    });
    spawn_session_sweeper(state.clone());

    let app = router(state.clone());
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(listen::serve(listener, app, config.limits, async {
        let _ = shutdown_rx.await;
    }));
    tracing::info!(%addr, db = %config.db, site_root = %config.site_root.display(), "askfirst listening");
    Ok(Running {
        addr,
        state,
        shutdown,
        task,
    })
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: ServeConfig, clock: SharedClock) -> anyhow::Result<()> {
    let running = start(config, clock).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Deletes expired sessions every ten minutes (expiry is also checked on every read).
fn spawn_session_sweeper(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if state.pool.is_closed() {
                break;
            }
            let now = state.clock.now();
            if let Err(e) =
                store::oidc_flows::delete_expired(&state.pool, crate::clock::to_millis(now)).await
            {
                tracing::warn!(error = %e, "sweeping abandoned sign-ins failed");
            }
            match store::sessions::delete_expired(&state.pool, now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "expired sessions swept"),
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
        }
    });
}
