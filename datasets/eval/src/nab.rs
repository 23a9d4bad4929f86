//! `driftlock eval nab`: the engine over every NAB file, scored by NAB's rules.
//!
//! Each file is one stream of metric events in time order (body `{"value": v}`,
//! type `metric`) through a fresh [`StreamDetector`] with one configuration for
//! the whole corpus ([`default_config`]). The per-row anomaly score in [0, 1] is
//! built from the detector's public outputs only (see [`ScoreRule`]), and the
//! corpus is scored with `driftlock_datasets::nab::score_corpus` (threshold swept
//! per profile, normalised against the null and perfect detectors).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use driftlock_datasets::nab::{self, NabFile, Profile, ProfileResult};
use driftlock_engine::{DetectorConfig, Event, EventKind, StreamDetector};
use rayon::prelude::*;
use serde_json::json;

use super::bursts::{self, Flag};
use super::{Progress, require_dir};
use crate::error::{Context, EvalError, Result};

/// Detector name in NAB's results layout.
pub const DETECTOR: &str = "driftlock";

/// The one configuration used for every NAB file: a baseline of 800 events
/// (about three daily cycles at NAB's usual 5-minute steps), scoring from a
/// first baseline of 200 that grows to it (`min_baseline_size`: the shortest
/// files have 1,243 rows, and NAB scores from row 15%, so a full 800-row
/// first baseline left their first windows unscored), window 20 / hop 5 so
/// that a change shows within a few rows, and each value judged with its
/// rolling median and MAD over the last 10 rows and the run of those 10
/// values (`metric_context`), so level, volatility and shape changes inside
/// the range show, and values beyond their series' all-time range by more
/// than 5% of its width flagged as records (`record_margin`), so that a new
/// high inside the baseline's wide margin shows.
///
/// Standard-profile figures on the 52 dev files, in the order the pieces were
/// added: baseline 150: 20.6; 400 (the API's; 150 is shorter than a daily
/// cycle, so the half it never saw was flagged): 25.0; flags only where the
/// conservative p-value passes: 39.4; metric context 10: 46.6; baseline 800:
/// 48.7 (600 and 1000: 47.3, 48.5; context 5 and 20 at 800: 50.2, 48.2);
/// first baseline 200 growing to 800: 52.6 (low-FP 38.8, low-FN 59.2;
/// first baselines of 100, 150, 250, 300, 400: 52.8, 52.7, 52.5, 52.1, 51.0);
/// the context's runs as shape evidence in the detector: 55.6; first flags
/// ranked by recurrence ([`ScoreRule::First`]): 58.6; recurrence over ranges
/// stretched to both values: 59.4 (low-FP 50.5, low-FN 64.5); records
/// beyond 5% of the all-time range: 67.3 (margins 0.03, 0.04, 0.07, 0.1:
/// 66.0, 66.1, 65.5, 65.5); a record starting a burst wherever it falls:
/// 69.8 (low-FP 60.2, low-FN 75.1; margins 0.02, 0.03, 0.04, 0.07, 0.1:
/// 69.4, 69.6, 69.6, 68.1, 68.2); repeats of earlier anomalies not holding
/// a burst open ([`bursts::REPEAT_DISTANCE`]): **70.5** (low-FP 61.1, low-FN
/// 75.6; repeat distances 0.001, 0.1, 0.3: 70.5, 70.4, 69.8).
/// Reproduce: `driftlock eval nab ../shared/datasets/nab` (add
/// `--min-baseline-size N` for the others, `--repeat-distance 0` for the
/// rule before).
pub fn default_config() -> DetectorConfig {
    DetectorConfig {
        baseline_size: 800,
        min_baseline_size: 200,
        window_size: 20,
        hop_size: 5,
        metric_context: 10,
        record_margin: Some(0.05),
        ..DetectorConfig::default()
    }
}

/// How a row's score in [0, 1] is made from the detector's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreRule {
    /// `1 − p` of the event's conformal p-value (0 while calibrating).
    PValue,
    /// Flagged events (the detector's own decision) rank above all others:
    /// `0.5 + (1 − p)/2` when flagged, `(1 − p)/2` otherwise.
    Flagged,
    /// The first flagged event of a burst (see [`bursts`]: a flag with no
    /// burst open, the burst staying open [`SUPPRESS_ROWS`](bursts::SUPPRESS_ROWS)
    /// rows past its last flag that was not a repeat of an earlier anomaly,
    /// or a record, the detector's `record_margin`: a value beyond everything
    /// its series had, which opens a new burst wherever it falls) scores
    /// `0.5 + c/2`, where `c` ([`Flag::novelty`]) grows with how unlike the
    /// stream's earlier anomalies it is (the detector's
    /// [`Recurrence`](driftlock_engine::Recurrence) distance `d`, the largest
    /// difference of value, rolling median and MAD over their baseline ranges
    /// stretched to cover both values): `c = 1 − e^(−d/s)` with `s` =
    /// [`bursts::RECURRENCE_SCALE`], and 1 for a stream's first anomaly and
    /// for a record.
    /// A regular pattern the baseline never kept (a daily step, a nightly
    /// spike) is flagged each time it comes back; ranked this way, the
    /// threshold sweep can leave its repeats out. Every other row scores
    /// `(1 − p)/4`.
    #[default]
    First,
}

