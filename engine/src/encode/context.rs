//! Recent context of metric streams: rolling median and median absolute
//! deviation (MAD) of each numeric field.
//!
//! A metric event is one or a few numbers, and a number judged alone only
//! stands out when it leaves the baseline's range. Level shifts inside the
//! range and changes of volatility (a noisy series going flat, a calm one
//! starting to swing) are properties of the *recent* values, so each numeric
//! field `f` of a metric event is joined by two derived values over the newest
//! `n` events of its series (the event included): `median<n>(f)` and
//! `mad<n>(f)`. They are judged against the baseline like any number, so "the
//! last 10 values' spread is far above anything in the baseline" raises the
//! event's excursion and gets its own sentence in `why`; they stay out of the
//! compressed bytes (see [`crate::encode::Encoded::with_derived`]). Median and
//! MAD rather than mean and standard deviation: one spike moves neither, so a
//! spike is reported once, not again for every event whose window still
//! holds it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bounded::make_room;

/// The numeric leaves (field path, value) of one event's own fields.
pub type Leaves = Vec<(String, f64)>;

/// The newest values of each numeric field of an event's series, and where
/// the event sits in that series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runs {
    /// The series (see [`series_key`]).
    pub series: u64,
    /// Events of the series before this one: runs of one series that are
    /// fewer steps apart than their length share values.
    pub step: u64,
    /// (field path, values oldest first, the event's own last).
    pub fields: Vec<(String, Vec<f64>)>,
}

impl Runs {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Shared between an event's raw and scored forms. Events without runs
    /// (every event when `metric_context` is off) share one empty value
    /// instead of allocating one each.
    pub fn shared(self) -> Arc<Runs> {
        static EMPTY: LazyLock<Arc<Runs>> = LazyLock::new(Arc::default);
        if self.is_empty() && self.series == 0 && self.step == 0 {
            Arc::clone(&EMPTY)
        } else {
            Arc::new(self)
        }
    }
}

/// Longest run of values compared as a shape: comparing runs costs their
/// length times the baseline's size squared at every model rebuild, and a
/// `metric_context` of hundreds is for the median and MAD, not for shapes.
pub const MAX_RUN: usize = 64;

/// Series remembered per stream; beyond this the least recently updated one
/// is forgotten, so a stream with ever-new label values stays bounded.
pub const MAX_SERIES: usize = 1024;

/// The newest events' numeric leaves per series, keyed by the caller (the
/// detector uses the key set plus short string labels such as `host: web-1`):
/// "the last 10 CPU readings of web-1", not the last 10 events of a stream
/// that interleaves hosts and record kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rolling {
    series: BTreeMap<u64, Series>,
    /// Events derived so far: orders series by their last update.
    clock: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Series {
    last: u64,
    recent: VecDeque<Leaves>,
    /// Events of the series so far.
    #[serde(default)]
    steps: u64,
}

impl Rolling {
    /// Adds an event of series `key` and returns its derived fields over the
    /// newest `n` events of that series (the event included); empty when
    /// `n < 2`.
    pub fn derive(&mut self, n: usize, key: u64, leaves: Leaves) -> Leaves {
        self.derive_with_runs(n, key, leaves).0
    }

