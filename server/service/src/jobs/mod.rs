//! Server-side jobs: backfills of an archive (or one file) into the server's
//! store, started over `/v1/jobs`, run on blocking threads with a bound on how
//! many run at once, cancellable at batch boundaries, and repeatable on a
//! cron schedule.
//!
//! Restart semantics: a job found `running` when the server starts belonged to
//! a process that died; it is marked `failed` ("interrupted by restart") rather
//! than re-queued, because the job itself may be what killed the process.
//! Submitting the same job again resumes from its backfill checkpoint (the
//! checkpoint is keyed by archive, partitions and configuration). A graceful
//! shutdown instead stops running jobs at their next batch and puts them back
//! to `queued`, so they resume on the next start. Queued jobs and schedules
//! are in SQLite and survive any restart.

pub mod gate;
pub mod runner;
pub mod scheduler;
pub mod spec;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::TransactionBehavior;
use tokio::sync::{Notify, watch};

use crate::config::{ConfigError, ServeConfig};
use driftlock_batch::backfill::roots::ArchiveRoots;
use driftlock_store::jobs::{self, JobRow};
use driftlock_store::{Store, StoreError};
use gate::Gate;
pub use scheduler::Scheduler;

/// How long a graceful shutdown waits for running jobs to reach a batch boundary.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(60);

/// Wake-ups shared by the dispatcher, the scheduler and observers.
pub(crate) struct Signals {
    /// A job was queued or a run ended: the dispatcher looks for work.
    wake: Notify,
    /// A schedule was added or cancelled: the timer recomputes its next wake-up.
    schedules: Notify,
    /// Bumped on every change of any job's stored state.
    changes: watch::Sender<u64>,
}

