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
/// Longest justification or review comment, in characters.
pub const MAX_TEXT: usize = 2_000;
/// Most requests (bypasses, or policy changes) one person may have waiting at once.
pub const MAX_PENDING_PER_PERSON: i64 = 20;

/// Unicode's invisible text-direction controls, which can make text read differently from
/// what it is.
pub fn is_bidi_control(c: char) -> bool {
    super::invisible::classify(c) == Some(super::invisible::Class::Bidi)
}

/// Whether people-typed text that decides what a bypass covers is plain: no control,
/// text-direction, zero-width, tag or other invisible characters that could make it read
/// as something else (see [`super::invisible`]).
pub fn is_plain(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() || super::invisible::classify(c).is_some())
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
}

impl Default for SignoffSettings {
    fn default() -> Self {
        Self {
            approvals: 2,
            max_window_secs: 86_400,
            request_ttl_secs: 86_400,
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
