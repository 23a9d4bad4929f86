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

/// What one stream's detector found in a [`StreamSet::push_grouped`].
#[derive(Debug, Clone)]
pub struct StreamFound {
    pub stream_id: String,
    /// The stream position of the group's first event.
    pub first: u64,
    /// In event order.
    pub anomalies: Vec<Anomaly>,
}

/// One stream's events and (possibly empty) body texts.
type Group<'a> = (&'a [Event], &'a [Option<String>]);

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

    /// A set over detectors restored from saved state (a backfill's checkpoint).
    pub fn with_detectors(
        config: DetectorConfig,
        detectors: BTreeMap<String, StreamDetector>,
    ) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, detectors })
    }

    /// The detectors, by stream id (to save them).
    pub fn into_detectors(self) -> BTreeMap<String, StreamDetector> {
        self.detectors
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
        let found = self.push_grouped(
            by_stream
                .iter()
                .map(|(id, evs)| (id.as_str(), evs.as_slice(), &[][..])),
            backend,
        )?;
        Ok(found.into_iter().flat_map(|f| f.anomalies).collect())
    }

    /// Scores events already grouped by stream, streams in parallel: for each
    /// `(stream_id, events, bodies)` (`bodies` as in
    /// [`StreamDetector::push_parsed`], or empty), in stream id order, what its
    /// detector found.
    pub fn push_grouped<'a>(
        &mut self,
        groups: impl IntoIterator<Item = (&'a str, &'a [Event], &'a [Option<String>])>,
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<StreamFound>> {
        let mut groups: BTreeMap<&str, Group<'_>> = groups
            .into_iter()
            .map(|(id, events, bodies)| (id, (events, bodies)))
            .collect();
        for id in groups.keys() {
            if !self.detectors.contains_key(*id) {
                let d = StreamDetector::new(*id, self.config.clone())?;
                self.detectors.insert((*id).to_string(), d);
            }
        }
        let mut work: Vec<(&String, &mut StreamDetector, Group<'_>)> = self
            .detectors
            .iter_mut()
            .filter_map(|(id, d)| groups.remove(id.as_str()).map(|g| (id, d, g)))
            .collect();
        work.par_iter_mut()
            .map(|(id, d, (events, bodies))| {
                let first = d.events_seen();
                let anomalies = d.push_parsed(events, bodies, backend)?;
                Ok(StreamFound {
                    stream_id: (*id).clone(),
                    first,
                    anomalies,
                })
            })
            .collect()
    }

    pub fn streams(&self) -> usize {
        self.detectors.len()
    }

    pub fn detectors(&self) -> impl Iterator<Item = &StreamDetector> {
        self.detectors.values()
    }
}
