//! Webhook delivery for async gates: signed POSTs of the call's view, retried with
//! exponential backoff for a bounded number of attempts; every attempt is recorded.

use super::Gate;
use crate::domain::AppError;
use crate::store::{self, webhooks::WebhookRow};
use chrono::Duration;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Instant;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "Askfirst-Signature";
/// Deliveries in flight at once.
const CONCURRENCY: usize = 16;
/// Time a receiver gets to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    signatures(&[secret], t, body)
}

/// One `v1=` per secret: while a rotated secret's grace period lasts, webhooks are signed
/// with the new and the old one, and a receiver holding either verifies them.
pub fn signatures(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header += &format!(",v1={}", hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// The HTTP client for deliveries: no redirects, bounded time.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("askfirst/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Gate {
    /// Delivers every webhook that is due; returns how many attempts were made.
    pub async fn deliver_due_webhooks(&self, http: &reqwest::Client) -> Result<usize, AppError> {
        let due = store::webhooks::due(&self.pool, self.clock.now(), 256).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |hook| async move {
                if let Err(e) = self.deliver(http, hook).await {
                    tracing::warn!(error = %e, "webhook delivery bookkeeping failed");
                }
            })
            .await;
        Ok(count)
    }

    async fn deliver(&self, http: &reqwest::Client, hook: WebhookRow) -> Result<(), AppError> {
        let row = self.call_row(&hook.call_id, None).await?;
        let agent = store::agents::find(&self.pool, &row.agent_id)
            .await?
            .ok_or_else(|| AppError::Internal("webhook for a call without an agent".into()))?;
        let view = row.view(&store::reviews::of_call(&self.pool, &row.id).await?);
        let body = serde_json::to_vec(&view).map_err(|e| AppError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let t = now.timestamp();
        let mut secrets = vec![agent.webhook_secret.as_str()];
        if let (Some(old), Some(until)) = (&agent.old_webhook_secret, agent.old_secret_until) {
            if crate::clock::to_millis(now) < until {
                secrets.push(old);
            }
        }
        let started = Instant::now();
        let result = http
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signatures(&secrets, t, &body))
            .header("Askfirst-Event-Id", hook.event_id.to_string())
            .body(body)
            .send()
            .await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let (status, error) = match &result {
            Ok(res) => (Some(res.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let error = error
            .or_else(|| (!delivered).then(|| format!("receiver answered {}", status.unwrap_or(0))));
        let attempt = hook.attempts + 1;
        let now = self.clock.now();
        let retry_at =
            (!delivered && attempt < self.config.webhook_max_attempts as i64).then(|| {
                let base = self.config.webhook_retry_base.as_millis() as i64;
                let max = self.config.webhook_retry_max.as_millis() as i64;
                let delay = base.saturating_mul(1_i64 << (attempt - 1).min(30)).min(max);
                now + Duration::milliseconds(delay)
            });
        if !delivered {
            tracing::info!(url = %hook.url, attempt, error = error.as_deref().unwrap_or(""), gave_up = retry_at.is_none(), "webhook not delivered");
        }
        let id = hook.id;
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    store::webhooks::record_attempt(
                        conn,
                        id,
                        attempt,
                        now,
                        status,
                        error.as_deref(),
                        duration_ms,
                        delivered,
                        retry_at,
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_format() {
        // Known-answer: HMAC-SHA256("secret", "1700000000.{}").
        let sig = signature("secret", 1_700_000_000, b"{}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(sig, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(sig, signature("secret", 1_700_000_001, b"{}"));
    }
}
