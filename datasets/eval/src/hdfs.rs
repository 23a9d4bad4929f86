//! `driftlock eval hdfs`: HDFS block sessions, one log event per session.
//!
//! Protocol: `baseline` normal sessions (a seeded choice, `HdfsSessions::split`)
//! calibrate the detector; the other normal sessions and every abnormal one are
//! then scored in a seeded random order. A session is reported abnormal when the
//! detector flags it at its default thresholds (`p_value_threshold`,
//! `ncd_threshold`): no threshold is chosen on the test labels.
//!
//! The baseline is **frozen**: every test chunk is pushed into a clone of the
//! calibrated detector, a chunk is shorter than `window_size` and recurring
//! templates are not learnt (`learn_recurring` off), so no test session ever
//! enters the baseline, triggers a model refresh or a change point.
//! Each session is therefore judged against the same normal baseline whatever
//! the test order. (A rolling baseline would be the wrong protocol here: most
//! test sessions are abnormal, so a sustained run of them is a "change point"
//! and the engine would, by design, adopt them as the new normal.)

use std::fmt::Write as _;
use std::path::Path;

use driftlock_datasets::hdfs::{self, BinaryMetrics};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, EventKind, StreamDetector};
use serde_json::json;

use super::{Progress, require_dir};
use crate::error::{Context, EvalError, Result};

#[derive(Debug, Clone)]
pub struct HdfsOptions {
    /// Detector configuration; `baseline_size` is set to the baseline's size.
    pub config: DetectorConfig,
    /// Normal sessions drawn for the baseline.
    pub baseline: usize,
    /// Seed of the baseline draw and the test order.
    pub seed: u64,
    pub encoding: Encoding,
}

/// Default baseline: 2000 normal sessions (about half of the normal ones).
pub const DEFAULT_BASELINE: usize = 2000;

/// The configuration used for HDFS: the engine's defaults, with a window long
/// enough that test chunks never reach a window test and no template learnt
/// inside a chunk (frozen baseline).
pub fn default_config() -> DetectorConfig {
    DetectorConfig {
        baseline_size: DEFAULT_BASELINE,
        window_size: 1000,
        hop_size: 100,
        learn_recurring: false,
        ..DetectorConfig::default()
    }
}

