//! The pause between tries of a failing change feed, so that a feed that keeps failing
//! costs vCenter a call every 30 s at most rather than a storm.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Pauses between tries of a failing feed: 1 s, doubling up to 30 s. No jitter: there is
/// one feed per exporter, and its failures follow vCenter's, not a shared clock.
#[derive(Debug)]
pub(crate) struct Backoff {
    delays: ExponentialBackoff,
    /// Failures since the feed last followed a change.
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            delays: builder().build(),
            failures: 0,
        }
    }
}

fn builder() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_RETRY)
        .with_max_delay(LAST_RETRY)
        .without_max_times()
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.delays.next().unwrap_or(LAST_RETRY)
    }

    /// A session lost while the feed was well is logged into again at once.
    pub fn after_loss(&mut self) -> Duration {
        if self.failures == 0 {
            self.failures = 1;
            self.delays.next();
            return Duration::ZERO;
        }
        self.next_delay()
    }

    pub fn reset(&mut self) {
        *self = Self::default();
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
