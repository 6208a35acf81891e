//! Verifying (and, for tests, signing) askfirst's webhook deliveries.
//!
//! Each delivery is a `POST` of the call's JSON with the header
//! `Askfirst-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use crate::error::{Error, SignatureError};
use crate::types::CallView;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Askfirst-Signature";
/// How far a signature's timestamp may be from now by default, in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value askfirst sends for `body` at unix time `t`:
/// `t=<t>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign_webhook(secret: &str, t: i64, body: &[u8]) -> String {
    let sig = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// A parsed signature header.
struct Header {
    t: i64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(value: &str) -> Result<Header, SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in value.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("expected key=value pairs"))?;
        match key.trim() {
            "t" => {
                let parsed = val
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("timestamp is not an integer"))?;
                if t.replace(parsed).is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
            }
            "v1" => v1.push(
                hex::decode(val.trim()).map_err(|_| SignatureError::Malformed("v1 is not hex"))?,
            ),
            // Other schemes (a future v2) are not ours to check.
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no timestamp"))?;
    if v1.is_empty() {
        return Err(SignatureError::MissingSignature);
    }
    Ok(Header { t, v1 })
}

/// Checks a delivery, then returns the call it reports. `headers` are the request's
/// (name, value) pairs (names in any case); the signature must match one `v1` value
/// (compared in constant time) and its timestamp must be within `tolerance_secs` of
/// `now_unix` either way. Verify the raw body exactly as received, before parsing it.
pub fn verify_webhook<'a>(
    secret: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<CallView, Error> {
    let value = headers
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(SIGNATURE_HEADER))
        .map(|(_, value)| value)
        .ok_or(SignatureError::MissingHeader)?;
    let header = parse_header(value)?;
    if now_unix.abs_diff(header.t) > tolerance_secs {
        let skew_secs = i128::from(now_unix) - i128::from(header.t);
        return Err(SignatureError::Timestamp { skew_secs }.into());
    }
    let expected = mac(secret, header.t, body);
    if !header
        .v1
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        return Err(SignatureError::Mismatch.into());
    }
    serde_json::from_slice(body).map_err(|e| Error::Decode(format!("webhook body: {e}")))
}

/// [`verify_webhook`] against the system clock with [`DEFAULT_TOLERANCE_SECS`].
pub fn verify_webhook_now<'a>(
    secret: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> Result<CallView, Error> {
    verify_webhook(secret, headers, body, unix_now(), DEFAULT_TOLERANCE_SECS)
}

/// Seconds since the Unix epoch, from the system clock.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        let h = parse_header(" t=5 , v1=00ff ,v0=zz").unwrap();
        assert_eq!((h.t, h.v1), (5, vec![vec![0, 255]]));
        let cases = [
            ("", SignatureError::Malformed("expected key=value pairs")),
            (
                "t=1,v1=00,",
                SignatureError::Malformed("expected key=value pairs"),
            ),
            (
                "t=x,v1=00",
                SignatureError::Malformed("timestamp is not an integer"),
            ),
            (
                "t=1,t=1,v1=00",
                SignatureError::Malformed("more than one timestamp"),
            ),
            ("v1=00", SignatureError::Malformed("no timestamp")),
            ("t=1,v1=0", SignatureError::Malformed("v1 is not hex")),
            ("t=1,v2=00", SignatureError::MissingSignature),
        ];
        for (value, err) in cases {
            assert_eq!(parse_header(value).err(), Some(err), "{value:?}");
        }
    }
}
