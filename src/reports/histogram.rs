//! The fixed log-bucket histogram of the report durations, and its
//! percentiles.
//!
//! Bin 0 holds durations under 1 s; bin `i ≥ 1` holds `[√2^(i−1), √2^i)`
//! seconds (bin 80, the last, everything from `√2^79` s, about 24 years).
//! `lua/reports.lua` computes the same bins. A percentile is the
//! representative of the bin that holds the nearest-rank sample: the
//! bin's geometric middle `√2^(i−½)`, within a factor `2^¼` (+18.9 % /
//! −15.9 %, so ±19 %) of every duration in the bin; bin 0 reports 0.5 s,
//! within 0.5 s of its durations.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// The last bin (open-ended).
pub const MAX_BIN: u32 = 80;

/// The bin of a duration of `secs` seconds.
pub fn bin(secs: f64) -> u32 {
    if secs.is_nan() || secs < 1.0 {
        return 0;
    }
    // Truncation is the point: the whole number of half-octaves.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut i = (2.0 * secs.log2()).floor() as u32 + 1;
    while i > 1 && lower(i) > secs {
        i -= 1;
    }
    while i < MAX_BIN && upper(i) <= secs {
        i += 1;
    }
    i.min(MAX_BIN)
}

/// The lowest duration of bin `i ≥ 1`, in seconds.
fn lower(i: u32) -> f64 {
    2f64.powf(f64::from(i.saturating_sub(1)) / 2.0)
}

/// The end (exclusive) of bin `i`, in seconds.
fn upper(i: u32) -> f64 {
    2f64.powf(f64::from(i) / 2.0)
}

/// The value reported for durations of bin `i`.
pub fn representative(i: u32) -> f64 {
    if i == 0 {
        0.5
    } else {
        2f64.powf((f64::from(i) - 0.5) / 2.0)
    }
}

/// The relative error bound of a percentile outside bin 0: `2^¼ − 1`.
pub const RELATIVE_ERROR: f64 = 0.189_207_115;

/// The 50th and 90th percentiles of a distribution, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
}

/// Counts per bin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    bins: BTreeMap<u32, u64>,
}

impl Histogram {
    /// Adds `n` durations to bin `i` (clamped to the last bin).
    pub fn add(&mut self, i: u32, n: u64) {
        *self.bins.entry(i.min(MAX_BIN)).or_default() += n;
    }

    /// Adds one duration of `secs` seconds.
    pub fn record(&mut self, secs: f64) {
        self.add(bin(secs), 1);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (&i, &n) in &other.bins {
            self.add(i, n);
        }
    }

    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.bins.values().sum()
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1), as its bin's
    /// representative; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the sample: ⌈q·n⌉, at least 1.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&i, &n) in &self.bins {
            seen += n;
            if seen >= rank {
                return Some(representative(i));
            }
        }
        self.bins.keys().next_back().map(|&i| representative(i))
    }

    /// p50 and p90; `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        Some(Percentiles { p50: self.quantile(0.5)?, p90: self.quantile(0.9)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_half_octaves_from_one_second() {
        assert_eq!(bin(0.0), 0);
        assert_eq!(bin(0.999), 0);
        assert_eq!(bin(1.0), 1);
        assert_eq!(bin(1.41), 1);
        assert_eq!(bin(1.42), 2);
        assert_eq!(bin(2.0), 3);
        assert_eq!(bin(4.0), 5);
        assert_eq!(bin(60.0), 12, "√2^11 ≈ 45.3 ≤ 60 < 64");
        assert_eq!(bin(1e30), MAX_BIN);
        assert_eq!(bin(f64::NAN), 0);
        for i in 1..MAX_BIN {
            assert_eq!(bin(lower(i)), i, "the lower bound of bin {i} is in it");
            assert_eq!(bin(upper(i) * 0.999_999), i, "just under the top of bin {i}");
        }
    }

    #[test]
    fn the_representative_is_within_the_stated_error_of_its_bin() {
        for i in 1..MAX_BIN {
            let r = representative(i);
            assert!(r / lower(i) <= 1.0 + RELATIVE_ERROR + 1e-9, "bin {i}");
            assert!(upper(i) / r <= 1.0 + RELATIVE_ERROR + 1e-9, "bin {i}");
            assert_eq!(bin(r), i);
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_within_the_error() {
        let mut h = Histogram::default();
        assert_eq!(h.percentiles(), None);
        // 10 durations: 10 s × 5, 30 s × 4, 300 s × 1.
        for secs in [10.0, 10.0, 10.0, 10.0, 10.0, 30.0, 30.0, 30.0, 30.0, 300.0] {
            h.record(secs);
        }
        assert_eq!(h.count(), 10);
        let p = h.percentiles().unwrap();
        // Rank 5 is a 10 s, rank 9 a 30 s.
        assert!((p.p50 / 10.0 - 1.0).abs() <= RELATIVE_ERROR, "{p:?}");
        assert!((p.p90 / 30.0 - 1.0).abs() <= RELATIVE_ERROR, "{p:?}");
        assert_eq!(h.quantile(1.0), Some(representative(bin(300.0))));
        assert_eq!(h.quantile(0.0), Some(representative(bin(10.0))), "rank 1 at least");
    }

    #[test]
    fn merged_histograms_add_their_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(5.0);
        b.record(5.0);
        b.record(500.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile(0.5), Some(representative(bin(5.0))));
        assert_eq!(a.quantile(0.9), Some(representative(bin(500.0))));
        let mut c = Histogram::default();
        c.add(500, 2);
        assert_eq!(c.quantile(0.5), Some(representative(MAX_BIN)), "clamped to the last bin");
    }
}