impl Default for HdfsOptions {
    fn default() -> Self {
        HdfsOptions {
            config: default_config(),
            baseline: DEFAULT_BASELINE,
            seed: 1,
            encoding: Encoding::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HdfsReport {
    pub config: DetectorConfig,
    pub seed: u64,
    pub encoding: Encoding,
    pub baseline: usize,
    pub test_normal: usize,
    pub test_abnormal: usize,
    pub metrics: BinaryMetrics,
    /// The exact lookup of each session's template-count vector among the
    /// baseline's, on the same split.
    pub lookup: BinaryMetrics,
}

impl HdfsReport {
    /// The report as printed by `driftlock eval hdfs`.
    pub fn render(&self) -> String {
        let c = &self.config;
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "HDFS: baseline {} normal sessions (frozen); test {} normal + {} abnormal sessions, seed {}, encoding {}",
            self.baseline, self.test_normal, self.test_abnormal, self.seed, self.encoding
        );
        let _ = writeln!(
            s,
            "detector config baseline_size={} p_value_threshold={} ncd_threshold={} compressor={}; \
             operating point: the detector's own flags",
            c.baseline_size,
            c.p_value_threshold,
            c.ncd_threshold,
            c.compressor.as_str()
        );
        let _ = writeln!(s, "\nTP {}  FP {}  TN {}  FN {}", m.tp, m.fp, m.tn, m.fn_);
        let _ = writeln!(s, "precision  {:.4}", m.precision);
        let _ = writeln!(s, "recall     {:.4}", m.recall);
        let _ = writeln!(s, "F1         {:.4}", m.f1);
        let _ = writeln!(s, "FPR        {:.4}  (on normal test sessions)", m.fpr);
        let l = &self.lookup;
        let _ = writeln!(
            s,
            "\nexact lookup of the template-count vector among the baseline's, same split: \
             precision {:.4} recall {:.4} F1 {:.4} FPR {:.4}",
            l.precision, l.recall, l.f1, l.fpr
        );
        s
    }
}

/// How a session becomes an event body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `{"templates": "E5 E22 E11 ..."}`: the sequence as words.
    Sequence,
    /// The sequence plus its template counts as an object,
    /// `{"templates": "E5 E22 ...", "counts": {"E5": 3, "E22": 1, ...}}`: a
    /// template the baseline never had is a new key, an unusual count a numeric
    /// excursion (HDFS's classic event-count view, next to the order).
    #[default]
    Counts,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::Sequence, Encoding::Counts];

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Sequence => "sequence",
            Encoding::Counts => "counts",
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown encoding `{s}` (sequence or counts)"))
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One session as an event (see [`Encoding`]).
pub fn session_event(session: &[u32], encoding: Encoding) -> Event {
    let mut templates = String::with_capacity(session.len() * 4);
    for (i, t) in session.iter().enumerate() {
        if i > 0 {
            templates.push(' ');
        }
        let _ = write!(templates, "E{t}");
    }
    let body = match encoding {
        Encoding::Sequence => json!({ "templates": templates }),
        Encoding::Counts => {
            let mut counts = std::collections::BTreeMap::<u32, u64>::new();
            for &t in session {
                *counts.entry(t).or_default() += 1;
            }
            let counts: serde_json::Map<String, serde_json::Value> = counts
                .into_iter()
                .map(|(t, n)| (format!("E{t}"), json!(n)))
                .collect();
            json!({ "templates": templates, "counts": counts })
        }
    };
    Event {
        stream_id: "hdfs".into(),
        kind: EventKind::Log,
        body,
        ..Default::default()
    }
}

/// Runs the protocol on the folder `root` (`normal.txt`, `abnormal.txt`).
pub fn run(root: &Path, opts: &HdfsOptions, progress: Progress<'_>) -> Result<HdfsReport> {
    require_dir(root, "HDFS sessions (normal.txt, abnormal.txt)")?;
    let sessions =
        hdfs::load(root).context(format!("loading HDFS sessions from {}", root.display()))?;
    // At least as many normal sessions held apart as a tenth of the
    // baseline: otherwise the false-positive rate is measured on (almost)
    // nothing.
    let held_apart = sessions.normal.len().saturating_sub(opts.baseline);
    if held_apart < (opts.baseline / 10).max(1) {
        return Err(EvalError::Invalid(format!(
            "--baseline {} leaves {held_apart} of the {} normal sessions to test; \
             use a baseline of at most {}",
            opts.baseline,
            sessions.normal.len(),
            sessions.normal.len() * 10 / 11
        )));
    }
    let split = sessions.split(opts.baseline, opts.seed);
    let mut config = opts.config.clone();
    config.baseline_size = split.baseline.len();
    // A window may not outgrow its baseline; chunks stay shorter than it.
    config.window_size = config.window_size.min(config.baseline_size);
    config.hop_size = config.hop_size.min(config.window_size);
    config.validate().context(format!(
        "baseline of {} normal sessions",
        split.baseline.len()
    ))?;
    if split.test.is_empty() {
        return Err(EvalError::Invalid(
            "no test sessions left after the baseline".into(),
        ));
    }

    let mut calibrated =
        StreamDetector::new("hdfs", config.clone()).context("detector configuration")?;
    let baseline: Vec<Event> = split
        .baseline
        .iter()
        .map(|s| session_event(s, opts.encoding))
        .collect();
    calibrated
        .push(&baseline)
        .context("calibrating on the baseline")?;
    if calibrated.baseline_digest().is_none() {
        return Err(EvalError::Invalid(format!(
            "the detector did not calibrate on {} sessions",
            baseline.len()
        )));
    }
    progress(baseline.len() as u64);

    let first = calibrated.events_seen();
    let chunk = config.window_size.saturating_sub(1).max(1);
    let mut flags = vec![false; split.test.len()];
    for (c, part) in split.test.chunks(chunk).enumerate() {
        let events: Vec<Event> = part
            .iter()
            .map(|(s, _)| session_event(s, opts.encoding))
            .collect();
        let mut detector = calibrated.clone();
        for a in detector.push(&events).context("scoring test sessions")? {
            if a.kind == AnomalyKind::Event {
                let j = (a.index - first) as usize + c * chunk;
                if let Some(f) = flags.get_mut(j) {
                    *f = true;
                }
            }
        }
        progress(part.len() as u64);
    }
    let labels: Vec<bool> = split.test.iter().map(|(_, abnormal)| *abnormal).collect();
    let metrics = hdfs::evaluate_flags(&flags, &labels).context("scoring the flags")?;
    // The exact lookup: a session is abnormal when no baseline session has
    // its template-count vector.
    let counts = |s: &[u32]| {
        let mut c = std::collections::BTreeMap::<u32, u32>::new();
        for &t in s {
            *c.entry(t).or_default() += 1;
        }
        c.into_iter().collect::<Vec<_>>()
    };
    let known: std::collections::HashSet<Vec<(u32, u32)>> =
        split.baseline.iter().map(|s| counts(s)).collect();
    let lookup_flags: Vec<bool> = split
        .test
        .iter()
        .map(|(s, _)| !known.contains(&counts(s)))
        .collect();
    let lookup = hdfs::evaluate_flags(&lookup_flags, &labels).context("scoring the lookup")?;
    Ok(HdfsReport {
        config,
        seed: opts.seed,
        encoding: opts.encoding,
        baseline: split.baseline.len(),
        test_normal: labels.iter().filter(|l| !**l).count(),
        test_abnormal: labels.iter().filter(|l| **l).count(),
        metrics,
        lookup,
    })
}