    /// [`derive`](Self::derive), plus the run of each numeric field: its
    /// newest `n` values in this series (at most [`MAX_RUN`]), oldest first,
    /// when the series has had `n` (compared with the baseline's runs as shape
    /// evidence).
    pub fn derive_with_runs(&mut self, n: usize, key: u64, leaves: Leaves) -> (Leaves, Runs) {
        if n < 2 {
            return (Vec::new(), Runs::default());
        }
        // Saturating: a saved state read back may hold any count.
        self.clock = self.clock.saturating_add(1);
        make_room(&mut self.series, key, MAX_SERIES, |s| s.last);
        let series = self.series.entry(key).or_default();
        series.last = self.clock;
        let step = series.steps;
        series.steps = series.steps.saturating_add(1);
        while series.recent.len() >= n {
            series.recent.pop_front();
        }
        series.recent.push_back(leaves);
        let current = series.recent.back().expect("just pushed");
        let mut out = Vec::with_capacity(2 * current.len());
        let mut runs = Runs {
            series: key,
            step,
            fields: Vec::new(),
        };
        let mut values = Vec::with_capacity(n);
        for (path, _) in current {
            values.clear();
            values.extend(
                series
                    .recent
                    .iter()
                    .filter_map(|ls| ls.iter().find(|(p, _)| p == path).map(|(_, v)| *v)),
            );
            // Array elements share a path (`a[]`): one run per path.
            if values.len() == n && !runs.fields.iter().any(|(p, _)| p == path) {
                runs.fields
                    .push((path.clone(), values[n - n.min(MAX_RUN)..].to_vec()));
            }
            let mid = median(&mut values);
            for v in values.iter_mut() {
                *v = (*v - mid).abs();
            }
            let mad = median(&mut values);
            out.push((format!("median{n}({path})"), mid));
            out.push((format!("mad{n}({path})"), mad));
        }
        (out, runs)
    }
}

/// Words for a derived field's name in `why` (` (median of the last 10
/// values of `cpu`)`), empty for other fields.
pub fn gloss(path: &str) -> String {
    let Some(inner) = path.strip_suffix(')') else {
        return String::new();
    };
    let (what, rest) = if let Some(r) = inner.strip_prefix("median") {
        ("median", r)
    } else if let Some(r) = inner.strip_prefix("mad") {
        ("median absolute deviation", r)
    } else {
        return String::new();
    };
    match rest.split_once('(') {
        Some((n, field)) if n.parse::<usize>().is_ok() => {
            format!(" ({what} of the last {n} values of `{field}`)")
        }
        _ => String::new(),
    }
}