impl ScoreRule {
    pub const ALL: [ScoreRule; 3] = [ScoreRule::PValue, ScoreRule::Flagged, ScoreRule::First];

    pub fn as_str(self) -> &'static str {
        match self {
            ScoreRule::PValue => "pvalue",
            ScoreRule::Flagged => "flagged",
            ScoreRule::First => "first",
        }
    }
}

impl FromStr for ScoreRule {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ScoreRule::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown score rule `{s}` (pvalue, flagged or first)"))
    }
}

impl std::fmt::Display for ScoreRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct NabOptions {
    pub config: DetectorConfig,
    pub rule: ScoreRule,
    /// A flag this close to an earlier anomaly does not hold a burst open
    /// ([`bursts::REPEAT_DISTANCE`]; 0: every flag does).
    pub repeat_distance: f64,
    /// Write NAB's results layout under this folder.
    pub results_out: Option<PathBuf>,
}

impl Default for NabOptions {
    fn default() -> Self {
        NabOptions {
            config: default_config(),
            rule: ScoreRule::default(),
            repeat_distance: bursts::REPEAT_DISTANCE,
            results_out: None,
        }
    }
}

/// One file's figures; the outcome columns are the standard profile's at its
/// swept threshold.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub key: String,
    pub rows: usize,
    pub windows: usize,
    /// Events the detector itself flagged (its default thresholds).
    pub flagged: usize,
    pub windows_detected: usize,
    pub false_positives: usize,
    pub raw_standard: f64,
}

#[derive(Debug, Clone)]
pub struct NabReport {
    pub config: DetectorConfig,
    pub rule: ScoreRule,
    pub repeat_distance: f64,
    pub files: Vec<FileReport>,
    /// One per profile, in `config/profiles.json` order (NAB's defaults when absent).
    pub profiles: Vec<ProfileResult>,
    pub rows: usize,
    /// The results layout's root (`results_out/driftlock`), when written.
    pub results_dir: Option<PathBuf>,
}

impl NabReport {
    /// The normalised score of a profile (`standard`, `reward_low_FP_rate`, ...).
    pub fn normalized(&self, profile: &str) -> Option<f64> {
        self.profiles
            .iter()
            .find(|p| p.profile == profile)
            .map(|p| p.normalized)
    }

    /// The report as printed by `driftlock eval nab`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let c = &self.config;
        let _ = writeln!(
            s,
            "NAB: {} files, {} rows; detector config baseline_size={} min_baseline_size={} window_size={} hop_size={} \
             metric_context={} record_margin={} p_value_threshold={} ncd_threshold={} compressor={} seed={}; score rule: {}{}",
            self.files.len(),
            self.rows,
            c.baseline_size,
            c.min_baseline_size,
            c.window_size,
            c.hop_size,
            c.metric_context,
            c.record_margin
                .map_or_else(|| "off".to_owned(), |m| m.to_string()),
            c.p_value_threshold,
            c.ncd_threshold,
            c.compressor.as_str(),
            c.seed,
            self.rule,
            match self.rule {
                ScoreRule::First => format!(" (repeat distance {})", self.repeat_distance),
                _ => String::new(),
            }
        );
        let _ = writeln!(s);
        let width = self
            .files
            .iter()
            .map(|f| f.key.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "{:<width$}  {:>6}  {:>7}  {:>7}  {:>8}  {:>4}  {:>9}",
            "file", "rows", "windows", "flagged", "detected", "FP", "raw(std)"
        );
        for f in &self.files {
            let _ = writeln!(
                s,
                "{:<width$}  {:>6}  {:>7}  {:>7}  {:>8}  {:>4}  {:>9.3}",
                f.key,
                f.rows,
                f.windows,
                f.flagged,
                f.windows_detected,
                f.false_positives,
                f.raw_standard
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<20}  {:>10}  {:>9}  {:>10}",
            "profile", "normalised", "threshold", "raw"
        );
        for p in &self.profiles {
            let _ = writeln!(
                s,
                "{:<20}  {:>10.2}  {:>9.4}  {:>10.3}",
                p.profile, p.normalized, p.threshold, p.raw_score
            );
        }
        if let Some(dir) = &self.results_dir {
            let _ = writeln!(s, "\nresults layout written under {}", dir.display());
        }
        s
    }
}

