//! How often one address may start sign-ins (or send callbacks that match none): each
//! start stores a row, each refused callback an audit event, so neither is free.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Starts (and unmatched callbacks) one address may make per window.
pub const PER_ADDRESS: u32 = 20;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (the oldest windows are forgotten first).
const MAX_ADDRESSES: usize = 10_000;

/// A fixed-window count per client address.
#[derive(Default)]
pub struct FlowLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FlowLimiter {
    /// Counts one for `addr` at `now`; `false` when the address is over its budget.
    pub fn allow(&self, addr: &str, now: Instant) -> bool {
        let mut windows = self.windows.lock().expect("flow limiter");
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(addr) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let (start, count) = windows.entry(addr.to_string()).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= PER_ADDRESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_budget_per_window_and_others_are_not_touched() {
        let limiter = FlowLimiter::default();
        let t0 = Instant::now();
        for i in 0..PER_ADDRESS {
            assert!(limiter.allow("a", t0), "{i}");
        }
        assert!(!limiter.allow("a", t0));
        assert!(limiter.allow("b", t0));
        assert!(!limiter.allow("a", t0 + WINDOW - Duration::from_millis(1)));
        assert!(limiter.allow("a", t0 + WINDOW));
    }
}
