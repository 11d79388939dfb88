//! Latency samples and their percentiles, and small rate helpers.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latencies, in milliseconds (microsecond
/// precision). Nearest-rank: p99 of 1,000 samples is the 990th smallest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// How many samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Latency {
    /// The percentiles of `samples` (all zero when there are none).
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of all at or below it.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            ms(samples[rank - 1])
        };
        let total: Duration = samples.iter().sum();
        Latency {
            samples: n,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: ms(samples[n - 1]),
            mean_ms: ms(total) / n as f64,
        }
    }
}

/// A duration in milliseconds, rounded to the microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// `count` operations in `elapsed`, per second (0 for an empty interval).
pub fn per_sec(count: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        round(count as f64 / secs)
    } else {
        0.0
    }
}

/// `a / b`, rounded to three decimals (0 when `b` is 0).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        (a / b * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Rounds a rate to one decimal, for a readable report.
pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(samples);
        assert_eq!(l.samples, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p90_ms, 90.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(Latency::of(Vec::new()), Latency::default());
        assert_eq!(Latency::of(vec![Duration::from_micros(1500)]).p99_ms, 1.5);
    }

    #[test]
    fn rates_and_ratios() {
        assert_eq!(per_sec(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_sec(1, Duration::ZERO), 0.0);
        assert_eq!(ratio(1.0, 3.0), 0.333);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }
}
