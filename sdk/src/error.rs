//! Errors.

/// Everything that can go wrong talking to askfirst.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error body `{ "error": { "code", "message" } }`.
    #[error("askfirst answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The request did not complete.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The server's answer was not what the API documents.
    #[error("unexpected answer from askfirst: {0}")]
    Decode(String),
    /// A webhook failed verification.
    #[error("webhook rejected: {0}")]
    Signature(String),
    /// A bad argument to the SDK itself.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Whether this is an API error with `code` (e.g. `approval_stale`).
    pub fn is_code(&self, code: &str) -> bool {
        matches!(self, Error::Api { code: c, .. } if c == code)
    }

    /// Whether this is a `409` with `code`.
    pub fn is_conflict(&self, code: &str) -> bool {
        matches!(self, Error::Api { status: 409, code: c, .. } if c == code)
    }
}

/// Reads an error body; falls back to the status line when the body is not ours.
pub(crate) async fn from_response(res: reqwest::Response) -> Error {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    parse_error(status, &text)
}

pub(crate) fn parse_error(status: u16, text: &str) -> Error {
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
    match serde_json::from_str::<Body>(text) {
        Ok(b) => Error::Api {
            status,
            code: b.error.code,
            message: b.error.message,
        },
        Err(_) => Error::Api {
            status,
            code: "http_error".into(),
            message: text.chars().take(200).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let cases = [
            (
                409,
                r#"{"error":{"code":"approval_stale","message":"propose again"}}"#,
                "approval_stale",
                "propose again",
            ),
            (
                401,
                r#"{"error":{"code":"unauthenticated"}}"#,
                "unauthenticated",
                "",
            ),
            (502, "Bad Gateway", "http_error", "Bad Gateway"),
            (500, "", "http_error", ""),
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
        assert!(
            parse_error(409, r#"{"error":{"code":"already_executed","message":""}}"#)
                .is_conflict("already_executed")
        );
    }
}
