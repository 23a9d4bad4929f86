//! `PartWrite`: each partition's anomaly rows written where the task runs,
//! as one Parquet file under the output folder's `_attempts/`, and one row
//! saying where (its first stream, path, rows). Whoever ran the plan then
//! keeps one attempt per partition ([`commit_parts`]): a retried task
//! writes a second file of the same rows, and a task on a killed executor
//! leaves a temporary one; neither becomes a part. So anomalies go from the
//! executors to storage they all see, not through the client.
//!
//! An attempt is known by its first stream, not its partition number: a
//! Ballista task runs a slice of the stage's partitions renumbered from 0,
//! so the number is not the partition's. Partitions hold disjoint streams,
//! each sorted, so the first stream names one partition's output.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures_util::StreamExt;

use crate::BatchError;
use crate::output::{FlatSink, ParquetSink, anomaly_schema};

/// Where attempts are written inside the output folder: `_attempts/JOB/`,
/// one folder per run, so a failed run's files never mix with the next's.
pub const ATTEMPTS: &str = "_attempts";

/// The attempts folder of run `job` writing into `out`.
pub fn attempts_dir(out: &Path, job: &str) -> PathBuf {
    out.join(ATTEMPTS).join(job)
}

/// The rows `PartWrite` emits: one per partition written.
pub fn written_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("first_stream", DataType::Utf8, true),
        Field::new("path", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
    ]))
}

/// The logical node: its input's anomaly rows written into the attempts
/// folder `dir`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartWrite {
    pub dir: String,
    pub input: LogicalPlan,
    schema: DFSchemaRef,
}

impl PartWrite {
    pub fn new(dir: String, input: LogicalPlan) -> Self {
        let schema = DFSchema::try_from(written_schema().as_ref().clone())
            .expect("the written schema has unique names");
        PartWrite {
            dir,
            input,
            schema: Arc::new(schema),
        }
    }
}

impl PartialOrd for PartWrite {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.dir.partial_cmp(&other.dir)
    }
}

impl UserDefinedLogicalNodeCore for PartWrite {
    fn name(&self) -> &str {
        "PartWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartWrite: {}", self.dir)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        if inputs.len() != 1 {
            return Err(DataFusionError::Plan("PartWrite takes one input".into()));
        }
        Ok(Self::new(self.dir.clone(), inputs.swap_remove(0)))
    }
}

/// The physical writer.
#[derive(Debug)]
pub struct PartWriteExec {
    pub dir: String,
    input: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
}

impl PartWriteExec {
    pub fn try_new(dir: String, input: Arc<dyn ExecutionPlan>) -> Result<Self, DataFusionError> {
        if input.schema().fields() != anomaly_schema().fields() {
            return Err(DataFusionError::Plan(
                "PartWrite writes the flat anomaly rows".into(),
            ));
        }
        let parts = input.properties().partitioning.partition_count();
        let props = PlanProperties::new(
            EquivalenceProperties::new(written_schema()),
            Partitioning::UnknownPartitioning(parts),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(PartWriteExec {
            dir,
            input,
            props: Arc::new(props),
        })
    }
}

impl DisplayAs for PartWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartWriteExec: {}", self.dir)
    }
}

/// A name no other attempt has: the process, the time, and a counter.
fn attempt_name(partition: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "part-{partition:06}-{:x}-{nanos:x}-{n:x}.parquet",
        std::process::id()
    )
}

/// Writes `input` to a new attempt file under `dir`: its first stream, path
/// and rows.
async fn write_attempt(
    dir: &Path,
    partition: usize,
    mut input: SendableRecordBatchStream,
) -> Result<(Option<String>, PathBuf, u64), DataFusionError> {
    let fail = |e: BatchError| DataFusionError::External(Box::new(e));
    std::fs::create_dir_all(dir).map_err(|e| fail(BatchError::io(dir, e)))?;
    let path = dir.join(attempt_name(partition));
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| fail(BatchError::io(&tmp, e)))?;
    let mut sink = ParquetSink::new(file).map_err(fail)?;
    let mut rows = 0u64;
    let mut first = None;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if first.is_none() && batch.num_rows() > 0 {
            let streams = batch.column_by_name("stream_id").ok_or_else(|| {
                DataFusionError::Internal("anomaly rows without stream_id".into())
            })?;
            first = Some(streams.as_string::<i32>().value(0).to_owned());
        }
        rows += batch.num_rows() as u64;
        sink.write_batch(&batch).map_err(fail)?;
    }
    let file = sink.into_inner().map_err(fail)?;
    file.sync_all().map_err(|e| fail(BatchError::io(&tmp, e)))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail(BatchError::io(&path, e)))?;
    Ok((first, path, rows))
}

