//! `driftlock score`: offline scoring of event files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use driftlock_engine::read::{ColumnMapping, ReadOptions};
use driftlock_engine::{CompressorKind, DetectorConfig, EventKind};
use driftlock_kernels::DeviceChoice;

use driftlock_batch::backfill::BUFFER_EVENTS;
use driftlock_batch::output::create_file_sink;
use driftlock_batch::score::{self, ScoreConfig};

/// Score event files and write the anomalies.
///
/// Events are read in batches on their own thread (memory is bounded by the
/// buffer and the per-stream state, not by file size), routed to one detector
/// per stream, and scored in parallel across streams while the next events are
/// read: the pipeline `driftlock backfill` runs, without checkpoints. Anomalies
/// come out in the order of the rows that reported them. The output format follows the extension of
/// --out (.parquet, .arrow, .csv, .ndjson); without --out, NDJSON goes to stdout.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:\n  \
    driftlock score logs/*.parquet --out anomalies.parquet\n  \
    driftlock score metrics.csv --default-type metric --stream-column host\n  \
    driftlock score traces.ndjson --p-value-threshold 0.01 --seed 7 > anomalies.ndjson\n  \
    driftlock score logs/*.parquet --cluster df://scheduler:50050 --out /shared/anomalies.parquet")]
pub struct ScoreArgs {
    /// Input files: Parquet (.parquet), Arrow IPC (.arrow), CSV (.csv) or NDJSON (.ndjson/.jsonl).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output file; the format follows the extension. Default: NDJSON on stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Report only the event anomalies that pass Benjamini–Hochberg at this
    /// false-discovery rate over every event of the run (e.g. 0.01), instead
    /// of each event's own p-value threshold. Anomalies are then written when
    /// the run ends. Change points are kept.
    #[arg(long, value_name = "Q", value_parser = fdr_rate)]
    pub fdr: Option<f64>,

    /// Run on a Ballista cluster (`driftlock cluster scheduler` and
    /// executors), given its scheduler as df://HOST:PORT; --out FILE is then
    /// required. Parquet inputs only. Every executor opens the inputs, and
    /// writes its share of the anomalies into a staging folder beside
    /// --out (.NAME.parts, deleted afterwards), by their absolute paths
    /// here, so they must all see the inputs and --out's folder at those
    /// paths (a shared filesystem); this process then writes --out. Local
    /// `score` scores each stream in file order, the cluster in (timestamp,
    /// file, row) order: the two agree when each stream's events are in time
    /// order in file order (as in archives written as time passes). The
    /// output holds the same anomalies as local `score`'s, streams in
    /// stream_id order and each stream's in local `score`'s order (the
    /// interleaving of streams across rows is not kept). Not with --fdr:
    /// its cut-off needs every anomaly of the run in one place before any
    /// is written, which the executors' parts are not.
    #[arg(long, value_name = "URL", conflicts_with = "fdr")]
    pub cluster: Option<String>,
    /// With --cluster: parts the inputs are read in and streams are hashed
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

/// How the files are read and scored (shared by `score` and `backfill`).
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    /// Permutation backend: auto uses a GPU when one is present and the batch is large.
    #[arg(long, default_value = "auto", value_name = "auto|cpu|gpu")]
    pub device: DeviceChoice,
    /// Skip rows that cannot become events (counted in the summary) instead of stopping.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Rows per read batch (a backfill's checkpoint records it: keep it when resuming).
    #[arg(long, default_value_t = 8192)]
    pub batch_rows: usize,
    /// Events queued, across streams, before they are scored together, so
    /// that each stream's detector gets them in one push: more is faster and
    /// uses more memory (two queues are alive, one scored while the next
    /// fills: about 3 KB an event each for log events); the anomalies and
    /// their order do not depend on it.
    #[arg(long, default_value_t = BUFFER_EVENTS, value_name = "N")]
    pub buffer_events: usize,
    /// Never draw a progress bar (it is only drawn on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

impl PipelineArgs {
    /// The reader's options for events mapped by `mapping`.
    pub fn read_options(&self, mapping: &MappingArgs) -> anyhow::Result<ReadOptions> {
        Ok(ReadOptions {
            mapping: mapping.mapping()?,
            batch_rows: self.batch_rows.max(1),
            skip_bad_rows: self.skip_bad_rows,
            format: None,
            defer_attributes: false,
            keep_body_text: false,
        })
    }
}

/// Detector parameters (defaults are the API's).
#[derive(Debug, Args, Clone)]
pub struct DetectorArgs {
    /// Events in the rolling baseline; a stream is calibrating until it is full.
    #[arg(long, default_value_t = 400)]
    pub baseline_size: usize,
    /// Start scoring after this many events, with a baseline that then grows to
    /// --baseline-size (0: wait for the full baseline).
    #[arg(long, default_value_t = 0, value_name = "EVENTS")]
    pub min_baseline_size: usize,
    /// Events in the window tested against the baseline.
    #[arg(long, default_value_t = 50)]
    pub window_size: usize,
    /// Events between two window tests.
    #[arg(long, default_value_t = 10)]
    pub hop_size: usize,
    /// Minimum NCD between an event and its nearest baseline event to flag it.
    #[arg(long, default_value_t = 0.30)]
    pub ncd_threshold: f64,
    /// Maximum p-value to flag an event.
    #[arg(long, default_value_t = 0.05)]
    pub p_value_threshold: f64,
    /// Compressor: zstd, lz4, gzip (openzl runs as zstd).
    #[arg(long, default_value = "zstd")]
    pub compressor: CompressorKind,
    /// Permutations per window test.
    #[arg(long = "permutations", default_value_t = 1000)]
    pub permutation_count: u32,
    /// Run every window test's --permutations in full instead of stopping at
    /// its 16th exceedance: p-values resolved to 1/(N+1), at N times the cost
    /// of a null window (exact mode; the GPU backend pays off here).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Keep flagging a new template that keeps recurring: by default its
    /// third flag within a refresh interval (100 events; --baseline-size
    /// events when only its words are new) makes it normal at once; with this
    /// flag it becomes normal only as the window moves past its lines.
    #[arg(long)]
    pub no_learn_recurring: bool,
    /// Report every flag with its event. By default a flag whose only news is
    /// words (fields and levels known) waits until its template has had
    /// --baseline-size events (or ten minutes of event time) to recur: if it
    /// became normal meanwhile, nothing is reported; else the flag is reported
    /// as it was scored. The end of the input reports what is still waiting.
    #[arg(long)]
    pub no_hold: bool,
    /// Seed: the same input and seed give the same output, byte for byte.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Mask volatile tokens (ids, hashes, IPs, timestamps): on, off, or auto (on except for metrics).
    #[arg(long, default_value = "auto", value_name = "auto|on|off")]
    pub mask: String,
    /// Metric events: judge each number with its rolling median and MAD over this
    /// many newest events of its series (level and volatility changes inside the
    /// range); 0 is off (the default: it can add false alarms, see the README).
    #[arg(long, default_value_t = 0, value_name = "EVENTS")]
    pub metric_context: usize,
    /// Metric events: flag a number beyond everything its series has had (a new
    /// all-time high or low) by more than this share of that range's width,
    /// e.g. 0.05; off by default. Such records are flagged even where the
    /// compression score is unremarkable, with their own p-value (see the README).
    #[arg(long, value_name = "SHARE")]
    pub record_margin: Option<f64>,
}

impl DetectorArgs {
    pub fn config(&self) -> anyhow::Result<DetectorConfig> {
        let mask_volatile = match self.mask.as_str() {
            "auto" => None,
            "on" | "true" => Some(true),
            "off" | "false" => Some(false),
            other => bail!("--mask: expected auto, on or off, got `{other}`"),
        };
        let config = DetectorConfig {
            baseline_size: self.baseline_size,
            min_baseline_size: self.min_baseline_size,
            window_size: self.window_size,
            hop_size: self.hop_size,
            ncd_threshold: self.ncd_threshold,
            p_value_threshold: self.p_value_threshold,
            compressor: self.compressor,
            permutation_count: self.permutation_count,
            early_stop: !self.no_early_stop,
            seed: self.seed,
            mask_volatile,
            metric_context: self.metric_context,
            record_margin: self.record_margin,
            learn_recurring: !self.no_learn_recurring,
            hold_new_templates: !self.no_hold,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Which input columns hold what. Unmapped, unignored columns go into the body.
#[derive(Debug, Args, Clone)]
pub struct MappingArgs {
    /// Column with the stream id (default: stream_id; absent → one stream per file).
    #[arg(long, value_name = "COLUMN")]
    pub stream_column: Option<String>,
    /// Column with the event time (default: timestamp).
    #[arg(long, value_name = "COLUMN")]
    pub time_column: Option<String>,
    /// Column with the event type (default: type).
    #[arg(long, value_name = "COLUMN")]
    pub type_column: Option<String>,
    /// Column holding the body as a JSON object (default: body; absent → other columns).
    #[arg(long, value_name = "COLUMN")]
    pub body_column: Option<String>,
    /// Type of events whose file has no type column: log, metric, trace or llm.
    #[arg(long, value_name = "TYPE")]
    pub default_type: Option<String>,
    /// Columns to leave out of the body (repeatable), e.g. label columns.
    #[arg(long = "ignore-column", value_name = "COLUMN")]
    pub ignore: Vec<String>,
}

impl MappingArgs {
    pub fn mapping(&self) -> anyhow::Result<ColumnMapping> {
        let mut m = ColumnMapping::default();
        if let Some(c) = &self.stream_column {
            m = m.with_stream(c);
        }
        if let Some(c) = &self.time_column {
            m = m.with_timestamp(c);
        }
        if let Some(c) = &self.type_column {
            m = m.with_kind(c);
        }
        if let Some(c) = &self.body_column {
            m = m.with_body(c);
        }
        if let Some(t) = &self.default_type {
            let kind = EventKind::parse(t).with_context(|| {
                format!("--default-type: expected log, metric, trace or llm, got `{t}`")
            })?;
            m = m.with_default_kind(kind);
        }
        for c in &self.ignore {
            m = m.with_ignored(c);
        }
        Ok(m)
    }
}

fn fdr_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if q > 0.0 && q < 1.0 => Ok(q),
        _ => Err(format!("expected a rate between 0 and 1, got `{s}`")),
    }
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    crate::logging::init_tracing();
    if let Some(url) = &args.cluster {
        return crate::cluster::score(&args, url);
    }
    let run = &args.pipeline;
    let backend = driftlock_kernels::backend(run.device)?;
    let cfg = ScoreConfig {
        inputs: args.inputs.clone(),
        read: run.read_options(&args.mapping)?,
        detector: args.detector.config()?,
        buffer_events: run.buffer_events.max(1),
        fdr: args.fdr,
    };
    let sink = create_file_sink(args.out.as_deref())?;
    let bar = crate::progress::bytes(run.no_progress);
    let out = args
        .out
        .as_ref()
        .map_or("stdout".into(), |p| p.display().to_string());
    let summary = score::run(&cfg, backend.as_ref(), sink, &mut |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{} events, {} anomalies", p.events, p.anomalies));
    })
    .with_context(|| format!("scoring into {out}"))?;
    bar.finish_and_clear();

    let secs = summary.secs;
    eprintln!(
        "scored {} events in {} streams: {} anomalies, {} bad rows skipped, \
         {} streams still calibrating; {secs:.2}s ({:.0} events/s, {:.1} MB/s) on {}",
        summary.events,
        summary.streams,
        summary.anomalies,
        summary.skipped_rows,
        summary.calibrating,
        summary.events as f64 / secs.max(1e-9),
        summary.bytes_total as f64 / 1e6 / secs.max(1e-9),
        backend.describe(),
    );
    Ok(())
}
