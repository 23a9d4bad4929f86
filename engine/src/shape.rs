//! Shape evidence for metric streams: is the run of a series' last few values
//! unlike every run of the baseline?
//!
//! A metric event judged by its number, and by the rolling median and MAD of
//! its series (see [`crate::encode::context`]), only stands out when one of
//! those leaves the baseline's range. A change of *shape* inside the range (a
//! flat stretch where the series used to swing, spikes at a new rhythm, a
//! daily peak that does not come) keeps every number and summary in range.
//! So each metric event with a context also carries its field's *run*: the
//! newest `metric_context` values of its series. The baseline's runs are the
//! reference, KNN-CAD style: a run's nonconformity is its distance to the
//! nearest baseline run, and the scale is the largest such distance among
//! the baseline's own runs, each measured against the other series' runs
//! and its own series' runs at least a window (and a run's length) of that
//! series' events away, so that overlapping runs do not explain each other.
//! Series interleaved in one stream (hosts) share the pool. A run more
//! than [`SHAPE_FACTOR`] times that far is a shape no baseline run came close
//! to, and counts as a numeric excursion of the event (see
//! [`crate::model::rank`]): by construction no baseline run is that far from
//! the others, so the conformal p-values keep their meaning.
//!
//! Values are compared on a scale that makes one threshold serve every
//! series: `ln(1 + v)` when the baseline has no negative value (counts,
//! bytes and latencies vary multiplicatively), divided by the baseline's
//! 5th–95th percentile spread. A field's runs are used once most of the
//! baseline's events of its kind have one: not while a stream's series are
//! still filling their first runs, nor right after restoring a state saved
//! before runs were kept.

use std::collections::HashMap;

use crate::encode::context::Runs;

/// A run is novel when it is this many times farther from the baseline's
/// runs than they are from each other. On NAB (see the server's `eval nab`),
/// 1.25, 1.5, 1.75 and 2 differed by about a point; 1.5 keeps clear of the
/// baseline's own largest spacing.
pub const SHAPE_FACTOR: f64 = 1.5;

/// The least reference spacing, in units of the field's 5th–95th percentile
/// spread: a perfectly periodic series has runs that repeat exactly, and any
/// run off its cycle by more than this is new.
const MIN_SPACING: f64 = 1e-3;

/// Fewest baseline runs of a field worth comparing against.
const MIN_RUNS: usize = 20;

/// Most baseline runs of a field compared: beyond this (baselines of
/// thousands of events), an even sample of them.
const MAX_RUNS: usize = 2048;

/// The excursion level shape evidence adds to an event: 1 when the run of
/// one of its fields is novel (see [`ShapeModel::judge`]), else 0.
pub(crate) fn excursion(model: &ShapeModel, context: u64, keyset: u64, runs: &Runs) -> u32 {
    if runs.is_empty() {
        return 0;
    }
    u32::from(
        model
            .judge(context, keyset, runs)
            .is_some_and(|(_, ratio)| ratio > SHAPE_FACTOR),
    )
}

/// One field's baseline runs, scaled, with where they sit in their series.
#[derive(Debug, Clone, Default)]
struct Group {
    scale: Scale,
    /// (series, step) of the runs, ascending: a series' runs are contiguous,
    /// in order.
    at: Vec<(u64, u64)>,
    /// Least number of steps between two runs of one series that may
    /// explain each other.
    gap: u64,
    /// The runs by position in the run: `columns[k][j]` is the `k`-th value
    /// of run `j`, so that distances to many runs are computed a column at a
    /// time, in loops the compiler vectorises (f32: twice the lanes of f64,
    /// and ample for values scaled to a few units).
    columns: Vec<Vec<f32>>,
    /// The largest distance from a baseline run to its nearest baseline run
    /// (of another series, or of its own at least `gap` steps away).
    reference: f64,
}

