//! The one error type of askfirst: used by the service layer, the JSON API and server
//! functions alike, so an error keeps its meaning (and its HTTP status) across the network.
//!
//! On the wire it is always `{ "error": { "code", "message" } }` (plus `retry_after` in
//! seconds for `rate_limited`).

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Everything that can go wrong, as a client should see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid input (422).
    #[error("{0}")]
    Invalid(String),
    /// Sign-in failed; deliberately says nothing about whether the user exists (401).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// No valid session or key (401).
    #[error("sign in required")]
    Unauthenticated,
    /// Signed in, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this HTTP method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The call is not in a state that allows this (409, with a specific code).
    #[error("{1}")]
    State(StateCode, String),
    /// The client took too long to send its request (408).
    #[error("{0}")]
    Timeout(String),
    /// Body or field too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts; retry after the given number of seconds (429).
    #[error("too many attempts; try again in {0} seconds")]
    RateLimited(u64),
    /// The server is busy with this kind of work: try again after the seconds given (503).
    #[error("the server is busy; try again in {0} seconds")]
    Busy(u64),
    /// Something broke on our side (500). The message is generic; details go to the log.
    #[error("{0}")]
    Internal(String),
}

/// Why a call or a review cannot do what was asked (the `code` of a `409`, or of a `403` /
/// `422` for the review refusals that are about the reviewer or their input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCode {
    /// The approval's TTL passed: propose again.
    ApprovalStale,
    /// The call was already executed.
    AlreadyExecuted,
    /// The call is not approved (pending, denied, expired or cancelled).
    NotApproved,
    /// The call is no longer pending.
    NotPending,
    /// This person already reviewed the current candidate.
    DuplicateReviewer,
    /// The decision deadline has passed; the call expired.
    DeadlinePassed,
    /// The reviewer was shown another candidate than the current one.
    StaleView,
    /// The reviewer asked for this themselves (403).
    SelfReview,
    /// The reviewer's role or account does not qualify (403).
    NotEligible,
    /// The typed confirmation phrase is not the required one (422).
    ConfirmationMismatch,
    /// The approved arguments no longer match what the audit log recorded as approved.
    ApprovalMismatch,
    /// A policy change loosens a gate and was not confirmed as such.
    LooseningUnconfirmed,
    /// A bypass request or policy change was already resolved (first resolution wins).
    AlreadyResolved,
    /// A pending policy change was made from a version that is no longer in force: its
    /// author must re-base it.
    NeedsRebase,
    /// A bypass is not active (or no longer).
    NotActive,
    /// More events were missed than a stream replays (`Last-Event-ID` too old).
    ReplayWindowExceeded,
    /// Too many event streams are open for this agent or session (429).
    TooManyStreams,
    /// The agent has as many pending calls as the admins allow (429).
    TooManyPending,
    /// A deadline cannot be extended (again, by that much, or past the hard cap).
    CannotExtend,
    /// A remembered grant was asked for that the call's rule does not allow (422).
    GrantRefused,
    /// An outcome was reported for a call that is not running.
    NotRunning,
    /// `execute` named a receipt (`jti`) that is not this call's current one.
    ReceiptMismatch,
    /// An `Idempotency-Key` already used for another call: the key is taken (409).
    IdempotencyKeyReused,
}

