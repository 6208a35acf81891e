//! The SDK's webhook verification, as the tests call it.

/// Verifies a webhook delivery with the SDK; returns the call view it carries.
pub fn verify(secret: &str, headers: &[(String, String)], body: &[u8], now_unix: i64) -> Result<serde_json::Value, String> {
    let signature = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("askfirst-signature"))
        .map(|(_, v)| v.as_str())
        .ok_or("no signature header")?;
    let t: i64 = signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .ok_or("no timestamp")?;
    if (now_unix - t).abs() > 300 {
        return Err("stale".into());
    }
    if askfirst::gate::webhooks::signature(secret, t, body) != signature {
        return Err("bad signature".into());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}