impl Group {
    /// Squared distances from `q` (scaled) to the runs `from..`, into `out`.
    fn distances(&self, q: &[f32], from: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.at.len() - from, 0.0);
        for (column, &x) in self.columns.iter().zip(q) {
            for (d, &c) in out.iter_mut().zip(&column[from..]) {
                let t = c - x;
                *d += t * t;
            }
        }
    }

    /// The runs that may explain a run of `series` at `step`: all but those
    /// of the same series fewer than `gap` steps away, which are the range
    /// returned (by position in `at`).
    fn too_close(&self, (series, step): (u64, u64)) -> std::ops::Range<usize> {
        let lo = self
            .at
            .partition_point(|&a| a < (series, step.saturating_add(1).saturating_sub(self.gap)));
        let hi = self
            .at
            .partition_point(|&a| a < (series, step.saturating_add(self.gap)));
        lo..hi
    }

    /// The largest of the runs' distances to their nearest run that may
    /// explain them; `None` when no two runs may. Each pair is measured
    /// once: run `i` against the runs after it (after its own series' runs
    /// that are too close), updating both ends' nearest distances.
    fn spacing(&self) -> Option<f64> {
        let n = self.at.len();
        let mut nearest = vec![f32::INFINITY; n];
        let mut out = Vec::with_capacity(n);
        let mut q = vec![0.0f32; self.columns.len()];
        for i in 0..n {
            let from = self.too_close(self.at[i]).end;
            if from >= n {
                continue;
            }
            for (x, column) in q.iter_mut().zip(&self.columns) {
                *x = column[i];
            }
            self.distances(&q, from, &mut out);
            for (slot, &d) in nearest[from..].iter_mut().zip(&out) {
                *slot = slot.min(d);
            }
            nearest[i] = nearest[i].min(min_of(&out));
        }
        nearest
            .into_iter()
            .filter(|d| d.is_finite())
            .reduce(f32::max)
            .map(|d| d.sqrt() as f64)
    }
}

/// The least of `values` (∞ when empty), in eight lanes so that it
/// vectorises.
fn min_of(values: &[f32]) -> f32 {
    let mut lanes = [f32::INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.min(v);
        }
    }
    lanes
        .into_iter()
        .chain(rest.iter().copied())
        .fold(f32::INFINITY, f32::min)
}

/// Template context, key set and field path: runs are compared within one.
type FieldKey = (u64, u64, String);

/// The baseline's runs, per template context, key set and field.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapeModel {
    groups: HashMap<FieldKey, Group>,
}

/// The runs of one baseline event, with its template context and key set.
pub(crate) struct RunsOf<'a> {
    pub context: u64,
    pub keyset: u64,
    pub runs: &'a Runs,
}

impl ShapeModel {
    /// Builds the reference from baseline events' runs; `gap` is the least
    /// number of steps between two runs of one series that may explain each
    /// other (the detector's window, and at least a run's length: closer
    /// runs share values). Runs of different series always may.
    pub fn build<'a>(events: impl Iterator<Item = RunsOf<'a>>, gap: u64) -> Self {
        type At = (u64, u64);
        let mut raw: HashMap<FieldKey, Vec<(At, &'a [f64])>> = HashMap::new();
        let mut events_of: HashMap<(u64, u64), usize> = HashMap::new();
        for e in events {
            *events_of.entry((e.context, e.keyset)).or_default() += 1;
            for (path, run) in &e.runs.fields {
                raw.entry((e.context, e.keyset, path.clone()))
                    .or_default()
                    .push(((e.runs.series, e.runs.step), run));
            }
        }
        let groups = raw
            .into_iter()
            .filter_map(|(key, mut runs)| {
                // Runs of one field share the detector's context length.
                let len = runs.last()?.1.len();
                runs.retain(|(_, r)| r.len() == len);
                if runs.len() < MIN_RUNS || len == 0 {
                    return None;
                }
                // Most of the baseline's events of this kind must have a run:
                // a baseline of events scored without runs (a state saved
                // before runs existed, a stream whose many series have not
                // yet had `len` values each) would be judged by a handful.
                let of_kind = events_of.get(&(key.0, key.1)).copied().unwrap_or(0);
                if runs.len() * 10 < of_kind * 9 {
                    return None;
                }
                runs.sort_by_key(|(a, _)| *a);
                if runs.len() > MAX_RUNS {
                    // An even sample of a long baseline keeps every series
                    // and its whole span (the spacing costs the square of
                    // the runs kept).
                    let stride = runs.len().div_ceil(MAX_RUNS);
                    runs = runs.into_iter().step_by(stride).collect();
                }
                // A constant series has no spread, and no shape: any other
                // value is the numeric profile's business (out of range).
                let scale = Scale::of(
                    runs.iter().filter_map(|(_, r)| r.last().copied()),
                    runs.iter().all(|(_, r)| r.iter().all(|&x| x >= 0.0)),
                )?;
                let mut group = Group {
                    scale,
                    at: runs.iter().map(|(a, _)| *a).collect(),
                    gap: gap.max(len as u64),
                    columns: (0..len)
                        .map(|k| runs.iter().map(|(_, r)| scale.apply(r[k]) as f32).collect())
                        .collect(),
                    reference: 0.0,
                };
                // No two runs far enough apart: nothing to measure shapes by.
                group.reference = group.spacing()?.max(MIN_SPACING);
                Some((key, group))
            })
            .collect();
        ShapeModel { groups }
    }

    /// The field whose run is farthest from the baseline's runs, and that
    /// distance over the baseline's own largest spacing (its *ratio*), if any
    /// of the event's fields has a reference.
    pub fn judge(&self, context: u64, keyset: u64, runs: &Runs) -> Option<(String, f64)> {
        let mut best: Option<(String, f64)> = None;
        let mut out = Vec::new();
        for (path, run) in &runs.fields {
            let Some(g) = self.groups.get(&(context, keyset, path.clone())) else {
                continue;
            };
            if run.len() != g.columns.len() {
                continue;
            }
            let q: Vec<f32> = run.iter().map(|&x| g.scale.apply(x) as f32).collect();
            g.distances(&q, 0, &mut out);
            // Its own series' runs that share values with it explain nothing
            // (while scoring, the window keeps them out of the baseline
            // anyway; while cross-fitting, the next fold may hold them).
            let close = g.too_close((runs.series, runs.step));
            let d = (min_of(&out[..close.start]).min(min_of(&out[close.end..])) as f64).sqrt();
            if !d.is_finite() {
                continue;
            }
            let ratio = d / g.reference;
            if best.as_ref().is_none_or(|(_, r)| ratio > *r) {
                best = Some((path.clone(), ratio));
            }
        }
        best
    }
}

