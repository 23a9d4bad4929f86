//! Backfills as DataFusion plans, so one machine or a cluster (Ballista) can
//! run them and give the same anomalies.
//!
//! `ArchiveScan` reads an archive's files with the engine's reader into event
//! rows ([`events_schema`]); `DriftScore` requires those rows hash
//! partitioned by `stream_id` and sorted by (`stream_id`, `ts`, `file`,
//! `row`), which DataFusion's optimizer inserts (a repartition and a sort;
//! on Ballista the repartition becomes a shuffle), and scores each stream
//! with its own detector into the flat anomaly schema
//! ([`crate::output::anomaly_schema`]). Order within a stream is therefore
//! defined by the data, not by how files were split among workers.
//!
//! One operator per file: [`archive_scan`], [`drift_score`],
//! [`part_write`] (each partition's anomalies written where it ran), and
//! [`rows_to_events`] (a query's rows as events, for SQL's `drift_score`);
//! [`planner`] turns the logical nodes into them.

pub mod archive_scan;
pub mod drift_score;
pub mod part_write;
pub mod planner;
pub mod rows_to_events;

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{Extension, LogicalPlan};
use driftlock_engine::DetectorConfig;
use driftlock_engine::read::ReadOptions;

pub use archive_scan::{ArchiveScan, ArchiveScanExec, ScanSpec};
pub use drift_score::{DriftScore, DriftScoreExec};
pub use part_write::{PartWrite, PartWriteExec, attempts_dir, commit_parts};
pub use planner::{DriftPlanner, DriftQueryPlanner, with_drift_planner};
pub use rows_to_events::RowsToEventsExec;

use crate::BatchError;
use crate::backfill::ArchiveFile;

/// Column names of [`events_schema`].
pub mod col {
    pub const STREAM_ID: &str = "stream_id";
    /// Event time in nanoseconds since the epoch; null when absent or not RFC 3339.
    pub const TS: &str = "ts";
    /// The file's position in the archive's sorted file list.
    pub const FILE: &str = "file";
    /// The event's position in its file.
    pub const ROW: &str = "row";
    /// The event as JSON (the engine's `Event`).
    pub const EVENT: &str = "event";
    /// The body's JSON text where the reader kept it (saves writing it again).
    pub const BODY: &str = "body";
}

/// The rows `ArchiveScan` emits: one per event.
pub fn events_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(col::STREAM_ID, DataType::Utf8, false),
                Field::new(col::TS, DataType::Int64, true),
                Field::new(col::FILE, DataType::UInt32, false),
                Field::new(col::ROW, DataType::UInt64, false),
                Field::new(col::EVENT, DataType::Utf8, false),
                Field::new(col::BODY, DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// The logical plan of a backfill: `files` (in the archive's sorted order)
/// read in `partitions` parts and scored. Executors open the files' paths
/// as given, so they must see the same paths.
pub fn backfill_plan(
    files: &[ArchiveFile],
    read: &ReadOptions,
    detector: &DetectorConfig,
    partitions: usize,
) -> Result<LogicalPlan, BatchError> {
    let scan = scan_plan(files, read, partitions)?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(DriftScore::new(detector, scan)?),
    }))
}

/// The scan alone: `files` read in `partitions` parts into event rows.
pub fn scan_plan(
    files: &[ArchiveFile],
    read: &ReadOptions,
    partitions: usize,
) -> Result<LogicalPlan, BatchError> {
    let spec = ScanSpec::new(
        files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect(),
        read,
        partitions,
    )?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(ArchiveScan::new(spec)),
    }))
}

/// [`backfill_plan`] with each scoring partition's anomalies written into
/// the attempts folder `attempts` by whoever scores it ([`part_write`]); the
/// plan returns where.
pub fn backfill_write_plan(
    files: &[ArchiveFile],
    read: &ReadOptions,
    detector: &DetectorConfig,
    partitions: usize,
    attempts: &std::path::Path,
) -> Result<LogicalPlan, BatchError> {
    let score = backfill_plan(files, read, detector, partitions)?;
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(PartWrite::new(
            attempts.to_string_lossy().into_owned(),
            score,
        )),
    }))
}

/// The one input of a single-input operator given new children
/// (`ExecutionPlan::with_new_children`).
pub(crate) fn only_child(
    mut children: Vec<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
    operator: &str,
) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    if children.len() != 1 {
        return Err(datafusion::common::DataFusionError::Plan(format!(
            "{operator} takes one input"
        )));
    }
    Ok(children.swap_remove(0))
}

