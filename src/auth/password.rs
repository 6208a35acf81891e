//! Password hashing with Argon2id (the `argon2` crate's recommended parameters).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::sync::LazyLock;

/// Hashes a password into a PHC string (salted, parameters included).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that a wrong username
/// costs as much time as a wrong password and timing reveals nothing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("askfirst-timing-equaliser").unwrap_or_default());
    &DUMMY
}

/// Runs [`hash`] off the async runtime.
pub async fn hash_blocking(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

/// Runs [`verify`] off the async runtime.
pub async fn verify_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        let cases = [
            ("correct horse", a.as_str(), true),
            ("correct horse", b.as_str(), true),
            ("Correct horse", a.as_str(), false),
            ("", a.as_str(), false),
            ("correct horse", "not a hash", false),
            ("askfirst-timing-equaliser", dummy_hash(), true),
        ];
        for (password, phc, expected) in cases {
            assert_eq!(verify(password, phc), expected, "{password:?} vs {phc}");
        }
    }
}
