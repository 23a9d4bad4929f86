//! `ArchiveScan`: an archive's files read by the engine's reader (the same
//! conversion a local backfill does) into one row per event, with the
//! event's file and row so a sort can break timestamp ties the same way
//! everywhere.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    AsArray, Int64Builder, RecordBatch, StringArray, StringBuilder, UInt32Array, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use driftlock_engine::read::{self, EventBatch, ReadOptions};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::events_schema;
use crate::BatchError;
use crate::backfill::order::epoch_nanos;

/// What to read: file paths in archive order, how, and in how many parts.
/// `read` is the options' JSON, so the spec hashes and compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScanSpec {
    pub files: Vec<String>,
    pub read: String,
    pub partitions: usize,
}

impl ScanSpec {
    pub fn new(
        files: Vec<String>,
        read: &ReadOptions,
        partitions: usize,
    ) -> Result<ScanSpec, BatchError> {
        // The executors parse the events again from their JSON, so what the
        // reader defers or keeps is decided here, once.
        let read = ReadOptions {
            defer_attributes: false,
            keep_body_text: true,
            ..read.clone()
        };
        Ok(ScanSpec {
            files,
            read: serde_json::to_string(&read)
                .map_err(|e| BatchError::Invalid(format!("reading options: {e}")))?,
            partitions: partitions.max(1),
        })
    }
}

/// The logical node (no inputs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveScan {
    pub spec: ScanSpec,
    schema: DFSchemaRef,
}

impl ArchiveScan {
    pub fn new(spec: ScanSpec) -> Self {
        let schema = DFSchema::try_from(events_schema().as_ref().clone())
            .expect("the events schema has unique names");
        ArchiveScan {
            spec,
            schema: Arc::new(schema),
        }
    }
}

impl PartialOrd for ArchiveScan {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.spec.cmp(&other.spec))
    }
}

impl UserDefinedLogicalNodeCore for ArchiveScan {
    fn name(&self) -> &str {
        "ArchiveScan"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ArchiveScan: {} files in {} parts",
            self.spec.files.len(),
            self.spec.partitions
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        _inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        Ok(self.clone())
    }
}

/// The file list, as `ArchiveScanExec`'s input: partition `p` holds files
/// `p, p + n, p + 2n, ...` as (number, path) rows. A cluster hands each task
/// some of these partitions (Ballista slices in-memory sources, while it
/// cannot slice a leaf it does not know), so files travel as data.
pub fn file_list(spec: &ScanSpec) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
    let parts = spec.partitions.min(spec.files.len()).max(1);
    let schema = file_list_schema();
    let mut partitions = Vec::with_capacity(parts);
    for p in 0..parts {
        let mine: Vec<(u32, &str)> = spec
            .files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % parts == p)
            .map(|(i, f)| (i as u32, f.as_str()))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(UInt32Array::from_iter_values(mine.iter().map(|m| m.0))),
                Arc::new(StringArray::from_iter_values(mine.iter().map(|m| m.1))),
            ],
        )?;
        partitions.push(vec![batch]);
    }
    Ok(MemorySourceConfig::try_new_exec(&partitions, schema, None)?)
}

fn file_list_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::UInt32, false),
        Field::new("path", DataType::Utf8, false),
    ]))
}

/// The physical scan: each partition reads the files its input partition lists.
#[derive(Debug)]
pub struct ArchiveScanExec {
    /// The reading options' JSON (what the codecs send).
    pub read_json: String,
    read: ReadOptions,
    input: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
}

impl ArchiveScanExec {
    pub fn try_new(
        read_json: String,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Self, DataFusionError> {
        let read: ReadOptions = serde_json::from_str(&read_json)
            .map_err(|e| DataFusionError::Internal(format!("archive scan reading options: {e}")))?;
        if input.schema().fields() != file_list_schema().fields() {
            return Err(DataFusionError::Plan(
                "ArchiveScanExec reads a file list".into(),
            ));
        }
        let props = PlanProperties::new(
            EquivalenceProperties::new(events_schema()),
            Partitioning::UnknownPartitioning(input.properties().partitioning.partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(ArchiveScanExec {
            read_json,
            read,
            input,
            props: Arc::new(props),
        })
    }

    /// The scan of `spec`'s files over their [`file_list`].
    pub fn of(spec: &ScanSpec) -> Result<Self, DataFusionError> {
        Self::try_new(spec.read.clone(), file_list(spec)?)
    }
}

impl DisplayAs for ArchiveScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ArchiveScanExec")
    }
}

/// Event rows of one read batch from file number `file`, the first at `row`.
pub(super) fn event_rows(
    batch: EventBatch,
    file: u32,
    row: u64,
) -> Result<RecordBatch, DataFusionError> {
    let n = batch.events.len();
    let mut stream = StringBuilder::with_capacity(n, n * 8);
    let mut ts = Int64Builder::with_capacity(n);
    let mut files = UInt32Builder::with_capacity(n);
    let mut rows = UInt64Builder::with_capacity(n);
    let mut events = StringBuilder::with_capacity(n, n * 256);
    let mut bodies = StringBuilder::with_capacity(n, n * 128);
    let mut texts = batch.body_text.into_iter();
    for (i, e) in batch.events.iter().enumerate() {
        stream.append_value(&e.stream_id);
        ts.append_option(e.timestamp.as_deref().and_then(epoch_nanos));
        files.append_value(file);
        rows.append_value(row + i as u64);
        let json = serde_json::to_string(e)
            .map_err(|err| DataFusionError::Internal(format!("event to JSON: {err}")))?;
        events.append_value(json);
        bodies.append_option(texts.next().flatten());
    }
    Ok(RecordBatch::try_new(
        events_schema(),
        vec![
            Arc::new(stream.finish()),
            Arc::new(ts.finish()),
            Arc::new(files.finish()),
            Arc::new(rows.finish()),
            Arc::new(events.finish()),
            Arc::new(bodies.finish()),
        ],
    )?)
}

impl ExecutionPlan for ArchiveScanExec {
    fn name(&self) -> &str {
        "ArchiveScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // One input partition's files, read once: no repartitioning of the list.
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
        let input = super::only_child(children, "ArchiveScanExec")?;
        Ok(Arc::new(ArchiveScanExec::try_new(
            self.read_json.clone(),
            input,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let list = self.input.execute(partition, context)?;
        let read = self.read.clone();
        // Decoding is blocking work: a thread of its own, two batches ahead.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let fail = |e: driftlock_engine::EngineError| {
            DataFusionError::External(Box::new(BatchError::from(e)))
        };
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut list = list;
            while let Some(batch) = list.next().await {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let files = batch.column(0).as_primitive::<UInt32Type>();
                let paths = batch.column(1).as_string::<i32>();
                mine.extend(
                    (0..batch.num_rows()).map(|r| (files.value(r), paths.value(r).to_owned())),
                );
            }
            std::thread::spawn(move || {
                for (file, path) in mine {
                    let reader = match read::open(Path::new(&path), &read) {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(fail(e)));
                            return;
                        }
                    };
                    let mut row = 0u64;
                    for batch in reader {
                        let item = batch.map_err(fail).and_then(|b| {
                            let n = b.events.len() as u64;
                            let rows = event_rows(b, file, row);
                            row += n;
                            rows
                        });
                        let failed = item.is_err();
                        if tx.blocking_send(item).is_err() || failed {
                            return;
                        }
                    }
                }
            });
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            events_schema(),
            stream,
        )))
    }
}