/// Runs a backfill plan on this machine with DataFusion (no cluster): the
/// anomaly batches, in no particular order.
pub async fn run_local(
    plan: LogicalPlan,
    partitions: usize,
) -> Result<Vec<arrow::record_batch::RecordBatch>, BatchError> {
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::{DataFrame, SessionConfig};
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(SessionConfig::new().with_target_partitions(partitions.max(1)))
        .build();
    let state = with_drift_planner(state);
    Ok(DataFrame::new(state, plan).collect().await?)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use driftlock_datasets::{GeneratorConfig, StreamKind};
    use driftlock_engine::read::ColumnMapping;
    use driftlock_kernels::CpuBackend;

    use super::*;
    use crate::backfill::{self, BackfillConfig, DateRange, Output, Summary};
    use crate::output::tests::sorted_rows as rows;

    /// Four files of 1,000 generated events over three streams; file `i`
    /// holds chunk `order[i]` of the stream's time.
    fn archive(root: &Path, order: [usize; 4]) {
        std::fs::create_dir_all(root).unwrap();
        let events: Vec<_> = GeneratorConfig::new(StreamKind::Logs, 4_000, 3)
            .with_streams(3)
            .build()
            .unwrap()
            .collect();
        for (i, chunk) in order.into_iter().enumerate() {
            driftlock_datasets::write::write_parquet(
                root.join(format!("part-{i}.parquet")),
                events[chunk * 1_000..(chunk + 1) * 1_000].to_vec(),
                300,
            )
            .unwrap();
        }
    }

    fn detector() -> DetectorConfig {
        DetectorConfig {
            baseline_size: 100,
            window_size: 20,
            hop_size: 5,
            permutation_count: 100,
            ..DetectorConfig::default()
        }
    }

    fn read() -> ReadOptions {
        ReadOptions {
            mapping: ColumnMapping::default()
                .with_ignored("label")
                .with_ignored("anomaly_kind"),
            batch_rows: 250,
            ..ReadOptions::default()
        }
    }

    fn local(root: &Path, out: &Path, cancel: &AtomicBool, stop_after: Option<u64>) -> Summary {
        let cfg = BackfillConfig {
            archive: root.to_path_buf(),
            range: DateRange::default(),
            detector: detector(),
            read: read(),
            output: Output::Parts(out.to_path_buf()),
            checkpoint_every: 2,
            buffer_events: 500,
            checkpoint: None,
        };
        backfill::run(&cfg, &CpuBackend, cancel, &mut |p| {
            if stop_after.is_some_and(|n| p.went_back.is_some() && p.rows_done >= n) {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .unwrap()
    }

    fn parts(out: &Path) -> Vec<arrow::record_batch::RecordBatch> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(out).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let file = std::fs::File::open(path).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap()
                        .build()
                        .unwrap();
                found.extend(reader.map(Result::unwrap));
            }
        }
        found
    }

    async fn planned(root: &Path) -> Vec<String> {
        let files = backfill::archive::list(root, &DateRange::default()).unwrap();
        let plan = backfill_plan(&files, &read(), &detector(), 3).unwrap();
        rows(&run_local(plan, 3).await.unwrap())
    }

    /// The plan, with files and streams split over three partitions, finds
    /// what the local backfill finds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_plan_finds_the_local_backfills_anomalies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        archive(&root, [0, 1, 2, 3]);
        let out = dir.path().join("local");
        let summary = local(&root, &out, &AtomicBool::new(false), None);
        assert_eq!(summary.progress.went_back, None);
        let expected = rows(&parts(&out));
        assert!(expected.len() > 5, "{expected:?}");
        assert_eq!(planned(&root).await, expected);
    }

    /// Files whose order is not time's: the local backfill finds a stream
    /// going back, starts over from a sort, and gives the plan's anomalies;
    /// stopped midway and resumed, the same again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_archive_out_of_time_order_is_scored_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        archive(&root, [2, 0, 3, 1]);
        let expected = planned(&root).await;
        assert!(expected.len() > 5, "{expected:?}");

        let out = dir.path().join("whole");
        let summary = local(&root, &out, &AtomicBool::new(false), None);
        let went_back = summary
            .progress
            .went_back
            .clone()
            .expect("found out of order");
        assert!(went_back.contains("part-1.parquet row 0"), "{went_back}");
        assert_eq!(summary.progress.events, 4_000);
        assert_eq!(rows(&parts(&out)), expected);

        let out = dir.path().join("resumed");
        let first = local(&root, &out, &AtomicBool::new(false), Some(1_500));
        assert!(first.cancelled);
        let rest = local(&root, &out, &AtomicBool::new(false), None);
        assert!(rest.resumed && !rest.cancelled);
        assert_eq!(rest.progress.events, 4_000);
        assert_eq!(rows(&parts(&out)), expected);
    }
}
