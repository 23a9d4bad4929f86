//! Planning `ArchiveScan`, `DriftScore` and `PartWrite` into their operators.

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::{ArchiveScan, ArchiveScanExec, DriftScore, DriftScoreExec, PartWrite, PartWriteExec};

/// Plans the three nodes; other nodes are left to DataFusion.
#[derive(Debug, Default)]
pub struct DriftPlanner;

#[async_trait::async_trait]
impl ExtensionPlanner for DriftPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _ctx: &PhysicalPlanningContext,
    ) -> datafusion::error::Result<Option<Arc<dyn ExecutionPlan>>> {
        let any = node.as_any();
        if let Some(scan) = any.downcast_ref::<ArchiveScan>() {
            return Ok(Some(Arc::new(ArchiveScanExec::of(&scan.spec)?)));
        }
        if let Some(score) = any.downcast_ref::<DriftScore>() {
            let input = super::only_child(physical_inputs.to_vec(), "DriftScore")?;
            return Ok(Some(Arc::new(DriftScoreExec::try_new(
                score.detector.clone(),
                input,
            )?)));
        }
        if let Some(write) = any.downcast_ref::<PartWrite>() {
            let input = super::only_child(physical_inputs.to_vec(), "PartWrite")?;
            return Ok(Some(Arc::new(PartWriteExec::try_new(
                write.dir.clone(),
                input,
            )?)));
        }
        Ok(None)
    }
}

/// DataFusion's planner with [`DriftPlanner`].
#[derive(Debug, Default)]
pub struct DriftQueryPlanner;

#[async_trait::async_trait]
impl QueryPlanner for DriftQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(DriftPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// `state` planning the backfill nodes too.
pub fn with_drift_planner(state: SessionState) -> SessionState {
    SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(DriftQueryPlanner))
        .build()
}
