//! Password hashing with Argon2id (the `argon2` crate's recommended parameters). Each hash
//! costs tens of milliseconds of a core and 19 MiB of memory, so at most
//! [`HASHING_AT_ONCE`] run at once and at most [`HASHING_QUEUE`] more wait; beyond that
//! the caller is told the server is busy (`503` with `Retry-After`), so memory and CPU stay
//! bounded however many sign-ins arrive.

use crate::domain::AppError;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// Password hashes computed at once.
pub const HASHING_AT_ONCE: usize = 4;
/// Hashes that may wait for a slot; more than this and the caller hears `503`.
pub const HASHING_QUEUE: usize = 64;

static SLOTS: Semaphore = Semaphore::const_new(HASHING_AT_ONCE);
static ADMITTED: AtomicUsize = AtomicUsize::new(0);
static VERIFIED: AtomicU64 = AtomicU64::new(0);

/// How many password verifications this process has run (for tests and metrics).
pub fn verifications() -> u64 {
    VERIFIED.load(Ordering::Relaxed)
}

/// A place among the hashes running or waiting; given back on drop.
struct Admitted;

impl Drop for Admitted {
    fn drop(&mut self) {
        ADMITTED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` on a blocking thread once a hashing slot is free, or refuses with `Busy`
/// when too many are waiting already.
async fn gated<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    if ADMITTED.fetch_add(1, Ordering::AcqRel) >= HASHING_AT_ONCE + HASHING_QUEUE {
        ADMITTED.fetch_sub(1, Ordering::AcqRel);
        return Err(AppError::Busy(1));
    }
    let _admitted = Admitted;
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|_| AppError::Internal("password hashing stopped".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

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

/// Runs [`hash`] off the async runtime, within the hashing limits.
pub async fn hash_blocking(password: String) -> Result<String, AppError> {
    Ok(gated(move || hash(&password)).await??)
}

/// Runs [`verify`] off the async runtime, within the hashing limits.
pub async fn verify_blocking(password: String, phc: String) -> Result<bool, AppError> {
    gated(move || {
        VERIFIED.fetch_add(1, Ordering::Relaxed);
        verify(&password, &phc)
    })
    .await
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
