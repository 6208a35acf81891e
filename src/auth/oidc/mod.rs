//! Sign-in with the company's OpenID provider (authorization code flow with PKCE).
//!
//! `start` records the flow (its `state` hashed, its `nonce` and PKCE verifier) in the
//! database — so the callback may land on any instance — and sends the browser to the
//! provider; `finish` takes that row (once: a replayed callback finds nothing), checks the
//! browser is the one that started it, exchanges the code, verifies the ID token, and finds
//! or creates the account by issuer and subject. The role is read from the token's groups at
//! every sign-in: a raise restarts the sign-off clock, a demotion ends the person's other
//! sessions. Every refusal is an audit event and a sentence on the sign-in page.

pub mod config;
mod limit;
mod provider;

pub use config::{OidcConfig, RoleMap};

use crate::auth::{service::SignedIn, token};
use crate::clock::{to_millis, Clock};
use crate::domain::sign_in::{local_path, SignInFailure};
use crate::domain::{AppError, Role};
use crate::store::{self, oidc_flows, sessions, users, Pool};
use provider::{Provider, Refusal};
use std::sync::Arc;

/// How long a sign-in may take between the redirect and the callback.
pub const FLOW_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The cookie binding a flow to the browser that started it (`__Host-` prefixed, and so
/// unsettable by sibling sites, when cookies are `Secure`).
pub fn flow_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-askfirst_oidc"
    } else {
        "askfirst_oidc"
    }
}

/// Sign-ins under way at most, over every address (each is a row until swept).
const MAX_OPEN_FLOWS: i64 = 10_000;

/// The longest `next` a flow keeps (longer ones go home).
const MAX_NEXT: usize = 512;

/// The actor of what the provider's answer changes (accounts, roles) in the audit log.
const ACTOR: &str = "oidc";

/// The OpenID provider this server signs people in with.
pub struct Oidc {
    pub config: Arc<OidcConfig>,
    provider: Provider,
    /// Usernames never given to accounts of the provider (the break-glass accounts).
    reserved: Vec<String>,
    limiter: limit::FlowLimiter,
}

/// A sign-in sent to the provider: where to, and the `state` for the browser's cookie.
pub struct Started {
    pub redirect: String,
    pub state: String,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A finished sign-in: the session, and where the person was going.
pub struct Finished {
    pub signed_in: SignedIn,
    pub next: String,
}

impl Oidc {
    /// The provider named by `config` (nothing is fetched until the first sign-in);
    /// `reserved` usernames are never given to its accounts.
    pub fn new(config: OidcConfig, reserved: Vec<String>) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        Ok(Self {
            provider: Provider::new(config.clone())?,
            config,
            reserved,
            limiter: limit::FlowLimiter::default(),
        })
    }

