//! `driftlock eval`: detection quality on labelled public data (NAB, HDFS)
//! and on generated drifting logs.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};
use driftlock_eval::{hdfs::HdfsOptions, nab::NabOptions, nab::ScoreRule};

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score the Numenta Anomaly Benchmark with NAB's rules.
    ///
    /// Every file of PATH (NAB layout: `data/<category>/<name>.csv`,
    /// labels/combined_windows.json, config/profiles.json) is one stream of metric
    /// events in time order (body {"value": v}) through a fresh detector, with one
    /// configuration for the whole corpus (a first baseline of 200 events that
    /// grows to 800, window 20, hop 5, metric context 10, records beyond 5% of
    /// each series' all-time range, the engine's default thresholds). Each row gets an anomaly score in [0, 1] from
    /// the detector's outputs (see --score; 0 while calibrating). Prints the
    /// normalised scores of the standard,
    /// reward_low_FP_rate and reward_low_FN_rate profiles (threshold swept per
    /// profile) and a per-file table.
    Nab(NabArgs),
    /// Session-level precision / recall on HDFS block sessions.
    ///
    /// PATH holds normal.txt and abnormal.txt (one session a line: its template
    /// ids). Each session is one log event (body {"templates": "E5 E22 ..."}).
    /// A seeded draw of --baseline normal sessions calibrates the detector; the
    /// other normal sessions and all abnormal ones are scored in a seeded random
    /// order against that frozen baseline. A session counts as detected when the
    /// detector flags it at its default thresholds. Prints precision, recall, F1
    /// and the false-positive rate on normal sessions.
    Hdfs(HdfsArgs),
    /// Precision / recall on generated logs whose normal changes.
    ///
    /// Templates appear, recur and retire, and deploys reword a third of them,
    /// so "never seen before" is often normal. One stream per anomaly kind
    /// (rare error, 5xx status, latency spike, novel field) gives event-level
    /// precision and recall at the detector's defaults; a clean stream gives
    /// the false flags and false incidents per 10,000 events. The rule "a
    /// template never seen before is an anomaly" is shown beside it.
    Drift(DriftArgs),
    /// False alarms on clean streams of fifteen shapes.
    ///
    /// Hand-written i.i.d. streams (so nothing in them is an anomaly) of
    /// things real logs do: free text, identifiers of every length, epoch
    /// timestamps and sequence numbers, status codes over hundreds of
    /// templates, counts, heavy-tailed latencies, usernames. Prints per shape
    /// the anomalies reported and the incidents they open per 10,000 lines.
    Shapes(ShapesArgs),
}

#[derive(Debug, Args)]
pub struct ShapesArgs {
    /// Lines in each stream.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Consecutive seeds from --seed, pooled.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: u64,
    /// Only these shapes (comma-separated names, e.g. text,epoch).
    #[arg(long, value_delimiter = ',')]
    pub shape: Vec<driftlock_datasets::shapes::Shape>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Events in each stream.
    #[arg(long, default_value_t = 30_000)]
    pub events: u64,
    /// Seed of the generator (the first, with --seeds).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run this many consecutive seeds from --seed and pool their counts;
    /// the clean stream is shown per seed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: u64,
}

