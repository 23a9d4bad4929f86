//! Records: a metric value beyond everything its series has had.
//!
//! The baseline judges a number against its last `baseline_size` events, from
//! their 1st to 99th percentile with a margin of half their spread, so that
//! the noisy ends of a range do not alarm. On a spiky series that margin is
//! wide: a request count that swings between 10 and 300 can reach 660, the
//! highest it has ever been, and still sit inside it. So every metric series
//! also keeps its all-time range of each numeric field, and a value beyond it
//! by more than `record_margin` of its width is flagged as a record whatever
//! its compression score.
//!
//! A record has its own p-value: among `n + 1` exchangeable values, the
//! newest is the highest or the lowest with probability `2 / (n + 1)`, so a
//! record of a series that has had `n` values has p = `2 / (n + 1)` (times
//! the number of fields tested, for an event with several). It is flagged
//! only when that passes `p_value_threshold`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::anomaly::Record;
use crate::bounded::make_room;

/// (series, field) ranges remembered per stream; beyond this the least
/// recently updated one is forgotten, so a stream with ever-new label values
/// stays bounded.
const MAX_RANGES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Range {
    min: f64,
    max: f64,
    /// Values seen.
    n: u64,
    /// When it was last updated (see [`Records::clock`]).
    last: u64,
}

/// The all-time range of each numeric field of each metric series of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Records {
    ranges: BTreeMap<u64, Range>,
    /// Events observed so far: orders ranges by their last update.
    clock: u64,
}

fn range_key(series: u64, path: &str) -> u64 {
    path.bytes().fold(series ^ 0x2545_f491_4f6c_dd1d, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Records {
    /// Adds the numeric fields `leaves` of an event of series `series`.
    /// Returns the farthest record among them, measured against the ranges
    /// before this event, when `margin` is set and the field's series has had
    /// at least `history` values.
    pub fn observe(
        &mut self,
        series: u64,
        leaves: &[(String, f64)],
        margin: Option<f64>,
        history: u64,
    ) -> Option<Record> {
        self.clock += 1;
        let mut best: Option<(f64, Record)> = None;
        for (path, v) in leaves.iter().filter(|(_, v)| v.is_finite()) {
            let key = range_key(series, path);
            let Some(r) = self.ranges.get(&key) else {
                continue;
            };
            let (Some(margin), true) = (margin, r.n >= history) else {
                continue;
            };
            let width = r.max - r.min;
            let beyond = (v - r.max).max(r.min - v);
            // A constant series: any other value is beyond it.
            let excess = if width > 0.0 {
                beyond / width
            } else if beyond > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if excess > margin && best.as_ref().is_none_or(|(e, _)| excess > *e) {
                best = Some((
                    excess,
                    Record {
                        path: path.clone(),
                        value: *v,
                        min: r.min,
                        max: r.max,
                        count: r.n,
                        fields: 0,
                    },
                ));
            }
        }
        let tested = leaves.len();
        for (path, v) in leaves.iter().filter(|(_, v)| v.is_finite()) {
            self.update(range_key(series, path), *v);
        }
        best.map(|(_, r)| Record {
            fields: tested,
            ..r
        })
    }

    fn update(&mut self, key: u64, v: f64) {
        make_room(&mut self.ranges, key, MAX_RANGES, |r| r.last);
        let clock = self.clock;
        let r = self.ranges.entry(key).or_insert(Range {
            min: v,
            max: v,
            n: 0,
            last: clock,
        });
        r.min = r.min.min(v);
        r.max = r.max.max(v);
        r.n += 1;
        r.last = clock;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(v: f64) -> Vec<(String, f64)> {
        vec![("value".to_owned(), v)]
    }

    #[test]
    fn a_value_beyond_the_all_time_range_by_the_margin_is_a_record() {
        let mut r = Records::default();
        for i in 0..100 {
            assert!(
                r.observe(1, &leaves((i % 10) as f64 * 10.0), Some(0.05), 50)
                    .is_none()
            );
        }
        // The range is 0–90: 94 is beyond it by less than 5% of 90, 95 by more.
        assert!(r.observe(1, &leaves(94.0), Some(0.05), 50).is_none());
        let high = r
            .observe(1, &leaves(99.0), Some(0.05), 50)
            .expect("a record");
        assert_eq!((high.min, high.max, high.count), (0.0, 94.0, 101));
        assert!((high.p_value() - 2.0 / 102.0).abs() < 1e-12);
        // The record widened the range: the same value again is not one.
        assert!(r.observe(1, &leaves(99.0), Some(0.05), 50).is_none());
        let low = r
            .observe(1, &leaves(-10.0), Some(0.05), 50)
            .expect("a record");
        assert_eq!(low.value, -10.0);
        // Another series has its own range.
        assert!(r.observe(2, &leaves(1_000.0), Some(0.05), 0).is_none());
    }

    #[test]
    fn no_record_before_the_history_or_without_a_margin() {
        let mut r = Records::default();
        for i in 0..10 {
            r.observe(1, &leaves(i as f64), Some(0.05), 20);
        }
        assert!(r.observe(1, &leaves(100.0), Some(0.05), 20).is_none());
        assert!(r.observe(1, &leaves(1_000.0), None, 0).is_none());
        // Both were still counted.
        assert!(r.observe(1, &leaves(10_000.0), Some(0.05), 12).is_some());
    }

    #[test]
    fn several_fields_share_the_test_and_the_farthest_is_reported() {
        let mut r = Records::default();
        let two = |a: f64, b: f64| vec![("a".to_owned(), a), ("b".to_owned(), b)];
        for i in 0..100 {
            r.observe(1, &two(i as f64, i as f64), Some(0.05), 50);
        }
        let rec = r.observe(1, &two(120.0, 200.0), Some(0.05), 50).unwrap();
        assert_eq!(rec.path, "b");
        assert_eq!(rec.fields, 2);
        assert!((rec.p_value() - 4.0 / 101.0).abs() < 1e-12);
    }

    #[test]
    fn ranges_stay_bounded() {
        let mut r = Records::default();
        for s in 0..MAX_RANGES as u64 + 10 {
            r.observe(s, &leaves(1.0), Some(0.05), 0);
        }
        assert_eq!(r.ranges.len(), MAX_RANGES);
    }
}
