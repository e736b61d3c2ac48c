//! Counting what arrived: per-receiver sequence bitsets (unique deliveries, duplicates), the
//! latency HdrHistogram, and the compact forms workers send to the parent.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Sequence numbers above this are not tracked (bounds a bitset at 8 MiB).
pub const MAX_SEQ: u64 = 64 * 1024 * 1024;

/// The set of sequence numbers one receiver got from one publisher.
#[derive(Debug, Default, Clone)]
pub struct Seen(Vec<u64>);

impl Seen {
    /// Marks `seq`; false when it was already there (a duplicate).
    pub fn insert(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        let fresh = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        fresh
    }
}

/// A latency histogram in microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// The histogram as (value, count) pairs, for the parent.
pub fn to_pairs(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Adds pairs from [`to_pairs`] into `h`.
pub fn add_pairs(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) {
    for &(v, c) in pairs {
        h.saturating_record_n(v.max(1), c);
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// Summarises a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_counts_duplicates() {
        let mut s = Seen::default();
        assert!(s.insert(0));
        assert!(s.insert(130));
        assert!(!s.insert(130));
        assert!(s.insert(64));
    }

    #[test]
    fn pairs_round_trip() {
        let mut h = new_histogram();
        for v in [1, 10, 100, 1000, 1000, 50_000] {
            h.record(v).unwrap();
        }
        let mut g = new_histogram();
        add_pairs(&mut g, &to_pairs(&h));
        assert_eq!(g.len(), 6);
        assert_eq!(g.max(), h.max());
        let l = Latency::of(&g);
        assert!(l.p50_ms > 0.09 && l.p50_ms < 1.1, "{l:?}");
    }
}