/// Per-row scores of one file and the number of rows the detector flagged.
pub fn score_file(file: &NabFile, opts: &NabOptions) -> Result<(Vec<f64>, usize)> {
    let mut detector = StreamDetector::new(file.key.clone(), opts.config.clone())
        .context(format!("{}: detector configuration", file.key))?;
    detector.enable_diagnostics();
    let events: Vec<Event> = file
        .timestamps
        .iter()
        .zip(&file.values)
        .map(|(&ts, &v)| Event {
            stream_id: file.key.clone(),
            timestamp: Some(format_ts(ts)),
            kind: EventKind::Metric,
            body: json!({ "value": v }),
            ..Default::default()
        })
        .collect();
    let anomalies = detector
        .push(&events)
        .context(format!("{}: scoring", file.key))?;
    let flags = Flag::from_anomalies(&anomalies);
    let flagged: HashSet<u64> = flags.iter().map(|f| f.index).collect();
    let first = bursts::first_flags(&flags, opts.repeat_distance);
    let diagnostics = detector.take_diagnostics();
    let mut scores = vec![0.0; file.len()];
    for (index, p) in diagnostics.event_p {
        let Some(slot) = scores.get_mut(index as usize) else {
            continue;
        };
        let q = (1.0 - p).clamp(0.0, 1.0);
        *slot = match opts.rule {
            ScoreRule::PValue => q,
            ScoreRule::Flagged if flagged.contains(&index) => 0.5 + 0.5 * q,
            ScoreRule::Flagged => 0.5 * q,
            ScoreRule::First => match first.get(&index) {
                Some(c) => 0.5 + 0.5 * c,
                None => 0.25 * q,
            },
        };
    }
    Ok((scores, flagged.len()))
}

fn format_ts(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// Writes `dir/<category>/driftlock_<name>` with NAB's results columns.
fn write_results(dir: &Path, file: &NabFile, scores: &[f64]) -> Result<()> {
    let cat = dir.join(&file.category);
    fs::create_dir_all(&cat).map_err(|source| EvalError::Io {
        path: cat.clone(),
        source,
    })?;
    let path = cat.join(format!("{DETECTOR}_{}", file.name));
    let mut out = String::with_capacity(file.len() * 40);
    out.push_str("timestamp,value,anomaly_score,label\n");
    for (i, ((&ts, &v), &s)) in file
        .timestamps
        .iter()
        .zip(&file.values)
        .zip(scores)
        .enumerate()
    {
        let label = u8::from(file.windows.iter().any(|w| w.contains(i)));
        let _ = writeln!(out, "{},{},{},{}", format_ts(ts), v, s, label);
    }
    fs::write(&path, out).map_err(|source| EvalError::Io { path, source })
}

/// Runs the engine over every file of the NAB-layout folder `root` and scores it.
pub fn run(root: &Path, opts: &NabOptions, progress: Progress<'_>) -> Result<NabReport> {
    require_dir(root, "NAB corpus (data/, labels/)")?;
    let files =
        nab::load_corpus(root).context(format!("loading the NAB corpus at {}", root.display()))?;
    if files.is_empty() {
        return Err(EvalError::Invalid(format!(
            "{}: no labelled data files under data/",
            root.display()
        )));
    }
    let profiles = if root.join("config").join("profiles.json").is_file() {
        nab::load_profiles(root).context("loading the scoring profiles")?
    } else {
        Profile::nab_defaults()
    };
    opts.config.validate().context("detector configuration")?;
    let distance = opts.repeat_distance;
    if !(distance.is_finite() && distance >= 0.0) {
        return Err(EvalError::Invalid(format!(
            "repeat distance must be a number >= 0, got {distance}"
        )));
    }

    let scored: Vec<(Vec<f64>, usize)> = files
        .par_iter()
        .map(|f| {
            let r = score_file(f, opts);
            progress(f.len() as u64);
            r
        })
        .collect::<Result<_>>()?;

    let inputs: Vec<_> = files
        .iter()
        .zip(&scored)
        .map(|(f, (s, _))| f.with_scores(s))
        .collect();
    let results = nab::score_corpus(&inputs, &profiles).context("NAB scoring")?;

    let results_dir = match &opts.results_out {
        Some(out) => {
            let dir = out.join(DETECTOR);
            for (f, (s, _)) in files.iter().zip(&scored) {
                write_results(&dir, f, s)?;
            }
            Some(dir)
        }
        None => None,
    };

    let standard = results
        .iter()
        .find(|p| p.profile == "standard")
        .or(results.first())
        .ok_or_else(|| EvalError::Invalid("no scoring profile".into()))?;
    let reports = files
        .iter()
        .zip(&scored)
        .map(|(f, (_, flagged))| {
            let o = standard.files.iter().find(|o| o.key == f.key);
            FileReport {
                key: f.key.clone(),
                rows: f.len(),
                windows: f.windows.len(),
                flagged: *flagged,
                windows_detected: o.map_or(0, |o| o.windows_detected),
                false_positives: o.map_or(0, |o| o.fp),
                raw_standard: o.map_or(0.0, |o| o.raw_score),
            }
        })
        .collect();
    Ok(NabReport {
        config: opts.config.clone(),
        rule: opts.rule,
        repeat_distance: opts.repeat_distance,
        rows: files.iter().map(NabFile::len).sum(),
        files: reports,
        profiles: results,
        results_dir,
    })
}
