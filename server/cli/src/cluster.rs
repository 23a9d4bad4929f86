//! `driftlock cluster scheduler|executor`, and `backfill --cluster` and
//! `score --cluster`: the backfill on an Apache DataFusion Ballista
//! cluster. Scheduler, executors and client are this same binary, so their
//! plan encodings always match.

use anyhow::Context;
use clap::{Args, Subcommand};

use driftlock_batch::backfill::{DateRange, archive};
use driftlock_cluster::backfill::{ClusterBackfill, ClusterProgress};
use driftlock_cluster::executor::ExecutorOptions;
use driftlock_cluster::scheduler::SchedulerOptions;

use crate::backfill::BackfillArgs;
use crate::score::ScoreArgs;

/// Run a Ballista scheduler or executor that can run Driftlock backfills and scoring.
///
/// Start one scheduler and any number of executors, then run
/// `driftlock backfill ARCHIVE --cluster df://HOST:PORT --out DIR` (or
/// `driftlock score FILE.parquet... --cluster df://HOST:PORT --out FILE`).
/// Every executor opens the input files, and writes anomalies into the
/// output's folder, by the absolute paths the client gives, so they must
/// all see both there (a shared filesystem).
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans backfills and hands their tasks to executors.
    Scheduler(SchedulerArgs),
    /// An executor: runs tasks (reading files, shuffling, scoring streams).
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_host: String,
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
    /// Port of the job progress JSON that `backfill --cluster` and `score
    /// --cluster` draw their bar from (GET /progress). Clients look at
    /// --port + 1.
    #[arg(long)]
    pub progress_port: Option<u16>,
    /// The host executors reach the scheduler by (default: --bind-host).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is lost and its
    /// tasks are scheduled again elsewhere.
    #[arg(long, default_value_t = 30)]
    pub executor_timeout_secs: u64,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    #[arg(long, default_value = "localhost")]
    pub scheduler_host: String,
    #[arg(long, default_value_t = 50050)]
    pub scheduler_port: u16,
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_host: String,
    /// Flight port: other executors and the client fetch this one's results here.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Control port.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// The host others reach this executor by (default: its hostname as Ballista sees it).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle files (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Seconds between heartbeats (keep well under the scheduler's --executor-timeout-secs).
    #[arg(long, default_value_t = 5)]
    pub heartbeat_secs: u64,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    crate::logging::init_tracing();
    match cmd {
        ClusterCommand::Scheduler(a) => {
            let opts = SchedulerOptions {
                bind_host: a.bind_host,
                port: a.port,
                progress_port: a.progress_port.unwrap_or(a.port.saturating_add(1)),
                external_host: a.external_host,
                executor_timeout_secs: a.executor_timeout_secs,
            };
            eprintln!(
                "driftlock cluster scheduler on {}:{} (job progress on port {})",
                opts.bind_host, opts.port, opts.progress_port
            );
            runtime()?.block_on(driftlock_cluster::scheduler::run(&opts))?;
        }
        ClusterCommand::Executor(a) => {
            let vcores = a
                .concurrent_tasks
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let opts = ExecutorOptions {
                scheduler_host: a.scheduler_host,
                scheduler_port: a.scheduler_port,
                bind_host: a.bind_host,
                port: a.port,
                grpc_port: a.grpc_port,
                external_host: a.external_host,
                vcores,
                work_dir: a.work_dir,
                heartbeat_secs: a.heartbeat_secs,
            };
            eprintln!(
                "driftlock cluster executor on {}:{} ({} tasks at once), scheduler {}:{}",
                opts.bind_host, opts.port, vcores, opts.scheduler_host, opts.scheduler_port
            );
            runtime()?.block_on(driftlock_cluster::executor::run(&opts))?;
        }
    }
    Ok(())
}

/// `backfill --cluster URL`.
pub fn backfill(args: &BackfillArgs, url: &str) -> anyhow::Result<()> {
    let Some(out) = &args.out else {
        anyhow::bail!("--cluster writes Parquet: give --out DIR");
    };
    // Executors open the files by these paths: absolute ones mean the same everywhere.
    let root =
        std::fs::canonicalize(&args.archive).with_context(|| args.archive.display().to_string())?;
    let range = DateRange::validated(args.since.clone(), args.until.clone())?;
    let files = archive::list(&root, &range)?;
    if files.is_empty() {
        anyhow::bail!("{}: no Parquet files to backfill", root.display());
    }
    let job = ClusterBackfill {
        url: url.to_owned(),
        files,
        read: args.pipeline.read_options(&args.mapping)?,
        detector: args.detector.config()?,
        out: out.clone(),
        partitions: args.partitions.max(1),
        progress: driftlock_cluster::backfill::progress_addr(url),
        poll: driftlock_cluster::backfill::POLL,
    };
    let summary = with_task_bar(args.pipeline.no_progress, |observe| {
        Ok(runtime()?.block_on(driftlock_cluster::backfill::run(&job, observe))?)
    })?;
    note_lost_rows(summary.from_listing);
    let secs = summary.secs.max(1e-9);
    eprintln!(
        "backfilled {} files on {url}: {} events, {} anomalies in {} parts ({} retried tasks' copies deleted) in {:.2}s ({:.0} events/s) into {}",
        summary.files,
        summary.events,
        summary.anomalies,
        summary.parts,
        summary.retried_parts,
        summary.secs,
        summary.events as f64 / secs,
        summary.out.display(),
    );
    Ok(())
}

/// `score --cluster URL`: the cluster backfill over the given files, merged
/// into one output file.
pub fn score(args: &ScoreArgs, url: &str) -> anyhow::Result<()> {
    let Some(out) = &args.out else {
        anyhow::bail!(
            "--cluster needs --out FILE: the executors write through paths they share, and stdout is not one"
        );
    };
    let job = ClusterBackfill {
        url: url.to_owned(),
        files: archive::files(&args.inputs)?,
        read: args.pipeline.read_options(&args.mapping)?,
        detector: args.detector.config()?,
        out: out.clone(),
        partitions: args.partitions.max(1),
        progress: driftlock_cluster::backfill::progress_addr(url),
        poll: driftlock_cluster::backfill::POLL,
    };
    let summary = with_task_bar(args.pipeline.no_progress, |observe| {
        runtime()?
            .block_on(driftlock_cluster::score::run(&job, observe))
            .with_context(|| format!("scoring into {}", out.display()))
    })?;
    note_lost_rows(summary.from_listing);
    let secs = summary.secs.max(1e-9);
    eprintln!(
        "scored {} files on {url}: {} events, {} anomalies in {:.2}s ({:.0} events/s) into {}",
        summary.files,
        summary.events,
        summary.anomalies,
        summary.secs,
        summary.events as f64 / secs,
        out.display(),
    );
    Ok(())
}

/// Runs `run` with a bar over the job's tasks, cleared when it returns.
fn with_task_bar<T>(
    no_progress: bool,
    run: impl FnOnce(&mut (dyn FnMut(&ClusterProgress) + Send)) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let bar = crate::progress::tasks(no_progress);
    let result = run(&mut |p| {
        bar.set_length(p.tasks as u64);
        bar.set_position(p.tasks_done as u64);
        bar.set_message(format!("{} anomalies", p.anomalies));
    });
    bar.finish_and_clear();
    result
}

fn note_lost_rows(from_listing: bool) {
    if from_listing {
        eprintln!(
            "note: the job's result rows were lost with an executor; its parts were read from the attempts folder"
        );
    }
}
