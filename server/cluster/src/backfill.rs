//! A backfill on a cluster: the client plans it, the executors score it
//! and write each scoring partition's anomalies as a Parquet part in the
//! flat schema (as a local backfill's parts hold them) into the output
//! folder, which they must all see; the client then keeps one attempt per
//! partition (see [`driftlock_batch::plan::part_write`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::AsArray;
use ballista::extension::SessionContextExt;
use datafusion::prelude::{DataFrame, SessionContext};
use driftlock_batch::backfill::{ArchiveFile, parquet_rows};
use driftlock_batch::plan::part_write::{listed, reported};
use driftlock_batch::plan::{attempts_dir, backfill_write_plan, commit_parts};
use driftlock_engine::DetectorConfig;
use driftlock_engine::read::ReadOptions;
use futures_util::StreamExt;

use crate::{ClusterError, session};

/// What to backfill on which cluster.
#[derive(Debug, Clone)]
pub struct ClusterBackfill {
    /// The scheduler, `df://HOST:PORT`.
    pub url: String,
    /// The files, in order (their place breaks timestamp ties), resolved
    /// up front from an archive ([`driftlock_batch::backfill::archive::list`]) or a list of paths
    /// ([`driftlock_batch::backfill::archive::files`]). Executors open them by these paths.
    pub files: Vec<ArchiveFile>,
    pub read: ReadOptions,
    pub detector: DetectorConfig,
    pub out: PathBuf,
    /// Parts the archive is read in and streams are hashed into (tasks per stage).
    pub partitions: usize,
    /// The scheduler's progress endpoint (none: no task counts), and how
    /// often to ask it.
    pub progress: Option<std::net::SocketAddr>,
    pub poll: std::time::Duration,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    pub files: usize,
    /// Events in the archive, from the Parquet footers (rows of other formats not counted).
    pub events: u64,
    pub anomalies: u64,
    /// Part files written, one per scoring partition.
    pub parts: usize,
    /// Second attempts of a partition (retried tasks), deleted.
    pub retried_parts: u64,
    /// The job's result rows could not be fetched (lost with an executor)
    /// and the parts were found in the attempts folder.
    pub from_listing: bool,
    pub secs: f64,
    /// The output folder, absolute.
    pub out: PathBuf,
}

/// The output folder, made absolute (executors write into it) and checked
/// empty of parts.
fn output_dir(out: &Path) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| ClusterError::io(out, e))?;
    let out = std::fs::canonicalize(out).map_err(|e| ClusterError::io(out, e))?;
    for entry in std::fs::read_dir(&out).map_err(|e| ClusterError::io(&out, e))? {
        let name = entry.map_err(|e| ClusterError::io(&out, e))?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            return Err(ClusterError::Invalid(format!(
                "{} holds {name}: use an empty output folder",
                out.display()
            )));
        }
    }
    Ok(out)
}

/// Where a run stands: the job's tasks as the scheduler counts them (both
/// 0 until it reports them, or when it serves no progress), then the
/// anomalies received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterProgress {
    pub tasks: usize,
    pub tasks_done: usize,
    pub anomalies: u64,
}

/// The scheduler's progress address for a `df://HOST:PORT` URL: `PORT + 1`
/// (see [`crate::scheduler::SchedulerOptions::progress_port`]).
pub fn progress_addr(url: &str) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("df://").unwrap_or(url);
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (host, port.checked_add(1)?).to_socket_addrs().ok()?.next()
}

/// Whether the scheduler at `url` (`df://HOST:PORT`) says job `id` succeeded.
async fn job_succeeded(url: &str, id: &str) -> bool {
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_core::serde::protobuf::{GetJobStatusParams, job_status};
    let endpoint = format!("http://{}", url.strip_prefix("df://").unwrap_or(url));
    let Ok(mut client) = SchedulerGrpcClient::connect(endpoint).await else {
        return false;
    };
    let params = GetJobStatusParams {
        job_id: id.to_owned(),
    };
    match client.get_job_status(params).await {
        Ok(status) => matches!(
            status.into_inner().status.and_then(|s| s.status),
            Some(job_status::Status::Successful(_))
        ),
        Err(_) => false,
    }
}

/// How often the command line asks for progress.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the backfill; `observe` sees where it stands, every `cfg.poll`
/// while the cluster works and as anomalies arrive.
pub async fn run(
    cfg: &ClusterBackfill,
    observe: &mut (dyn FnMut(&ClusterProgress) + Send),
) -> crate::Result<ClusterSummary> {
    let start = Instant::now();
    let files = &cfg.files;
    if files.is_empty() {
        return Err(ClusterError::Invalid("no Parquet files to score".into()));
    }
    let mut events = 0;
    for f in files {
        events += parquet_rows(&f.path)?.unwrap_or(0);
    }
    let job_name = format!(
        "driftlock-backfill-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let ctx = SessionContext::remote_with_state(
        &cfg.url,
        session::client_state(cfg.partitions, &job_name),
    )
    .await?;
    let out = output_dir(&cfg.out)?;
    let attempts = attempts_dir(&out, &job_name);
    let plan = backfill_write_plan(files, &cfg.read, &cfg.detector, cfg.partitions, &attempts)?;
    let mut stream = DataFrame::new(ctx.state(), plan).execute_stream().await?;
    let mut batches = Vec::new();
    let mut progress = ClusterProgress::default();
    let progress_at = cfg.progress;
    let mut ticks = tokio::time::interval(cfg.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut job_id = None;
    let mut failed = None;
    loop {
        tokio::select! {
            batch = stream.next() => {
                let batch = match batch {
                    None => break,
                    Some(Ok(batch)) => batch,
                    Some(Err(e)) => {
                        failed = Some(e);
                        break;
                    }
                };
                progress.anomalies += batch
                    .column(2)
                    .as_primitive::<arrow::datatypes::UInt64Type>()
                    .iter()
                    .flatten()
                    .sum::<u64>();
                // Results come once the last stage is done.
                progress.tasks_done = progress.tasks;
                observe(&progress);
                batches.push(batch);
            }
            _ = ticks.tick(), if progress_at.is_some() => {
                // A scheduler without the endpoint (Ballista's own) gives no counts.
                if let Some(addr) = progress_at
                    && let Ok(Some(job)) = crate::progress::fetch(addr, &job_name).await
                {
                    progress.tasks = job.tasks;
                    progress.tasks_done = job.tasks_done;
                    job_id = Some(job.job_id);
                }
                observe(&progress);
            }
        }
    }
    let from_listing = failed.is_some();
    let found = match failed {
        None => reported(&batches),
        // The job's rows are kept on the executors that ran its last tasks;
        // with one of them lost after the job finished they cannot be
        // fetched, but the parts they describe are on the shared storage.
        Some(e) => match &job_id {
            Some(id) if job_succeeded(&cfg.url, id).await => listed(&attempts)?,
            _ => return Err(e.into()),
        },
    };
    let committed = commit_parts(&out, &attempts, found)?;
    Ok(ClusterSummary {
        files: files.len(),
        events,
        anomalies: committed.rows,
        parts: committed.parts,
        retried_parts: committed.extra_attempts,
        from_listing,
        secs: start.elapsed().as_secs_f64(),
        out,
    })
}
