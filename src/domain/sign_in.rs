//! 登录限制: how many failed sign-ins a user name, or an address, may have before it must wait.
//! A guesser is slowed to a few tries a window; a person who mistyped waits minutes at most.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per window, for one user name and for one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimits {
    pub per_user: usize,
    /// An office behind one address signs in as many people; it gets more room.
    pub per_address: usize,
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self { per_user: 5, per_address: 30, window: Duration::from_secs(300) }
    }
}

/// The recent failures of one user name or one address, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Failures(VecDeque<Instant>);

impl Failures {
    /// How long until another attempt may be made, when `limit` failures already fall within
    /// `window` before `now`; `None` when one may be made now.
    pub fn wait(&mut self, now: Instant, limit: usize, window: Duration) -> Option<Duration> {
        self.forget_before(now, window);
        if self.0.len() < limit {
            return None;
        }
        // The attempt is allowed again when enough of the oldest failures have left the window.
        let oldest_that_counts = self.0[self.0.len() - limit];
        Some((oldest_that_counts + window).saturating_duration_since(now).max(Duration::from_secs(1)))
    }

    pub fn record(&mut self, now: Instant, limit: usize, window: Duration) {
        self.forget_before(now, window);
        self.0.push_back(now);
        // Only the newest `limit` decide anything.
        while self.0.len() > limit {
            self.0.pop_front();
        }
    }

    /// Nothing left in the window: the record can be dropped.
    pub fn is_spent(&mut self, now: Instant, window: Duration) -> bool {
        self.forget_before(now, window);
        self.0.is_empty()
    }

    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self.0.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
            self.0.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_attempt_waits_until_the_first_failure_leaves_the_window() {
        let start = Instant::now();
        let window = Duration::from_secs(300);
        let mut f = Failures::default();
        for i in 0..5 {
            let at = start + Duration::from_secs(i * 10);
            assert_eq!(f.wait(at, 5, window), None, "attempt {}", i + 1);
            f.record(at, 5, window);
        }
        assert_eq!(f.wait(start + Duration::from_secs(50), 5, window), Some(Duration::from_secs(250)));
        assert_eq!(f.wait(start + Duration::from_secs(299), 5, window), Some(Duration::from_secs(1)));
        assert_eq!(f.wait(start + Duration::from_secs(300), 5, window), None);
        assert!(!f.is_spent(start + Duration::from_secs(300), window));
        assert!(f.is_spent(start + Duration::from_secs(340), window));
    }

    #[test]
    fn a_record_keeps_no_more_than_the_limit() {
        let start = Instant::now();
        let mut f = Failures::default();
        for i in 0..100 {
            f.record(start + Duration::from_millis(i), 3, Duration::from_secs(60));
        }
        assert_eq!(f.0.len(), 3);
        assert!(f.wait(start + Duration::from_millis(100), 3, Duration::from_secs(60)).is_some());
    }
}
