//! Running jobs: the dispatcher starts queued jobs while fewer than
//! `max_concurrent_jobs` run, each on a blocking thread, where the backfill
//! reports progress after every batch. Progress reaches SQLite at most once per
//! [`PERSIST_EVERY`] (and when the run ends), not per batch or row.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use driftlock_kernels::CpuBackend;
use tokio::sync::watch;

use super::spec::JobSpec;
use super::{Jobs, RunControl, lock};
use driftlock_batch::backfill::{self, Progress};
use driftlock_store::StoreError;
use driftlock_store::jobs::{self, JobProgress, JobRow, JobStatus};
use driftlock_store::time;

/// Least time between two progress writes of one job.
pub const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// The dispatcher also rescans this often, as a safety net for a lost wake-up.
const RESCAN: Duration = Duration::from_secs(5);

/// A job's progress for the API: totals, throughput of this run and ETA.
pub fn job_progress(p: &Progress, elapsed: Duration, done: bool) -> JobProgress {
    let secs = elapsed.as_secs_f64();
    let rows_run = p.rows_done.saturating_sub(p.rows_resumed);
    let bytes_run = p.bytes_done.saturating_sub(p.bytes_resumed);
    let rows_per_second = (secs > 0.0).then(|| rows_run as f64 / secs);
    let eta_seconds = if done {
        Some(0.0)
    } else if p.rows_total_known && rows_run > 0 && secs > 0.0 {
        Some(p.rows_total.saturating_sub(p.rows_done) as f64 * secs / rows_run as f64)
    } else if bytes_run > 0 && secs > 0.0 {
        Some(p.bytes_total.saturating_sub(p.bytes_done) as f64 * secs / bytes_run as f64)
    } else {
        None
    };
    JobProgress {
        rows_done: p.rows_done,
        rows_total: p.rows_total_known.then_some(p.rows_total),
        bytes_done: p.bytes_done,
        bytes_total: Some(p.bytes_total),
        files_done: p.files_done,
        files_total: Some(p.files_total),
        events: p.events,
        anomaly_count: p.anomalies,
        rows_per_second,
        eta_seconds,
    }
}

/// Releases a backfill's config hash when its run ends.
struct ActiveHash<'a> {
    jobs: &'a Jobs,
    hash: String,
}

impl Drop for ActiveHash<'_> {
    fn drop(&mut self) {
        lock(&self.jobs.active).remove(&self.hash);
    }
}

