//! A scheduler and executors inside this process, on loopback: tests and
//! one-machine trials of the cluster path.

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;

use crate::{ClusterError, session};

/// Starts a scheduler and `executors` executors of `vcores` task slots each
/// (they run until the process ends) and returns the scheduler's `df://` URL.
pub async fn start(executors: usize, vcores: usize) -> crate::Result<String> {
    let state = session::server_state(session::config())?;
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state).await?;
    // The listener is bound before the call returns, so this connects.
    let scheduler = SchedulerGrpcClient::connect(format!("http://localhost:{}", addr.port()))
        .await
        .map_err(|e| ClusterError::Invalid(format!("in-process scheduler: {e}")))?;
    for _ in 0..executors {
        ballista_executor::new_standalone_executor_from_state(scheduler.clone(), vcores, &state)
            .await?;
    }
    Ok(format!("df://localhost:{}", addr.port()))
}
