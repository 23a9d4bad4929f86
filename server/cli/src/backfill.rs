//! `driftlock backfill`: score a Parquet archive with resumable checkpoints.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::bail;
use clap::Args;

use driftlock_batch::backfill::{self, BackfillConfig, DateRange, Output};
use driftlock_store::dir_lock::DirLock;

use crate::score::{DetectorArgs, MappingArgs, PipelineArgs};

/// Score a folder of Parquet files (Hive `date=YYYY-MM-DD` partitions welcome),
/// resumably.
///
/// Files run in path order; a checkpoint (detector states, files done, output
/// position) is replaced atomically every --checkpoint-every batches and after
/// each file. Run the same command again after a kill and it resumes without
/// writing any anomaly twice; run it after it finished and nothing changes.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:\n  \
    driftlock backfill archive/ --out anomalies/ --since 2025-01-01 --until 2025-01-31\n  \
    driftlock backfill archive/ --store driftlock-data --ignore-column label")]
pub struct BackfillArgs {
    /// The archive: a folder searched recursively for .parquet files, or one file.
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// Only partitions with date= on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only partitions with date= on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Output folder of part-NNNNNN.parquet files (one per checkpoint interval with anomalies).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "store",
        required_unless_present = "store"
    )]
    pub out: Option<PathBuf>,
    /// The server's data directory: anomalies go into its SQLite store (seen by /v1/anomalies).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Checkpoint file (default: _checkpoint.json in --out, or backfill-HASH.checkpoint.json in --store).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Read batches between two checkpoints (also one after each file): more
    /// is faster, fewer loses less work to a kill.
    #[arg(long, default_value_t = backfill::CHECKPOINT_EVERY)]
    pub checkpoint_every: u64,

    /// Run on a Ballista cluster (`driftlock cluster scheduler` and
    /// executors), given its scheduler as df://HOST:PORT. Every executor
    /// opens the archive's files, and writes its anomalies into --out, by
    /// their absolute paths here, so they must all see both at those paths
    /// (a shared filesystem); this process then keeps one part per scoring
    /// partition (--out/part-NNNNNN.parquet) and deletes retried tasks'
    /// copies. The bar counts the job's tasks (the scheduler serves them on
    /// its port + 1). No checkpoint: the cluster retries a failed task
    /// elsewhere; a failed run is run again whole.
    #[arg(long, value_name = "URL", conflicts_with_all = ["store", "checkpoint"])]
    pub cluster: Option<String>,
    /// With --cluster: parts the archive is read in and streams are hashed
    /// into (tasks per stage).
    #[arg(long, default_value_t = 8, requires = "cluster")]
    pub partitions: usize,

    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub mapping: MappingArgs,

    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn run(args: BackfillArgs) -> anyhow::Result<()> {
    crate::logging::init_tracing();
    if let Some(url) = &args.cluster {
        return crate::cluster::backfill(&args, url);
    }
    // Held until the backfill ends: a server on the same store would lose writes.
    let _lock = match &args.store {
        Some(dir) => Some(DirLock::acquire(dir)?),
        None => None,
    };
    let output = match (&args.out, &args.store) {
        (Some(dir), None) => Output::Parts(dir.clone()),
        (None, Some(dir)) => Output::Store(dir.clone()),
        _ => bail!("give exactly one of --out DIR and --store DIR"),
    };
    let cfg = BackfillConfig {
        archive: args.archive.clone(),
        range: DateRange::validated(args.since.clone(), args.until.clone())?,
        detector: args.detector.config()?,
        read: args.pipeline.read_options(&args.mapping)?,
        output,
        checkpoint_every: args.checkpoint_every.max(1),
        buffer_events: args.pipeline.buffer_events.max(1),
        checkpoint: args.checkpoint.clone(),
    };
    let backend = driftlock_kernels::backend(args.pipeline.device)?;
    let bar = crate::progress::bytes(args.pipeline.no_progress);
    let never = AtomicBool::new(false);
    let summary = backfill::run(&cfg, backend.as_ref(), &never, &mut |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        if p.went_back.is_some() && p.rows_done == p.rows_resumed {
            bar.set_message("events out of time order: sorting the archive by time");
        } else {
            bar.set_message(format!(
                "file {}/{}, {} events, {} anomalies",
                p.files_done, p.files_total, p.events, p.anomalies
            ));
        }
    })?;
    bar.finish_and_clear();

    let p = &summary.progress;
    if let Some(went_back) = &p.went_back {
        eprintln!(
            "note: {went_back}; every stream was scored in time order from a sort of the archive"
        );
    }
    if summary.already_complete {
        eprintln!(
            "backfill already complete: {} files, {} events in {} streams, {} anomalies; nothing to do",
            p.files_total, p.events, p.streams, p.anomalies
        );
        return Ok(());
    }
    let secs = summary.secs.max(1e-9);
    eprintln!(
        "backfilled {} files{}: {} events in {} streams, {} anomalies, {} bad rows skipped; \
         this run {} rows, {:.1} MB in {:.2}s ({:.0} events/s, {:.1} MB/s) on {}",
        p.files_total,
        if summary.resumed { " (resumed)" } else { "" },
        p.events,
        p.streams,
        p.anomalies,
        p.skipped_rows,
        summary.rows_this_run,
        summary.bytes_this_run as f64 / 1e6,
        summary.secs,
        summary.rows_this_run as f64 / secs,
        summary.bytes_this_run as f64 / 1e6 / secs,
        backend.describe(),
    );
    Ok(())
}