impl Jobs {
    /// Starts queued jobs whenever woken, until `stop`.
    pub(crate) async fn dispatch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.start_queued().await {
                tracing::warn!("starting queued jobs: {e}");
            }
            tokio::select! {
                _ = self.signals.wake.notified() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(RESCAN) => {}
            }
        }
    }

    async fn start_queued(self: &Arc<Self>) -> Result<(), StoreError> {
        let free = self.max_concurrent.saturating_sub(self.running_count());
        if free == 0 {
            return Ok(());
        }
        let candidates = self.store.call(move |c| jobs::queued(c, free + 8)).await?;
        for row in candidates {
            if self.running_count() >= self.max_concurrent || *self.stop.borrow() {
                break;
            }
            let control = Arc::new(RunControl::default());
            {
                let mut running = lock(&self.running);
                if running.contains_key(&row.id) {
                    continue;
                }
                running.insert(row.id.clone(), control.clone());
            }
            let (id, runner, at) = (row.id.clone(), self.instance.clone(), time::now_rfc3339());
            let claimed = self
                .store
                .call(move |c| jobs::claim(c, &id, &runner, &at))
                .await;
            if !matches!(claimed, Ok(true)) {
                lock(&self.running).remove(&row.id);
                claimed?;
                continue;
            }
            self.signals.changed();
            let jobs = self.clone();
            tokio::spawn(async move {
                let id = row.id.clone();
                let worker = jobs.clone();
                let ran = tokio::task::spawn_blocking(move || worker.execute(&row, &control)).await;
                if let Err(e) = ran {
                    let (j, key) = (jobs.clone(), id.clone());
                    let message = format!("job panicked: {e}");
                    let _ = tokio::task::spawn_blocking(move || {
                        j.record_end(
                            &key,
                            JobStatus::Failed,
                            &JobProgress::default(),
                            Some(&message),
                        )
                    })
                    .await;
                }
                lock(&jobs.running).remove(&id);
                jobs.signals.changed();
                jobs.signals.wake.notify_one();
            });
        }
        Ok(())
    }

    /// Writes a run's final state (blocking).
    fn record_end(&self, id: &str, status: JobStatus, p: &JobProgress, error: Option<&str>) {
        let at = time::now_rfc3339();
        let res = self
            .store
            .with_conn(|c| jobs::finish(c, id, &self.instance, status, &at, p, error));
        match res {
            Ok(true) => tracing::info!(job = id, status = status.as_str(), error, "job ended"),
            Ok(false) => tracing::warn!(job = id, "job ended but is no longer this server's"),
            Err(e) => tracing::error!(job = id, "recording the end of a job: {e}"),
        }
    }

    /// Runs one claimed job to its end (on a blocking thread).
    fn execute(&self, row: &JobRow, control: &RunControl) {
        let started = Instant::now();
        let mut last = JobProgress::default();
        let result = self.run_backfill(row, control, started, &mut last);
        let (status, progress, error) = match result {
            Ok(summary) if summary.cancelled => {
                let status = if control.by_user.load(Ordering::Relaxed) {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Queued
                };
                (
                    status,
                    job_progress(&summary.progress, started.elapsed(), false),
                    None,
                )
            }
            Ok(summary) => (
                JobStatus::Succeeded,
                job_progress(&summary.progress, started.elapsed(), true),
                None,
            ),
            Err(Stopped) if control.by_user.load(Ordering::Relaxed) => {
                (JobStatus::Cancelled, last, None)
            }
            Err(Stopped) => (JobStatus::Queued, last, None),
            Err(Failed(message)) => {
                last.eta_seconds = None;
                (JobStatus::Failed, last, Some(message))
            }
        };
        self.record_end(&row.id, status, &progress, error.as_deref());
    }

    fn run_backfill(
        &self,
        row: &JobRow,
        control: &RunControl,
        started: Instant,
        last: &mut JobProgress,
    ) -> Result<backfill::Summary, RunError> {
        let spec: JobSpec = serde_json::from_value(row.spec.clone())
            .map_err(|e| Failed(format!("stored job spec: {e}")))?;
        let cfg = spec
            .backfill(&self.roots, &self.data_dir)
            .map_err(|e| Failed(e.to_string()))?;
        let hash = cfg.hash();
        if !lock(&self.active).insert(hash.clone()) {
            return Err(Failed(
                "another job is running the same backfill (same input, partitions and \
                 configuration); submit this one again when it ends"
                    .into(),
            ));
        }
        let _active = ActiveHash { jobs: self, hash };
        if control.stop.load(Ordering::Relaxed) {
            return Err(Stopped);
        }
        let mut persisted: Option<Instant> = None;
        let mut observe = |p: &Progress| {
            *last = job_progress(p, started.elapsed(), false);
            if persisted.is_none_or(|t| t.elapsed() >= PERSIST_EVERY) {
                persisted = Some(Instant::now());
                match self
                    .store
                    .with_conn(|c| jobs::save_progress(c, &row.id, &self.instance, last))
                {
                    Ok(_) => self.signals.changed(),
                    Err(e) => tracing::warn!(job = %row.id, "saving progress: {e}"),
                }
            }
            self.gate.pass();
        };
        backfill::run(&cfg, &CpuBackend::new(), &control.stop, &mut observe)
            .map_err(|e| Failed(e.to_string()))
    }
}

/// Why a run ended without a backfill summary.
enum RunError {
    /// Stopped before the backfill began.
    Stopped,
    Failed(String),
}
use RunError::{Failed, Stopped};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_and_eta_count_only_this_run() {
        let p = Progress {
            rows_total: 1000,
            rows_total_known: true,
            rows_done: 600,
            rows_resumed: 400,
            bytes_total: 10_000,
            bytes_done: 6_000,
            bytes_resumed: 4_000,
            ..Progress::default()
        };
        let j = job_progress(&p, Duration::from_secs(2), false);
        assert_eq!(j.rows_per_second, Some(100.0));
        assert_eq!(j.eta_seconds, Some(4.0));
        assert_eq!(j.rows_total, Some(1000));
        // Without a row count, the ETA comes from bytes.
        let unknown = Progress {
            rows_total_known: false,
            ..p.clone()
        };
        let j = job_progress(&unknown, Duration::from_secs(2), false);
        assert_eq!(j.rows_total, None);
        assert_eq!(j.eta_seconds, Some(4.0));
        assert_eq!(
            job_progress(&p, Duration::from_secs(2), true).eta_seconds,
            Some(0.0)
        );
    }
}