impl ExecutionPlan for PartWriteExec {
    fn name(&self) -> &str {
        "PartWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // Each scoring partition becomes one part: nothing to gain from more.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let input = super::only_child(children, "PartWriteExec")?;
        Ok(Arc::new(PartWriteExec::try_new(self.dir.clone(), input)?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let dir = PathBuf::from(&self.dir);
        let stream = futures_util::stream::once(async move {
            let (first, path, rows) = write_attempt(&dir, partition, input).await?;
            Ok(RecordBatch::try_new(
                written_schema(),
                vec![
                    Arc::new(StringArray::from(vec![first])),
                    Arc::new(StringArray::from(vec![path.to_string_lossy().into_owned()])),
                    Arc::new(UInt64Array::from(vec![rows])),
                ],
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            written_schema(),
            stream,
        )))
    }
}

/// What committing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub parts: usize,
    pub rows: u64,
    /// Attempts of a partition beyond the one kept (retried tasks).
    pub extra_attempts: u64,
}

/// One finished attempt: its first stream (none when it holds no rows),
/// file and rows.
pub type Attempt = (Option<String>, PathBuf, u64);

/// The attempts `PartWrite` reported in its rows.
pub fn reported(written: &[RecordBatch]) -> Vec<Attempt> {
    let mut out = Vec::new();
    for batch in written {
        let first = batch.column(0).as_string::<i32>();
        let paths = batch.column(1).as_string::<i32>();
        let rows = batch.column(2).as_primitive::<UInt64Type>();
        for r in 0..batch.num_rows() {
            out.push((
                first.is_valid(r).then(|| first.value(r).to_owned()),
                PathBuf::from(paths.value(r)),
                rows.value(r),
            ));
        }
    }
    out
}

/// The finished attempts in an attempts folder, read from the files: for
/// when a job finished but its rows cannot be fetched (Ballista keeps a
/// final task's result on its executor, and loses it with it). Files still
/// named `.tmp` were never finished.
pub fn listed(attempts: &Path) -> Result<Vec<Attempt>, BatchError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(attempts).map_err(|e| BatchError::io(attempts, e))? {
        let path = entry.map_err(|e| BatchError::io(attempts, e))?.path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let file = std::fs::File::open(&path).map_err(|e| BatchError::io(&path, e))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
        let rows = reader.metadata().file_metadata().num_rows().max(0) as u64;
        let first = match reader.with_batch_size(1).with_limit(1).build()?.next() {
            Some(batch) => {
                let batch = batch?;
                let streams = batch.column_by_name("stream_id").ok_or_else(|| {
                    BatchError::Invalid(format!("{}: no stream_id column", path.display()))
                })?;
                Some(streams.as_string::<i32>().value(0).to_owned())
            }
            None => None,
        };
        out.push((first, path, rows));
    }
    Ok(out)
}

/// Keeps one attempt per partition as `dir/part-NNNNNN.parquet` (numbered
/// in order of their first streams) and deletes `attempts` with everything
/// else in it: attempts without rows, second attempts, and what killed
/// tasks left. The attempts are a finished job's, so every partition that
/// has anomalies is among them. Attempts of one partition hold the same rows
/// (detection is deterministic); attempts that disagree on the count are an
/// error.
pub fn commit_parts(
    dir: &Path,
    attempts: &Path,
    found: Vec<Attempt>,
) -> Result<Committed, BatchError> {
    let mut by_stream: BTreeMap<String, Vec<(PathBuf, u64)>> = BTreeMap::new();
    for (first, path, rows) in found {
        if let Some(first) = first {
            by_stream.entry(first).or_default().push((path, rows));
        }
    }
    let mut done = Committed::default();
    for (n, (stream, attempts)) in by_stream.iter().enumerate() {
        let (kept, rows) = &attempts[0];
        if let Some((other, m)) = attempts.iter().find(|(_, m)| m != rows) {
            return Err(BatchError::Invalid(format!(
                "two attempts of the partition starting at stream {stream} wrote {rows} and {m} \
                 anomalies ({}, {})",
                kept.display(),
                other.display()
            )));
        }
        let part = dir.join(format!("part-{n:06}.parquet"));
        std::fs::rename(kept, &part).map_err(|e| BatchError::io(&part, e))?;
        done.parts += 1;
        done.rows += rows;
        done.extra_attempts += attempts.len() as u64 - 1;
    }
    if attempts.exists() {
        std::fs::remove_dir_all(attempts).map_err(|e| BatchError::io(attempts, e))?;
    }
    let top = dir.join(ATTEMPTS);
    if std::fs::read_dir(&top).is_ok_and(|mut d| d.next().is_none()) {
        std::fs::remove_dir(&top).map_err(|e| BatchError::io(&top, e))?;
    }
    crate::backfill::checkpoint::sync_dir(&top)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(first: Option<&str>, path: &Path, rows: u64) -> Attempt {
        (first.map(str::to_owned), path.to_path_buf(), rows)
    }

    #[test]
    fn one_attempt_per_partition_becomes_a_part_and_the_rest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let attempts = attempts_dir(dir.path(), "job-1");
        std::fs::create_dir_all(&attempts).unwrap();
        let file = |name: &str| {
            let p = attempts.join(name);
            std::fs::write(&p, name).unwrap();
            p
        };
        let (b1, b2, a, empty) = (file("b1"), file("b2"), file("a"), file("empty"));
        file("killed.parquet.tmp");
        let done = commit_parts(
            dir.path(),
            &attempts,
            vec![
                attempt(Some("web-2"), &b1, 3),
                attempt(Some("db-1"), &a, 5),
                attempt(None, &empty, 0),
                attempt(Some("web-2"), &b2, 3),
            ],
        )
        .unwrap();
        assert_eq!(
            done,
            Committed {
                parts: 2,
                rows: 8,
                extra_attempts: 1
            }
        );
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["part-000000.parquet", "part-000001.parquet"]);
        // Parts in order of their first streams.
        assert_eq!(
            std::fs::read(dir.path().join("part-000000.parquet")).unwrap(),
            b"a"
        );
        assert_eq!(
            std::fs::read(dir.path().join("part-000001.parquet")).unwrap(),
            b"b1"
        );
    }

    #[test]
    fn attempts_that_disagree_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        let err = commit_parts(
            dir.path(),
            &dir.path().join("none"),
            vec![attempt(Some("s"), &p, 3), attempt(Some("s"), &p, 4)],
        )
        .unwrap_err();
        assert!(err.to_string().contains("wrote 3 and 4"), "{err}");
    }
}
