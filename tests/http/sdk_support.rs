//! The SDK's webhook verification, as the tests call it.

/// Verifies a webhook delivery with the SDK; returns the call view it carries.
pub fn verify(
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    now_unix: i64,
) -> Result<serde_json::Value, String> {
    let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let view = askfirst_sdk::verify_webhook(
        secret,
        pairs,
        body,
        now_unix,
        askfirst_sdk::DEFAULT_TOLERANCE_SECS,
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(
        view.checkpoint.is_some(),
        serde_json::from_slice::<serde_json::Value>(body).unwrap()["checkpoint"].is_object()
    );
    serde_json::from_slice(body).map_err(|e| e.to_string())
}
