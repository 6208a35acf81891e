//! Channel secrets (Slack webhook URLs, SMTP passwords, webhook signing secrets) at rest:
//! sealed with XChaCha20-Poly1305 under a key kept outside the database (a file created
//! 0600 beside it, or one named by `--secrets-key-file`), or not stored at all but read
//! from an environment variable (`env:NAME`). Shown back only masked.

use crate::domain::AppError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use std::path::Path;

/// How a sealed secret starts.
const SEALED: &str = "enc:v1:";
/// How an environment reference starts.
const ENV: &str = "env:";

/// Where the secrets key lives unless told otherwise: beside an SQLite database
/// (`data/askfirst.db` → `data/askfirst.secrets-key`); with PostgreSQL,
/// `data/askfirst.secrets-key` (every instance must be given the same key).
pub fn default_key_file(db: &crate::store::Location) -> std::path::PathBuf {
    match db.sqlite_path() {
        Some(path) => path.with_extension("secrets-key"),
        None => Path::new("data").join("askfirst.secrets-key"),
    }
}

/// The key channel secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(Key::from_slice(bytes)))
    }

    /// The key of database `db`: read from `key_file`, or from the default file beside it
    /// ([`default_key_file`]), created when missing ([`SecretKey::load_or_create`]).
    pub fn for_db(db: &crate::store::Location, key_file: Option<&Path>) -> anyhow::Result<Self> {
        match key_file {
            Some(path) => Self::load_or_create(path),
            None => Self::load_or_create(&default_key_file(db)),
        }
    }

    /// Reads the key file at `path` (64 hex characters), creating it with a fresh random
    /// key, readable by its owner only, when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| {
                        format!(
                            "{}: a secrets key is 64 hex characters (32 bytes)",
                            path.display()
                        )
                    })?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        use std::io::Write;
                        file.write_all(hex::encode(bytes).as_bytes())
                            .and_then(|_| file.sync_all())
                            .with_context(|| format!("writing {}", path.display()))?;
                        Ok(Self::from_bytes(&bytes))
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// What to store for `secret` given by an admin for channel `channel`: an `env:NAME`
    /// reference as it is (checked), anything else sealed (bound to the channel's name, so a
    /// sealed value copied to another channel does not open).
    pub fn store(&self, channel: &str, secret: &str) -> Result<String, AppError> {
        if let Some(name) = secret.strip_prefix(ENV) {
            check_env_name(name)?;
            return Ok(secret.to_string());
        }
        self.seal(channel, secret.as_bytes())
    }

    /// `plain` sealed and bound to `label` (it opens only with the same label):
    /// `enc:v1:` and the nonce and sealed bytes in hex.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Result<String, AppError> {
        use rand::RngCore;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| AppError::Internal("sealing a secret failed".into()))?;
        Ok(format!(
            "{SEALED}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    /// What [`SecretKey::seal`] sealed with `label`.
    pub fn unseal(&self, label: &str, sealed: &str) -> Result<Vec<u8>, String> {
        let bytes = sealed
            .strip_prefix(SEALED)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > 24)
            .ok_or_else(|| "the stored secret is unreadable".to_string())?;
        let (nonce, sealed) = bytes.split_at(24);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| {
                "the stored secret does not open with this secrets key (was the key file \
                 replaced?)"
                    .to_string()
            })
    }

    /// The secret a stored value stands for: opened, or read from the environment.
    pub fn reveal(&self, channel: &str, stored: &str) -> Result<String, String> {
        if let Some(name) = stored.strip_prefix(ENV) {
            return std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"));
        }
        if stored.is_empty() {
            return Ok(String::new());
        }
        let plain = self.unseal(channel, stored)?;
        String::from_utf8(plain).map_err(|_| "the stored secret is not text".to_string())
    }
}

/// Whether `stored` is an environment reference (`env:NAME`).
pub fn is_env(stored: &str) -> bool {
    stored.starts_with(ENV)
}

/// An environment variable name: letters, digits and `_`, not starting with a digit.
pub fn check_env_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "`env:` names an environment variable: letters, digits and `_`".into(),
        ))
    }
}

/// A secret URL as it may be shown: scheme and host, then only its last four characters
/// (`https://hooks.slack.com/…/••••abcd`).
pub fn mask_url(url: &str) -> String {
    if url.starts_with(ENV) {
        return url.to_string();
    }
    let tail: String = {
        let chars: Vec<char> = url.chars().collect();
        if chars.len() >= 24 {
            chars[chars.len() - 4..].iter().collect()
        } else {
            String::new()
        }
    };
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}/…/••••{tail}",
            u.scheme(),
            u.host_str().unwrap_or("?")
        ),
        Err(_) => format!("••••{tail}"),
    }
}

/// A password or signing secret as it may be shown: that it is set, never any of it.
pub fn mask_secret(stored: &str) -> String {
    match stored {
        "" => "none".into(),
        s if s.starts_with(ENV) => s.to_string(),
        _ => "•••••••• (stored encrypted)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn sealed_secrets_open_only_for_their_channel_and_key() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXabcd";
        let stored = key().store("ops", url).unwrap();
        assert!(stored.starts_with(SEALED));
        assert!(!stored.contains("XXXX"), "{stored}");
        assert_eq!(key().reveal("ops", &stored).unwrap(), url);
        assert!(key().reveal("other", &stored).is_err());
        assert!(SecretKey::from_bytes(&[8u8; 32])
            .reveal("ops", &stored)
            .is_err());
        assert_ne!(stored, key().store("ops", url).unwrap(), "fresh nonce");
        assert!(key().reveal("ops", "enc:v1:zz").is_err());
        assert!(key().reveal("ops", "garbage").is_err());
    }

    #[test]
    fn env_references_are_kept_and_checked() {
        let cases = [
            ("env:SLACK_URL", true),
            ("env:_X1", true),
            ("env:", false),
            ("env:1ABC", false),
            ("env:A-B", false),
            ("env:A B", false),
        ];
        for (text, ok) in cases {
            assert_eq!(key().store("c", text).is_ok(), ok, "{text}");
        }
        assert_eq!(key().store("c", "env:HOOK").unwrap(), "env:HOOK");
        assert!(key()
            .reveal("c", "env:ASKFIRST_SURELY_UNSET_VARIABLE")
            .is_err());
    }

    #[test]
    fn masks_show_no_more_than_the_last_four() {
        let cases = [
            (
                "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXabcd",
                "https://hooks.slack.com/…/••••abcd",
            ),
            ("http://127.0.0.1:9/x", "http://127.0.0.1/…/••••"),
            ("env:SLACK", "env:SLACK"),
            ("not a url but long enough to show a tail", "••••tail"),
        ];
        for (url, want) in cases {
            assert_eq!(mask_url(url), want, "{url}");
        }
        assert_eq!(mask_secret(""), "none");
        assert_eq!(mask_secret("env:PW"), "env:PW");
        assert!(!mask_secret("enc:v1:abcdef").contains("abc"));
    }

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secrets.key");
        let first = SecretKey::load_or_create(&path).unwrap();
        let sealed = first.store("c", "s3cret").unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.reveal("c", &sealed).unwrap(), "s3cret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(SecretKey::load_or_create(&path).is_err());
    }
}