impl Signals {
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Stop flags of one running job.
#[derive(Default)]
pub struct RunControl {
    /// Checked by the backfill after every batch.
    stop: AtomicBool,
    /// The stop came from `DELETE /v1/jobs/{id}` (else from a shutdown).
    by_user: AtomicBool,
}

/// What `cancel` did.
#[derive(Debug)]
pub enum CancelOutcome {
    NotFound,
    /// Already succeeded, failed or cancelled.
    Finished(JobRow),
    /// It was queued (or a schedule): cancelled now, it never runs.
    Cancelled(JobRow),
    /// It is running: it stops at its next batch boundary.
    Stopping(JobRow),
}

/// The jobs subsystem; one per server.
pub struct Jobs {
    store: Store,
    data_dir: PathBuf,
    roots: ArchiveRoots,
    max_concurrent: usize,
    run_schedules: bool,
    /// Names this process in the `runner` column of the jobs it runs.
    instance: String,
    signals: Arc<Signals>,
    running: Mutex<HashMap<String, Arc<RunControl>>>,
    /// Config hashes of running backfills: two runs of the same backfill would
    /// share one checkpoint file.
    active: Mutex<HashSet<String>>,
    scheduler: Arc<Scheduler>,
    gate: Gate,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Jobs {
    /// Checks the archive roots and marks jobs left `running` by a dead
    /// process as failed. Nothing runs until [`Jobs::start`].
    pub fn open(config: &ServeConfig, store: Store) -> Result<Arc<Self>, ConfigError> {
        let roots = ArchiveRoots::new(&config.archive_roots)
            .map_err(|e| ConfigError::Invalid(format!("archive_roots: {e}")))?;
        let interrupted = store
            .with_conn(|c| jobs::fail_interrupted(c, &driftlock_store::time::now_rfc3339()))
            .map_err(|e: StoreError| ConfigError::Invalid(format!("jobs: {e}")))?;
        if interrupted > 0 {
            tracing::warn!("{interrupted} job(s) were interrupted by a restart and marked failed");
        }
        let signals = Arc::new(Signals {
            wake: Notify::new(),
            schedules: Notify::new(),
            changes: watch::channel(0).0,
        });
        Ok(Arc::new(Jobs {
            scheduler: Arc::new(Scheduler::new(store.clone(), signals.clone())),
            store,
            data_dir: config.data_dir.clone(),
            roots,
            max_concurrent: config.max_concurrent_jobs.max(1),
            run_schedules: config.run_schedules,
            instance: format!("run_{}", driftlock_store::ids::random_hex(8)),
            signals,
            running: Mutex::new(HashMap::new()),
            active: Mutex::new(HashSet::new()),
            gate: Gate::default(),
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        }))
    }

    /// Starts the dispatcher (which picks up jobs queued before a restart)
    /// and the schedule timer. Must be called within a tokio runtime.
    pub fn start(self: &Arc<Self>) {
        let mut tasks = lock(&self.tasks);
        if !tasks.is_empty() {
            return;
        }
        tasks.push(tokio::spawn(self.clone().dispatch(self.stop.subscribe())));
        if self.run_schedules {
            tasks.push(tokio::spawn(
                self.scheduler.clone().timer(self.stop.subscribe()),
            ));
        }
    }

    /// Stops starting jobs, stops running ones at their next batch boundary
    /// (they go back to `queued`) and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let mut changes = self.subscribe();
        for control in lock(&self.running).values() {
            control.stop.store(true, Ordering::Relaxed);
        }
        // The gate is a test hook; a closed gate must not hold up a shutdown.
        self.gate.open();
        let drained = tokio::time::timeout(SHUTDOWN_WAIT, async {
            while !lock(&self.running).is_empty() {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("jobs still running at shutdown; the next start marks them failed");
        }
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    pub fn roots(&self) -> &ArchiveRoots {
        &self.roots
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The batch-boundary hold point (a test hook).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Changes whenever any job's stored state changes (status or progress).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.signals.changes.subscribe()
    }

    fn running_count(&self) -> usize {
        lock(&self.running).len()
    }

    /// Stores a new job and wakes whoever must act on it.
    pub async fn submit(&self, row: JobRow) -> Result<JobRow, StoreError> {
        let id = row.id.clone();
        let scheduled = row.schedule.is_some();
        let stored = self
            .store
            .call(move |c| {
                jobs::insert(c, &row)?;
                jobs::get(c, &row.id)
            })
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("job {id} vanished after insert")))?;
        self.signals.changed();
        if scheduled {
            self.signals.schedules.notify_one();
        } else {
            self.signals.wake.notify_one();
        }
        Ok(stored)
    }

    /// Cancels a job: a queued one (or a schedule) at once, a running one at
    /// its next batch boundary. A schedule's runs are jobs of their own and
    /// are left alone.
    pub async fn cancel(&self, id: &str) -> Result<CancelOutcome, StoreError> {
        let key = id.to_owned();
        let now = driftlock_store::time::now_rfc3339();
        let outcome = self
            .store
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let Some(job) = jobs::get(&tx, &key)? else {
                    return Ok::<_, StoreError>(CancelOutcome::NotFound);
                };
                let outcome = if job.is_finished() {
                    CancelOutcome::Finished(job)
                } else if jobs::cancel_queued(&tx, &key, &now)? {
                    CancelOutcome::Cancelled(jobs::get(&tx, &key)?.unwrap_or(job))
                } else if jobs::request_cancel(&tx, &key)? {
                    CancelOutcome::Stopping(jobs::get(&tx, &key)?.unwrap_or(job))
                } else {
                    CancelOutcome::Finished(job)
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await?;
        match &outcome {
            CancelOutcome::Stopping(_) => {
                // The dispatcher registers the control before it claims the
                // job, so a job the database calls running has one here
                // (unless it ended in between, and then there is nothing to stop).
                if let Some(control) = lock(&self.running).get(id) {
                    control.by_user.store(true, Ordering::Relaxed);
                    control.stop.store(true, Ordering::Relaxed);
                }
                self.signals.changed();
            }
            CancelOutcome::Cancelled(job) => {
                if job.schedule.is_some() {
                    self.signals.schedules.notify_one();
                }
                self.signals.changed();
            }
            _ => {}
        }
        Ok(outcome)
    }
}
