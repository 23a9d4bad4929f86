//! Many streams at once: events are routed to per-stream detectors and the
//! streams of a batch are scored in parallel on rayon.
//!
//! Output order is fixed (streams by id, events by position), so the same
//! input and seed give the same anomalies whatever the thread count.

use std::collections::BTreeMap;

use driftlock_kernels::PermutationBackend;
use rayon::prelude::*;

use crate::error::Result;
use crate::{Anomaly, DetectorConfig, Event, StreamDetector};

/// Per-stream detectors sharing one configuration.
#[derive(Debug, Clone)]
pub struct StreamSet {
    config: DetectorConfig,
    detectors: BTreeMap<String, StreamDetector>,
}

impl StreamSet {
    pub fn new(config: DetectorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            detectors: BTreeMap::new(),
        })
    }

    /// Scores a batch of events of any streams (file order is stream order) and
    /// returns the anomalies, grouped by stream id, each stream in event order.
    pub fn push(
        &mut self,
        events: Vec<Event>,
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<Anomaly>> {
        let mut by_stream: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in events {
            by_stream.entry(e.stream_id.clone()).or_default().push(e);
        }
        for id in by_stream.keys() {
            if !self.detectors.contains_key(id) {
                let d = StreamDetector::new(id.clone(), self.config.clone())?;
                self.detectors.insert(id.clone(), d);
            }
        }
        let mut work: Vec<(&mut StreamDetector, Vec<Event>)> = self
            .detectors
            .iter_mut()
            .filter_map(|(id, d)| by_stream.remove(id).map(|evs| (d, evs)))
            .collect();
        let results: Vec<Result<Vec<Anomaly>>> = work
            .par_iter_mut()
            .map(|(d, evs)| d.push_with(evs, backend))
            .collect();
        let mut out = Vec::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    pub fn streams(&self) -> usize {
        self.detectors.len()
    }

    pub fn detectors(&self) -> impl Iterator<Item = &StreamDetector> {
        self.detectors.values()
    }
}
