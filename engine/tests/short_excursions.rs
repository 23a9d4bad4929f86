//! A flag that rests on a number just past its template's range is reported
//! only beside another line with an excursion (see the engine's crate docs,
//! "Short excursions"): one slow line of a small template is a tail, two in
//! a row are news, and a spike far past the range is news alone.

use std::collections::BTreeMap;

use driftlock_engine::{Anomaly, AnomalyKind, DetectorConfig, Event, StreamDetector};
use serde_json::json;

/// A frequent request line and, every 13th line, a cache line whose latency
/// cycles through 10–20 ms (about 30 of them in a 400-event baseline),
/// with the cache latencies of `overrides` at their positions.
fn stream(len: u64, overrides: &[(u64, u64)]) -> Vec<Event> {
    (0..len)
        .map(|i| {
            let cache = overrides.iter().find(|(at, _)| *at == i).map(|(_, v)| *v);
            let body = match cache {
                Some(v) => json!({ "message": "cache refreshed", "latency_ms": v }),
                None if i % 13 == 0 => {
                    json!({ "message": "cache refreshed", "latency_ms": 10 + (i / 13) % 11 })
                }
                None => json!({ "message": "GET /api/users ok", "latency_ms": 100 + i % 7 }),
            };
            Event {
                body,
                ..Default::default()
            }
        })
        .collect()
}

/// Event anomalies by position, with the position that reported them.
fn reported(d: &mut StreamDetector, batches: &[&[Event]]) -> BTreeMap<u64, u64> {
    let mut out: Vec<Anomaly> = Vec::new();
    for b in batches {
        out.extend(d.push(b).unwrap());
    }
    out.extend(d.settle());
    out.into_iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| (a.index, a.reported_at))
        .collect()
}

// 38 ms after 10–20 is past the excursion tokens' margin for 30 values but
// short of the firm bar; 200 ms is far past both.
const OVERRIDES: [(u64, u64); 4] = [(1_000, 38), (1_500, 38), (1_501, 39), (1_800, 200)];

#[test]
fn a_lone_short_excursion_is_not_reported_but_two_in_a_row_and_a_spike_are() {
    let events = stream(2_000, &OVERRIDES);
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    d.enable_diagnostics();
    let found = reported(&mut d, &[&events]);
    let p = d.take_diagnostics().event_p;
    let p_at = |i: u64| p.iter().find(|(j, _)| *j == i).map(|(_, p)| *p).unwrap();
    // The lone tail's p-value passes: only the rule keeps it from an alarm.
    assert!(p_at(1_000) <= 0.05, "p at 1000: {}", p_at(1_000));
    assert!(!found.contains_key(&1_000), "{found:?}");
    // The first of two waits for the second and is reported with it.
    assert_eq!(found.get(&1_500), Some(&1_501), "{found:?}");
    assert_eq!(found.get(&1_501), Some(&1_501), "{found:?}");
    assert_eq!(found.get(&1_800), Some(&1_800), "{found:?}");
    // Nothing else in this clean stream.
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn a_waiting_flag_outlives_a_batch_boundary_and_a_saved_state() {
    let events = stream(2_000, &OVERRIDES);
    let whole = reported(
        &mut StreamDetector::new("s", DetectorConfig::default()).unwrap(),
        &[&events],
    );
    // Split right after the first of the two lines, and save and load the
    // detector there.
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let mut first = d.push(&events[..1_501]).unwrap();
    let saved = serde_json::to_string(&d).unwrap();
    let mut d: StreamDetector = serde_json::from_str(&saved).unwrap();
    first.extend(d.push(&events[1_501..]).unwrap());
    first.extend(d.settle());
    let split: BTreeMap<u64, u64> = first
        .into_iter()
        .filter(|a| a.kind == AnomalyKind::Event)
        .map(|a| (a.index, a.reported_at))
        .collect();
    assert_eq!(split, whole);
}
