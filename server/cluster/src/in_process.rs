//! A scheduler (the one `driftlock cluster scheduler` runs, progress
//! endpoint included) and executors inside this process, on loopback: tests
//! and one-machine trials of the cluster path.

use std::net::SocketAddr;

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;

use crate::scheduler::SchedulerOptions;
use crate::{ClusterError, session};

/// A started cluster's addresses.
#[derive(Debug, Clone)]
pub struct InProcess {
    /// The scheduler, `df://127.0.0.1:PORT`.
    pub url: String,
    /// Its progress endpoint.
    pub progress: SocketAddr,
}

/// Starts a scheduler and `executors` executors of `vcores` task slots each
/// (they run until the process ends).
pub async fn start(executors: usize, vcores: usize) -> crate::Result<InProcess> {
    let io = |e: std::io::Error| ClusterError::Invalid(format!("in-process scheduler: {e}"));
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let progress = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let (port, progress_addr) = (
        grpc.local_addr().map_err(io)?.port(),
        progress.local_addr().map_err(io)?,
    );
    let opts = SchedulerOptions {
        bind_host: "127.0.0.1".into(),
        port,
        progress_port: progress_addr.port(),
        external_host: None,
        executor_timeout_secs: 30,
    };
    tokio::spawn(async move {
        if let Err(e) = crate::scheduler::serve(&opts, grpc, progress).await {
            eprintln!("in-process scheduler: {e}");
        }
    });
    // The listener is bound, so this connects.
    let scheduler = SchedulerGrpcClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| ClusterError::Invalid(format!("in-process scheduler: {e}")))?;
    let state = session::server_state(session::config())?;
    for _ in 0..executors {
        ballista_executor::new_standalone_executor_from_state(scheduler.clone(), vcores, &state)
            .await?;
    }
    Ok(InProcess {
        url: format!("df://127.0.0.1:{port}"),
        progress: progress_addr,
    })
}
