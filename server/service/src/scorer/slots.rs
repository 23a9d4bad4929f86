//! Per-stream detectors in memory, behind one fair lock per stream.

use std::collections::HashMap;
use std::sync::Arc;

use driftlock_engine::DetectorConfig;
use driftlock_store::streams::StateSize;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::detectors::Detector;

/// A stream's detector, loaded from the store.
pub struct LoadedStream {
    pub config: DetectorConfig,
    pub detector: Box<dyn Detector>,
    pub events_seen: u64,
    /// What the store holds of the detector (snapshot and log).
    pub size: StateSize,
}

/// A stream's slot; `None` until loaded (or after a failure, to force a reload).
pub type Slot = Arc<AsyncMutex<Option<LoadedStream>>>;

/// One fair (FIFO) lock per stream: calls on a stream are serialised in
/// arrival order; different streams proceed in parallel.
#[derive(Default)]
pub struct StreamSlots {
    map: std::sync::Mutex<HashMap<String, Slot>>,
}

impl StreamSlots {
    pub fn slot(&self, stream_id: &str) -> Slot {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(stream_id.to_string())
            .or_default()
            .clone()
    }

    /// Waits for the stream's turn.
    pub async fn lock(&self, stream_id: &str) -> OwnedMutexGuard<Option<LoadedStream>> {
        self.slot(stream_id).lock_owned().await
    }
}
