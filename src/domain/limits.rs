//! Limits on the work one caller can leave waiting: an admin setting.

use serde::{Deserialize, Serialize};

/// The highest cap an admin may set on one agent's pending calls.
pub const MAX_PENDING_CAP: u32 = 1_000_000;
/// The cap until an admin sets one.
pub const DEFAULT_MAX_PENDING: u32 = 1_000;

/// Admin limits on what agents may leave waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most calls one agent may have pending at once; a proposal that would be gated beyond
    /// it is refused with `429 too_many_pending`. `None`: no cap.
    pub max_pending_per_agent: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_per_agent: Some(DEFAULT_MAX_PENDING),
        }
    }
}

impl Limits {
    /// Checks the bounds.
    pub fn check(&self) -> Result<(), String> {
        match self.max_pending_per_agent {
            Some(n) if !(1..=MAX_PENDING_CAP).contains(&n) => Err(format!(
                "the most pending calls per agent must be 1-{MAX_PENDING_CAP} (or no cap), not {n}"
            )),
            _ => Ok(()),
        }
    }

    /// Parses the cap as typed: a number, or `none` / empty for no cap.
    pub fn parse_cap(text: &str) -> Result<Option<u32>, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let n: u32 = text.parse().map_err(|_| {
            format!("the most pending calls per agent must be a number or `none`, not `{text}`")
        })?;
        let limits = Limits {
            max_pending_per_agent: Some(n),
        };
        limits.check()?;
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_as_typed() {
        let cases: [(&str, Result<Option<u32>, &str>); 8] = [
            ("1000", Ok(Some(1000))),
            (" 5 ", Ok(Some(5))),
            ("none", Ok(None)),
            ("", Ok(None)),
            ("0", Err("must be 1-1000000")),
            ("1000001", Err("must be 1-1000000")),
            ("-3", Err("a number or `none`")),
            ("ten", Err("a number or `none`")),
        ];
        for (text, want) in cases {
            match (Limits::parse_cap(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text:?}: {got}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_default_is_a_cap() {
        assert_eq!(
            Limits::default().max_pending_per_agent,
            Some(DEFAULT_MAX_PENDING)
        );
        assert!(Limits::default().check().is_ok());
    }
}
