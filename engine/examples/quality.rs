//! Detection quality on the labelled synthetic streams: calibration on clean
//! streams and event-level precision/recall per anomaly kind.
//!
//! `cargo run --release -p driftlock-engine --example quality -- [EVENTS]`

// The binary uses mimalloc too: the engine rebuilds its dictionary every
// window, and glibc returns those large blocks to the kernel each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;

use driftlock_datasets::{AnomalyKind, GeneratorConfig, LabelledEvent, StreamKind};
use driftlock_engine::{DetectorConfig, Event, StreamDetector};

fn to_event(e: &LabelledEvent) -> Event {
    Event::from_json(e.to_json()).expect("generated events are valid events")
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(6000);
    let kinds = [
        StreamKind::Logs,
        StreamKind::Metrics,
        StreamKind::Traces,
        StreamKind::Llm,
    ];
    for sk in kinds {
        let events: Vec<LabelledEvent> =
            GeneratorConfig::clean(sk, n, 7).build().unwrap().collect();
        let evs: Vec<Event> = events.iter().map(to_event).collect();
        let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
        d.enable_diagnostics();
        let t = std::time::Instant::now();
        let anomalies = d.push(&evs).unwrap();
        let dt = t.elapsed().as_secs_f64();
        let diag = d.take_diagnostics();
        let share = |v: &[(u64, f64)]| {
            v.iter().filter(|(_, p)| *p <= 0.05).count() as f64 / v.len().max(1) as f64
        };
        println!(
            "clean {sk:?}: events {} ev/s {:.0} | event p<=.05 {:.3} (n={}) | window p<=.05 {:.3} (n={}) | flagged {}",
            n,
            n as f64 / dt,
            share(&diag.event_p),
            diag.event_p.len(),
            share(&diag.window_p),
            diag.window_p.len(),
            anomalies.len()
        );
        if std::env::var("SHOW").is_ok() {
            for a in anomalies
                .iter()
                .step_by((anomalies.len() / 6).max(1))
                .take(6)
            {
                println!(
                    "   FP #{} p={:.4} ncd={:.2} {} | {}",
                    a.index, a.metrics.p_value, a.metrics.ncd, a.encoded, a.why
                );
            }
        }
    }
    for sk in kinds {
        for ak in AnomalyKind::ALL {
            let cfg = GeneratorConfig::new(sk, n, 11)
                .with_anomalies(&[ak], driftlock_datasets::AnomalyCount::Max);
            let Ok(stream) = cfg.build() else { continue };
            let events: Vec<LabelledEvent> = stream.collect();
            let truth: HashSet<u64> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.label.is_some())
                .map(|(i, _)| i as u64)
                .collect();
            if truth.is_empty() {
                continue;
            }
            let evs: Vec<Event> = events.iter().map(to_event).collect();
            let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
            d.enable_diagnostics();
            let mut anomalies = d.push(&evs).unwrap();
            anomalies.extend(d.settle());
            let diag = d.take_diagnostics();
            let event_p: std::collections::HashMap<u64, f64> =
                diag.event_p.iter().copied().collect();
            let found: HashSet<u64> = anomalies.iter().map(|a| a.index).collect();
            let tp = found.intersection(&truth).count() as f64;
            let p = if found.is_empty() {
                0.0
            } else {
                tp / found.len() as f64
            };
            let r = tp / truth.len() as f64;
            let cps = anomalies
                .iter()
                .filter(|a| a.kind == driftlock_engine::AnomalyKind::ChangePoint)
                .count();
            println!(
                "{sk:?} {:>14}: truth {:>4} flagged {:>4} precision {p:.3} recall {r:.3} change_points {cps}",
                ak.name(),
                truth.len(),
                found.len()
            );
            if std::env::var("SHOW").is_ok() {
                for a in anomalies
                    .iter()
                    .filter(|a| !truth.contains(&a.index))
                    .step_by(7)
                    .take(5)
                {
                    println!(
                        "   FP #{} p={:.4} ncd={:.2} {} | {}",
                        a.index, a.metrics.p_value, a.metrics.ncd, a.encoded, a.why
                    );
                }
                let missed: Vec<&u64> = truth.difference(&found).take(2).collect();
                for m in missed {
                    println!(
                        "   MISS #{m} p={:?} {}",
                        event_p.get(m),
                        serde_json::to_string(&events[*m as usize].body).unwrap()
                    );
                }
            }
        }
    }
}
