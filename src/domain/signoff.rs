//! Sign-off by managers: the settings that govern it, and what a review of a bypass request
//! or a policy change looks like to people. The decisions themselves are the review
//! engine's ([`super::review`]); each subject keeps its own state machine
//! ([`super::bypass`], [`super::change_request`]).

use super::review::Verdict;
use serde::{Deserialize, Serialize};

/// Fewest approvals a sign-off may need.
pub const MIN_APPROVALS: u32 = 2;
/// Most approvals a sign-off may need.
pub const MAX_APPROVALS: u32 = 10;
/// Longest bypass window an admin may allow: 7 days.
pub const MAX_WINDOW_SECS: u64 = 7 * 86_400;
/// Longest a request may wait for sign-off: 7 days.
pub const MAX_REQUEST_TTL_SECS: u64 = 7 * 86_400;
/// Shortest a request may wait for sign-off: 10 minutes.
pub const MIN_REQUEST_TTL_SECS: u64 = 600;
/// Longest cooling-off after a password reset: 30 days.
pub const MAX_COOLING_SECS: u64 = 30 * 86_400;
/// Longest justification or review comment, in characters.
pub const MAX_TEXT: usize = 2_000;
/// Most requests (bypasses, or policy changes) one person may have waiting at once.
pub const MAX_PENDING_PER_PERSON: i64 = 20;

/// Unicode's invisible text-direction controls, which can make text read differently from
/// what it is.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether people-typed text that decides what a bypass covers is plain: no control or
/// text-direction characters that could make it read as something else.
pub fn is_plain(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || is_bidi_control(c))
}

/// Whether `text` is a zero duration (`0`, `0s`, `0m`, `0h`, `0d`): "no cooling-off".
pub fn is_zero_duration(text: &str) -> bool {
    matches!(text.trim(), "0" | "0s" | "0m" | "0h" | "0d")
}

/// What an admin decides about sign-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoffSettings {
    /// Distinct managers who must approve a bypass request or a loosening policy change.
    pub approvals: u32,
    /// Longest window a bypass may ask for, in seconds.
    pub max_window_secs: u64,
    /// How long a request waits for sign-off before it expires, in seconds.
    pub request_ttl_secs: u64,
    /// How long an account whose password someone else reset may not sign anything off,
    /// in seconds.
    #[serde(default = "default_cooling")]
    pub reset_cooling_secs: u64,
    /// Set by the server when an admin shortens the cooling-off: the longer period still
    /// applies to resets until `until_ms`, so nobody can shorten it and use it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooling_lowered: Option<LoweredCooling>,
}

/// A cooling-off period that was shortened, and until when it still applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoweredCooling {
    pub secs: u64,
    pub until_ms: i64,
}

fn default_cooling() -> u64 {
    86_400
}

impl Default for SignoffSettings {
    fn default() -> Self {
        Self {
            approvals: 2,
            max_window_secs: 86_400,
            request_ttl_secs: 86_400,
            reset_cooling_secs: default_cooling(),
            cooling_lowered: None,
        }
    }
}

impl SignoffSettings {
    /// Checks the bounds; `managers` is the number of active managers and admins. Saving
    /// needs at least `approvals + 1` of them: the requester never counts.
    pub fn check(&self, managers: i64) -> Result<(), String> {
        if !(MIN_APPROVALS..=MAX_APPROVALS).contains(&self.approvals) {
            return Err(format!(
                "approvals must be {MIN_APPROVALS}-{MAX_APPROVALS}, not {}",
                self.approvals
            ));
        }
        if !(1..=MAX_WINDOW_SECS).contains(&self.max_window_secs) {
            return Err("the longest bypass window must be between 1 second and 7 days".into());
        }
        if !(MIN_REQUEST_TTL_SECS..=MAX_REQUEST_TTL_SECS).contains(&self.request_ttl_secs) {
            return Err("requests must wait between 10 minutes and 7 days".into());
        }
        if self.reset_cooling_secs > MAX_COOLING_SECS {
            return Err("the cooling-off after a password reset is at most 30 days".into());
        }
        let needed = i64::from(self.approvals) + 1;
        if managers < needed {
            return Err(format!(
                "{} approvals need at least {needed} active managers or admins (the requester \
                 never counts), but there {} only {managers}",
                self.approvals,
                if managers == 1 { "is" } else { "are" }
            ));
        }
        Ok(())
    }
}

impl SignoffSettings {
    /// The cooling-off a password reset at `now_ms` gets: the longer of the period in force
    /// and one shortened less than that period ago.
    pub fn cooling_secs(&self, now_ms: i64) -> u64 {
        match self.cooling_lowered {
            Some(l) if l.until_ms > now_ms => l.secs.max(self.reset_cooling_secs),
            _ => self.reset_cooling_secs,
        }
    }

