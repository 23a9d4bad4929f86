//! `driftlock eval shapes`: the detector at its defaults on clean streams of
//! many shapes ([`driftlock_datasets::shapes`]): every line it reports is a
//! false alarm. Per shape, the anomalies and the incidents they open per
//! 10,000 lines, pooled over seeds.

use std::fmt::Write as _;

use driftlock_datasets::shapes::Shape;
use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use rayon::prelude::*;

use crate::error::{Context, Result};

#[derive(Debug, Clone)]
pub struct ShapesOptions {
    pub events: usize,
    /// The first seed; `seeds` consecutive ones are run.
    pub seed: u64,
    pub seeds: u64,
    /// The shapes to run (all when empty).
    pub shapes: Vec<Shape>,
    pub config: DetectorConfig,
}

impl Default for ShapesOptions {
    fn default() -> Self {
        ShapesOptions {
            events: 20_000,
            seed: 1,
            seeds: 2,
            shapes: Vec::new(),
            config: DetectorConfig::default(),
        }
    }
}

/// One shape's false alarms, pooled over the seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeReport {
    pub shape: Shape,
    /// Lines scored (after each stream's calibration).
    pub scored: usize,
    pub anomalies: usize,
    pub incidents: usize,
}

impl ShapeReport {
    pub fn incidents_per_10k(&self) -> f64 {
        self.incidents as f64 * 1e4 / self.scored.max(1) as f64
    }
}

#[derive(Debug, Clone)]
pub struct ShapesReport {
    pub options: ShapesOptions,
    pub shapes: Vec<ShapeReport>,
}

impl ShapesReport {
    pub fn render(&self) -> String {
        let o = &self.options;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "clean streams of {} shapes: {} lines each, seeds {}–{}, pooled; detector at its defaults; every report is false\n",
            self.shapes.len(),
            o.events,
            o.seed,
            o.seed + o.seeds - 1
        );
        let _ = writeln!(
            s,
            "{:<12} {:>8} {:>10} {:>10} {:>14}",
            "shape", "scored", "anomalies", "incidents", "per 10k lines"
        );
        for r in &self.shapes {
            let _ = writeln!(
                s,
                "{:<12} {:>8} {:>10} {:>10} {:>14.2}",
                r.shape.name(),
                r.scored,
                r.anomalies,
                r.incidents,
                r.incidents_per_10k()
            );
        }
        let total = |f: fn(&ShapeReport) -> usize| self.shapes.iter().map(f).sum::<usize>();
        let (scored, incidents) = (total(|r| r.scored), total(|r| r.incidents));
        let _ = writeln!(
            s,
            "\nall shapes: {} anomalies, {} incidents ({:.2} per 10k lines)",
            total(|r| r.anomalies),
            incidents,
            incidents as f64 * 1e4 / scored.max(1) as f64
        );
        s
    }
}

pub fn run(opts: &ShapesOptions) -> Result<ShapesReport> {
    let shapes = if opts.shapes.is_empty() {
        Shape::ALL.to_vec()
    } else {
        opts.shapes.clone()
    };
    let runs: Vec<(Shape, u64)> = shapes
        .iter()
        .flat_map(|&k| (opts.seed..opts.seed + opts.seeds).map(move |s| (k, s)))
        .collect();
    let counts = runs
        .par_iter()
        .map(|&(shape, seed)| false_alarms(shape, seed, opts))
        .collect::<Result<Vec<_>>>()?;
    let reports = shapes
        .iter()
        .map(|&shape| {
            let mut r = ShapeReport {
                shape,
                scored: 0,
                anomalies: 0,
                incidents: 0,
            };
            for (&(k, _), &(scored, anomalies, incidents)) in runs.iter().zip(&counts) {
                if k == shape {
                    r.scored += scored;
                    r.anomalies += anomalies;
                    r.incidents += incidents;
                }
            }
            r
        })
        .collect();
    Ok(ShapesReport {
        options: opts.clone(),
        shapes: reports,
    })
}

/// (lines scored, anomalies, incidents opened) of one clean stream, pushed
/// in batches of 1,000 as a reader would.
fn false_alarms(shape: Shape, seed: u64, opts: &ShapesOptions) -> Result<(usize, usize, usize)> {
    let events: Vec<Event> = shape
        .bodies(opts.events, seed)
        .into_iter()
        .map(|body| Event {
            body,
            ..Default::default()
        })
        .collect();
    let mut d =
        StreamDetector::new(shape.name(), opts.config.clone()).context("detector configuration")?;
    let mut anomalies = Vec::new();
    for batch in events.chunks(1_000) {
        anomalies.extend(d.push(batch).context("scoring")?);
    }
    anomalies.extend(d.settle());
    let incidents = anomalies
        .iter()
        .filter(|a| a.incident.is_some_and(|t| t.opens))
        .count();
    let scored = opts.events.saturating_sub(opts.config.calibration_size());
    Ok((scored, anomalies.len(), incidents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_counts_every_shape_and_renders_them() {
        let opts = ShapesOptions {
            events: 1_500,
            seeds: 1,
            shapes: vec![Shape::Lognormal, Shape::Epoch],
            ..Default::default()
        };
        let report = run(&opts).unwrap();
        assert_eq!(report.shapes.len(), 2);
        assert!(report.shapes.iter().all(|r| r.scored == 1_100));
        let text = report.render();
        assert!(
            text.contains("lognormal") && text.contains("epoch"),
            "{text}"
        );
        assert!(text.contains("all shapes:"), "{text}");
    }
}
