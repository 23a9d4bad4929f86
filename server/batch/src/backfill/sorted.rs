//! The archive's events in the defined order ([`super::order`]) when reading
//! its files in order does not give it: the cluster plan's scan
//! ([`crate::plan::ArchiveScan`]) sorted by (time, file, row) with
//! DataFusion on this machine, spilling to the temporary directory past
//! [`SORT_MEMORY`], and cut into batches of the reader's size, so a
//! checkpoint's batch count means the same batches on resume.
//!
//! Sorting across streams rather than stream by stream keeps the streams
//! interleaved as they are in time, so queues still hold many streams to
//! score in parallel; each stream's own order is the same either way.

use arrow::array::{Array, AsArray, RecordBatch};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, col};
use driftlock_engine::Event;
use driftlock_engine::read::{EventBatch, ReadOptions};
use futures_util::StreamExt;
use std::path::Path;

use super::{ArchiveFile, Batches, SpentTx};
use crate::BatchError;
use crate::plan::{col as plan_col, scan_plan, with_drift_planner};

/// `Checkpoint::current` while the sorted archive is being scored.
pub const SORTED: &str = "(the archive sorted by time)";

/// Memory the sort holds before it spills to disk.
pub const SORT_MEMORY: usize = 2 << 30;

/// The sorted events, in batches of `batch_rows`, produced on a thread of
/// `scope` up to `ahead` batches ahead (as [`super::read_ahead`] does for
/// one file). The bytes reported with each batch are 0: the sort reads
/// everything before the first batch comes.
pub(crate) fn sorted_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    files: &'scope [ArchiveFile],
    read: &'scope ReadOptions,
    ahead: usize,
) -> (Batches, SpentTx) {
    let (tx, rx) = std::sync::mpsc::sync_channel(ahead);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<super::detectors::Spent>();
    scope.spawn(move || {
        let free = || while spent_rx.try_recv().is_ok() {};
        let result = sort(files, read, |rows| {
            free();
            tx.send(Ok((rows, 0))).is_ok()
        });
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
        drop(tx);
        while spent_rx.recv().is_ok() {}
    });
    (rx.into_iter(), spent_tx)
}

/// Runs the sort and hands `emit` each batch; stops when `emit` says no.
fn sort(
    files: &[ArchiveFile],
    read: &ReadOptions,
    mut emit: impl FnMut(EventBatch) -> bool,
) -> Result<(), BatchError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("backfill-sort")
        .enable_all()
        .build()
        .map_err(|e| BatchError::io(Path::new("tokio runtime"), e))?;
    rt.block_on(async {
        let scan = scan_plan(files, read, threads)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(SORT_MEMORY, 1.0)
            .build_arc()?;
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(SessionConfig::new().with_target_partitions(threads))
            .with_runtime_env(runtime)
            .build();
        let sorted = DataFrame::new(with_drift_planner(state), scan).sort(vec![
            col(plan_col::TS).sort(true, true),
            col(plan_col::FILE).sort(true, true),
            col(plan_col::ROW).sort(true, true),
        ])?;
        let mut stream = sorted.execute_stream().await?;
        let mut chunk = Chunk::new(read.batch_rows.max(1));
        while let Some(batch) = stream.next().await {
            for full in chunk.add(&batch?)? {
                if !emit(full) {
                    return Ok(());
                }
            }
        }
        if let Some(last) = chunk.take() {
            emit(last);
        }
        Ok(())
    })
}

/// Sorted event rows regrouped into batches of a fixed size.
struct Chunk {
    size: usize,
    next_row: u64,
    events: Vec<Event>,
    bodies: Vec<Option<String>>,
}

impl Chunk {
    fn new(size: usize) -> Self {
        Chunk {
            size,
            next_row: 0,
            events: Vec::with_capacity(size),
            bodies: Vec::with_capacity(size),
        }
    }

    fn add(&mut self, rows: &RecordBatch) -> Result<Vec<EventBatch>, BatchError> {
        let schema = rows.schema();
        let column = |name: &str| {
            schema
                .index_of(name)
                .map(|i| rows.column(i))
                .map_err(|e| BatchError::Invalid(format!("sorted events: {e}")))
        };
        let events = column(plan_col::EVENT)?.as_string::<i32>();
        let bodies = column(plan_col::BODY)?.as_string::<i32>();
        let mut out = Vec::new();
        for r in 0..rows.num_rows() {
            let event: Event = serde_json::from_str(events.value(r))
                .map_err(|e| BatchError::Invalid(format!("sorted events: {e}")))?;
            self.events.push(event);
            self.bodies
                .push(bodies.is_valid(r).then(|| bodies.value(r).to_owned()));
            if self.events.len() >= self.size {
                out.extend(self.take());
            }
        }
        Ok(out)
    }

    fn take(&mut self) -> Option<EventBatch> {
        if self.events.is_empty() {
            return None;
        }
        let events = std::mem::replace(&mut self.events, Vec::with_capacity(self.size));
        let bodies = std::mem::replace(&mut self.bodies, Vec::with_capacity(self.size));
        let first_row = self.next_row;
        self.next_row += events.len() as u64;
        Some(EventBatch {
            events,
            first_row,
            skipped_rows: 0,
            attributes_text: Vec::new(),
            body_text: bodies,
        })
    }
}