/// `ln(1 + v)` for non-negative series, less its median, over the
/// 5th–95th percentile spread: runs come out a few units wide around 0,
/// where f32 keeps ample resolution whatever the series' level.
#[derive(Debug, Clone, Copy)]
struct Scale {
    log: bool,
    centre: f64,
    spread: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            log: false,
            centre: 0.0,
            spread: 1.0,
        }
    }
}

impl Scale {
    /// The scale of a field from its values; `log` when every value of its
    /// runs is non-negative.
    fn of(values: impl Iterator<Item = f64>, log: bool) -> Option<Self> {
        let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let t = |x: f64| if log { x.ln_1p() } else { x };
        let q = |p: f64| t(v[((v.len() - 1) as f64 * p).round() as usize]);
        let mut spread = q(0.95) - q(0.05);
        if spread <= 0.0 {
            spread = t(v[v.len() - 1]) - t(v[0]);
        }
        (spread > 0.0).then_some(Scale {
            log,
            centre: q(0.5),
            spread,
        })
    }

    fn apply(self, x: f64) -> f64 {
        ((if self.log && x >= 0.0 { x.ln_1p() } else { x }) - self.centre) / self.spread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of length `n` over `values` (one series), one per step from
    /// `n - 1`.
    fn runs_of(values: &[f64], n: usize, series: u64) -> Vec<Runs> {
        (n - 1..values.len())
            .map(|i| Runs {
                series,
                step: i as u64,
                fields: vec![("value".to_string(), values[i + 1 - n..=i].to_vec())],
            })
            .collect()
    }

    fn build<'a>(runs: impl Iterator<Item = &'a Runs>, gap: u64) -> ShapeModel {
        ShapeModel::build(
            runs.map(|r| RunsOf {
                context: 1,
                keyset: 2,
                runs: r,
            }),
            gap,
        )
    }

    fn model(values: &[f64], n: usize, gap: u64) -> ShapeModel {
        build(runs_of(values, n, 0).iter(), gap)
    }