#[derive(Debug, Args)]
pub struct NabArgs {
    /// The NAB corpus folder, e.g. ../shared/datasets/nab.
    pub path: PathBuf,
    /// Also write NAB's results layout: `DIR/driftlock/<category>/driftlock_<file>.csv`
    /// with columns timestamp,value,anomaly_score,label.
    #[arg(long, value_name = "DIR")]
    pub results_out: Option<PathBuf>,
    /// How the row score is built: `incidents` (the product's alerts: the
    /// anomaly that opens an incident scores 0.5 + rank/2, other rows 0),
    /// `flags` (every flagged event is a detection) or `pvalue` (a
    /// diagnostic: 1 − p of every event).
    #[arg(long, default_value = "incidents")]
    pub score: ScoreRule,
    /// Detector seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Events in each file's baseline (default 800: about three days at 5-minute steps).
    #[arg(long)]
    pub baseline_size: Option<usize>,
    /// Events before the first score; the baseline then grows to --baseline-size.
    #[arg(long, value_name = "EVENTS")]
    pub min_baseline_size: Option<usize>,
    /// Events in a tested window (default 20).
    #[arg(long)]
    pub window_size: Option<usize>,
    /// Events between two window tests (default 5).
    #[arg(long)]
    pub hop_size: Option<usize>,
    /// Rolling median/MAD context of each metric value, in events (default 10; 0 is off).
    #[arg(long, value_name = "EVENTS")]
    pub metric_context: Option<usize>,
    /// Flag metric values beyond their series' all-time range by more than this
    /// share of its width (default 0.05).
    #[arg(long, value_name = "SHARE", conflicts_with = "no_records")]
    pub record_margin: Option<f64>,
    /// Do not flag records (values beyond their series' all-time range).
    #[arg(long)]
    pub no_records: bool,
    /// Maximum p-value to flag an event (default 0.05, as the API's).
    #[arg(long, value_name = "P")]
    pub p_value_threshold: Option<f64>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct HdfsArgs {
    /// The HDFS sessions folder (normal.txt, abnormal.txt), e.g. ../shared/datasets/hdfs-sessions.
    pub path: PathBuf,
    /// Normal sessions drawn for the baseline.
    #[arg(long, default_value_t = driftlock_eval::hdfs::DEFAULT_BASELINE)]
    pub baseline: usize,
    /// Seed of the baseline draw and of the test order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Session encoding: `counts` (template sequence plus per-template counts as
    /// an object) or `sequence` (the template sequence only).
    #[arg(long, default_value = "counts")]
    pub encoding: driftlock_eval::hdfs::Encoding,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(cmd: EvalCommand) -> anyhow::Result<()> {
    let start = Instant::now();
    match cmd {
        EvalCommand::Nab(args) => {
            let mut opts = NabOptions {
                rule: args.score,
                results_out: args.results_out,
                ..Default::default()
            };
            let c = &mut opts.config;
            c.seed = args.seed;
            c.baseline_size = args.baseline_size.unwrap_or(c.baseline_size);
            c.min_baseline_size = args.min_baseline_size.unwrap_or(c.min_baseline_size);
            c.window_size = args.window_size.unwrap_or(c.window_size);
            c.hop_size = args.hop_size.unwrap_or(c.hop_size);
            c.metric_context = args.metric_context.unwrap_or(c.metric_context);
            if args.no_records {
                c.record_margin = None;
            } else if args.record_margin.is_some() {
                c.record_margin = args.record_margin;
            }
            c.p_value_threshold = args.p_value_threshold.unwrap_or(c.p_value_threshold);
            c.validate()?;
            // Total rows, for the bar: count data lines without parsing.
            let total = count_rows(&args.path);
            let pb = crate::progress::count(total, "rows", args.no_progress);
            let report = driftlock_eval::nab::run(&args.path, &opts, &|n| pb.inc(n));
            pb.finish_and_clear();
            print!("{}", report?.render());
        }
        EvalCommand::Hdfs(args) => {
            let opts = HdfsOptions {
                baseline: args.baseline,
                seed: args.seed,
                encoding: args.encoding,
                ..Default::default()
            };
            let total = ["normal.txt", "abnormal.txt"]
                .iter()
                .filter_map(|f| std::fs::read(args.path.join(f)).ok())
                .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
                .sum();
            let pb = crate::progress::count(total, "sessions", args.no_progress);
            let report = driftlock_eval::hdfs::run(&args.path, &opts, &|n| pb.inc(n));
            pb.finish_and_clear();
            print!("{}", report?.render());
        }
        EvalCommand::Drift(args) => {
            let opts = driftlock_eval::drift::DriftOptions {
                events: args.events,
                seed: args.seed,
                seeds: args.seeds,
                ..Default::default()
            };
            print!("{}", driftlock_eval::drift::run(&opts)?.render());
        }
        EvalCommand::Shapes(args) => {
            let opts = driftlock_eval::shapes::ShapesOptions {
                events: args.events,
                seed: args.seed,
                seeds: args.seeds,
                shapes: args.shape,
                ..Default::default()
            };
            print!("{}", driftlock_eval::shapes::run(&opts)?.render());
        }
    }
    println!("\nelapsed {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn count_rows(root: &std::path::Path) -> u64 {
    let Ok(cats) = std::fs::read_dir(root.join("data")) else {
        return 0;
    };
    cats.flatten()
        .filter_map(|c| std::fs::read_dir(c.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|f| f.path().extension().is_some_and(|x| x == "csv"))
        .filter_map(|f| std::fs::read(f.path()).ok())
        .map(|b| b.iter().filter(|&&c| c == b'\n').count().saturating_sub(1) as u64)
        .sum()
}
