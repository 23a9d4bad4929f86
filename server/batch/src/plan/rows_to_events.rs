//! `RowsToEventsExec`: any query's rows to event rows, their columns mapped
//! as a file's would be (the engine's reader conversion), so `drift_score`
//! can score an ad-hoc query. Ties in time are broken by the input's
//! partition and row, which are stable only for a query with one partition
//! or an `ORDER BY`.

use std::fmt;
use std::sync::Arc;

use datafusion::common::DataFusionError;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use driftlock_engine::read::{BatchConverter, ReadOptions};
use futures_util::StreamExt;

use super::archive_scan::event_rows;
use super::events_schema;
use crate::BatchError;

#[derive(Debug)]
pub struct RowsToEventsExec {
    input: Arc<dyn ExecutionPlan>,
    read: ReadOptions,
    props: Arc<PlanProperties>,
}

impl RowsToEventsExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, read: ReadOptions) -> Self {
        let parts = input.properties().partitioning.partition_count();
        let props = PlanProperties::new(
            EquivalenceProperties::new(events_schema()),
            Partitioning::UnknownPartitioning(parts),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        RowsToEventsExec {
            input,
            read: ReadOptions {
                keep_body_text: true,
                defer_attributes: false,
                ..read
            },
            props: Arc::new(props),
        }
    }
}

impl DisplayAs for RowsToEventsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RowsToEventsExec")
    }
}

impl ExecutionPlan for RowsToEventsExec {
    fn name(&self) -> &str {
        "RowsToEventsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
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
        let input = super::only_child(children, "RowsToEventsExec")?;
        Ok(Arc::new(RowsToEventsExec::new(input, self.read.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let converter = BatchConverter::new("query", &input.schema(), &self.read)
            .map_err(|e| DataFusionError::External(Box::new(BatchError::from(e))))?;
        let mut row = 0u64;
        let stream = input.map(move |batch| {
            let batch = batch?;
            let events = converter
                .convert(&batch, row)
                .map_err(|e| DataFusionError::External(Box::new(BatchError::from(e))))?;
            let first = row;
            row += batch.num_rows() as u64;
            event_rows(events, partition as u32, first)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            events_schema(),
            stream,
        )))
    }
}
