//! What the sign-in page offers and why a sign-in with the OpenID provider failed: shared
//! by the server, which decides, and the page, which says it.

use serde::{Deserialize, Serialize};

/// The ways to sign in this server offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInChoices {
    /// The button text of the OpenID provider ("Sign in with …"), when one is configured.
    pub provider: Option<String>,
    /// Whether the password form is for everyone (`false` under `--oidc-only`: only the
    /// break-glass accounts may use it).
    pub passwords_for_all: bool,
}

/// Why a sign-in with the OpenID provider ended without a session. Its name travels in the
/// redirect to the sign-in page (`/login?oidc_error=…`); what the provider said stays in
/// the audit log, never in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInFailure {
    /// The callback's `state` is missing, unknown, used before, or from another browser.
    State,
    /// The sign-in took longer than its flow lives.
    Expired,
    /// The person declined, or the provider refused them.
    Denied,
    /// The provider answered the callback with another error.
    Provider,
    /// The provider could not be reached (discovery, keys or token endpoint).
    Unreachable,
    /// The code was refused at the token endpoint (used twice, or stale).
    Code,
    /// The ID token failed a check: signature, issuer, audience, expiry or nonce.
    IdToken,
    /// `--oidc-strict` and none of the person's groups maps to a role.
    NoRole,
    /// The account is disabled here.
    Disabled,
    /// Too many sign-ins started from this address (or waiting everywhere) just now.
    TooMany,
}

impl SignInFailure {
    /// Every failure, for parsing and tests.
    pub const ALL: [SignInFailure; 10] = [
        Self::State,
        Self::Expired,
        Self::Denied,
        Self::Provider,
        Self::Unreachable,
        Self::Code,
        Self::IdToken,
        Self::NoRole,
        Self::Disabled,
        Self::TooMany,
    ];

    /// The name in URLs and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Expired => "expired",
            Self::Denied => "denied",
            Self::Provider => "provider",
            Self::Unreachable => "unreachable",
            Self::Code => "code",
            Self::IdToken => "id_token",
            Self::NoRole => "no_role",
            Self::Disabled => "disabled",
            Self::TooMany => "too_many",
        }
    }

    /// The failure a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// What the sign-in page says, `provider` being the provider's label.
    pub fn message(self, provider: &str) -> String {
        match self {
            Self::State => "That sign-in link was already used, or was started in another \
                browser. Start again."
                .into(),
            Self::Expired => "The sign-in took too long. Start again.".into(),
            Self::Denied => format!(
                "{provider} did not sign you in. Try again, or ask an admin if it keeps happening."
            ),
            Self::Provider => format!(
                "{provider} reported an error. Start again; if it \
                happens again, tell an admin (the audit log has the details)."
            ),
            Self::Unreachable => format!(
                "askfirst cannot reach {provider} right now. Try again in a minute, or tell an \
                 admin."
            ),
            Self::Code => "The sign-in could not be completed (the provider refused its code). \
                Start again."
                .into(),
            Self::IdToken => format!(
                "The answer from {provider} failed askfirst's checks, so you were not signed \
                 in. An admin can see why in the audit log."
            ),
            Self::NoRole => format!(
                "Your {provider} account does not have access to askfirst yet: it is in none \
                 of the groups that give a role here. Ask an askfirst admin to add you to the \
                 right group."
            ),
            Self::Disabled => "Your askfirst account is disabled. Ask an admin.".into(),
            Self::TooMany => {
                "Too many sign-ins were started from here just now. Wait a minute, then start \
                 again."
                    .into()
            }
        }
    }
}

/// `next` if it is a path on this site (`/…`, not `//…` or `/\…`), else `/`: where a
/// sign-in may send someone afterwards.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2048
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_string()
        }
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        let cases = [
            (Some("/calls/abc?x=1"), "/calls/abc?x=1"),
            (Some("/"), "/"),
            (None, "/"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/a\nb"), "/"),
            (Some(""), "/"),
        ];
        for (next, want) in cases {
            assert_eq!(local_path(next), want, "{next:?}");
        }
    }

    #[test]
    fn every_failure_round_trips_through_its_name() {
        for f in SignInFailure::ALL {
            assert_eq!(SignInFailure::parse(f.as_str()), Some(f));
            assert!(!f.message("Okta").is_empty());
        }
        assert_eq!(SignInFailure::parse("<script>"), None);
    }
}
