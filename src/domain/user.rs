//! People who sign in, as the pages see them, and the rules for their names and passwords.

use super::Role;
use serde::{Deserialize, Serialize};

/// Longest accepted username, in characters.
pub const USERNAME_MAX: usize = 64;
/// Shortest accepted password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest accepted password, in bytes (bounds the cost of hashing).
pub const PASSWORD_MAX_BYTES: usize = 256;

/// A person as shown to the browser: never carries a password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Stable identifier (a UUID).
    pub id: String,
    /// Unique, lower-case name used to sign in.
    pub username: String,
    /// What the person may do.
    pub role: Role,
    /// Whether the account may sign in.
    pub disabled: bool,
    /// When the account was created (RFC 3339, UTC).
    pub created_at: String,
    /// An admin set their password: they must choose a new one before anything else.
    #[serde(default)]
    pub must_change_password: bool,
    /// Since when, and why, the account holds what it holds now: what sign-off eligibility
    /// is decided from.
    #[serde(default)]
    pub standing: Standing,
    /// For an account that signs in with the OpenID provider: its subject there (the
    /// account has no password here).
    #[serde(default)]
    pub oidc_subject: Option<String>,
}

impl UserView {
    /// The command line's operator, as pages see them: nobody's "may I review" applies.
    pub fn operator() -> Self {
        Self {
            id: String::new(),
            username: "cli".into(),
            role: Role::Viewer,
            disabled: true,
            created_at: String::new(),
            must_change_password: false,
            standing: Standing::default(),
            oidc_subject: None,
        }
    }
}

/// What last restarted an account's qualification clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualifiedBy {
    /// The account was created.
    #[default]
    Created,
    /// Its role was raised.
    RoleRaised,
    /// It was enabled after being disabled.
    Enabled,
    /// Someone else reset its password (the clock restarts again when its holder sets
    /// their own).
    PasswordReset,
}

impl QualifiedBy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QualifiedBy::Created => "created",
            QualifiedBy::RoleRaised => "role_raised",
            QualifiedBy::Enabled => "enabled",
            QualifiedBy::PasswordReset => "password_reset",
        }
    }

    /// Parses a stored name; anything unknown reads as the strictest, a reset.
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => QualifiedBy::Created,
            "role_raised" => QualifiedBy::RoleRaised,
            "enabled" => QualifiedBy::Enabled,
            _ => QualifiedBy::PasswordReset,
        }
    }
}

/// The facts sign-off eligibility is decided from: an account counts as a reviewer of
/// something filed at `t` only if `since_ms <= t` (it held its role, active, with
/// credentials it set itself, continuously since before), and not while a password reset
/// keeps it cooling off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// When the current qualification began (ms since the epoch).
    pub since_ms: i64,
    /// What began it.
    pub by: QualifiedBy,
    /// Until when (ms) a password reset by someone else keeps it from signing off.
    pub cooling_until_ms: Option<i64>,
}

impl Standing {
    /// Whether a reset still keeps the account from signing off at `now_ms`.
    pub fn cooling(&self, now_ms: i64) -> Option<i64> {
        self.cooling_until_ms.filter(|&until| until > now_ms)
    }
}

/// Normalises and checks a username: 1–64 characters of `a-z 0-9 . _ -`, case-insensitive.
pub fn normalize_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err("username is required".into());
    }
    if name.chars().count() > USERNAME_MAX {
        return Err(format!(
            "username must be at most {USERNAME_MAX} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err("username may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(name)
}

/// Checks a new password's length (at least 8 characters, at most 256 bytes).
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(format!(
            "password must be at least {PASSWORD_MIN} characters"
        ));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        let long = "a".repeat(USERNAME_MAX + 1);
        let cases: Vec<(&str, Result<&str, &str>)> = vec![
            ("alice", Ok("alice")),
            ("  Alice.Smith ", Ok("alice.smith")),
            ("ops_bot-2", Ok("ops_bot-2")),
            ("", Err("username is required")),
            ("   ", Err("username is required")),
            (
                "has space",
                Err("username may contain only letters, digits, '.', '_' and '-'"),
            ),
            (
                "<script>",
                Err("username may contain only letters, digits, '.', '_' and '-'"),
            ),
            (
                "élodie",
                Err("username may contain only letters, digits, '.', '_' and '-'"),
            ),
            (long.as_str(), Err("username must be at most 64 characters")),
        ];
        for (input, expected) in cases {
            let got = normalize_username(input);
            assert_eq!(
                got.as_deref().map_err(|e| e.as_str()),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn passwords() {
        let huge = "x".repeat(PASSWORD_MAX_BYTES + 1);
        let cases = [
            ("correct horse", true),
            ("12345678", true),
            ("1234567", false),
            ("", false),
            ("ééééééé", false),
            (huge.as_str(), false),
        ];
        for (input, ok) in cases {
            assert_eq!(check_password(input).is_ok(), ok, "{input:?}");
        }
    }
}
