//! The policy a fresh install starts with: `default.toml`, documented in place.

use super::toml_io;
use crate::domain::policy::Policy;

/// The embedded default policy file.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The default policy. A unit test proves the embedded file parses and compiles, so this
/// does not fail.
pub fn default_policy() -> Policy {
    toml_io::from_toml(DEFAULT_TOML)
        .unwrap_or_else(|e| panic!("the embedded default policy does not parse: {e}"))
}
