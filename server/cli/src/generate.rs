//! `driftlock generate`: labelled synthetic event streams for trying the engine.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use driftlock_datasets::{AnomalyCount, AnomalyKind, GeneratorConfig, StreamKind};

/// Write a seeded synthetic stream with labelled injected anomalies.
///
/// Columns: stream_id, timestamp, type, body (JSON), attributes (JSON), label,
/// anomaly_kind. Score it with
/// `driftlock score FILE --ignore-column label --ignore-column anomaly_kind`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output file: .parquet or .ndjson.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Stream kind: logs, metrics, traces, llm or mixed.
    #[arg(long, default_value = "logs")]
    pub kind: String,
    /// Events in total, over all streams.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Number of streams (ids svc-0, svc-1, ...).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Anomaly kinds to inject: all, none, or a comma list of novel_message,
    /// novel_field, numeric_spike, level_shift, error_burst, format_change.
    #[arg(long, default_value = "all")]
    pub anomalies: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timestamp of the first event, Unix milliseconds (default 2024-03-01T00:00:00Z):
    /// files of one archive given later starts keep each stream's time going forward.
    #[arg(long, value_name = "MS")]
    pub start_ms: Option<i64>,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let kind = StreamKind::parse(&args.kind)
        .with_context(|| format!("--kind: unknown stream kind `{}`", args.kind))?;
    let anomalies: Vec<AnomalyKind> = match args.anomalies.as_str() {
        "all" => AnomalyKind::ALL.to_vec(),
        "none" => Vec::new(),
        list => list
            .split(',')
            .map(|k| {
                AnomalyKind::parse(k).with_context(|| format!("--anomalies: unknown kind `{k}`"))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let count = if anomalies.is_empty() {
        AnomalyCount::Count(0)
    } else {
        AnomalyCount::Rate(0.002)
    };
    let mut config = GeneratorConfig::new(kind, args.events, args.seed)
        .with_anomalies(&anomalies, count)
        .with_streams(args.streams);
    if let Some(ms) = args.start_ms {
        config.start_ms = ms;
    }
    let stream = config.build()?;
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "parquet" => {
            driftlock_datasets::write::write_parquet(&args.out, stream, 8192)?;
        }
        "ndjson" | "jsonl" => {
            driftlock_datasets::write::write_ndjson(&args.out, stream)?;
        }
        other => bail!(
            "{}: unknown output extension `{other}` (use .parquet or .ndjson)",
            args.out.display()
        ),
    }
    eprintln!("wrote {} events to {}", args.events, args.out.display());
    Ok(())
}
