//! `/v1/sql`'s own bounded pool: queries run on a dedicated tokio runtime (never
//! on the one serving requests), a few at a time, with a short queue in front
//! (full: 503), one DataFusion memory pool for all of them, and a deadline at
//! which the query's task is dropped on its runtime, which cancels DataFusion's
//! streams and the tasks they spawned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{Semaphore, watch};

use driftlock_batch::BatchError;
use driftlock_batch::sql::tables::SessionLimits;

/// `[sql]` of the service's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlConfig {
    /// Threads of the SQL runtime, and DataFusion's partitions per query
    /// (half the cores by default: the rest stay with requests and scoring).
    pub threads: usize,
    /// Queries that run at the same time.
    pub max_concurrent: usize,
    /// Queries that may wait for a turn; more are answered 503 at once.
    pub max_queued: usize,
    /// A query's deadline, its wait for a turn included (504 after).
    pub timeout_ms: u64,
    /// Memory DataFusion may lend to all running queries together.
    pub memory_limit_bytes: usize,
}

impl Default for SqlConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            threads: (cores / 2).max(1),
            max_concurrent: 2,
            max_queued: 8,
            timeout_ms: 30_000,
            memory_limit_bytes: 512 * 1024 * 1024,
        }
    }
}

impl SqlConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Why a query got no answer from the pool.
#[derive(Debug, thiserror::Error)]
pub enum SqlPoolError {
    #[error("{running} SQL queries are running and {queued} waiting; retry shortly")]
    Full { running: usize, queued: usize },
    #[error("the query did not finish within {0:?}")]
    Deadline(Duration),
    #[error(transparent)]
    Query(#[from] BatchError),
    #[error("the SQL task failed: {0}")]
    Task(String),
}

/// The pool; cheap to share through an `Arc`.
pub struct SqlPool {
    /// `Some` until dropped: a runtime may not be dropped inside another's
    /// context, so it is shut down in the background instead.
    runtime: Option<Runtime>,
    handle: Handle,
    limits: SessionLimits,
    /// Turns to run.
    run: Arc<Semaphore>,
    /// Places in the pool, running or waiting.
    admitted: Arc<Semaphore>,
    /// Queries whose task is still alive on the SQL runtime.
    running: Arc<watch::Sender<usize>>,
    config: SqlConfig,
}

impl std::fmt::Debug for SqlPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlPool")
            .field("config", &self.config)
            .finish()
    }
}

impl Drop for SqlPool {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Counts a query's task as alive until it ends or is dropped.
struct Alive(Arc<watch::Sender<usize>>);

impl Alive {
    fn new(count: Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        Alive(count)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl SqlPool {
    pub fn new(config: &SqlConfig) -> Result<Self, SqlPoolError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("driftlock-sql")
            .enable_all()
            .build()
            .map_err(|e| SqlPoolError::Task(format!("starting the SQL runtime: {e}")))?;
        let limits = SessionLimits::new(config.memory_limit_bytes, config.threads)?;
        let admitted = config.max_concurrent.max(1) + config.max_queued;
        Ok(SqlPool {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            limits,
            run: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            admitted: Arc::new(Semaphore::new(admitted)),
            running: Arc::new(watch::channel(0).0),
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &SqlConfig {
        &self.config
    }

    /// Memory the queries hold in DataFusion's pool now.
    pub fn memory_reserved(&self) -> usize {
        self.limits.memory_reserved()
    }

    /// Queries whose task is alive on the SQL runtime, as it changes.
    pub fn running(&self) -> watch::Receiver<usize> {
        self.running.subscribe()
    }

    /// Runs `query` on the SQL runtime within the deadline; on the deadline
    /// its task is aborted, so the work stops at its next yield rather than
    /// after the answer is given up on.
    pub async fn run<T, F, Fut>(&self, query: F) -> Result<T, SqlPoolError>
    where
        T: Send + 'static,
        F: FnOnce(SessionLimits) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, BatchError>> + Send + 'static,
    {
        let timeout = self.config.timeout();
        let deadline = tokio::time::Instant::now() + timeout;
        let place = self.admitted.clone().try_acquire_owned().map_err(|_| {
            let max = self.config.max_concurrent.max(1);
            SqlPoolError::Full {
                running: max,
                queued: self.config.max_queued,
            }
        })?;
        let (run, limits, alive) = (self.run.clone(), self.limits.clone(), self.running.clone());
        let mut task = AbortOnDrop(self.handle.spawn(async move {
            let _alive = Alive::new(alive);
            let _place = place;
            let _turn = run
                .acquire_owned()
                .await
                .map_err(|e| BatchError::Invalid(e.to_string()))?;
            query(limits).await
        }));
        match tokio::time::timeout_at(deadline, &mut task.0).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(e)) => Err(SqlPoolError::Task(e.to_string())),
            // `task` aborts as it is dropped.
            Err(_) => Err(SqlPoolError::Deadline(timeout)),
        }
    }
}

/// A query's task, aborted when its request gives up on it: at the deadline,
/// or when the client goes away and the handler's future is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