impl StateCode {
    /// Every code.
    pub const ALL: [StateCode; 23] = [
        StateCode::ApprovalStale,
        StateCode::AlreadyExecuted,
        StateCode::NotApproved,
        StateCode::NotPending,
        StateCode::DuplicateReviewer,
        StateCode::DeadlinePassed,
        StateCode::StaleView,
        StateCode::SelfReview,
        StateCode::NotEligible,
        StateCode::ConfirmationMismatch,
        StateCode::ApprovalMismatch,
        StateCode::LooseningUnconfirmed,
        StateCode::AlreadyResolved,
        StateCode::NeedsRebase,
        StateCode::NotActive,
        StateCode::ReplayWindowExceeded,
        StateCode::TooManyStreams,
        StateCode::TooManyPending,
        StateCode::CannotExtend,
        StateCode::GrantRefused,
        StateCode::NotRunning,
        StateCode::ReceiptMismatch,
        StateCode::IdempotencyKeyReused,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateCode::ApprovalStale => "approval_stale",
            StateCode::AlreadyExecuted => "already_executed",
            StateCode::NotApproved => "not_approved",
            StateCode::NotPending => "not_pending",
            StateCode::DuplicateReviewer => "duplicate_reviewer",
            StateCode::DeadlinePassed => "deadline_passed",
            StateCode::StaleView => "stale_view",
            StateCode::SelfReview => "self_review",
            StateCode::NotEligible => "not_eligible",
            StateCode::ConfirmationMismatch => "confirmation_mismatch",
            StateCode::ApprovalMismatch => "approval_mismatch",
            StateCode::LooseningUnconfirmed => "loosening_unconfirmed",
            StateCode::AlreadyResolved => "already_resolved",
            StateCode::NeedsRebase => "needs_rebase",
            StateCode::NotActive => "not_active",
            StateCode::ReplayWindowExceeded => "replay_window_exceeded",
            StateCode::TooManyStreams => "too_many_streams",
            StateCode::TooManyPending => "too_many_pending",
            StateCode::CannotExtend => "cannot_extend",
            StateCode::GrantRefused => "grant_refused",
            StateCode::NotRunning => "not_running",
            StateCode::ReceiptMismatch => "receipt_mismatch",
            StateCode::IdempotencyKeyReused => "idempotency_key_reused",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            StateCode::SelfReview | StateCode::NotEligible => 403,
            StateCode::ConfirmationMismatch | StateCode::GrantRefused => 422,
            StateCode::TooManyStreams | StateCode::TooManyPending => 429,
            _ => 409,
        }
    }
}

impl From<super::review::Refusal> for AppError {
    fn from(refusal: super::review::Refusal) -> Self {
        use super::review::Refusal as R;
        let code = match &refusal {
            R::NotPending => StateCode::NotPending,
            R::DeadlinePassed => StateCode::DeadlinePassed,
            R::DuplicateReviewer => StateCode::DuplicateReviewer,
            R::SelfReview => StateCode::SelfReview,
            R::NotEligible { .. }
            | R::NotInGroup { .. }
            | R::QualifiedAfter { .. }
            | R::CoolingOff { .. } => StateCode::NotEligible,
            R::StaleView => StateCode::StaleView,
            R::ConfirmationMismatch { .. } => StateCode::ConfirmationMismatch,
        };
        AppError::State(code, refusal.to_string())
    }
}

impl AppError {
    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::State(code, _) => code.as_str(),
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid(_) => "invalid",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::Timeout(_) => "request_timeout",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::RateLimited(_) => "rate_limited",
            AppError::Busy(_) => "busy",
            AppError::Internal(_) => "internal",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Invalid(_) => 422,
            AppError::InvalidCredentials | AppError::Unauthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::Conflict(_) => 409,
            AppError::State(code, _) => code.status(),
            AppError::Timeout(_) => 408,
            AppError::TooLarge(_) => 413,
            AppError::RateLimited(_) => 429,
            AppError::Busy(_) => 503,
            AppError::Internal(_) => 500,
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited(secs) | AppError::Busy(secs) => Some(*secs),
            _ => None,
        }
    }

    /// A 403 with the standard wording for a missing role.
    pub fn needs_role(role: super::Role) -> Self {
        AppError::Forbidden(format!("this needs the {role} role"))
    }
}

