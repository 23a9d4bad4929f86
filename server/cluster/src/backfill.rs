//! A backfill on a cluster: the client plans it, the cluster scores it, and
//! the client writes the anomalies as one Parquet part in the flat schema,
//! the way a local backfill's parts hold them, under a temporary name
//! renamed when complete. Copies of a retried task's anomalies are dropped
//! (see [`sorted_once`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use ballista::extension::SessionContextExt;
use datafusion::prelude::{DataFrame, SessionContext};
use driftlock_batch::backfill::{DateRange, archive, parquet_rows};
use driftlock_batch::output::{FlatColumns, FlatSink, ParquetSink, anomaly_schema, for_each_row};
use driftlock_batch::plan::backfill_plan;
use driftlock_engine::DetectorConfig;
use driftlock_engine::read::ReadOptions;
use futures_util::StreamExt;

use crate::{ClusterError, session};

/// The part a cluster backfill writes in its output folder.
pub const PART: &str = "part-000000.parquet";

/// What to backfill on which cluster.
#[derive(Debug, Clone)]
pub struct ClusterBackfill {
    /// The scheduler, `df://HOST:PORT`.
    pub url: String,
    /// Executors open the files by these paths.
    pub archive: PathBuf,
    pub range: DateRange,
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
    /// Copies of anomalies that retried tasks delivered again, dropped.
    pub duplicates: u64,
    pub secs: f64,
    pub part: PathBuf,
}

/// Rows sorted by (stream_id, reported_at, index, kind), the input's order
/// kept on ties, so a part's order does not depend on which task finished
/// first; and each anomaly once. After a lost executor Ballista can run a
/// finished scoring task again and hand the client both results (seen with
/// a SIGKILLed executor); detection is deterministic, so the copies are
/// identical rows and one is kept. Copies that differ are an error.
fn sorted_once(batches: &[RecordBatch]) -> crate::Result<(RecordBatch, u64)> {
    let all = concat_batches(&anomaly_schema(), batches)?;
    let key = |name: &str| SortColumn {
        values: all
            .column(all.schema().index_of(name).expect("flat column"))
            .clone(),
        options: None,
    };
    let order = lexsort_to_indices(
        &[
            key("stream_id"),
            key("reported_at"),
            key("index"),
            key("kind"),
        ],
        None,
    )?;
    let all = take_record_batch(&all, &order)?;
    let mut out = FlatColumns::default();
    let mut last: Option<((String, u64, String), String)> = None;
    let mut dropped = 0u64;
    for_each_row(&all, |r| {
        let id = (r.stream_id.to_owned(), r.index, r.kind.to_owned());
        let whole = format!("{r:?}");
        if let Some((prev_id, prev_whole)) = &last
            && *prev_id == id
        {
            if *prev_whole != whole {
                return Err(driftlock_batch::BatchError::Invalid(format!(
                    "two tasks reported different anomalies for stream {} position {} ({})",
                    id.0, id.1, id.2
                )));
            }
            dropped += 1;
            return Ok(());
        }
        out.push(r);
        last = Some((id, whole));
        Ok(())
    })?;
    Ok((out.take_batch()?, dropped))
}

fn write_part(out: &Path, rows: &RecordBatch) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|e| ClusterError::io(out, e))?;
    let path = out.join(PART);
    if path.exists() {
        return Err(ClusterError::Invalid(format!(
            "{} exists: use an empty output folder",
            path.display()
        )));
    }
    let tmp = out.join(format!(".{PART}.tmp"));
    let file = File::create(&tmp).map_err(|e| ClusterError::io(&tmp, e))?;
    let mut sink = ParquetSink::new(file)?;
    if rows.num_rows() > 0 {
        sink.write_batch(rows)?;
    }
    let file = sink.into_inner()?;
    file.sync_all().map_err(|e| ClusterError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ClusterError::io(&path, e))?;
    Ok(path)
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

/// How often the command line asks for progress.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the backfill; `observe` sees where it stands, every `cfg.poll`
/// while the cluster works and as anomalies arrive.
pub async fn run(
    cfg: &ClusterBackfill,
    observe: &mut (dyn FnMut(&ClusterProgress) + Send),
) -> crate::Result<ClusterSummary> {
    let start = Instant::now();
    let files = archive::list(&cfg.archive, &cfg.range)?;
    if files.is_empty() {
        return Err(ClusterError::Invalid(format!(
            "{}: no Parquet files to backfill",
            cfg.archive.display()
        )));
    }
    let mut events = 0;
    for f in &files {
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
    let plan = backfill_plan(&files, &cfg.read, &cfg.detector, cfg.partitions)?;
    let mut stream = DataFrame::new(ctx.state(), plan).execute_stream().await?;
    let mut batches = Vec::new();
    let mut progress = ClusterProgress::default();
    let progress_at = cfg.progress;
    let mut ticks = tokio::time::interval(cfg.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            batch = stream.next() => {
                let Some(batch) = batch else { break };
                let batch = batch?;
                progress.anomalies += batch.num_rows() as u64;
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
                }
                observe(&progress);
            }
        }
    }
    let (rows, duplicates) = sorted_once(&batches)?;
    let part = write_part(&cfg.out, &rows)?;
    Ok(ClusterSummary {
        files: files.len(),
        events,
        anomalies: rows.num_rows() as u64,
        duplicates,
        secs: start.elapsed().as_secs_f64(),
        part,
    })
}
