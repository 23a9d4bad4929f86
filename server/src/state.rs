//! `AppState`: what every handler shares: the store, the detectors' per-stream
//! slots, limiters, metrics, usage counters and the worker.

use std::collections::HashMap;
use std::sync::Arc;

use driftlock_engine::DetectorConfig;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::config::{ConfigError, ServeConfig};
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::scoring::{Detector, SharedFactory};
use crate::store::{Store, StoreError};
use crate::usage::UsageTracker;
use crate::worker::Worker;

/// A stream's detector, loaded from the store.
pub struct LoadedStream {
    pub config: DetectorConfig,
    pub detector: Box<dyn Detector>,
    pub events_seen: u64,
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

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared state of the application; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServeConfig>,
    pub store: Store,
    pub factory: SharedFactory,
    pub streams: Arc<StreamSlots>,
    pub limiter: Arc<RateLimiter>,
    pub demo_limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub usage: Arc<UsageTracker>,
    pub worker: Arc<Worker>,
    pub jobs: Arc<Jobs>,
}

impl AppState {
    /// Opens the store under `config.data_dir` and starts the worker (which
    /// resumes any queued events) and the jobs' dispatcher and scheduler (which
    /// resume queued jobs and schedules). Must be called within a tokio runtime.
    pub fn open(config: ServeConfig, factory: SharedFactory) -> Result<Self, StartError> {
        config.validate()?;
        let store = Store::open(&config.database_path(), config.sync)?;
        let found = store.with_conn(|c| crate::store::anomalies::max_seq(c))?;
        let jobs = Jobs::open(&config, store.clone())?;
        let metrics = Metrics::new();
        metrics
            .anomalies_found
            .store(found as u64, std::sync::atomic::Ordering::Relaxed);
        let state = AppState {
            config: Arc::new(config),
            store,
            factory,
            streams: Arc::new(StreamSlots::default()),
            limiter: Arc::new(RateLimiter::new()),
            demo_limiter: Arc::new(RateLimiter::new()),
            metrics: Arc::new(metrics),
            usage: Arc::new(UsageTracker::new()),
            worker: Arc::new(Worker::new()),
            jobs,
        };
        state.worker.start(state.clone());
        state.jobs.start();
        Ok(state)
    }

    /// Stops the worker after its current batches, running jobs at their next
    /// batch (back to queued), and flushes usage counters.
    pub async fn shutdown(&self) {
        self.jobs.shutdown().await;
        self.worker.stop().await;
        if let Err(e) = self.usage.flush(&self.store).await {
            tracing::warn!("flushing usage at shutdown: {e}");
        }
    }
}
