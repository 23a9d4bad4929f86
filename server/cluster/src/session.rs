//! Session states: the servers plan and run the backfill's nodes; the
//! client only encodes them, through Ballista's query planner.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use driftlock_batch::plan::with_drift_planner;

use crate::codec::{DriftLogicalCodec, DriftPhysicalCodec};

/// A Ballista session configuration with our codecs. The adaptive planner
/// is off: with it, a SIGKILLed executor's stages were reset and rolled back
/// and then the job never progressed ("can't find active stage").
pub fn config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(DriftLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(DriftPhysicalCodec::default()))
}

/// What a scheduler or an executor runs a session in: Ballista's default
/// state for `config`, planning the backfill's nodes.
pub fn server_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    Ok(with_drift_planner(state))
}

/// The state a client connects with (`SessionContext::remote_with_state`
/// puts Ballista's planner in): plans go out in `partitions` parts, as a
/// job named `job_name` (how the client finds it in the scheduler's progress).
pub fn client_state(partitions: usize, job_name: &str) -> SessionState {
    let config = config()
        .with_target_partitions(partitions.max(1))
        .with_ballista_job_name(job_name);
    SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build()
}
