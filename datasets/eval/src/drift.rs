//! `driftlock eval drift`: the detector on logs whose normal changes
//! ([`driftlock_datasets::drift`]): per anomaly kind, event-level precision
//! and recall on a stream with only that kind; on a clean stream, the false
//! flags and false incidents per 10,000 events. Beside it, the plain rule
//! "a template never seen before is an anomaly", on the same streams.

use std::collections::HashSet;
use std::fmt::Write as _;

use driftlock_datasets::drift::{DriftAnomaly, DriftConfig, DriftEvent};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, StreamDetector};
use rayon::prelude::*;

use crate::error::{Context, EvalError, Result};

#[derive(Debug, Clone)]
pub struct DriftOptions {
    pub events: u64,
    pub seed: u64,
    pub config: DetectorConfig,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            events: 30_000,
            seed: 1,
            config: DetectorConfig::default(),
        }
    }
}

/// Precision and recall of one rule on one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub truth: usize,
    pub flagged: usize,
    pub hits: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        self.hits as f64 / self.flagged.max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.hits as f64 / self.truth.max(1) as f64
    }
}

#[derive(Debug, Clone)]
pub struct KindReport {
    pub kind: DriftAnomaly,
    pub detector: Counts,
    pub new_template: Counts,
}

#[derive(Debug, Clone)]
pub struct DriftReport {
    pub events: u64,
    pub seed: u64,
    pub kinds: Vec<KindReport>,
    /// On the clean stream: flagged events, incidents opened, and lines that
    /// were a new template's first.
    pub clean_flags: usize,
    pub clean_incidents: usize,
    pub clean_new_templates: usize,
}

impl DriftReport {
    pub fn per_10k(&self, n: usize) -> f64 {
        n as f64 * 10_000.0 / self.events as f64
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "drifting logs: {} events a stream, seed {}; detector at its defaults; \
             beside it, \"a template never seen before\"\n",
            self.events, self.seed
        );
        let _ = writeln!(
            s,
            "{:<14} {:>6} {:>8} {:>10} {:>7}   {:>10} {:>7}",
            "kind", "truth", "flagged", "precision", "recall", "new: prec", "recall"
        );
        for k in &self.kinds {
            let _ = writeln!(
                s,
                "{:<14} {:>6} {:>8} {:>10.3} {:>7.3}   {:>10.3} {:>7.3}",
                k.kind.name(),
                k.detector.truth,
                k.detector.flagged,
                k.detector.precision(),
                k.detector.recall(),
                k.new_template.precision(),
                k.new_template.recall()
            );
        }
        let _ = writeln!(
            s,
            "\nclean stream: {} flags ({:.1} per 10k events), {} incidents ({:.2} per 10k), \
             {} new normal templates",
            self.clean_flags,
            self.per_10k(self.clean_flags),
            self.clean_incidents,
            self.per_10k(self.clean_incidents),
            self.clean_new_templates
        );
        s
    }
}

fn events(lines: &[DriftEvent]) -> Result<Vec<Event>> {
    lines
        .iter()
        .map(|l| {
            Event::from_json(l.event.clone())
                .map_err(|e| EvalError::Invalid(format!("a generated line: {e}")))
        })
        .collect()
}

/// Flagged event positions and incidents opened by the detector.
fn detect(lines: &[DriftEvent], config: &DetectorConfig) -> Result<(HashSet<u64>, usize)> {
    let mut d = StreamDetector::new("drift", config.clone()).context("detector configuration")?;
    let mut anomalies = d.push(&events(lines)?).context("scoring")?;
    // The stream ends here: flags still waiting on their templates are reported.
    anomalies.extend(d.settle());
    let flagged = anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| a.index)
        .collect();
    let incidents = anomalies
        .iter()
        .filter(|a| a.incident.is_some_and(|t| t.opens))
        .count();
    Ok((flagged, incidents))
}

/// The plain rule: a line whose message, digits removed, was never seen.
fn never_seen(lines: &[DriftEvent]) -> HashSet<u64> {
    let mut seen = HashSet::new();
    let mut out = HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        let body = &l.event["body"];
        let message = body["message"].as_str().unwrap_or("");
        let template: String = message.chars().filter(|c| !c.is_ascii_digit()).collect();
        let mut keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        if seen.insert((template, keys.join(","))) && i > 0 {
            out.insert(i as u64);
        }
    }
    out
}

fn counts(lines: &[DriftEvent], flagged: &HashSet<u64>) -> Counts {
    let truth: HashSet<u64> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.label.is_some())
        .map(|(i, _)| i as u64)
        .collect();
    Counts {
        truth: truth.len(),
        flagged: flagged.len(),
        hits: flagged.intersection(&truth).count(),
    }
}

pub fn run(opts: &DriftOptions) -> Result<DriftReport> {
    opts.config.validate().context("detector configuration")?;
    let kinds = DriftAnomaly::ALL
        .par_iter()
        .map(|&kind| {
            let lines = DriftConfig {
                anomalies: vec![kind],
                ..DriftConfig::new(opts.events, opts.seed)
            }
            .generate();
            let (flagged, _) = detect(&lines, &opts.config)?;
            Ok(KindReport {
                kind,
                detector: counts(&lines, &flagged),
                new_template: counts(&lines, &never_seen(&lines)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let clean = DriftConfig::clean(opts.events, opts.seed).generate();
    let (flags, incidents) = detect(&clean, &opts.config)?;
    Ok(DriftReport {
        events: opts.events,
        seed: opts.seed,
        kinds,
        clean_flags: flags.len(),
        clean_incidents: incidents,
        clean_new_templates: clean.iter().filter(|l| l.new_template).count(),
    })
}
