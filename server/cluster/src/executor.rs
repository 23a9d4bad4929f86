//! `driftlock cluster executor`: Ballista's executor with our codecs, so it
//! can decode and run the backfill's stages. It opens the archive's files
//! by the paths the client gave, so every executor must see them there.

use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

use crate::codec::{DriftLogicalCodec, DriftPhysicalCodec};
use crate::session;

/// Where the executor listens and which scheduler it works for.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    pub bind_host: String,
    /// Flight (shuffle data) port.
    pub port: u16,
    /// Control (gRPC) port.
    pub grpc_port: u16,
    /// The host other executors fetch this one's shuffle output from.
    pub external_host: Option<String>,
    /// Tasks run at once.
    pub vcores: usize,
    /// Where shuffle files go (a temporary folder when not given).
    pub work_dir: Option<String>,
    /// Seconds between heartbeats to the scheduler; well under its executor timeout.
    pub heartbeat_secs: u64,
}

/// Runs the executor until the process ends.
pub async fn run(opts: &ExecutorOptions) -> crate::Result<()> {
    let config = ExecutorProcessConfig {
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        vcores: opts.vcores.max(1),
        work_dir: opts.work_dir.clone(),
        // As the scheduler's policy (see `scheduler`).
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_heartbeat_interval_seconds: opts.heartbeat_secs.max(1),
        override_config_producer: Some(Arc::new(session::config)),
        override_logical_codec: Some(Arc::new(DriftLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(DriftPhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
