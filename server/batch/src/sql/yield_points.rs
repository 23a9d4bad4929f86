//! A physical optimizer rule that makes every operator yield to its runtime
//! now and then. DataFusion's own rule puts yield points at sources and
//! exchanges only, so an operator that makes many batches from each one it
//! reads (a cross join feeding a top-k sort) can run for minutes inside one
//! poll: the task is never cancelled at its deadline and starves the runtime.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// Wraps each operator that has inputs in a [`CooperativeExec`], which spends
/// a unit of the task's budget per batch it passes on.
#[derive(Debug, Default)]
pub struct YieldEverywhere;

impl PhysicalOptimizerRule for YieldEverywhere {
    fn name(&self) -> &str {
        "YieldEverywhere"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let wrapped = node.is::<CooperativeExec>();
            if wrapped || node.children().is_empty() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(CooperativeExec::new(node))))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}
