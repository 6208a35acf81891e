//! Verifying (and, for tests, signing) askfirst's webhook deliveries.

use crate::error::Error;
use crate::types::CallView;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Askfirst-Signature";
/// How far a signature's timestamp may be from now by default, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value askfirst sends: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign_webhook(secret: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

/// Checks a delivery's signature (constant-time) and timestamp (within `tolerance_secs`
/// of `now_unix`), then returns the call it reports. `headers` are (name, value) pairs.
pub fn verify_webhook<'a>(
    secret: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<CallView, Error> {
    let header = headers
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(SIGNATURE_HEADER))
        .map(|(_, v)| v)
        .ok_or_else(|| Error::Signature(format!("no {SIGNATURE_HEADER} header")))?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => {
                t = Some(
                    v.parse::<i64>()
                        .map_err(|_| Error::Signature("bad timestamp".into()))?,
                )
            }
            Some(("v1", v)) => signatures
                .push(hex::decode(v).map_err(|_| Error::Signature("bad v1 value".into()))?),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| Error::Signature("no timestamp".into()))?;
    if signatures.is_empty() {
        return Err(Error::Signature("no v1 signature".into()));
    }
    if (now_unix - t).abs() > tolerance_secs {
        return Err(Error::Signature("timestamp outside the tolerance".into()));
    }
    let valid = signatures
        .iter()
        .any(|sig| mac(secret, t, body).verify_slice(sig).is_ok());
    if !valid {
        return Err(Error::Signature("signature does not match".into()));
    }
    serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))
}

/// [`verify_webhook`] against the current time with the default tolerance.
pub fn verify_webhook_now<'a>(
    secret: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> Result<CallView, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    verify_webhook(secret, headers, body, now, DEFAULT_TOLERANCE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification() {
        let body = br#"{"id":"c1","status":"approved"}"#;
        let good = sign_webhook("s3cret", 1000, body);
        let other_sig = sign_webhook("other", 1000, body);
        let two = format!("{good},v1={}", "00".repeat(32));
        let cases: Vec<(&str, String, &[u8], i64, bool)> = vec![
            ("valid", good.clone(), body, 1000, true),
            ("valid within tolerance", good.clone(), body, 1299, true),
            ("wrong secret", other_sig, body, 1000, false),
            (
                "tampered body",
                good.clone(),
                br#"{"id":"c1","status":"denied"}"#,
                1000,
                false,
            ),
            ("too old", good.clone(), body, 1301, false),
            ("from the future", good.clone(), body, 699, false),
            ("malformed", "garbage".into(), body, 1000, false),
            ("no v1", "t=1000".into(), body, 1000, false),
            ("bad hex", "t=1000,v1=zz".into(), body, 1000, false),
            ("one of several v1 matches", two, body, 1000, true),
        ];
        for (name, header, body, now, ok) in cases {
            let got = verify_webhook(
                "s3cret",
                [("askfirst-signature", header.as_str())],
                body,
                now,
                300,
            );
            assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
        }
        assert!(verify_webhook("s", [("x", "y")], body, 0, 300).is_err());
    }
}
