//! Limits on the work one caller can leave waiting: an admin setting.

use serde::{Deserialize, Serialize};

/// The highest cap an admin may set on one agent's pending calls.
pub const MAX_PENDING_CAP: u32 = 1_000_000;
/// The cap until an admin sets one.
pub const DEFAULT_MAX_PENDING: u32 = 1_000;
/// The largest arguments of a proposal until an admin sets another size, in bytes.
pub const DEFAULT_MAX_ARGS: u32 = 64 * 1024;
/// The largest size an admin may allow for a proposal's arguments, in bytes.
pub const MAX_ARGS_CAP: u32 = 4 * 1024 * 1024;
/// The smallest, in bytes.
pub const MIN_ARGS: u32 = 1024;

/// Admin limits on what agents may send and leave waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most calls one agent may have pending at once; a proposal that would be gated beyond
    /// it is refused with `429 too_many_pending`. `None`: no cap.
    pub max_pending_per_agent: Option<u32>,
    /// Largest `args` of a proposal (and of an approver's edit), in bytes of compact JSON:
    /// 1 KiB to 4 MiB, 64 KiB unless set. Larger ones are refused with `413`.
    #[serde(default = "default_max_args")]
    pub max_args_bytes: u32,
}

fn default_max_args() -> u32 {
    DEFAULT_MAX_ARGS
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_per_agent: Some(DEFAULT_MAX_PENDING),
            max_args_bytes: DEFAULT_MAX_ARGS,
        }
    }
}

impl Limits {
    /// Checks the bounds.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_ARGS..=MAX_ARGS_CAP).contains(&self.max_args_bytes) {
            return Err(format!(
                "the largest arguments must be {}-{} KiB, not {} bytes",
                MIN_ARGS / 1024,
                MAX_ARGS_CAP / 1024,
                self.max_args_bytes
            ));
        }
        match self.max_pending_per_agent {
            Some(n) if !(1..=MAX_PENDING_CAP).contains(&n) => Err(format!(
                "the most pending calls per agent must be 1-{MAX_PENDING_CAP} (or no cap), not {n}"
            )),
            _ => Ok(()),
        }
    }

    /// Parses the largest arguments as typed, in KiB (`64`, `1024`, `4096`).
    pub fn parse_args_kib(text: &str) -> Result<u32, String> {
        let text = text.trim();
        let range = MIN_ARGS / 1024..=MAX_ARGS_CAP / 1024;
        text.parse::<u32>()
            .ok()
            .filter(|kib| range.contains(kib))
            .map(|kib| kib * 1024)
            .ok_or_else(|| {
                format!(
                    "the largest arguments must be a number of KiB from {} to {}, not `{text}`",
                    range.start(),
                    range.end()
                )
            })
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
            ..Limits::default()
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
    fn argument_sizes_as_typed() {
        let cases: [(&str, Result<u32, &str>); 7] = [
            ("", Err("a number of KiB")),
            ("64", Ok(64 * 1024)),
            (" 1024 ", Ok(1024 * 1024)),
            ("4096", Ok(4 * 1024 * 1024)),
            ("4097", Err("from 1 to 4096")),
            ("0", Err("from 1 to 4096")),
            ("1MiB", Err("a number of KiB")),
        ];
        for (text, want) in cases {
            match (Limits::parse_args_kib(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text:?}: {got}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
        let stored_before: Limits = serde_json::from_str(r#"{"max_pending_per_agent":5}"#).unwrap();
        assert_eq!(stored_before.max_args_bytes, DEFAULT_MAX_ARGS);
        let too_big = Limits {
            max_args_bytes: MAX_ARGS_CAP + 1,
            ..Limits::default()
        };
        assert!(too_big.check().is_err());
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