/// The series a metric event belongs to: its key set plus the exact short
/// string values of its top-level fields (`host: web-1`, `disk: nvme0n1`),
/// which the key set leaves out when they carry digits, so that the rolling
/// context of `cpu` follows one host rather than whatever hosts interleave.
pub fn series_key(keyset: u64, body: &Value) -> u64 {
    let mut h = keyset;
    if let Value::Object(map) = body {
        for (k, v) in map {
            if let Value::String(s) = v
                && s.len() <= SERIES_LABEL_MAX
            {
                for b in k.bytes().chain([0xfe]).chain(s.bytes()).chain([0xff]) {
                    h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
    }
    h
}

/// Longest string value taken as a series label.
const SERIES_LABEL_MAX: usize = 32;

/// The median (upper median for even counts, so it is always an observed
/// value); sorts `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(v: f64) -> Leaves {
        vec![("value".into(), v)]
    }

    fn rolling(n: usize, before: impl IntoIterator<Item = f64>) -> Rolling {
        let mut r = Rolling::default();
        for v in before {
            r.derive(n, 1, leaves(v));
        }
        r
    }

    #[test]
    fn median_and_mad_over_the_newest_events() {
        let mut r = rolling(5, [1.0, 2.0, 3.0, 4.0]);
        let d = r.derive(5, 1, leaves(100.0));
        assert_eq!(
            d,
            vec![("median5(value)".into(), 3.0), ("mad5(value)".into(), 1.0)]
        );
        // The oldest value (1) has left the context.
        let d = r.derive(5, 1, leaves(5.0));
        assert_eq!(d[0].1, 4.0);
        assert_eq!(d[1].1, 1.0);
    }

    #[test]
    fn one_spike_stays_inside_the_recent_values_range() {
        // Mean and standard deviation of these ten would be ~109 and ~297.
        let mut r = rolling(10, (0..9).map(|i| 10.0 + (i % 2) as f64));
        let spiked = r.derive(10, 1, leaves(1000.0));
        assert!((10.0..=11.0).contains(&spiked[0].1), "{spiked:?}");
        assert!(spiked[1].1 <= 1.0, "{spiked:?}");
    }

    #[test]
    fn series_are_kept_apart_and_bounded() {
        let mut r = rolling(3, [100.0, 100.0]);
        // Another series (key set 2) does not see series 1's values.
        assert_eq!(r.derive(3, 2, leaves(1.0))[0].1, 1.0);
        assert_eq!(r.derive(3, 1, leaves(100.0))[0].1, 100.0);
        for k in 10..10 + MAX_SERIES as u64 {
            r.derive(3, k, leaves(5.0));
        }
        assert_eq!(r.series.len(), MAX_SERIES);
        // Series 1 and 2 were the least recently updated: forgotten.
        assert_eq!(r.derive(3, 1, leaves(7.0))[0].1, 7.0);
    }

    #[test]
    fn off_below_two_events_and_missing_fields_are_skipped() {
        assert!(Rolling::default().derive(1, 1, leaves(1.0)).is_empty());
        let mut r = Rolling::default();
        r.derive(3, 1, vec![("other".to_string(), 7.0)]);
        let d = r.derive(3, 1, leaves(2.0));
        assert_eq!(d[0], ("median3(value)".into(), 2.0));
        assert_eq!(d[1], ("mad3(value)".into(), 0.0));
    }

    #[test]
    fn runs_are_the_newest_values_once_the_series_has_enough() {
        let mut r = Rolling::default();
        let (_, runs) = r.derive_with_runs(3, 1, leaves(1.0));
        assert!(runs.is_empty(), "one value is not a run of 3");
        r.derive(3, 1, leaves(2.0));
        // Another series in between has its own steps.
        r.derive(3, 2, leaves(9.0));
        let (_, runs) = r.derive_with_runs(3, 1, leaves(3.0));
        assert_eq!(
            runs,
            Runs {
                series: 1,
                step: 2,
                fields: vec![("value".to_string(), vec![1.0, 2.0, 3.0])]
            }
        );
        // A long context keeps its median and MAD; its runs are the newest
        // MAX_RUN values.
        let mut long = Rolling::default();
        let n = MAX_RUN + 36;
        for i in 0..n - 1 {
            long.derive(n, 1, leaves(i as f64));
        }
        let (derived, runs) = long.derive_with_runs(n, 1, leaves((n - 1) as f64));
        assert_eq!(derived[0].1, (n / 2) as f64, "the median of all {n}");
        let run = &runs.fields[0].1;
        assert_eq!(run.len(), MAX_RUN);
        assert_eq!(run[0], (n - MAX_RUN) as f64);
        assert_eq!(run[MAX_RUN - 1], (n - 1) as f64);
    }

    #[test]
    fn derived_names_are_glossed_for_why() {
        assert_eq!(
            gloss("mad10(value)"),
            " (median absolute deviation of the last 10 values of `value`)"
        );
        assert_eq!(
            gloss("median5(cpu.user)"),
            " (median of the last 5 values of `cpu.user`)"
        );
        assert_eq!(gloss("latency_ms"), "");
        assert_eq!(gloss("mad(x)"), "");
    }

    #[test]
    fn series_follow_short_labels_but_not_numbers_or_long_text() {
        let key = |body: Value| series_key(7, &body);
        let web1 = key(serde_json::json!({"host": "web-1", "cpu": 0.5}));
        assert_eq!(web1, key(serde_json::json!({"host": "web-1", "cpu": 0.9})));
        assert_ne!(web1, key(serde_json::json!({"host": "web-2", "cpu": 0.5})));
        let long = "x".repeat(SERIES_LABEL_MAX + 1);
        assert_eq!(
            key(serde_json::json!({"cpu": 0.5, "msg": long})),
            key(serde_json::json!({"cpu": 0.5}))
        );
        assert_ne!(
            series_key(7, &serde_json::json!({})),
            series_key(8, &serde_json::json!({}))
        );
    }
}
