//! Exponential backoff with jitter, for the collections that follow a failed one.

use std::time::Duration;

/// The delays before retrying a failing collection: doubling from `first`, capped at `cap`
/// (the interval, so that a recovered vCenter is seen no later than a healthy one would
/// be), each spread by a random ±20% so that exporters restarted together do not retry
/// together.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration, rng: fastrand::Rng) -> Self {
        Self {
            first: first.min(cap),
            cap,
            failures: 0,
            rng,
        }
    }

    /// The delay before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let doubled = self.first.saturating_mul(1 << self.failures.min(16));
        self.failures = self.failures.saturating_add(1);

        let jitter = 0.8 + 0.4 * self.rng.f64();
        doubled.min(self.cap).mul_f64(jitter).min(self.cap)
    }

    /// After a success, the next failure starts from `first` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn backoff(cap: Duration) -> Backoff {
        Backoff::new(SECOND, cap, fastrand::Rng::with_seed(7))
    }

    fn within(delay: Duration, nominal: Duration) -> bool {
        delay >= nominal.mul_f64(0.8) && delay <= nominal.mul_f64(1.2)
    }

    #[test]
    fn delays_double_with_jitter() {
        let mut backoff = backoff(Duration::from_secs(3600));

        for nominal in [1, 2, 4, 8, 16, 32] {
            let delay = backoff.next_delay();
            assert!(within(delay, nominal * SECOND), "{delay:?} for {nominal}s");
        }
    }

    #[test]
    fn delays_never_exceed_the_cap() {
        let cap = Duration::from_secs(30);
        let mut backoff = backoff(cap);

        let delays: Vec<_> = (0..100).map(|_| backoff.next_delay()).collect();

        assert!(delays.iter().all(|d| *d <= cap));
        assert!(delays[10..].iter().all(|d| *d >= cap.mul_f64(0.8)));
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut delays: Vec<_> = (0..20)
            .map(|seed| {
                Backoff::new(SECOND, 60 * SECOND, fastrand::Rng::with_seed(seed)).next_delay()
            })
            .collect();

        delays.sort();
        delays.dedup();
        assert!(delays.len() > 10);
    }

    #[test]
    fn a_success_starts_again_from_the_first_delay() {
        let mut backoff = backoff(Duration::from_secs(3600));
        for _ in 0..5 {
            backoff.next_delay();
        }

        backoff.reset();

        assert!(within(backoff.next_delay(), SECOND));
    }

    #[test]
    fn a_first_delay_above_the_cap_is_the_cap() {
        let mut backoff = Backoff::new(10 * SECOND, SECOND, fastrand::Rng::with_seed(1));

        assert!(backoff.next_delay() <= SECOND);
    }
}
