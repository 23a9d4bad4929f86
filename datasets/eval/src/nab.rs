//! `driftlock eval nab`: the engine over every NAB file, scored by NAB's rules.
//!
//! Each file is one stream of metric events in time order (body `{"value": v}`,
//! type `metric`) through a fresh [`StreamDetector`] with one configuration for
//! the whole corpus ([`default_config`]). The per-row anomaly score in [0, 1] is
//! built from what the detector emits, by default its incidents (see
//! [`ScoreRule`]), and the
//! corpus is scored with `driftlock_datasets::nab::score_corpus` (threshold swept
//! per profile, normalised against the null and perfect detectors).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use driftlock_datasets::nab::{self, NabFile, Profile, ProfileResult};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, EventKind, StreamDetector};
use rayon::prelude::*;
use serde_json::json;

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
/// Standard profile on the 52 shared files, scored from the product's
/// incidents: 70.5 (low-FP 61.1, low-FN 75.6); `docs/quality.md` has the
/// table and what each piece adds. Reproduce: `driftlock eval nab
/// ../shared/datasets/nab`.
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

/// How a row's score in [0, 1] is made from what the detector emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreRule {
    /// The product's alerts: the anomaly that opens an incident (see
    /// [`driftlock_engine::incident`]) scores `0.5 + rank/2`, where the rank
    /// grows with how unlike the stream's earlier incidents it is; every
    /// other row scores 0. What `driftlock score` writes (`incident_opens`,
    /// `incident_rank`) is all it reads.
    #[default]
    Incidents,
    /// Every flagged event is a detection (score 1): the anomalies as they
    /// are, without incidents.
    Flags,
    /// Diagnostic, not an output of the product: `1 − p` of every event's
    /// conformal p-value (0 while calibrating).
    PValue,
}

impl ScoreRule {
    pub const ALL: [ScoreRule; 3] = [ScoreRule::Incidents, ScoreRule::Flags, ScoreRule::PValue];

    pub fn as_str(self) -> &'static str {
        match self {
            ScoreRule::Incidents => "incidents",
            ScoreRule::Flags => "flags",
            ScoreRule::PValue => "pvalue",
        }
    }
}

impl FromStr for ScoreRule {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ScoreRule::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown score rule `{s}` (incidents, flags or pvalue)"))
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
    /// Write NAB's results layout under this folder.
    pub results_out: Option<PathBuf>,
}

impl Default for NabOptions {
    fn default() -> Self {
        NabOptions {
            config: default_config(),
            rule: ScoreRule::default(),
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
             metric_context={} record_margin={} p_value_threshold={} ncd_threshold={} compressor={} seed={}; score rule: {}",
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
    let flagged: HashSet<u64> = anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| a.index)
        .collect();
    let diagnostics = detector.take_diagnostics();
    let mut scores = vec![0.0; file.len()];
    match opts.rule {
        ScoreRule::Incidents => {
            for (a, tag) in anomalies.iter().filter_map(|a| Some((a, a.incident?))) {
                if let Some(slot) = scores.get_mut(a.index as usize)
                    && tag.opens
                {
                    *slot = 0.5 + 0.5 * tag.rank;
                }
            }
        }
        ScoreRule::Flags => {
            for &i in &flagged {
                if let Some(slot) = scores.get_mut(i as usize) {
                    *slot = 1.0;
                }
            }
        }
        ScoreRule::PValue => {
            for (index, p) in diagnostics.event_p {
                if let Some(slot) = scores.get_mut(index as usize) {
                    *slot = (1.0 - p).clamp(0.0, 1.0);
                }
            }
        }
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
        rows: files.iter().map(NabFile::len).sum(),
        files: reports,
        profiles: results,
        results_dir,
    })
}
