//! NAB scoring, written from NAB's documented rules (v1.1 sweeper semantics).
//!
//! For one file of n rows and one threshold (detection = score ≥ threshold):
//! - Probation: rows `0..min(floor(0.15·n), 750)` are ignored entirely; a window
//!   with no row after probation is not scored at all.
//! - Window w = rows [s, e], width W = e − s + 1. A detection at row i inside it
//!   has relative position y = −(e − i + 1)/W (−1 at the first row, −1/W at the
//!   last) and is worth `A_tp · σ(y)/σ(−1)`, where σ(y) = 2/(1+e^{5y}) − 1 is NAB's
//!   scaled sigmoid; so a detection on the window's first row earns exactly A_tp.
//!   Only the best (= earliest) detection of a window counts; a window with none
//!   costs −A_fn.
//! - A detection outside every window is a false positive. With no window ending
//!   before it, it costs −A_fp. Otherwise, with e and W those of the closest
//!   window ending before it, y = (i − e)/(W − 1) and it is worth A_fp · σ(y)
//!   (σ(y) = −1 once y ≥ 3): an FP right after a window costs little, a distant
//!   one −A_fp. Every false-positive row counts.
//! - The corpus score S is the sum over files. Normalised score =
//!   100·(S − S_null)/(S_perfect − S_null) with S_null = −A_fn per scored window
//!   (no detections) and S_perfect = A_tp per scored window (a detection on each
//!   window's first row).
//! - One threshold for the whole corpus is chosen per profile by sweeping all
//!   distinct score values (highest first) and keeping the best S; among equal
//!   S the highest threshold wins. "No detection at all" is reported as 1.1.

use crate::error::{Error, Result};

use super::Window;

/// NAB's cost matrix (`tnWeight` is carried for completeness; NAB does not use it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostMatrix {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
    pub tn: f64,
}

/// A named application profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub costs: CostMatrix,
}

impl Profile {
    fn of(name: &str, fp: f64, fn_: f64) -> Profile {
        Profile {
            name: name.to_string(),
            costs: CostMatrix {
                tp: 1.0,
                fp,
                fn_,
                tn: 1.0,
            },
        }
    }

    /// NAB's three profiles as in its `config/profiles.json`.
    pub fn nab_defaults() -> Vec<Profile> {
        vec![
            Profile::of("standard", 0.11, 1.0),
            Profile::of("reward_low_FP_rate", 0.22, 1.0),
            Profile::of("reward_low_FN_rate", 0.11, 2.0),
        ]
    }
}

/// A detector's per-row scores for one file, with the file's windows.
#[derive(Debug, Clone, Copy)]
pub struct ScoredFile<'a> {
    pub key: &'a str,
    /// Sorted, non-overlapping, inclusive row ranges.
    pub windows: &'a [Window],
    pub scores: &'a [f64],
}

/// Per-file result at one threshold. Row counts follow NAB (rows after
/// probation: tp/fn = detected/undetected rows inside windows, fp/tn outside).
#[derive(Debug, Clone, PartialEq)]
pub struct FileOutcome {
    pub key: String,
    pub raw_score: f64,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    pub windows_detected: usize,
    pub windows_missed: usize,
}

/// Result of one profile over a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileResult {
    pub profile: String,
    pub threshold: f64,
    pub normalized: f64,
    pub raw_score: f64,
    pub null_score: f64,
    pub perfect_score: f64,
    pub files: Vec<FileOutcome>,
}

/// Threshold reported when the best choice is to never detect.
pub const NO_DETECTION_THRESHOLD: f64 = 1.1;

/// NAB's scaled sigmoid: 2/(1+e^{5y}) − 1, clamped to −1 for y ≥ 3.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Rows at the start of a file that are never scored.
pub fn probation_rows(rows: usize) -> usize {
    ((0.15 * rows as f64).floor() as usize).min(750)
}

/// What a detection on a row would contribute, independent of the threshold.
#[derive(Debug, Clone, Copy)]
enum RowValue {
    Probation,
    /// Inside window `w` (index within the file), worth `value` if it is the
    /// window's best detection.
    InWindow {
        w: usize,
        value: f64,
    },
    FalsePositive(f64),
}

fn row_values(file: &ScoredFile, costs: &CostMatrix) -> Result<Vec<RowValue>> {
    let n = file.scores.len();
    for (i, w) in file.windows.iter().enumerate() {
        if w.start > w.end || w.end >= n || (i > 0 && file.windows[i - 1].end >= w.start) {
            return Err(Error::Config(format!(
                "{}: windows must be sorted, disjoint and inside the {n} rows",
                file.key
            )));
        }
    }
    let probation = probation_rows(n);
    let max_tp = scaled_sigmoid(-1.0);
    let mut out = Vec::with_capacity(n);
    let mut next_w = 0; // first window not yet finished
    for i in 0..n {
        while next_w < file.windows.len() && file.windows[next_w].end < i {
            next_w += 1;
        }
        let v = if i < probation {
            RowValue::Probation
        } else if let Some(w) = file.windows.get(next_w).filter(|w| w.contains(i)) {
            let y = -((w.end - i + 1) as f64) / w.len() as f64;
            RowValue::InWindow {
                w: next_w,
                value: costs.tp * scaled_sigmoid(y) / max_tp,
            }
        } else if next_w == 0 {
            RowValue::FalsePositive(-costs.fp)
        } else {
            let prev = file.windows[next_w - 1];
            let y = if prev.len() > 1 {
                (i - prev.end) as f64 / (prev.len() - 1) as f64
            } else {
                f64::INFINITY
            };
            RowValue::FalsePositive(costs.fp * scaled_sigmoid(y))
        };
        out.push(v);
    }
    Ok(out)
}

