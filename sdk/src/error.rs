//! Errors.

/// Everything that can go wrong talking to askfirst.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status; `code` and `message` come from its body
    /// `{"error": {"code", "message"}}` (`code` is `http_error` when the body is not ours).
    #[error("askfirst answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The request did not complete (connection, timeout, TLS, …).
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The server's answer was not what the API documents.
    #[error("unexpected answer from askfirst: {0}")]
    Decode(String),
    /// A webhook delivery failed verification.
    #[error("webhook rejected: {0}")]
    Signature(#[from] SignatureError),
    /// A bad argument to the SDK itself (e.g. an empty call id).
    #[error("{0}")]
    Usage(String),
    /// A local I/O failure (the demo's webhook receiver).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A person denied this call and said not to retry it (`retry: false`): the agent
    /// must change course, not propose the same call again — a repeat is denied at once.
    #[error("denied, do not retry: {feedback}")]
    DoNotRetry {
        /// The denied call (for a repeat answered at once, the repeat; `repeat_of` names
        /// the original).
        id: String,
        feedback: String,
        reason_code: Option<String>,
        repeat_of: Option<String>,
    },
}

impl Error {
    /// The typed error for a denial that says not to retry, if `denial` is one.
    pub fn do_not_retry(id: &str, denial: Option<&crate::types::Denial>) -> Option<Self> {
        denial.filter(|d| !d.retry).map(|d| Error::DoNotRetry {
            id: id.to_string(),
            feedback: d.feedback.clone(),
            reason_code: d.reason_code.clone(),
            repeat_of: d.repeat_of.clone(),
        })
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The error code of an API error (e.g. `approval_stale`, `not_found`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether this is an API error with `code`.
    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Whether this is a `409` with `code`: `approval_stale`, `already_executed`,
    /// `not_approved` or `not_pending`.
    pub fn is_conflict(&self, code: &str) -> bool {
        matches!(self, Error::Api { status: 409, code: c, .. } if c == code)
    }

    /// Whether the request may be sent again to the same URL — to another instance behind
    /// a load balancer, say: the connection failed or timed out, or a proxy answered that
    /// no instance could take it (502, 503 without our error body, 504), or askfirst
    /// itself was shutting down or busy (`503 busy`/`shutting_down`).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            Error::Api { status, code, .. } => {
                matches!(status, 502 | 504)
                    || (*status == 503
                        && matches!(code.as_str(), "http_error" | "busy" | "shutting_down"))
            }
            _ => false,
        }
    }
}

/// Why a webhook delivery was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Askfirst-Signature` header.
    #[error("no Askfirst-Signature header")]
    MissingHeader,
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
    #[error("malformed Askfirst-Signature header: {0}")]
    Malformed(&'static str),
    /// The header has no `v1` signature.
    #[error("no v1 signature")]
    MissingSignature,
    /// The timestamp is further from now than the tolerance (`skew_secs` > 0: in the past).
    #[error("timestamp {skew_secs} s away from now, outside the tolerance")]
    Timestamp { skew_secs: i128 },
    /// No `v1` value matches the body and secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Reads an error answer; falls back to the status and the start of the body when the
/// body is not askfirst's error shape.
pub(crate) async fn from_response(res: reqwest::Response) -> Error {
    let status = res.status().as_u16();
    match res.bytes().await {
        Ok(body) => parse_error(status, &body),
        Err(e) => Error::Http(e),
    }
}

pub(crate) fn parse_error(status: u16, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => Error::Api {
            status,
            code: b.error.code,
            message: b.error.message,
        },
        Err(_) => Error::Api {
            status,
            code: "http_error".into(),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let long = "x".repeat(1000);
        let cases: [(u16, &[u8], &str, &str); 9] = [
            (
                409,
                br#"{"error":{"code":"approval_stale","message":"propose again"}}"#,
                "approval_stale",
                "propose again",
            ),
            (
                401,
                br#"{"error":{"code":"unauthenticated"}}"#,
                "unauthenticated",
                "",
            ),
            (
                422,
                br#"{"error":{"code":"invalid","message":"tool: too long","field":"tool"},"x":1}"#,
                "invalid",
                "tool: too long",
            ),
            (502, b"Bad Gateway", "http_error", "Bad Gateway"),
            (500, b"", "http_error", ""),
            (
                404,
                br#"{"error":"not_found"}"#,
                "http_error",
                r#"{"error":"not_found"}"#,
            ),
            (
                400,
                br#"{"error":{"message":"no code"}}"#,
                "http_error",
                r#"{"error":{"message":"no code"}}"#,
            ),
            (413, b"\xff\xfe", "http_error", "\u{fffd}\u{fffd}"),
            (500, long.as_bytes(), "http_error", &long[..200]),
        ];
        for (status, body, code, message) in cases {
            match parse_error(status, body) {
                Error::Api {
                    status: s,
                    code: c,
                    message: m,
                } => assert_eq!((s, c.as_str(), m.as_str()), (status, code, message)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn helpers() {
        let stale = parse_error(409, br#"{"error":{"code":"approval_stale","message":""}}"#);
        assert!(stale.is_conflict("approval_stale"));
        assert!(stale.is_code("approval_stale"));
        assert!(!stale.is_conflict("already_executed"));
        assert_eq!(
            (stale.status(), stale.code()),
            (Some(409), Some("approval_stale"))
        );
        let invalid = parse_error(422, br#"{"error":{"code":"approval_stale","message":""}}"#);
        assert!(!invalid.is_conflict("approval_stale"));
        let decode = Error::Decode("x".into());
        assert_eq!((decode.status(), decode.code()), (None, None));
    }
}
