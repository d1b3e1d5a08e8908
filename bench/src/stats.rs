//! Medians and percentiles of samples, and how figures are printed.

use std::time::Duration;

/// The samples of one measurement, sorted.
#[derive(Debug, Clone)]
pub struct Samples {
    sorted: Vec<Duration>,
}

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The median; the mean of the two middle samples when their number is even.
    pub fn median(&self) -> Duration {
        let n = self.sorted.len();
        match n {
            0 => Duration::ZERO,
            _ if n % 2 == 1 => self.sorted[n / 2],
            _ => (self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2,
        }
    }

    /// The nearest-rank percentile: the smallest sample with at least `p` percent of the
    /// samples at or below it.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.sorted.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

/// The median of plain numbers, such as peak memory in bytes.
pub fn median_u64(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// `0.231 s` above a second's tenth, else `12.3 ms`, else `456 µs`.
pub fn duration(d: Duration) -> String {
    let seconds = d.as_secs_f64();
    if seconds >= 0.1 {
        format!("{seconds:.3} s")
    } else if seconds >= 0.001 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

/// Bytes in decimal units, as network figures are usually given: `11.59 MB`, `3.2 kB`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e6 {
        format!("{:.2} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n:.0} B")
    }
}

/// Resident memory in binary units, as `ps` and `free` give it: `41.3 MiB`.
pub fn mebibytes(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Samples {
        Samples::new(values.iter().map(|&v| Duration::from_millis(v)).collect())
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(ms(&[3, 1, 2]).median(), Duration::from_millis(2));
        assert_eq!(ms(&[4, 1, 3, 2]).median(), Duration::from_micros(2500));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(samples.percentile(50.0), Duration::from_millis(50));
        assert_eq!(samples.percentile(99.0), Duration::from_millis(99));
        assert_eq!(samples.percentile(100.0), Duration::from_millis(100));
        assert_eq!(ms(&[7]).percentile(99.0), Duration::from_millis(7));
    }
}
