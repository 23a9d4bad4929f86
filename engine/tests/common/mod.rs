//! What the integration tests share: a stream pushed through a detector at
//! its defaults, as a reader would.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;

use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use serde_json::Value;

/// Events with these bodies.
pub fn events(bodies: Vec<Value>) -> Vec<Event> {
    bodies
        .into_iter()
        .map(|body| Event {
            body,
            ..Default::default()
        })
        .collect()
}

/// Positions of the anomalies a default detector reports on `events`,
/// pushed in batches of `batch` and settled at the end.
pub fn reported(events: &[Event], batch: usize) -> BTreeSet<u64> {
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let mut out = Vec::new();
    for chunk in events.chunks(batch) {
        out.extend(d.push(chunk).unwrap());
    }
    out.extend(d.settle());
    out.iter().map(|a| a.index).collect()
}
