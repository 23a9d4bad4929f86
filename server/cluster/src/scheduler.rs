//! `driftlock cluster scheduler`: Ballista's scheduler with our codecs and
//! planner, so it can plan a backfill and ship its stages.

use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::codec::{DriftLogicalCodec, DriftPhysicalCodec};
use crate::{ClusterError, session};

/// Where the scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind_host: String,
    pub port: u16,
    /// The host executors and clients reach it by, if not `bind_host`.
    pub external_host: Option<String>,
    /// Where the job progress JSON is served ([`crate::progress`]); clients
    /// look at `port + 1`.
    pub progress_port: u16,
    /// An executor silent this long is declared lost and its tasks run
    /// elsewhere (Ballista's default is 180 s).
    pub executor_timeout_secs: u64,
}

fn config(opts: &SchedulerOptions) -> SchedulerConfig {
    SchedulerConfig {
        bind_host: opts.bind_host.clone(),
        bind_port: opts.port,
        external_host: opts
            .external_host
            .clone()
            .unwrap_or_else(|| opts.bind_host.clone()),
        // Executors ask for work with the slots they have free (as
        // Ballista's standalone cluster does).
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        executor_timeout_seconds: opts.executor_timeout_secs.max(1),
        no_executors_grace_period_seconds: opts.executor_timeout_secs.max(1),
        expire_dead_executor_interval_seconds: (opts.executor_timeout_secs / 4).clamp(1, 15),
        override_config_producer: Some(Arc::new(session::config)),
        override_session_builder: Some(Arc::new(session::server_state)),
        override_logical_codec: Some(Arc::new(DriftLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(DriftPhysicalCodec::default())),
        ..SchedulerConfig::default()
    }
}

/// Runs the scheduler, and its progress endpoint, until the process ends.
pub async fn run(opts: &SchedulerOptions) -> crate::Result<()> {
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind((opts.bind_host.as_str(), port))
            .await
            .map_err(|e| ClusterError::Invalid(format!("{}:{port}: {e}", opts.bind_host)))
    };
    serve(
        opts,
        bind(opts.port).await?,
        bind(opts.progress_port).await?,
    )
    .await
}

/// [`run`] on listeners already bound (tests bind port 0); `opts`' ports
/// must be theirs.
pub async fn serve(
    opts: &SchedulerOptions,
    grpc: tokio::net::TcpListener,
    progress: tokio::net::TcpListener,
) -> crate::Result<()> {
    let config = Arc::new(config(opts));
    config.validate()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let server = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config).await?;
    tokio::select! {
        served = start_grpc_service_with_listener(grpc, server.clone()) => served?,
        served = crate::progress::serve(progress, server) => served?,
    }
    Ok(())
}
