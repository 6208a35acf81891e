//! [`Verifier`]: receipts checked by a tool server against the keys askfirst publishes.

use super::{check_claims, unix_now, verify_signature, Claims, JwkSet, ReceiptError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// The soonest the keys are fetched again for a receipt naming an unknown key: a stream
/// of forged `kid`s costs one request per interval, not one each.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// How long fetched keys are trusted before they are fetched again (the JWKS's
/// `max-age`): a key askfirst stopped publishing stops verifying within this.
const KEYS_MAX_AGE: Duration = Duration::from_secs(300);
/// The largest JWKS read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// The most `jti`s remembered at once; past it, receipts are refused until some expire.
const MAX_REMEMBERED: usize = 1_000_000;

/// Checks receipts against the keys at a JWKS URL (`https://askfirst…/.well-known/jwks.json`).
/// Keys are fetched at the start, again once they are five minutes old (so a key askfirst
/// withdrew stops verifying; unreachable keys refuse receipts), and again when a receipt
/// names a key not yet seen (at most once every 10 seconds). Share one per process.
pub struct Verifier {
    url: String,
    http: reqwest::Client,
    /// The keys, and when they were fetched.
    keys: RwLock<(JwkSet, Instant)>,
    /// When the keys were last fetched again for an unknown key.
    refetched: Mutex<Option<Instant>>,
    /// `jti` → `exp` of the receipts [`Verifier::verify_once`] accepted.
    used: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    /// A verifier of receipts signed with the keys published at `jwks_url`; fetches them.
    pub async fn new(jwks_url: impl Into<String>) -> Result<Self, ReceiptError> {
        let url = jwks_url.into();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ReceiptError::KeysUnavailable(e.to_string()))?;
        let keys = fetch(&http, &url).await?;
        Ok(Self {
            url,
            http,
            keys: RwLock::new((keys, Instant::now())),
            refetched: Mutex::default(),
            used: Mutex::default(),
        })
    }

    /// Checks `token` for a call of `tool` with `args`, now: see [`super::verify`].
    pub async fn verify(
        &self,
        token: &str,
        tool: &str,
        args: &Value,
    ) -> Result<Claims, ReceiptError> {
        let age = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .elapsed();
        if age > KEYS_MAX_AGE {
            // Old keys: fetch them again, so a retired key stops verifying; askfirst out of
            // reach refuses the receipt rather than trusting keys it may have withdrawn.
            let keys = fetch(&self.http, &self.url).await?;
            *self.keys.write().unwrap_or_else(|e| e.into_inner()) = (keys, Instant::now());
        }
        let claims = match self.check_signature(token) {
            Err(ReceiptError::UnknownKey(kid)) => {
                self.refetch().await?;
                self.check_signature(token).map_err(|e| match e {
                    ReceiptError::UnknownKey(_) => ReceiptError::UnknownKey(kid),
                    other => other,
                })?
            }
            other => other?,
        };
        check_claims(&claims, tool, args, unix_now())?;
        Ok(claims)
    }

    /// Like [`Verifier::verify`], and each receipt only once: its `jti` is remembered
    /// until it expires, and a second use is [`ReceiptError::Replayed`].
    pub async fn verify_once(
        &self,
        token: &str,
        tool: &str,
        args: &Value,
    ) -> Result<Claims, ReceiptError> {
        let claims = self.verify(token, tool, args).await?;
        let now = unix_now();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let leeway = super::LEEWAY_SECS as i64;
        used.retain(|_, exp| *exp + leeway >= now);
        if used.contains_key(&claims.jti) {
            return Err(ReceiptError::Replayed(claims.jti));
        }
        if used.len() >= MAX_REMEMBERED {
            return Err(ReceiptError::TooManyRemembered);
        }
        used.insert(claims.jti.clone(), claims.exp);
        Ok(claims)
    }

    fn check_signature(&self, token: &str) -> Result<Claims, ReceiptError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        verify_signature(&keys.0, token)
    }

    /// Fetches the keys again unless that was done for an unknown key within
    /// [`REFETCH_AFTER`].
    async fn refetch(&self) -> Result<(), ReceiptError> {
        {
            let mut last = self.refetched.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFETCH_AFTER) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let keys = fetch(&self.http, &self.url).await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = (keys, Instant::now());
        Ok(())
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<JwkSet, ReceiptError> {
    let unavailable = |e: reqwest::Error| ReceiptError::KeysUnavailable(format!("{url}: {e}"));
    let mut response = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(unavailable)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_JWKS_BYTES {
            return Err(ReceiptError::KeysUnavailable(format!(
                "{url}: more than 1 MiB"
            )));
        }
    }
    serde_json::from_slice(&body)
        .map_err(|e| ReceiptError::KeysUnavailable(format!("{url}: not a JWKS: {e}")))
}
