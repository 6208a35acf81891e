//! Limits repeated sign-in failures, per username and per client address, over a sliding
//! window measured on the injected clock. An attempt is reserved — counted as a failure —
//! before its password is checked ([`LoginLimiter::reserve`]) and given back when it
//! succeeds, so a burst of concurrent wrong passwords gets no more verifications than the
//! limit. Memory is bounded: stale keys are pruned, and beyond [`MAX_KEYS`] the keys that
//! failed longest ago are forgotten.

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
/// Most keys kept (each holds at most `max_failures` times).
pub const MAX_KEYS: usize = 100_000;

/// An attempt counted before its password is checked.
#[derive(Debug)]
pub struct Attempt {
    username: String,
    addr: String,
    at: DateTime<Utc>,
}

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
        self.wait(&map, username, addr, now)
    }

    fn wait(
        &self,
        map: &HashMap<String, VecDeque<DateTime<Utc>>>,
        username: &str,
        addr: &str,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
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

    /// Counts an attempt for `username` from `addr` before its password is checked, or
    /// says how long to wait. Give it back with [`LoginLimiter::succeeded`] when it succeeds.
    pub fn reserve(&self, username: &str, addr: &str, now: DateTime<Utc>) -> Result<Attempt, u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        self.wait(&map, username, addr, now)?;
        self.record(&mut map, username, addr, now);
        Ok(Attempt {
            username: username.to_string(),
            addr: addr.to_string(),
            at: now,
        })
    }

    /// The per-username and per-address limits.
    pub fn limits(&self) -> (Limits, Limits) {
        (self.per_user, self.per_addr)
    }

    /// Gives a reserved attempt back without judging it (it never reached the password
    /// check): it no longer counts against the username or the address.
    pub fn release(&self, attempt: Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in [
            format!("u:{}", attempt.username),
            format!("a:{}", attempt.addr),
        ] {
            if let Some(times) = map.get_mut(&key) {
                if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                    times.remove(i);
                }
            }
        }
    }

    /// A reserved attempt succeeded: the username's failures are forgotten, and the
    /// attempt no longer counts against the address.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("u:{}", attempt.username));
        if let Some(times) = map.get_mut(&format!("a:{}", attempt.addr)) {
            if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, username: &str, addr: &str, now: DateTime<Utc>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        self.record(&mut map, username, addr, now);
    }

    fn record(
        &self,
        map: &mut HashMap<String, VecDeque<DateTime<Utc>>>,
        username: &str,
        addr: &str,
        now: DateTime<Utc>,
    ) {
        if map.len() >= MAX_KEYS {
            // Forget the keys whose last failure is oldest, down to three quarters.
            let mut last: Vec<(DateTime<Utc>, String)> = map
                .iter()
                .map(|(k, t)| (t.back().copied().unwrap_or(now), k.clone()))
                .collect();
            last.sort_unstable();
            for (_, key) in last.into_iter().take(MAX_KEYS / 4) {
                map.remove(&key);
            }
        }
        let before = map.len();
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
        // Stale keys are pruned each time the map grows past another 1,024 keys (a scan
        // of the whole map, so not on every failure).
        if map.len() > PRUNE_ABOVE && map.len() / 1024 != before / 1024 {
            let horizon = now - self.per_user.window.max(self.per_addr.window);
            map.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
        }
    }

    /// Forgets a username's failures after it signs in successfully.
    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("u:{username}"));
    }

    /// How many keys are remembered (for tests).
    pub fn keys(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
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
        /// Reserve, and whether the password then turned out right.
        Try(&'static str, &'static str, i64, bool, Result<(), u64>),
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
            (
                "attempts are counted before the password is known",
                vec![
                    Try("al", "1", 0, false, Ok(())),
                    Try("al", "1", 0, false, Ok(())),
                    Try("al", "1", 0, false, Ok(())),
                    Try("al", "1", 0, true, Err(60)),
                ],
            ),
            (
                "a right password gives its attempt back",
                vec![
                    Try("a", "7", 0, true, Ok(())),
                    Try("b", "7", 0, true, Ok(())),
                    Try("c", "7", 0, true, Ok(())),
                    Try("d", "7", 0, true, Ok(())),
                    Try("e", "7", 0, true, Ok(())),
                    Try("f", "7", 0, true, Ok(())),
                    Check("g", "7", 0, Ok(())),
                ],
            ),
        ];
        for (name, steps) in cases {
            let limiter = LoginLimiter::new(limits(3), limits(5));
            for step in steps {
                match step {
                    Fail(u, a, s) => limiter.record_failure(u, a, t(s)),
                    Succeed(u) => limiter.record_success(u),
                    Try(u, a, s, right, expected) => {
                        let got = limiter.reserve(u, a, t(s));
                        assert_eq!(
                            got.as_ref().map(|_| ()).map_err(|w| *w),
                            expected,
                            "{name}: try {u}@{a} at {s}"
                        );
                        if let (Ok(attempt), true) = (got, right) {
                            limiter.succeeded(attempt);
                        }
                    }
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

#[cfg(test)]
mod memory {
    use super::*;

    #[test]
    fn keys_stay_bounded() {
        let limiter = LoginLimiter::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..(MAX_KEYS as u32) {
            limiter.record_failure(&format!("u{i}"), "one address", now);
        }
        assert!(limiter.keys() <= MAX_KEYS, "{}", limiter.keys());
        // Stale keys go once the window has passed.
        let later = now + Duration::hours(1);
        for i in 0..2048 {
            limiter.record_failure(&format!("v{i}"), "another", later);
        }
        assert!(limiter.keys() <= PRUNE_ABOVE, "{}", limiter.keys());
    }
}
