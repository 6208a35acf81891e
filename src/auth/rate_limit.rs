//! Limits repeated sign-in failures, per username and per client address, over a sliding
//! window measured on the injected clock.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many failures a key may have within the window before it is refused.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_failures: usize,
    pub window: Duration,
}

/// Keys with more entries than this are pruned of stale ones on the next failure.
const PRUNE_ABOVE: usize = 10_000;

/// Failure counts for sign-in attempts.
#[derive(Debug)]
pub struct LoginLimiter {
    per_user: Limits,
    per_addr: Limits,
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl Default for LoginLimiter {
    /// 5 failures per username and 20 per address within 15 minutes.
    fn default() -> Self {
        Self::new(
            Limits {
                max_failures: 5,
                window: Duration::minutes(15),
            },
            Limits {
                max_failures: 20,
                window: Duration::minutes(15),
            },
        )
    }
}

impl LoginLimiter {
    /// A limiter with the given per-username and per-address limits.
    pub fn new(per_user: Limits, per_addr: Limits) -> Self {
        Self {
            per_user,
            per_addr,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` if an attempt for `username` from `addr` must wait that long.
    pub fn check(&self, username: &str, addr: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = |key: String, limits: Limits| -> Option<u64> {
            let times = map.get(&key)?;
            let recent: Vec<_> = times.iter().filter(|t| **t > now - limits.window).collect();
            if recent.len() < limits.max_failures {
                return None;
            }
            let oldest = recent[recent.len() - limits.max_failures];
            let until = *oldest + limits.window;
            Some((until - now).num_seconds().max(1) as u64)
        };
        let user_wait = wait(format!("u:{username}"), self.per_user);
        let addr_wait = wait(format!("a:{addr}"), self.per_addr);
        match user_wait.max(addr_wait) {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, username: &str, addr: &str, now: DateTime<Utc>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_ABOVE {
            let horizon = now - self.per_user.window.max(self.per_addr.window);
            map.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
        }
        for (key, limits) in [
            (format!("u:{username}"), self.per_user),
            (format!("a:{addr}"), self.per_addr),
        ] {
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > limits.max_failures {
                times.pop_front();
            }
        }
    }

    /// Forgets a username's failures after it signs in successfully.
    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("u:{username}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    enum Step {
        Fail(&'static str, &'static str, i64),
        Succeed(&'static str),
        Check(&'static str, &'static str, i64, Result<(), u64>),
    }
    use Step::*;

    #[test]
    fn sequences() {
        let limits = |n| Limits {
            max_failures: n,
            window: Duration::seconds(60),
        };
        let cases: Vec<(&str, Vec<Step>)> = vec![
            (
                "under the limit",
                vec![
                    Fail("al", "1", 0),
                    Fail("al", "1", 1),
                    Check("al", "1", 2, Ok(())),
                ],
            ),
            (
                "user locked after 3, until the oldest failure leaves the window",
                vec![
                    Fail("al", "1", 0),
                    Fail("al", "2", 10),
                    Fail("al", "3", 20),
                    Check("al", "4", 30, Err(30)),
                    Check("bo", "4", 30, Ok(())),
                    Check("al", "4", 61, Ok(())),
                ],
            ),
            (
                "address locked after 5 across usernames",
                vec![
                    Fail("a", "9", 0),
                    Fail("b", "9", 0),
                    Fail("c", "9", 0),
                    Fail("d", "9", 0),
                    Fail("e", "9", 0),
                    Check("f", "9", 1, Err(59)),
                    Check("f", "8", 1, Ok(())),
                ],
            ),
            (
                "success clears the username",
                vec![
                    Fail("al", "1", 0),
                    Fail("al", "2", 0),
                    Fail("al", "3", 0),
                    Succeed("al"),
                    Check("al", "4", 1, Ok(())),
                ],
            ),
        ];
        for (name, steps) in cases {
            let limiter = LoginLimiter::new(limits(3), limits(5));
            for step in steps {
                match step {
                    Fail(u, a, s) => limiter.record_failure(u, a, t(s)),
                    Succeed(u) => limiter.record_success(u),
                    Check(u, a, s, expected) => {
                        assert_eq!(
                            limiter.check(u, a, t(s)),
                            expected,
                            "{name}: {u}@{a} at {s}"
                        )
                    }
                }
            }
        }
    }
}
