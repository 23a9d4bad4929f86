//! Bounded fuzzing of the saved detector state decoder: the states in
//! `tests/corpus/state/` (a log stream and a metric stream, calibrated and
//! scoring) mutated as JSON trees and as text, each decoded and, when it
//! decodes, pushed more events, asked its status and saved again. A damaged
//! state may be refused; it may not panic the service that loads it. The
//! states that did are in `tests/corpus/state/damaged/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use driftlock_datasets::mutate::Mutator;
use driftlock_engine::{DetectorConfig, Event, EventKind, StreamDetector};
use serde_json::{Value, json};

/// Mutated states per seed state, half as trees and half as text (6,000 a
/// seed also passed once, in about 18 s).
const RUNS: usize = 1000;

const SEEDS: [&str; 2] = ["logs.json", "metrics.json"];

fn corpus_dir() -> std::path::PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("tests/corpus/state")
}

fn event(kind: EventKind, i: usize) -> Event {
    let body = match kind {
        EventKind::Metric => {
            json!({"host": "db-1", "cpu": (i % 7) as f64 / 10.0, "mem_mb": 1000 + i % 13})
        }
        _ => json!({"level": "INFO", "msg": format!("GET /api/orders/{} 200", 1000 + i % 9)}),
    };
    Event {
        stream_id: "s".into(),
        timestamp: Some(format!("2025-01-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60)),
        kind,
        body,
        attributes: Value::Null,
        idempotency_key: None,
        sequence: None,
    }
}

/// The seed states: small detectors past calibration, saved.
fn seed_states() -> Vec<(&'static str, String)> {
    let config = DetectorConfig {
        baseline_size: 24,
        window_size: 6,
        hop_size: 3,
        permutation_count: 40,
        metric_context: 5,
        record_margin: Some(0.05),
        ..DetectorConfig::default()
    };
    [(SEEDS[0], EventKind::Log), (SEEDS[1], EventKind::Metric)]
        .into_iter()
        .map(|(name, kind)| {
            let mut d = StreamDetector::new("s", config.clone()).unwrap();
            let mut events: Vec<Event> = (0..40).map(|i| event(kind, i)).collect();
            events[33].body =
                json!({"level": "FATAL", "msg": "kernel: Out of memory", "cpu": 99.0});
            d.push(&events).unwrap();
            (name, serde_json::to_string(&d).unwrap())
        })
        .collect()
}

/// Rewrites the committed corpus from [`seed_states`] (after a change to the
/// saved form): `cargo test --test fuzz_state -- --ignored`.
#[test]
#[ignore]
fn write_corpus() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (name, state) in seed_states() {
        std::fs::write(corpus_dir().join(name), state).unwrap();
    }
}

/// Decodes `text` and uses the detector: `Ok` when it decoded.
fn exercise(text: &str, kind: EventKind) -> Result<(), String> {
    let mut d: StreamDetector = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let _ = d.status();
    let more: Vec<Event> = (100..106).map(|i| event(kind, i)).collect();
    let _ = d.push(&more);
    let _ = d.status();
    serde_json::to_string(&d).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn saved_state_decoder_survives_1000_mutated_states_each() {
    for (seed, name) in SEEDS.iter().enumerate() {
        let path = corpus_dir().join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kind = if name.starts_with("metrics") {
            EventKind::Metric
        } else {
            EventKind::Log
        };
        exercise(&text, kind).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        let tree: Value = serde_json::from_str(&text).unwrap();
        let mut m = Mutator::new(100 + seed as u64);
        let (mut refused, mut decoded) = (0, 0);
        for run in 0..RUNS {
            let input = if run % 2 == 0 {
                m.json(&tree).to_string()
            } else {
                String::from_utf8_lossy(&m.bytes(text.as_bytes())).into_owned()
            };
            match catch_unwind(AssertUnwindSafe(|| exercise(&input, kind))) {
                Ok(Ok(())) => decoded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => {
                    let keep = std::env::temp_dir().join(format!("panic-state-{run}-{name}"));
                    std::fs::write(&keep, &input).unwrap();
                    panic!(
                        "{name}: run {run} panicked; input kept at {}",
                        keep.display()
                    );
                }
            }
        }
        assert!(
            refused > 0 && decoded > 0,
            "{name}: {refused} refused, {decoded} decoded"
        );
    }
}

#[test]
fn the_committed_corpus_is_what_the_detector_saves() {
    // The corpus is from the current saved form, so mutations start from
    // what the service really stores.
    for (name, state) in seed_states() {
        let committed = std::fs::read_to_string(corpus_dir().join(name)).unwrap();
        let a: Value = serde_json::from_str(&committed).unwrap();
        let b: Value = serde_json::from_str(&state).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b), "{name}: run write_corpus");
    }
}

/// States that panicked (an index past the model's pool, counters at their
/// maximum), now refused or scored.
#[test]
fn damaged_states_found_by_fuzzing_do_not_panic() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir().join("damaged")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let kind = if path.to_string_lossy().contains("run-step")
            || path.to_string_lossy().contains("series")
        {
            EventKind::Metric
        } else {
            EventKind::Log
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| exercise(&text, kind)));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        n += 1;
    }
    assert_eq!(n, 4);
}
