//! Metric streams: ties never flag, and the rolling context (`metric_context`)
//! shows changes inside the baseline's range, whatever the batching.

use driftlock_datasets::{GeneratorConfig, StreamKind};
use driftlock_engine::{AnomalyKind, DetectorConfig, Event, EventKind, StreamDetector};
use serde_json::json;

/// A deterministic value in [0, 1) (splitmix64 of `i`).
fn unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn metric(value: f64) -> Event {
    Event {
        kind: EventKind::Metric,
        body: json!({ "value": value }),
        ..Default::default()
    }
}

/// A smooth daily-like cycle (period 288, 20..80) with little noise; from
/// event 800 to 900 the noise grows to ±8: every value stays inside the
/// baseline's range, only its recent spread is new.
fn volatility_rise() -> Vec<Event> {
    (0..1100u64)
        .map(|i| {
            let cycle = 50.0 + 30.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin();
            let noise = if (800..900).contains(&i) { 8.0 } else { 0.5 };
            metric(cycle + noise * (2.0 * unit(i) - 1.0))
        })
        .collect()
}

fn config(metric_context: usize) -> DetectorConfig {
    DetectorConfig {
        metric_context,
        window_size: 20,
        hop_size: 5,
        ..Default::default()
    }
}

#[test]
fn events_tied_with_the_baseline_are_never_flagged() {
    // Eight values, each its own quantile bin: every event encodes to bytes the
    // baseline has, so all ranks tie and p-values differ only by tie-breaker.
    let events: Vec<Event> = (0..3000u64).map(|i| metric((i * 5 % 8) as f64)).collect();
    let mut d = StreamDetector::new("m", config(0)).unwrap();
    d.enable_diagnostics();
    let found = d.push(&events).unwrap();
    let p = d.take_diagnostics().event_p;
    let small = p.iter().filter(|(_, p)| *p <= 0.05).count() as f64 / p.len() as f64;
    assert!(
        (0.03..=0.07).contains(&small),
        "randomised p stays uniform: {small}"
    );
    assert!(found.is_empty(), "ties flagged: {found:#?}");
}

#[test]
fn the_rolling_context_shows_a_volatility_rise_inside_the_range() {
    let events = volatility_rise();
    let flagged_in_drop = |metric_context| {
        let mut d = StreamDetector::new("m", config(metric_context)).unwrap();
        d.push(&events)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == AnomalyKind::Event && (800..900).contains(&a.index))
            .collect::<Vec<_>>()
    };
    assert!(flagged_in_drop(0).is_empty(), "values alone look normal");
    let found = flagged_in_drop(10);
    let first = found.first().expect("the drop is found with context");
    assert!(first.index < 830, "found late: #{}", first.index);
    // The noisier values first make runs unlike the baseline's (see
    // `a_new_shape_inside_the_range_is_found_by_its_run`), then a spread of
    // the last 10 values above the baseline's.
    assert!(
        found.iter().any(|a| a.why.contains("mad10(value)")),
        "{:#?}",
        found.iter().map(|a| &a.why).collect::<Vec<_>>()
    );
}

#[test]
fn context_results_do_not_depend_on_batching_or_restarts() {
    let events = volatility_rise();
    let mut whole = StreamDetector::new("m", config(10)).unwrap();
    let a = whole.push(&events).unwrap();
    assert!(!a.is_empty());
    for size in [1, 7, 333] {
        let mut split = StreamDetector::new("m", config(10)).unwrap();
        let b: Vec<_> = events
            .chunks(size)
            .flat_map(|c| split.push(c).unwrap())
            .collect();
        assert_eq!(a, b, "batches of {size}");
    }
    let mut first = StreamDetector::new("m", config(10)).unwrap();
    let mut c = first.push(&events[..500]).unwrap();
    let json = serde_json::to_string(&first).unwrap();
    let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
    c.extend(restored.push(&events[500..]).unwrap());
    assert_eq!(a, c, "a restored detector continues identically");
}

