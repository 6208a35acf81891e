//! The conversation with the OpenID provider, through the `openidconnect` crate: discovery,
//! the authorization URL (PKCE S256, `state`, `nonce`), the code exchange, the ID token's
//! checks, and the provider's keys fetched again when a token names one they lack.
//!
//! The outbound guard: the issuer is admin configuration, so this client may reach private
//! addresses — but only the issuer's origin and the origins its discovery document names
//! (keys, token and userinfo endpoints), never following a redirect.

use super::config::OidcConfig;
use crate::domain::sign_in::SignInFailure;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long an answer from the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MAX_BODY: usize = 1024 * 1024;
/// Discovery is repeated after this long (a failed repeat keeps the old document).
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// After a failed discovery, the next attempt waits this long.
const RETRY_GAP: Duration = Duration::from_secs(5);
/// Keys are fetched again for an unknown `kid` at most this often.
const KEYS_REFETCH_GAP: Duration = Duration::from_secs(10);
/// Clock skew allowed on `exp` and `iat`.
const LEEWAY: chrono::Duration = chrono::Duration::seconds(60);
/// An ID token issued longer ago than this is refused (it was minted for another sign-in).
const MAX_TOKEN_AGE: chrono::Duration = chrono::Duration::minutes(10);

/// The signature algorithms an ID token may use: the provider's keys, never the client
/// secret (HMAC).
const ASYMMETRIC: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What a sign-in needs to remember between the redirect and the callback.
pub struct Authorization {
    /// Where to send the browser.
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified ID token: who the provider says this is, with all its claims.
#[derive(Debug)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Every claim of the verified token (the role and username claims are read here).
    pub claims: serde_json::Value,
}

/// Why the exchange failed: what the page says, and what the audit log keeps.
#[derive(Debug)]
pub struct Refusal {
    pub failure: SignInFailure,
    pub detail: String,
}

impl Refusal {
    /// A refusal whose detail is made safe to log and keep: control characters (line
    /// breaks, escape codes) become spaces, and at most 300 characters are kept.
    pub fn new(failure: SignInFailure, detail: impl Into<String>) -> Self {
        let detail: String = detail
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect();
        Self { failure, detail }
    }
}

/// The provider: its configuration, its discovery document and keys (cached), and the
/// guarded HTTP client.
pub struct Provider {
    config: Arc<OidcConfig>,
    http: Arc<GuardedHttp>,
    known: RwLock<Option<Known>>,
    /// Held while discovery runs (one fetch at a time).
    fetching: tokio::sync::Mutex<()>,
    /// When discovery last failed (no new attempt for [`RETRY_GAP`]).
    failed_at: Mutex<Option<Instant>>,
}

struct Known {
    metadata: ProviderMetadataWithLogout,
    fetched: Instant,
    keys_fetched: Instant,
}

