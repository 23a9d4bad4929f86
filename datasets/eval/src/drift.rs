//! `driftlock eval drift`: the detector on logs whose normal changes
//! ([`driftlock_datasets::drift`]): per anomaly kind, event-level precision
//! and recall on a stream with only that kind; on a clean stream, the false
//! flags and false incidents per 10,000 events. Beside it, the plain rule
//! "a template never seen before is an anomaly", on the same streams. Over
//! several seeds the counts are pooled and the clean stream is shown per
//! seed too.

use std::collections::HashSet;
use std::fmt::Write as _;

use driftlock_datasets::drift::{DriftAnomaly, DriftConfig, DriftEvent};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, StreamDetector};
use rayon::prelude::*;

use crate::error::{Context, EvalError, Result};

#[derive(Debug, Clone)]
pub struct DriftOptions {
    pub events: u64,
    /// The first seed; `seeds` consecutive ones are run.
    pub seed: u64,
    pub seeds: u64,
    pub config: DetectorConfig,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            events: 30_000,
            seed: 1,
            seeds: 1,
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

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.truth += o.truth;
        self.flagged += o.flagged;
        self.hits += o.hits;
    }
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

/// One seed's clean stream: flagged events, incidents opened, and lines
/// that were a new template's first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanReport {
    pub seed: u64,
    pub flags: usize,
    pub incidents: usize,
    pub new_templates: usize,
}

#[derive(Debug, Clone)]
pub struct DriftReport {
    /// Events in each stream.
    pub events: u64,
    /// Per kind, pooled over the seeds.
    pub kinds: Vec<KindReport>,
    /// Per seed.
    pub clean: Vec<CleanReport>,
}

impl DriftReport {
    /// `n` per 10,000 events of `streams` clean streams.
    pub fn per_10k(&self, n: usize, streams: usize) -> f64 {
        n as f64 * 10_000.0 / (self.events as f64 * streams.max(1) as f64)
    }

    pub fn clean_flags(&self) -> usize {
        self.clean.iter().map(|c| c.flags).sum()
    }

    pub fn clean_incidents(&self) -> usize {
        self.clean.iter().map(|c| c.incidents).sum()
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let seeds = match self.clean.as_slice() {
            [one] => format!("seed {}", one.seed),
            [first, .., last] => format!("seeds {}–{}, pooled", first.seed, last.seed),
            [] => "no seed".into(),
        };
        let _ = writeln!(
            s,
            "drifting logs: {} events a stream, {seeds}; detector at its defaults; \
             beside it, \"a template never seen before\"\n",
            self.events
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
        let _ = writeln!(s);
        if self.clean.len() > 1 {
            for c in &self.clean {
                let _ = writeln!(
                    s,
                    "clean stream, seed {:<3} {:>3} flags ({:.1} per 10k events), {:>3} incidents \
                     ({:.2} per 10k), {} new normal templates",
                    c.seed,
                    c.flags,
                    self.per_10k(c.flags, 1),
                    c.incidents,
                    self.per_10k(c.incidents, 1),
                    c.new_templates
                );
            }
        }
        let n = self.clean.len();
        let _ = writeln!(
            s,
            "clean stream{}: {} flags ({:.1} per 10k events), {} incidents ({:.2} per 10k), \
             {} new normal templates",
            if n > 1 { "s, pooled" } else { "" },
            self.clean_flags(),
            self.per_10k(self.clean_flags(), n),
            self.clean_incidents(),
            self.per_10k(self.clean_incidents(), n),
            self.clean.iter().map(|c| c.new_templates).sum::<usize>()
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
    let seeds: Vec<u64> = (0..opts.seeds.max(1)).map(|i| opts.seed + i).collect();
    let mut kinds: Vec<KindReport> = DriftAnomaly::ALL
        .iter()
        .map(|&kind| KindReport {
            kind,
            detector: Counts::default(),
            new_template: Counts::default(),
        })
        .collect();
    let per_kind = seeds
        .par_iter()
        .flat_map(|&seed| DriftAnomaly::ALL.par_iter().map(move |&kind| (seed, kind)))
        .map(|(seed, kind)| {
            let lines = DriftConfig {
                anomalies: vec![kind],
                ..DriftConfig::new(opts.events, seed)
            }
            .generate();
            let (flagged, _) = detect(&lines, &opts.config)?;
            Ok((
                kind,
                counts(&lines, &flagged),
                counts(&lines, &never_seen(&lines)),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    for (kind, detector, new_template) in per_kind {
        let k = kinds
            .iter_mut()
            .find(|k| k.kind == kind)
            .expect("every kind");
        k.detector += detector;
        k.new_template += new_template;
    }
    let clean = seeds
        .par_iter()
        .map(|&seed| {
            let lines = DriftConfig::clean(opts.events, seed).generate();
            let (flags, incidents) = detect(&lines, &opts.config)?;
            Ok(CleanReport {
                seed,
                flags: flags.len(),
                incidents,
                new_templates: lines.iter().filter(|l| l.new_template).count(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DriftReport {
        events: opts.events,
        kinds,
        clean,
    })
}