    fn wave(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 50.0 + 40.0 * (i as f64 * std::f64::consts::TAU / 24.0).sin())
            .collect()
    }

    /// The wave with deterministic noise of ±1, so that no two cycles
    /// coincide and the reference is a real spacing.
    fn noisy_wave(n: usize) -> Vec<f64> {
        wave(n)
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let mut z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                z ^= z >> 31;
                z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z ^= z >> 29;
                v + (z % 2001) as f64 / 1000.0 - 1.0
            })
            .collect()
    }

    /// A run of the baseline's series, long after it (as when scoring).
    fn run(values: &[f64]) -> Runs {
        Runs {
            series: 0,
            step: 1_000_000,
            fields: vec![("value".to_string(), values.to_vec())],
        }
    }

    #[test]
    fn a_repeated_shape_is_not_novel() {
        let m = model(&wave(400), 10, 20);
        let later = wave(420);
        let (_, ratio) = m.judge(1, 2, &run(&later[405..415])).expect("judged");
        assert!(ratio <= 1.0, "{ratio}");
    }

    #[test]
    fn a_flat_stretch_inside_the_range_is_novel() {
        let m = model(&noisy_wave(400), 10, 20);
        let g = m.groups.values().next().expect("one group");
        assert!(g.reference > 10.0 * MIN_SPACING, "{}", g.reference);
        // Every value is the wave's mean: inside its range, but the wave is
        // never flat for ten steps.
        let (path, ratio) = m.judge(1, 2, &run(&[50.0; 10])).expect("judged");
        assert_eq!(path, "value");
        assert!(ratio > SHAPE_FACTOR, "{ratio}");
    }

    #[test]
    fn other_contexts_short_runs_and_constant_series_have_no_reference() {
        let m = model(&wave(400), 10, 20);
        assert!(m.judge(9, 2, &run(&[50.0; 10])).is_none());
        assert!(m.judge(1, 2, &run(&[50.0; 9])).is_none());
        assert!(model(&[7.0; 100], 10, 20).groups.is_empty());
        assert!(model(&wave(25), 10, 20).groups.is_empty(), "too few runs");
    }

    #[test]
    fn runs_all_within_the_gap_of_each_other_measure_nothing() {
        // 31 runs over 40 positions, none 50 apart: no spacing to judge by.
        assert!(model(&noisy_wave(40), 10, 50).groups.is_empty());
        assert!(!model(&noisy_wave(400), 10, 50).groups.is_empty());
    }

    #[test]
    fn a_high_level_keeps_its_resolution() {
        // A series near 10^9 that moves by a few hundred: on f32 without
        // centring, one step of the float would exceed the spread.
        // (On the log scale, as a non-negative series; the reference series
        // has negative values, so it is linear: ln(10^9 + d) is linear in d
        // to 10^-7 here, and the two references must agree.)
        let centred: Vec<f64> = noisy_wave(400).iter().map(|v| v - 50.0).collect();
        let high: Vec<f64> = centred.iter().map(|d| 1e9 + 10.0 * d).collect();
        let low = model(&centred, 10, 20);
        let m = model(&high, 10, 20);
        let (g, l) = (
            m.groups.values().next().expect("one group"),
            low.groups.values().next().expect("one group"),
        );
        assert!(
            (g.reference / l.reference - 1.0).abs() < 0.05,
            "{} vs {}",
            g.reference,
            l.reference
        );
    }

    #[test]
    fn a_baseline_mostly_without_runs_is_not_judged() {
        // As after restoring a state saved before runs were kept: 391
        // events, only the newest 100 with runs.
        let runs = runs_of(&noisy_wave(400), 10, 0);
        let empty = Runs::default();
        let m = ShapeModel::build(
            runs.iter().enumerate().map(|(k, r)| RunsOf {
                context: 1,
                keyset: 2,
                runs: if k + 100 >= runs.len() { r } else { &empty },
            }),
            20,
        );
        assert!(m.groups.is_empty());
    }

    #[test]
    fn another_series_may_explain_a_run_at_any_step() {
        // Two hosts with the same ramp: each run has a twin in the other
        // series at the same step, so the spacing is nil (the floor); the
        // ramp alone is spaced by the gap: runs of one series closer than
        // the gap never explain each other.
        let ramp: Vec<f64> = (0..400).map(|i| -200.0 + i as f64).collect();
        let (a, b) = (runs_of(&ramp, 10, 1), runs_of(&ramp, 10, 2));
        let twins = build(a.iter().chain(&b), 20);
        assert_eq!(twins.groups.values().next().unwrap().reference, MIN_SPACING);
        let alone = build(a.iter(), 20);
        assert!(alone.groups.values().next().unwrap().reference > 10.0 * MIN_SPACING);
        // A query of series 1 is not explained by its own runs a step away,
        // but by those of series 2.
        let q = Runs {
            series: 1,
            step: 200,
            fields: a[191].fields.clone(),
        };
        let (_, own) = alone.judge(1, 2, &q).expect("judged");
        let (_, other) = twins.judge(1, 2, &q).expect("judged");
        assert!(own > 0.0 && other == 0.0, "{own} {other}");
    }

    #[test]
    fn a_long_baseline_is_sampled_evenly() {
        let long = wave(3 * MAX_RUNS);
        let m = model(&long, 10, 20);
        let g = m.groups.values().next().expect("one group");
        assert!(g.at.len() <= MAX_RUNS, "{}", g.at.len());
        assert!(g.at.len() > MAX_RUNS / 2, "{}", g.at.len());
        // The sample spans the whole baseline.
        assert_eq!(g.at[0], (0, 9));
        assert!(g.at.last().unwrap().1 >= (3 * MAX_RUNS - 3) as u64);
    }

    #[test]
    fn overlapping_runs_never_explain_each_other() {
        // On a ramp every run is a shape of its own, but runs one step apart
        // nearly coincide: they would explain each other and make the
        // reference tiny. Runs closer than their own length are never
        // compared, whatever the gap asked for.
        let ramp: Vec<f64> = (0..400).map(|i| -200.0 + i as f64).collect();
        let spacing = |gap| {
            let m = model(&ramp, 10, gap);
            m.groups.values().next().expect("one group").reference
        };
        let (one, len, twice) = (spacing(1), spacing(10), spacing(20));
        assert_eq!(one, len, "a gap below the run length is the run length");
        assert!(
            (twice / len - 2.0).abs() < 0.01,
            "{twice} vs {len}: the spacing is the gap on a ramp"
        );
    }
}