impl Provider {
    /// A provider not yet asked anything (discovery happens on first use).
    pub fn new(config: Arc<OidcConfig>) -> anyhow::Result<Self> {
        let issuer = reqwest::Url::parse(&config.issuer)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("askfirst/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            http: Arc::new(GuardedHttp {
                client,
                allowed: Mutex::new(vec![issuer.origin().ascii_serialization()]),
            }),
            known: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            failed_at: Mutex::new(None),
        })
    }

    /// The discovery document with its keys: cached, fetched again after an hour. One
    /// fetch at a time, outside the cache's lock: while it runs (or for a few seconds after
    /// it failed), others use the document they have, or are told the provider is
    /// unreachable at once — a provider that hangs never queues sign-ins behind it.
    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, Refusal> {
        let cached = self
            .known
            .read()
            .await
            .as_ref()
            .map(|k| (k.metadata.clone(), k.fetched.elapsed() < METADATA_TTL));
        if let Some((metadata, true)) = &cached {
            return Ok(metadata.clone());
        }
        let recently_failed = self
            .failed_at
            .lock()
            .expect("failed_at")
            .is_some_and(|at| at.elapsed() < RETRY_GAP);
        let guard = if recently_failed {
            None
        } else {
            self.fetching.try_lock().ok()
        };
        let Some(_fetching) = guard else {
            return cached.map(|(m, _)| m).ok_or_else(|| {
                Refusal::new(
                    SignInFailure::Unreachable,
                    "discovery failed moments ago, or is still under way",
                )
            });
        };
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| Refusal::new(SignInFailure::Unreachable, e.to_string()))?;
        let http = self.http.clone();
        let call = move |req: HttpRequest| {
            let http = http.clone();
            async move { http.call(req).await }
        };
        match ProviderMetadataWithLogout::discover_async(issuer, &call).await {
            Ok(metadata) => {
                *self.known.write().await = Some(Known {
                    metadata: metadata.clone(),
                    fetched: Instant::now(),
                    keys_fetched: Instant::now(),
                });
                *self.failed_at.lock().expect("failed_at") = None;
                Ok(metadata)
            }
            Err(e) => {
                *self.failed_at.lock().expect("failed_at") = Some(Instant::now());
                let detail = format!("discovery failed: {}", chain(&e));
                match cached {
                    // A provider that is briefly down does not stop sign-ins it can finish.
                    Some((metadata, _)) => {
                        tracing::warn!(%detail, "OpenID provider discovery failed; using the last document");
                        Ok(metadata)
                    }
                    None => Err(Refusal::new(SignInFailure::Unreachable, detail)),
                }
            }
        }
    }

    /// Fetches the provider's keys again (a token named a key they lack), at most once
    /// every few seconds. Returns whether new keys were fetched.
    async fn refresh_keys(&self) -> bool {
        // Claim the refetch (briefly holding the lock), fetch without it, then store.
        let jwks_uri = {
            let mut known = self.known.write().await;
            let Some(k) = known.as_mut() else {
                return false;
            };
            if k.keys_fetched.elapsed() < KEYS_REFETCH_GAP {
                return false;
            }
            k.keys_fetched = Instant::now();
            k.metadata.jwks_uri().clone()
        };
        let http = self.http.clone();
        let call = move |req: HttpRequest| {
            let http = http.clone();
            async move { http.call(req).await }
        };
        match CoreJsonWebKeySet::fetch_async(&jwks_uri, &call).await {
            Ok(keys) => {
                if let Some(k) = self.known.write().await.as_mut() {
                    k.metadata = k.metadata.clone().set_jwks(keys);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "fetching the OpenID provider's keys failed");
                false
            }
        }
    }

    fn client(
        &self,
        metadata: ProviderMetadataWithLogout,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Refusal,
    > {
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| Refusal::new(SignInFailure::Provider, e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The URL that starts a sign-in at the provider, with a new `state`, `nonce` and
    /// PKCE verifier.
    pub async fn authorize(&self) -> Result<Authorization, Refusal> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code (with the PKCE verifier) and checks the ID token:
    /// signature, issuer, audience, `exp` and `iat` (with a minute's leeway, on `now`) and
    /// the `nonce` this sign-in sent.
    pub async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, Refusal> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata)?;
        let http = self.http.clone();
        let call = move |req: HttpRequest| {
            let http = http.clone();
            async move { http.call(req).await }
        };
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| Refusal::new(SignInFailure::Provider, e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&call)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => Refusal::new(
                    SignInFailure::Code,
                    format!(
                        "token endpoint: {}{}",
                        r.error(),
                        r.error_description()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                ),
                RequestTokenError::Request(e) => Refusal::new(
                    SignInFailure::Unreachable,
                    format!("token endpoint: {}", chain(&e)),
                ),
                other => Refusal::new(
                    SignInFailure::Provider,
                    format!("token endpoint: {}", chain(&other)),
                ),
            })?;
        let id_token = openidconnect::TokenResponse::id_token(&token)
            .ok_or_else(|| {
                Refusal::new(SignInFailure::IdToken, "the token answer has no id_token")
            })?
            .clone();
        let nonce = Nonce::new(nonce.to_string());
        let mut refreshed = false;
        loop {
            let client = self.client(self.metadata().await?)?;
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(ASYMMETRIC.iter().cloned())
                .set_time_fn(move || now - LEEWAY)
                .set_issue_time_verifier_fn(move |iat| {
                    if iat > now + LEEWAY {
                        Err(format!("issued in the future ({iat})"))
                    } else if iat < now - MAX_TOKEN_AGE {
                        Err(format!("issued too long ago ({iat})"))
                    } else {
                        Ok(())
                    }
                });
            match id_token.claims(&verifier, &nonce) {
                Ok(claims) => {
                    let issuer = claims.issuer().to_string();
                    let subject = claims.subject().to_string();
                    if subject.trim().is_empty() || subject.len() > 255 {
                        return Err(Refusal::new(
                            SignInFailure::IdToken,
                            "claims: the subject is empty or longer than 255 bytes",
                        ));
                    }
                    let payload = payload_of(&id_token.to_string()).ok_or_else(|| {
                        Refusal::new(SignInFailure::IdToken, "the ID token's claims do not read")
                    })?;
                    return Ok(Identity {
                        issuer,
                        subject,
                        claims: payload,
                    });
                }
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !refreshed => {
                    refreshed = true;
                    if !self.refresh_keys().await {
                        return Err(Refusal::new(
                            SignInFailure::IdToken,
                            "signature: no key of the provider matches the token",
                        ));
                    }
                }
                Err(e) => return Err(Refusal::new(SignInFailure::IdToken, reason_of(&e))),
            }
        }
    }

    /// Where to send someone signing out so the provider ends its session too, if it
    /// offers that (RP-initiated logout).
    pub async fn logout_url(&self) -> Option<String> {
        let metadata = self.metadata().await.ok()?;
        let end = metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()?;
        let mut url = end.url().clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", &self.config.after_logout_url);
        Some(url.to_string())
    }
}

