//! `AppState`: what every handler shares: the store, the scorer (and its
//! per-stream slots), limiters, metrics, usage counters, the worker and jobs.

use std::sync::Arc;

use crate::auth_throttle::AuthThrottle;
use crate::config::{ConfigError, ServeConfig};
use crate::detectors::SharedFactory;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::scorer::Scorer;
use crate::sql_pool::{SqlPool, SqlPoolError};
use crate::usage::UsageTracker;
use crate::worker::Worker;
use driftlock_store::{Store, StoreError};

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sql(#[from] SqlPoolError),
}

/// Shared state of the application; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServeConfig>,
    pub store: Store,
    pub scorer: Arc<Scorer>,
    pub limiter: Arc<RateLimiter>,
    pub demo_limiter: Arc<RateLimiter>,
    pub anonymous_limiter: Arc<RateLimiter>,
    pub auth_throttle: Arc<AuthThrottle>,
    pub metrics: Arc<Metrics>,
    pub usage: Arc<UsageTracker>,
    pub worker: Arc<Worker>,
    pub jobs: Arc<Jobs>,
    pub sql: Arc<SqlPool>,
}

impl AppState {
    /// Opens the store under `config.data_dir` and starts the worker (which
    /// resumes any queued events) and the jobs' dispatcher and scheduler (which
    /// resume queued jobs and schedules). Must be called within a tokio runtime.
    pub fn open(config: ServeConfig, factory: SharedFactory) -> Result<Self, StartError> {
        config.validate()?;
        let store = Store::open(&config.database_path(), config.sync)?;
        let found = store.with_conn(|c| driftlock_store::anomalies::max_seq(c))?;
        let jobs = Jobs::open(&config, store.clone())?;
        let metrics = Arc::new(Metrics::new());
        // The counter starts from what the store already holds.
        metrics.anomalies_found.inc_by(found as u64);
        let scorer = Arc::new(Scorer::new(store.clone(), factory, metrics.clone()));
        let auth_throttle = Arc::new(AuthThrottle::new(config.failed_auth_per_minute));
        let sql = Arc::new(SqlPool::new(&config.sql)?);
        let state = AppState {
            config: Arc::new(config),
            store,
            scorer,
            limiter: Arc::new(RateLimiter::new()),
            demo_limiter: Arc::new(RateLimiter::new()),
            anonymous_limiter: Arc::new(RateLimiter::new()),
            auth_throttle,
            metrics,
            usage: Arc::new(UsageTracker::new()),
            worker: Arc::new(Worker::new()),
            jobs,
            sql,
        };
        state.worker.start(
            state.scorer.clone(),
            state.usage.clone(),
            state.config.worker_batch_size,
        );
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