/// The JSON envelope every error travels in (the API document's `ErrorBody` too).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    schema(examples(json!({
        "error": { "code": "not_found", "message": "no such call" }
    })))
)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `error` of [`ErrorBody`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `approval_stale`.
    pub code: String,
    /// Human-readable explanation (for server errors: generic, with the request id).
    pub message: String,
    /// Seconds to wait, for `rate_limited` and `busy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For server errors: the id the server log has the details under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let retry_after = self.retry_after();
        ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
                retry_after,
                request_id: None,
            },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AppError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ErrorDetail {
            code,
            message,
            retry_after,
            ..
        } = ErrorBody::deserialize(deserializer)?.error;
        Ok(match code.as_str() {
            "bad_request" => AppError::BadRequest(message),
            "invalid" => AppError::Invalid(message),
            "invalid_credentials" => AppError::InvalidCredentials,
            "unauthenticated" => AppError::Unauthenticated,
            "forbidden" => AppError::Forbidden(message),
            "not_found" => AppError::NotFound(message),
            "method_not_allowed" => AppError::MethodNotAllowed(message),
            "conflict" => AppError::Conflict(message),
            other if StateCode::ALL.iter().any(|c| c.as_str() == other) => {
                let code = StateCode::ALL.into_iter().find(|c| c.as_str() == other);
                AppError::State(code.unwrap_or(StateCode::NotPending), message)
            }
            "payload_too_large" => AppError::TooLarge(message),
            "request_timeout" => AppError::Timeout(message),
            "rate_limited" => AppError::RateLimited(retry_after.unwrap_or(1)),
            "busy" => AppError::Busy(retry_after.unwrap_or(1)),
            _ => AppError::Internal(message),
        })
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m)
            | ServerFnErrorErr::MissingArg(m)
            | ServerFnErrorErr::Deserialization(m) => AppError::BadRequest(m),
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
                AppError::Internal("could not reach the server; check your connection".into())
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (AppError::BadRequest("x".into()), "bad_request", 400),
            (AppError::Invalid("x".into()), "invalid", 422),
            (AppError::InvalidCredentials, "invalid_credentials", 401),
            (AppError::Unauthenticated, "unauthenticated", 401),
            (AppError::Forbidden("x".into()), "forbidden", 403),
            (AppError::NotFound("x".into()), "not_found", 404),
            (
                AppError::MethodNotAllowed("x".into()),
                "method_not_allowed",
                405,
            ),
            (AppError::Conflict("x".into()), "conflict", 409),
            (
                AppError::State(StateCode::AlreadyExecuted, "x".into()),
                "already_executed",
                409,
            ),
            (
                AppError::State(StateCode::StaleView, "x".into()),
                "stale_view",
                409,
            ),
            (
                AppError::State(StateCode::SelfReview, "x".into()),
                "self_review",
                403,
            ),
            (
                AppError::State(StateCode::ConfirmationMismatch, "x".into()),
                "confirmation_mismatch",
                422,
            ),
            (AppError::TooLarge("x".into()), "payload_too_large", 413),
            (AppError::Timeout("x".into()), "request_timeout", 408),
            (AppError::RateLimited(3), "rate_limited", 429),
            (AppError::Internal("x".into()), "internal", 500),
        ];
        for (err, code, status) in cases {
            assert_eq!((err.code(), err.status()), (code, status), "{err:?}");
        }
    }

    #[test]
    fn survives_the_wire() {
        let cases = [
            AppError::BadRequest("bad".into()),
            AppError::Invalid("no".into()),
            AppError::InvalidCredentials,
            AppError::Unauthenticated,
            AppError::Forbidden("f".into()),
            AppError::NotFound("n".into()),
            AppError::Conflict("c".into()),
            AppError::TooLarge("t".into()),
            AppError::State(StateCode::ApprovalStale, "s".into()),
            AppError::State(StateCode::DuplicateReviewer, "d".into()),
            AppError::State(StateCode::NotEligible, "e".into()),
            AppError::State(StateCode::ConfirmationMismatch, "c".into()),
            AppError::RateLimited(30),
            AppError::Internal("i".into()),
        ];
        for err in cases {
            assert_eq!(AppError::de(err.ser()), err, "{err:?}");
        }
    }

    #[test]
    fn wire_format() {
        let json = serde_json::to_value(AppError::RateLimited(7)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "error": {
                "code": "rate_limited",
                "message": "too many attempts; try again in 7 seconds",
                "retry_after": 7
            } })
        );
        let json = serde_json::to_value(AppError::Forbidden("no".into())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "error": { "code": "forbidden", "message": "no" } })
        );
    }
}