/// The audit log's reason for a failed ID token check: a word first (`nonce`, `audience`,
/// `expired`, `issued_at`, `issuer`, `signature`, `claims`), then what the library said.
fn reason_of(e: &ClaimsVerificationError) -> String {
    let word = match e {
        // The `iat` check reports through the same variant, in this module's words.
        ClaimsVerificationError::Expired(m) if m.starts_with("issued") => "issued_at",
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidAudience(_) => "audience",
        ClaimsVerificationError::InvalidNonce(_) => "nonce",
        ClaimsVerificationError::InvalidIssuer(_) => "issuer",
        ClaimsVerificationError::SignatureVerification(_) => "signature",
        _ => "claims",
    };
    format!("{word}: {e}")
}

/// The claims of a compact JWS whose signature was already checked.
fn payload_of(jwt: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An error with its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Why the guarded client did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0} is neither the issuer nor an endpoint its discovery document names")]
    NotAllowed(String),
    #[error("the answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error(transparent)]
    Http(#[from] openidconnect::http::Error),
    #[error("bad URL: {0}")]
    Url(#[from] url::ParseError),
}

/// The HTTP client for the provider: the issuer's origin, and the origins its discovery
/// document names once it has been read.
struct GuardedHttp {
    client: reqwest::Client,
    allowed: Mutex<Vec<String>>,
}

impl GuardedHttp {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = reqwest::Url::parse(&request.uri().to_string())?;
        let origin = url.origin().ascii_serialization();
        if !self
            .allowed
            .lock()
            .expect("allowed origins")
            .contains(&origin)
        {
            return Err(HttpError::NotAllowed(origin));
        }
        let (parts, body) = request.into_parts();
        let mut response = self
            .client
            .request(parts.method, url.clone())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() && url.path().ends_with("/.well-known/openid-configuration") {
            self.learn_endpoints(&bytes);
        }
        let mut answer = openidconnect::http::Response::builder().status(status);
        if let Some(h) = answer.headers_mut() {
            *h = headers;
        }
        Ok(answer.body(bytes)?)
    }

    /// Allows the origins of the endpoints a discovery document names.
    fn learn_endpoints(&self, document: &[u8]) {
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(document) else {
            return;
        };
        let mut allowed = self.allowed.lock().expect("allowed origins");
        for key in ["jwks_uri", "token_endpoint", "userinfo_endpoint"] {
            let origin = doc
                .get(key)
                .and_then(|v| v.as_str())
                .and_then(|u| reqwest::Url::parse(u).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.origin().ascii_serialization());
            if let Some(origin) = origin {
                if !allowed.contains(&origin) {
                    allowed.push(origin);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_with_or_without_padding() {
        // {"sub":"a"} in base64url.
        assert_eq!(
            payload_of("h.eyJzdWIiOiJhIn0.s"),
            Some(serde_json::json!({"sub": "a"}))
        );
        assert_eq!(payload_of("h.eyJzdWIiOiJhIn0=.s").unwrap()["sub"], "a");
        assert_eq!(payload_of("nodots"), None);
        assert_eq!(payload_of("h.!!!.s"), None);
    }

    #[test]
    fn the_guard_learns_only_the_endpoints_discovery_names() {
        let http = GuardedHttp {
            client: reqwest::Client::new(),
            allowed: Mutex::new(vec!["http://127.0.0.1:9".into()]),
        };
        http.learn_endpoints(
            br#"{"jwks_uri":"http://keys.internal:8443/jwks","token_endpoint":"https://idp.example/token",
                 "authorization_endpoint":"http://browser-only.example/auth","userinfo_endpoint":"file:///etc/passwd"}"#,
        );
        let allowed = http.allowed.lock().unwrap().clone();
        assert_eq!(
            allowed,
            vec![
                "http://127.0.0.1:9".to_string(),
                "http://keys.internal:8443".into(),
                "https://idp.example".into()
            ]
        );
    }
}