    /// Starts a sign-in from client address `addr` that ends at `next` (a path on this
    /// site; anything else is `/`).
    pub async fn start(
        &self,
        pool: &Pool,
        clock: &dyn Clock,
        addr: &str,
        next: Option<&str>,
    ) -> Result<Started, SignInFailure> {
        if !self.limiter.allow(addr, std::time::Instant::now()) {
            return Err(SignInFailure::TooMany);
        }
        match oidc_flows::count(pool).await {
            Ok(n) if n < MAX_OPEN_FLOWS => {}
            Ok(_) => {
                tracing::warn!(
                    "{MAX_OPEN_FLOWS} sign-ins are under way; refusing more until they end"
                );
                return Err(SignInFailure::TooMany);
            }
            Err(e) => {
                tracing::error!(error = %e, "counting sign-in flows failed");
                return Err(SignInFailure::Unreachable);
            }
        }
        let next = next.filter(|n| n.len() <= MAX_NEXT);
        let auth = match self.provider.authorize().await {
            Ok(auth) => auth,
            Err(refusal) => return Err(self.refuse(pool, clock, refusal).await),
        };
        let flow = oidc_flows::FlowRow {
            nonce: auth.nonce,
            pkce_verifier: auth.pkce_verifier,
            next_path: local_path(next),
            expires_at: to_millis(clock.now() + FLOW_TTL),
        };
        let stored = async {
            let mut tx = store::write_tx(pool).await?;
            oidc_flows::delete_expired(&mut *tx, to_millis(clock.now())).await?;
            oidc_flows::insert(&mut *tx, &token::hash(&auth.state), &flow).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "recording a sign-in flow failed");
            return Err(SignInFailure::Unreachable);
        }
        Ok(Started {
            redirect: auth.url,
            state: auth.state,
        })
    }

    /// Finishes a sign-in from the provider's callback; `cookie_state` is the state the
    /// browser's cookie holds, `addr` the client's address. A callback that matches no
    /// sign-in of this browser counts against the address's budget, and past it is not
    /// recorded one by one (anyone can send such callbacks).
    pub async fn finish(
        &self,
        pool: &Pool,
        clock: &dyn Clock,
        session_ttl: chrono::Duration,
        callback: Callback,
        cookie_state: Option<&str>,
        addr: &str,
    ) -> Result<Finished, SignInFailure> {
        match self
            .try_finish(pool, clock, session_ttl, callback, cookie_state)
            .await
        {
            Ok(done) => Ok(done),
            Err(refusal)
                if refusal.failure == SignInFailure::State
                    && !self.limiter.allow(addr, std::time::Instant::now()) =>
            {
                tracing::debug!(%addr, "a callback matching no sign-in, past the address's budget");
                Err(SignInFailure::State)
            }
            Err(refusal) => Err(self.refuse(pool, clock, refusal).await),
        }
    }

    async fn try_finish(
        &self,
        pool: &Pool,
        clock: &dyn Clock,
        session_ttl: chrono::Duration,
        callback: Callback,
        cookie_state: Option<&str>,
    ) -> Result<Finished, Refusal> {
        let refuse = |failure, detail: &str| Refusal::new(failure, detail);
        let state = callback.state.as_deref().unwrap_or("");
        if state.is_empty() || state.len() > 512 {
            return Err(refuse(SignInFailure::State, "the callback has no state"));
        }
        // Another browser's callback (a forged link) is refused before it can use up the
        // flow of the browser that started it.
        if cookie_state.map(token::hash) != Some(token::hash(state)) {
            return Err(refuse(
                SignInFailure::State,
                "the state is not the one this browser's sign-in started with",
            ));
        }
        // The flow is used up whatever happens next: a callback is never replayed.
        let flow = oidc_flows::take(pool, &token::hash(state))
            .await
            .map_err(|e| refuse(SignInFailure::Unreachable, &format!("database: {e}")))?
            .ok_or_else(|| {
                refuse(
                    SignInFailure::State,
                    "no sign-in is waiting for this state (used already, or never started)",
                )
            })?;
        if flow.expires_at <= to_millis(clock.now()) {
            return Err(refuse(SignInFailure::Expired, "the sign-in flow expired"));
        }
        if let Some(error) = callback.error.as_deref() {
            let failure = match error {
                "access_denied"
                | "login_required"
                | "consent_required"
                | "interaction_required"
                | "account_selection_required" => SignInFailure::Denied,
                _ => SignInFailure::Provider,
            };
            // The provider's words are kept short (and `Refusal::new` strips control
            // characters): anyone can put text in a callback URL.
            let short = |t: &str, n: usize| t.chars().take(n).collect::<String>();
            let description = callback
                .error_description
                .as_deref()
                .map(|d| format!(": {}", short(d, 200)))
                .unwrap_or_default();
            return Err(refuse(
                failure,
                &format!("provider error {}{description}", short(error, 64)),
            ));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| refuse(SignInFailure::Provider, "the callback has no code"))?;
        let identity = self
            .provider
            .exchange(code, &flow.pkce_verifier, &flow.nonce, clock.now())
            .await?;
        let signed_in = self
            .account(pool, clock, session_ttl, &identity)
            .await
            .map_err(|e| match e {
                Denial::Refused(r) => r,
                Denial::Store(e) => refuse(SignInFailure::Unreachable, &format!("database: {e}")),
            })?;
        Ok(Finished {
            signed_in,
            next: flow.next_path,
        })
    }

    /// Finds or creates the account of `identity`, brings its role up to date with the
    /// token's groups, and opens a session — one transaction.
    async fn account(
        &self,
        pool: &Pool,
        clock: &dyn Clock,
        session_ttl: chrono::Duration,
        identity: &provider::Identity,
    ) -> Result<SignedIn, Denial> {
        let config = &self.config;
        let values = config::claim_values(config::claim_at(&identity.claims, &config.role_claim));
        let mapped = config.roles.role_for(&values);
        let now = clock.now();
        let now_ms = to_millis(now);
        let mut tx = store::write_tx(pool).await?;
        let existing =
            users::find_by_identity(&mut *tx, &identity.issuer, &identity.subject).await?;
        let role = match (mapped, config.strict) {
            (Some(role), _) => role,
            (None, false) => Role::Viewer,
            (None, true) => {
                // Strict: no mapped group, no access — and no session left behind.
                if let Some(row) = &existing {
                    sessions::delete_for_user(&mut *tx, &row.id).await?;
                    tx.commit().await?;
                }
                return Err(Denial::Refused(Refusal::new(
                    SignInFailure::NoRole,
                    format!(
                        "subject {} has no mapped value in `{}` (has: {})",
                        identity.subject,
                        config.role_claim,
                        if values.is_empty() {
                            "nothing".to_string()
                        } else {
                            values.join(", ")
                        }
                    ),
                )));
            }
        };
        let row = match existing {
            Some(row) if row.disabled => {
                return Err(Denial::Refused(Refusal::new(
                    SignInFailure::Disabled,
                    format!("`{}` is disabled", row.username),
                )))
            }
            Some(row) => {
                let from = row.role();
                if from != role {
                    let raised = !from.includes(role);
                    users::set_role(&mut *tx, &row.id, role, raised, now_ms).await?;
                    if !raised {
                        // A removed group takes effect at once, everywhere.
                        sessions::delete_for_user(&mut *tx, &row.id).await?;
                    }
                    audit(
                        &mut tx,
                        clock,
                        "user.role_changed",
                        serde_json::json!({
                            "user": row.username, "from": from, "to": role, "via": "oidc",
                        }),
                    )
                    .await?;
                }
                users::find_by_id(&mut *tx, &row.id).await?.unwrap_or(row)
            }
            None => {
                let base =
                    config::username_from(&identity.claims, config.username_claim.as_deref())
                        .unwrap_or_else(|| "user".into());
                let mut taken = users::taken_names(&mut *tx, &base).await?;
                taken.extend(self.reserved.iter().cloned());
                let username = config::unique_username(&base, &taken);
                let new = users::NewUser {
                    username: &username,
                    password_hash: users::NO_PASSWORD,
                    role,
                    now,
                };
                let row =
                    users::insert_oidc(&mut *tx, &new, &identity.issuer, &identity.subject).await?;
                audit(
                    &mut tx,
                    clock,
                    "user.created",
                    serde_json::json!({
                        "user": username, "role": role, "via": "oidc",
                        "subject": identity.subject,
                    }),
                )
                .await?;
                row
            }
        };
        let token = token::generate();
        sessions::insert(
            &mut *tx,
            &token::hash(&token),
            &row.id,
            now,
            now + session_ttl,
        )
        .await?;
        tx.commit().await?;
        Ok(SignedIn {
            user: row.view(),
            token,
        })
    }

    /// Records a refusal (an audit event; a log line) and says which it was.
    async fn refuse(&self, pool: &Pool, clock: &dyn Clock, refusal: Refusal) -> SignInFailure {
        tracing::warn!(reason = refusal.failure.as_str(), detail = %refusal.detail, "OpenID sign-in refused");
        let written = async {
            let mut tx = store::write_tx(pool).await?;
            audit(
                &mut tx,
                clock,
                "auth.oidc_refused",
                serde_json::json!({
                    "reason": refusal.failure.as_str(),
                    "detail": refusal.detail,
                }),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, AppError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "recording a refused sign-in failed");
        }
        refusal.failure
    }

    /// Where sign-out sends an account of the provider, if the provider ends sessions too.
    pub async fn logout_url(&self) -> Option<String> {
        self.provider.logout_url().await
    }
}

/// Why no session was opened: the provider's answer was refused, or the database failed.
enum Denial {
    Refused(Refusal),
    Store(sqlx::Error),
}

impl From<sqlx::Error> for Denial {
    fn from(e: sqlx::Error) -> Self {
        Denial::Store(e)
    }
}

async fn audit(
    conn: &mut crate::store::Conn,
    clock: &dyn Clock,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    store::audit::append(
        conn,
        &store::audit::NewEvent {
            at: clock.now(),
            actor: ACTOR,
            kind,
            agent_id: None,
            call_id: None,
            from_status: None,
            to_status: None,
            detail,
        },
    )
    .await?;
    Ok(())
}
