//! Per-stream detectors for a backfill, scored in parallel across streams.
//!
//! Mirrors `StreamSet::push`, but keeps the detectors in a plain map the
//! checkpoint can serialise and restore (StreamSet has no constructor from
//! saved detectors), and returns each anomaly with the event it is about.

use std::collections::BTreeMap;

use driftlock_engine::{Anomaly, DetectorConfig, EngineError, Event, StreamDetector};
use driftlock_kernels::PermutationBackend;
use rayon::prelude::*;

/// An anomaly and the event at its position (for change points, the newest
/// event of the batch at or before it).
pub type Found = (Anomaly, Event);

/// Scores `events` (any streams, file order) and returns the anomalies grouped
/// by stream id, each stream in event order, like `StreamSet::push`.
pub fn push(
    detectors: &mut BTreeMap<String, StreamDetector>,
    config: &DetectorConfig,
    events: Vec<Event>,
    backend: &dyn PermutationBackend,
) -> Result<Vec<Found>, EngineError> {
    let mut by_stream: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_stream.entry(e.stream_id.clone()).or_default().push(e);
    }
    for id in by_stream.keys() {
        if !detectors.contains_key(id) {
            detectors.insert(id.clone(), StreamDetector::new(id.clone(), config.clone())?);
        }
    }
    let mut work: Vec<(&mut StreamDetector, Vec<Event>)> = detectors
        .iter_mut()
        .filter_map(|(id, d)| by_stream.remove(id).map(|evs| (d, evs)))
        .collect();
    let results: Vec<Result<Vec<Found>, EngineError>> = work
        .par_iter_mut()
        .map(|(d, evs)| {
            let base = d.events_seen();
            let found = d.push_with(evs, backend)?;
            Ok(found
                .into_iter()
                .map(|a| {
                    let i = (a.index.saturating_sub(base) as usize).min(evs.len() - 1);
                    let event = evs[i].clone();
                    (a, event)
                })
                .collect())
        })
        .collect();
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}
