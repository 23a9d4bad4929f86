//! How far a cluster job has got, in tasks: the scheduler serves its running
//! jobs' stage and task counts as JSON (`GET /progress`, on its own port:
//! Ballista's REST API is a build feature we leave off), and the client
//! polls it for its job, found by the job name it gave, to draw a bar.

use std::net::SocketAddr;

use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// The path the scheduler serves progress on.
pub const PATH: &str = "/progress";

/// One running job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub job_id: String,
    pub job_name: String,
    pub stages: usize,
    pub stages_done: usize,
    /// Tasks of every stage (a stage runs one task per input partition).
    pub tasks: usize,
    pub tasks_done: usize,
}

type Server = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Tasks of a stage not yet resolved: one per partition its plan reads.
fn planned_tasks(plan: &dyn ExecutionPlan) -> usize {
    match plan.children().as_slice() {
        [only] => only.properties().partitioning.partition_count(),
        _ => plan.properties().partitioning.partition_count(),
    }
}

/// The scheduler's running jobs.
pub async fn snapshot(server: &Server) -> Vec<JobProgress> {
    let jobs = server.state.task_manager.get_running_job_cache();
    let mut out = Vec::with_capacity(jobs.len());
    for (id, job) in jobs.iter() {
        let graph = job.execution_graph.read().await;
        let mut p = JobProgress {
            job_id: id.to_string(),
            job_name: graph.job_name().to_owned(),
            stages: graph.stage_count(),
            stages_done: graph.completed_stages(),
            ..JobProgress::default()
        };
        for stage in graph.stages().values() {
            let (tasks, done) = match stage {
                ExecutionStage::UnResolved(s) => (planned_tasks(s.plan.as_ref()), 0),
                ExecutionStage::Resolved(s) => (s.partitions, 0),
                ExecutionStage::Running(s) => {
                    (s.partitions, s.successful_tasks().min(s.partitions))
                }
                ExecutionStage::Successful(s) => (s.partitions, s.partitions),
                ExecutionStage::Failed(s) => (s.partitions, 0),
            };
            p.tasks += tasks;
            p.tasks_done += done;
        }
        out.push(p);
    }
    out.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    out
}

/// Serves [`snapshot`] at [`PATH`] on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, server: Server) -> crate::Result<()> {
    let app = axum::Router::new().route(
        PATH,
        axum::routing::get(move || {
            let server = server.clone();
            async move { axum::Json(snapshot(&server).await) }
        }),
    );
    axum::serve(listener, app)
        .await
        .map_err(|e| ClusterError::Invalid(format!("progress endpoint: {e}")))
}

/// The job named `job_name` at the scheduler's progress address, if it is
/// running there.
pub async fn fetch(addr: SocketAddr, job_name: &str) -> crate::Result<Option<JobProgress>> {
    let fail =
        |e: &dyn std::fmt::Display| ClusterError::Invalid(format!("progress from {addr}: {e}"));
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(&e))?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| fail(&e))?;
    tokio::spawn(conn);
    let request = hyper::Request::get(PATH)
        .header(hyper::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| fail(&e))?;
    let response = send.send_request(request).await.map_err(|e| fail(&e))?;
    if !response.status().is_success() {
        return Err(fail(&response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(&e))?
        .to_bytes();
    let jobs: Vec<JobProgress> = serde_json::from_slice(&body).map_err(|e| fail(&e))?;
    Ok(jobs.into_iter().find(|j| j.job_name == job_name))
}
