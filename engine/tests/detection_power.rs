//! Power on the labelled synthetic streams at the default configuration: for
//! every anomaly kind, event-level precision and recall over the four stream
//! kinds (logs, metrics, traces, LLM) are each at least 0.9.
//!
//! Each (stream kind, anomaly kind) pair is one 6,000-event stream with as many
//! anomalies of that kind as the generator places (36 single events, or about
//! 570 events of bursts and shifts). A per-pair floor of 0.75 guards against one
//! stream kind collapsing behind a good average.

use std::collections::HashSet;

use driftlock_datasets::{AnomalyCount, AnomalyKind, GeneratorConfig, LabelledEvent, StreamKind};
use driftlock_engine::{DetectorConfig, Event, StreamDetector};

const EVENTS: u64 = 6000;
const SEED: u64 = 11;
const TARGET: f64 = 0.9;
const PAIR_FLOOR: f64 = 0.75;

#[derive(Default, Clone, Copy)]
struct Counts {
    truth: usize,
    flagged: usize,
    hits: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        self.hits as f64 / self.flagged.max(1) as f64
    }
    fn recall(self) -> f64 {
        self.hits as f64 / self.truth.max(1) as f64
    }
}

fn run(stream: StreamKind, kind: AnomalyKind) -> Counts {
    let events: Vec<LabelledEvent> = GeneratorConfig::new(stream, EVENTS, SEED)
        .with_anomalies(&[kind], AnomalyCount::Max)
        .build()
        .expect("the generator config is valid")
        .collect();
    let truth: HashSet<u64> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.label.is_some())
        .map(|(i, _)| i as u64)
        .collect();
    let evs: Vec<Event> = events
        .iter()
        .map(|e| Event::from_json(e.to_json()).expect("generated events are valid"))
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let mut anomalies = d.push(&evs).unwrap();
    // The stream ends: flags still held are reported.
    anomalies.extend(d.settle());
    let found: HashSet<u64> = anomalies
        .into_iter()
        .filter(|a| a.kind == driftlock_engine::AnomalyKind::Event)
        .map(|a| a.index)
        .collect();
    Counts {
        truth: truth.len(),
        flagged: found.len(),
        hits: found.intersection(&truth).count(),
    }
}

#[test]
fn precision_and_recall_per_anomaly_kind_reach_the_target() {
    let streams = [
        StreamKind::Logs,
        StreamKind::Metrics,
        StreamKind::Traces,
        StreamKind::Llm,
    ];
    let mut failures = Vec::new();
    for kind in AnomalyKind::ALL {
        let mut total = Counts::default();
        for stream in streams {
            let c = run(stream, kind);
            println!(
                "{:<14} {stream:<8?} truth {:>4} flagged {:>4} precision {:.3} recall {:.3}",
                kind.name(),
                c.truth,
                c.flagged,
                c.precision(),
                c.recall()
            );
            assert!(
                c.truth > 0,
                "{stream:?}/{kind}: the generator placed no anomaly"
            );
            if c.precision() < PAIR_FLOOR || c.recall() < PAIR_FLOOR {
                failures.push(format!(
                    "{stream:?}/{kind}: precision {:.3} recall {:.3} below the floor {PAIR_FLOOR}",
                    c.precision(),
                    c.recall()
                ));
            }
            total.truth += c.truth;
            total.flagged += c.flagged;
            total.hits += c.hits;
        }
        println!(
            "{:<14} all      precision {:.3} recall {:.3}",
            kind.name(),
            total.precision(),
            total.recall()
        );
        if total.precision() < TARGET || total.recall() < TARGET {
            failures.push(format!(
                "{kind}: precision {:.3} recall {:.3} below {TARGET}",
                total.precision(),
                total.recall()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