fn scored_windows(file: &ScoredFile) -> usize {
    let probation = probation_rows(file.scores.len());
    file.windows.iter().filter(|w| w.end >= probation).count()
}

/// Scores one file at a fixed threshold.
pub fn score_file(file: &ScoredFile, costs: &CostMatrix, threshold: f64) -> Result<FileOutcome> {
    let values = row_values(file, costs)?;
    let mut best: Vec<Option<f64>> = vec![None; file.windows.len()];
    let mut scored = vec![false; file.windows.len()];
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    let mut fp_sum = 0.0;
    for (v, &s) in values.iter().zip(file.scores) {
        let hit = s >= threshold;
        match *v {
            RowValue::Probation => {}
            RowValue::InWindow { w, value } => {
                scored[w] = true;
                if hit {
                    tp += 1;
                    best[w] = Some(best[w].map_or(value, |b: f64| b.max(value)));
                } else {
                    fn_ += 1;
                }
            }
            RowValue::FalsePositive(value) => {
                if hit {
                    fp += 1;
                    fp_sum += value;
                } else {
                    tn += 1;
                }
            }
        }
    }
    let mut raw = fp_sum;
    let (mut detected, mut missed) = (0, 0);
    for (b, &sc) in best.iter().zip(&scored) {
        match (sc, b) {
            (false, _) => {}
            (true, Some(v)) => {
                detected += 1;
                raw += v;
            }
            (true, None) => {
                missed += 1;
                raw -= costs.fn_;
            }
        }
    }
    Ok(FileOutcome {
        key: file.key.to_string(),
        raw_score: raw,
        tp,
        fp,
        fn_,
        tn,
        windows_detected: detected,
        windows_missed: missed,
    })
}

/// Finds the corpus-wide threshold with the best raw score: one pass over all
/// rows sorted by score, updating each window's best detection incrementally.
/// Returns (threshold, raw score).
pub fn sweep_threshold(files: &[ScoredFile], costs: &CostMatrix) -> Result<(f64, f64)> {
    struct Point {
        score: f64,
        value: f64,
        window: Option<usize>, // global window id
    }
    let mut points = Vec::new();
    let mut window_best = Vec::new();
    for f in files {
        let base = window_best.len();
        let probation = probation_rows(f.scores.len());
        for w in f.windows {
            // Unscored windows (inside probation) get NaN and are never touched.
            window_best.push(if w.end >= probation {
                -costs.fn_
            } else {
                f64::NAN
            });
        }
        for (v, &score) in row_values(f, costs)?.iter().zip(f.scores) {
            if score.is_nan() {
                continue;
            }
            match *v {
                RowValue::Probation => {}
                RowValue::InWindow { w, value } => points.push(Point {
                    score,
                    value,
                    window: Some(base + w),
                }),
                RowValue::FalsePositive(value) => points.push(Point {
                    score,
                    value,
                    window: None,
                }),
            }
        }
    }
    points.sort_by(|a, b| b.score.total_cmp(&a.score));

    let mut total: f64 = window_best.iter().filter(|v| !v.is_nan()).sum();
    let mut best = (NO_DETECTION_THRESHOLD, total);
    let mut i = 0;
    while i < points.len() {
        let threshold = points[i].score;
        while i < points.len() && points[i].score == threshold {
            let p = &points[i];
            match p.window {
                None => total += p.value,
                Some(w) => {
                    if p.value > window_best[w] {
                        total += p.value - window_best[w];
                        window_best[w] = p.value;
                    }
                }
            }
            i += 1;
        }
        if total > best.1 {
            best = (threshold, total);
        }
    }
    Ok(best)
}

/// Scores a corpus under each profile: best threshold, normalised score and
/// per-file outcomes at that threshold.
pub fn score_corpus(files: &[ScoredFile], profiles: &[Profile]) -> Result<Vec<ProfileResult>> {
    for f in files {
        if f.scores.is_empty() {
            return Err(Error::Config(format!("{}: no scores", f.key)));
        }
    }
    let windows: usize = files.iter().map(scored_windows).sum();
    if windows == 0 {
        return Err(Error::Config(
            "no scorable anomaly windows in the corpus".into(),
        ));
    }
    profiles
        .iter()
        .map(|p| {
            let (threshold, _) = sweep_threshold(files, &p.costs)?;
            let outcomes = files
                .iter()
                .map(|f| score_file(f, &p.costs, threshold))
                .collect::<Result<Vec<_>>>()?;
            let raw: f64 = outcomes.iter().map(|o| o.raw_score).sum();
            let null = -p.costs.fn_ * windows as f64;
            let perfect = p.costs.tp * windows as f64;
            Ok(ProfileResult {
                profile: p.name.clone(),
                threshold,
                normalized: 100.0 * (raw - null) / (perfect - null),
                raw_score: raw,
                null_score: null,
                perfect_score: perfect,
                files: outcomes,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
