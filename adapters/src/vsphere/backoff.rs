//! The pause between tries of a failing change feed, so that a feed that keeps failing
//! costs vCenter a call every 30 s at most rather than a storm.

use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Pauses between tries of a failing feed: 1 s, doubling up to 30 s.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Failures since the feed last followed a change.
    failures: u32,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        FIRST_RETRY.saturating_mul(1 << doublings).min(LAST_RETRY)
    }

    /// A session lost while the feed was well is logged into again at once.
    pub fn after_loss(&mut self) -> Duration {
        if self.failures == 0 {
            self.failures = 1;
            return Duration::ZERO;
        }
        self.next_delay()
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_thirty_seconds() {
        let mut backoff = Backoff::default();

        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();

        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn a_first_loss_is_retried_at_once_and_a_second_after_a_pause() {
        let mut backoff = Backoff::default();

        assert_eq!(backoff.after_loss(), Duration::ZERO);
        assert_eq!(backoff.after_loss(), Duration::from_secs(2));
        backoff.reset();
        assert_eq!(backoff.after_loss(), Duration::ZERO);
    }
}