    /// `self` as saved over `before` at `now_ms`: a shortened cooling-off keeps the longer
    /// one in force for as long as that one lasts (what a client sent for it is ignored).
    pub fn saved_over(mut self, before: &SignoffSettings, now_ms: i64) -> SignoffSettings {
        let in_force = before.cooling_secs(now_ms);
        self.cooling_lowered = if self.reset_cooling_secs < in_force {
            let until_ms = match before.cooling_lowered {
                Some(l) if l.until_ms > now_ms && l.secs == in_force => l.until_ms,
                _ => now_ms.saturating_add(in_force as i64 * 1000),
            };
            Some(LoweredCooling {
                secs: in_force,
                until_ms,
            })
        } else {
            None
        };
        self
    }
}

/// One manager's review, as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoffReviewView {
    pub user: String,
    pub verdict: Verdict,
    pub comment: Option<String>,
    /// RFC 3339.
    pub at: String,
    /// Whether it is of what is under review now (a re-based change voids earlier ones).
    pub current: bool,
    /// Whether this approval counts now (current, and the reviewer still qualifies).
    pub counts: bool,
}

/// A change to someone's account after a sign-off request was filed: listed on the
/// request, so its reviewers' standing can be judged at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    /// RFC 3339.
    pub at: String,
    /// Who made it (`user:<name>` or `cli`).
    pub by: String,
    /// Whose account.
    pub user: String,
    /// What changed, in words.
    pub what: String,
}

/// A call that a bypass covered or would have covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredCall {
    pub id: String,
    pub agent: String,
    pub tool: String,
    /// The call's status, by name.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// A few arguments, shortened, for a glance.
    pub key_args: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_bounds_and_managers() {
        let ok = SignoffSettings::default();
        let cases = [
            (ok, 3, None),
            (ok, 2, Some("at least 3 active managers")),
            (
                SignoffSettings { approvals: 1, ..ok },
                9,
                Some("approvals must be 2-10"),
            ),
            (
                SignoffSettings { approvals: 3, ..ok },
                3,
                Some("at least 4"),
            ),
            (
                SignoffSettings {
                    max_window_secs: MAX_WINDOW_SECS + 1,
                    ..ok
                },
                9,
                Some("7 days"),
            ),
            (
                SignoffSettings {
                    request_ttl_secs: 60,
                    ..ok
                },
                9,
                Some("10 minutes"),
            ),
            (
                SignoffSettings {
                    reset_cooling_secs: MAX_COOLING_SECS + 1,
                    ..ok
                },
                9,
                Some("30 days"),
            ),
        ];
        for (settings, managers, want) in cases {
            match (settings.check(managers), want) {
                (Ok(()), None) => {}
                (Err(e), Some(part)) => assert!(e.contains(part), "{settings:?}: {e}"),
                (got, want) => panic!("{settings:?} with {managers}: {got:?}, wanted {want:?}"),
            }
        }
    }
}

#[cfg(test)]
mod cooling_tests {
    use super::*;

    #[test]
    fn zero_durations() {
        for (text, zero) in [
            ("0", true),
            (" 0d ", true),
            ("0s", true),
            ("0abc", false),
            ("00", false),
            ("0zzz", false),
            ("1d", false),
        ] {
            assert_eq!(is_zero_duration(text), zero, "{text}");
        }
    }

    /// Shortening the cooling-off never helps at once: the longer period applies to resets
    /// for as long as it lasts; lengthening applies at once.
    #[test]
    fn a_shortened_cooling_off_applies_only_after_the_longer_one() {
        let day = 86_400;
        let base = SignoffSettings::default();
        let zero = SignoffSettings {
            reset_cooling_secs: 0,
            ..base
        }
        .saved_over(&base, 1_000);
        // (instant, cooling a reset then gets)
        for (now, want) in [
            (1_000, day),
            (day as i64 * 1000, day),
            (day as i64 * 1000 + 1_000, 0),
        ] {
            assert_eq!(zero.cooling_secs(now), want, "at {now}");
        }
        // Saving the same short value again does not move the end.
        let again = zero.saved_over(&zero, 50_000);
        assert_eq!(again.cooling_lowered, zero.cooling_lowered);
        // Lengthening applies at once and clears the memory.
        let long = SignoffSettings {
            reset_cooling_secs: 2 * day,
            ..base
        }
        .saved_over(&zero, 2_000);
        assert_eq!(long.cooling_secs(2_000), 2 * day);
        assert_eq!(long.cooling_lowered, None);
        // A client cannot clear the memory by sending its own.
        let forged = SignoffSettings {
            reset_cooling_secs: 0,
            cooling_lowered: None,
            ..base
        }
        .saved_over(&zero, 3_000);
        assert_eq!(forged.cooling_secs(3_000), day);
    }
}
