//! `DriftScore`: each stream's events, in (timestamp, file, row) order,
//! through one detector, out as flat anomaly rows. It asks DataFusion for
//! its input hash partitioned by `stream_id` and sorted, so a stream never
//! spans two partitions and its events arrive in a defined order.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::SortOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalExpr,
    PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use driftlock_kernels::CpuBackend;
use futures_util::StreamExt;

use super::{col, events_schema};
use crate::BatchError;
use crate::output::{BATCH_ROWS, FlatColumns, FlatRow, anomaly_schema, nearest_json};

/// Events handed to a detector at once: pushes of a useful size (see
/// `backfill::detectors`); results do not depend on it.
const PUSH_EVENTS: usize = 4096;

/// The logical node; `detector` is the configuration's JSON, so the node
/// hashes and compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DriftScore {
    pub detector: String,
    pub input: LogicalPlan,
    schema: DFSchemaRef,
}

impl DriftScore {
    pub fn new(detector: &DetectorConfig, input: LogicalPlan) -> Result<Self, BatchError> {
        let detector = serde_json::to_string(detector)
            .map_err(|e| BatchError::Invalid(format!("detector configuration: {e}")))?;
        Ok(Self::from_json(detector, input))
    }

    pub fn from_json(detector: String, input: LogicalPlan) -> Self {
        let schema = DFSchema::try_from(anomaly_schema().as_ref().clone())
            .expect("the anomaly schema has unique names");
        DriftScore {
            detector,
            input,
            schema: Arc::new(schema),
        }
    }
}

impl PartialOrd for DriftScore {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.detector.partial_cmp(&other.detector)
    }
}

impl UserDefinedLogicalNodeCore for DriftScore {
    fn name(&self) -> &str {
        "DriftScore"
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
        write!(f, "DriftScore")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        if inputs.len() != 1 {
            return Err(DataFusionError::Plan("DriftScore takes one input".into()));
        }
        Ok(Self::from_json(
            self.detector.clone(),
            inputs.swap_remove(0),
        ))
    }
}

/// The physical operator.
#[derive(Debug)]
pub struct DriftScoreExec {
    pub detector_json: String,
    detector: DetectorConfig,
    input: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
}

impl DriftScoreExec {
    pub fn try_new(
        detector_json: String,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Self, DataFusionError> {
        if input.schema() != events_schema() {
            return Err(DataFusionError::Plan(
                "DriftScore's input must have the archive scan's event rows".into(),
            ));
        }
        let detector: DetectorConfig = serde_json::from_str(&detector_json)
            .map_err(|e| DataFusionError::Plan(format!("detector configuration: {e}")))?;
        let parts = input.properties().partitioning.partition_count();
        let props = PlanProperties::new(
            EquivalenceProperties::new(anomaly_schema()),
            Partitioning::UnknownPartitioning(parts),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(DriftScoreExec {
            detector_json,
            detector,
            input,
            props: Arc::new(props),
        })
    }

    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

fn column(name: &str) -> Arc<dyn PhysicalExpr> {
    let i = events_schema()
        .index_of(name)
        .expect("a column of the events schema");
    Arc::new(Column::new(name, i))
}

impl DisplayAs for DriftScoreExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DriftScoreExec")
    }
}

impl ExecutionPlan for DriftScoreExec {
    fn name(&self) -> &str {
        "DriftScoreExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::KeyPartitioned(vec![column(col::STREAM_ID)])]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let asc = Some(SortOptions {
            descending: false,
            nulls_first: true,
        });
        let req = LexRequirement::new(
            [col::STREAM_ID, col::TS, col::FILE, col::ROW]
                .map(|c| PhysicalSortRequirement::new(column(c), asc)),
        )
        .expect("four sort keys");
        vec![Some(OrderingRequirements::new(req))]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![true]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        let input = super::only_child(children, "DriftScoreExec")?;
        Ok(Arc::new(DriftScoreExec::try_new(
            self.detector_json.clone(),
            input,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let state = Scoring {
            input,
            config: self.detector.clone(),
            backend: CpuBackend::new(),
            current: None,
            events: Vec::new(),
            bodies: Vec::new(),
            out: FlatColumns::default(),
            finished: false,
        };
        let stream = futures_util::stream::unfold(state, |mut s| async move {
            match s.next_batch().await {
                Ok(Some(b)) => Some((Ok(b), s)),
                Ok(None) => None,
                Err(e) => {
                    s.finished = true;
                    Some((Err(e), s))
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            anomaly_schema(),
            stream,
        )))
    }
}

/// One partition's scoring: the stream being scored and its waiting events.
struct Scoring {
    input: SendableRecordBatchStream,
    config: DetectorConfig,
    backend: CpuBackend,
    current: Option<StreamDetector>,
    events: Vec<Event>,
    bodies: Vec<Option<String>>,
    out: FlatColumns,
    finished: bool,
}

fn internal(e: impl fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("drift score: {e}"))
}

impl Scoring {
    /// The next batch of anomalies, `None` at the end.
    async fn next_batch(&mut self) -> datafusion::error::Result<Option<RecordBatch>> {
        if self.finished {
            return Ok(None);
        }
        while self.out.len() < BATCH_ROWS {
            match self.input.next().await {
                Some(batch) => self.take(&batch?)?,
                None => {
                    self.end_stream()?;
                    self.finished = true;
                    break;
                }
            }
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        self.out.take_batch().map(Some).map_err(internal)
    }

    fn take(&mut self, batch: &RecordBatch) -> datafusion::error::Result<()> {
        let streams = batch.column(0).as_string::<i32>();
        let events = batch.column(4).as_string::<i32>();
        let bodies = batch.column(5).as_string::<i32>();
        for r in 0..batch.num_rows() {
            let stream = streams.value(r);
            match self.current.as_ref().map(|d| d.stream_id().cmp(stream)) {
                Some(Ordering::Equal) => {}
                Some(Ordering::Greater) => {
                    // A second detector for a stream would split its history.
                    return Err(internal(format!(
                        "input not sorted by stream_id: {stream} after {}",
                        self.current
                            .as_ref()
                            .map(|d| d.stream_id())
                            .unwrap_or_default()
                    )));
                }
                _ => {
                    self.end_stream()?;
                    self.current =
                        Some(StreamDetector::new(stream, self.config.clone()).map_err(internal)?);
                }
            }
            let event: Event = serde_json::from_str(events.value(r)).map_err(internal)?;
            self.events.push(event);
            self.bodies
                .push(bodies.is_valid(r).then(|| bodies.value(r).to_owned()));
            if self.events.len() >= PUSH_EVENTS {
                self.push()?;
            }
        }
        Ok(())
    }

    /// Scores the current stream's waiting events, then reports its held
    /// flags: its input has ended.
    fn end_stream(&mut self) -> datafusion::error::Result<()> {
        self.push()?;
        if let Some(d) = self.current.as_mut() {
            for a in &d.settle() {
                let nearest = nearest_json(a);
                self.out.push(&FlatRow::of(a, &nearest));
            }
        }
        Ok(())
    }

    /// Scores the waiting events with the current stream's detector.
    fn push(&mut self) -> datafusion::error::Result<()> {
        let Some(d) = self.current.as_mut() else {
            return Ok(());
        };
        if self.events.is_empty() {
            return Ok(());
        }
        let found = d
            .push_parsed(&self.events, &self.bodies, &self.backend)
            .map_err(internal)?;
        self.events.clear();
        self.bodies.clear();
        for a in &found {
            let nearest = nearest_json(a);
            self.out.push(&FlatRow::of(a, &nearest));
        }
        Ok(())
    }
}