#[test]
fn window_p_values_stay_calibrated_with_context() {
    // The context stays out of the compressed bytes, so neighbouring events'
    // code lengths stay exchangeable: 21,000 scored events, 2,096 windows.
    let events: Vec<Event> = GeneratorConfig::clean(StreamKind::Metrics, 21_400, 3)
        .build()
        .unwrap()
        .map(|e| Event::from_json(e.to_json()).unwrap())
        .collect();
    let mut d = StreamDetector::new(
        "m",
        DetectorConfig {
            metric_context: 10,
            ..Default::default()
        },
    )
    .unwrap();
    d.enable_diagnostics();
    d.push(&events).unwrap();
    let diag = d.take_diagnostics();
    let share =
        |ps: &[(u64, f64)]| ps.iter().filter(|(_, p)| *p <= 0.05).count() as f64 / ps.len() as f64;
    let (event, window) = (share(&diag.event_p), share(&diag.window_p));
    println!(
        "event {event:.4} window {window:.4} over {} windows",
        diag.window_p.len()
    );
    assert!((0.03..=0.07).contains(&event), "event share {event}");
    assert!((0.03..=0.07).contains(&window), "window share {window}");
}

/// A sawtooth that rises slowly for 20 events and drops in 4; from event 800
/// to 900 it runs backwards (rises in 4, falls slowly). Every value, and the
/// median and MAD of every 10 values, match some baseline stretch run the
/// other way: only the order of the values is new.
fn reversed_sawtooth() -> Vec<Event> {
    let tooth = |t: u64| {
        let k = t % 24;
        if k < 20 {
            20.0 + 3.0 * k as f64
        } else {
            80.0 - 15.0 * (k - 19) as f64
        }
    };
    (0..1100u64)
        .map(|i| {
            let t = if (800..900).contains(&i) {
                10_000 - i
            } else {
                i
            };
            metric(tooth(t) + 0.2 * (2.0 * unit(i) - 1.0))
        })
        .collect()
}

#[test]
fn a_new_shape_inside_the_range_is_found_by_its_run() {
    let events = reversed_sawtooth();
    let mut d = StreamDetector::new("m", config(10)).unwrap();
    let found = d.push(&events).unwrap();
    let in_change: Vec<_> = found
        .iter()
        .filter(|a| a.kind == AnomalyKind::Event && (800..900).contains(&a.index))
        .collect();
    let by_shape: Vec<_> = in_change
        .iter()
        .filter(|a| {
            a.why
                .contains("last 10 values of `value` form a run unlike any")
        })
        .collect();
    assert!(
        !by_shape.is_empty(),
        "no shape evidence among {:#?}",
        in_change.iter().map(|a| &a.why).collect::<Vec<_>>()
    );
    assert!(
        by_shape
            .iter()
            .any(|a| !a.why.contains("median10") && !a.why.contains("mad10")),
        "only found with the median or MAD: {:#?}",
        by_shape.iter().map(|a| &a.why).collect::<Vec<_>>()
    );
    let before = found.iter().filter(|a| a.index < 800).count();
    assert!(before <= 2, "{before} false alarms before the change");
}

/// Removes what states saved before shape evidence and recurrence lacked.
fn strip_new_fields(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for key in ["runs", "shape_gap", "past"] {
                m.remove(key);
            }
            m.values_mut().for_each(strip_new_fields);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_new_fields),
        _ => {}
    }
}

#[test]
fn a_state_saved_before_runs_were_kept_restores_without_false_alarms() {
    // Until most of its baseline has runs, a restored stream is not judged by
    // the handful it has (a run compared with a few dozen would look new).
    let events = volatility_rise();
    for window_size in [20, 50] {
        let config = DetectorConfig {
            window_size,
            ..config(10)
        };
        let mut old = StreamDetector::new("m", config).unwrap();
        old.push(&events[..500]).unwrap();
        let mut state = serde_json::to_value(&old).unwrap();
        strip_new_fields(&mut state);
        assert!(!state.to_string().contains("\"runs\""));
        let mut restored: StreamDetector = serde_json::from_value(state).unwrap();
        let found = restored.push(&events[500..]).unwrap();
        let before_change: Vec<_> = found.iter().filter(|a| a.index < 800).collect();
        assert!(
            before_change.is_empty(),
            "window {window_size}: {:#?}",
            before_change.iter().map(|a| &a.why).collect::<Vec<_>>()
        );
        assert!(
            found.iter().any(|a| (800..900).contains(&a.index)),
            "the volatility rise is still found"
        );
    }
}
