//! Exponential backoff with jitter, for the collections that follow a failed one.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The delays before retrying a failing collection: doubling from `first`, capped at `cap`
/// (the interval, so that a recovered vCenter is seen no later than a healthy one would
/// be), each lengthened by a random jitter so that exporters restarted together do not
/// retry together.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    cap: Duration,
    delays: ExponentialBackoff,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(first.min(cap))
            .with_max_delay(cap)
            .with_jitter()
            .without_max_times();

        Self {
            builder,
            cap,
            delays: builder.build(),
        }
    }

    /// The delay before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        // The jitter is added on top of the capped delay: cap the sum too.
        self.delays.next().unwrap_or(self.cap).min(self.cap)
    }

    /// After a success, the next failure starts from the first delay again.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// Jitter adds up to the nominal delay itself.
    fn within(delay: Duration, nominal: Duration) -> bool {
        delay >= nominal && delay <= nominal * 2
    }

    #[test]
    fn delays_double_with_jitter() {
        let mut backoff = Backoff::new(SECOND, Duration::from_secs(3600));

        for nominal in [1, 2, 4, 8, 16, 32] {
            let delay = backoff.next_delay();
            assert!(within(delay, nominal * SECOND), "{delay:?} for {nominal}s");
        }
    }

    #[test]
    fn delays_never_exceed_the_cap() {
        let cap = Duration::from_secs(30);
        let mut backoff = Backoff::new(SECOND, cap);

        let delays: Vec<_> = (0..100).map(|_| backoff.next_delay()).collect();

        assert!(delays.iter().all(|d| *d <= cap));
        assert!(delays[10..].iter().all(|d| *d == cap));
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut delays: Vec<_> = (0..20)
            .map(|_| Backoff::new(SECOND, 60 * SECOND).next_delay())
            .collect();

        delays.sort();
        delays.dedup();
        assert!(delays.len() > 10);
    }

    #[test]
    fn a_success_starts_again_from_the_first_delay() {
        let mut backoff = Backoff::new(SECOND, Duration::from_secs(3600));
        for _ in 0..5 {
            backoff.next_delay();
        }

        backoff.reset();

        assert!(within(backoff.next_delay(), SECOND));
    }

    #[test]
    fn a_first_delay_above_the_cap_is_the_cap() {
        let mut backoff = Backoff::new(10 * SECOND, SECOND);

        assert_eq!(backoff.next_delay(), SECOND);
    }
}
