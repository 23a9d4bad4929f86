//! `driftlock export`: the store's anomalies to a file, exactly as
//! `POST /v1/anomalies/export` streams them, without a running server.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use driftlock_batch::export;
use driftlock_batch::output::OutputFormat;
use driftlock_store::Store;
use driftlock_store::SyncMode;
use driftlock_store::anomalies::AnomalyFilter;

/// Export the anomalies of a server's store (newest first) as NDJSON, CSV,
/// Parquet or Arrow IPC. Memory stays flat however many there are.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:\n  \
    driftlock export --data-dir driftlock-data --out anomalies.parquet\n  \
    driftlock export --stream-id prod-logs --since 2025-01-01T00:00:00Z --format csv > a.csv")]
pub struct ExportArgs {
    /// The server's data directory (holding driftlock.db).
    #[arg(long, env = "DRIFTLOCK_DATA_DIR", default_value = "driftlock-data")]
    pub data_dir: PathBuf,
    /// Output file; its extension names the format. Without it, stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// ndjson, csv, parquet or arrow [default: from --out, else ndjson].
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// Only this stream's anomalies.
    #[arg(long)]
    pub stream_id: Option<String>,
    /// Only anomalies at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only anomalies at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
}

fn time(flag: &str, v: Option<&str>) -> anyhow::Result<Option<i64>> {
    v.map(|s| {
        driftlock_store::time::parse_ms(s)
            .with_context(|| format!("--{flag}: `{s}` is not an RFC 3339 timestamp"))
    })
    .transpose()
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let db = args.data_dir.join("driftlock.db");
    if !db.is_file() {
        bail!("{}: no driftlock database here", args.data_dir.display());
    }
    let format = match (args.format, &args.out) {
        (Some(f), _) => f,
        (None, Some(path)) => OutputFormat::from_path(path)?,
        (None, None) => OutputFormat::Ndjson,
    };
    let filter = AnomalyFilter {
        stream_id: args.stream_id.clone(),
        since_ms: time("since", args.since.as_deref())?,
        until_ms: time("until", args.until.as_deref())?,
        ..AnomalyFilter::default()
    };
    // Normal sync: the export only reads.
    let store =
        Store::open(&db, SyncMode::Normal).with_context(|| format!("opening {}", db.display()))?;
    let start = Instant::now();
    let rows = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create", path.display()))?;
            export::write(&store, &filter, format, file)
        }
        None => export::write(&store, &filter, format, std::io::stdout()),
    }?;
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "exported {rows} anomalies as {} in {secs:.2}s ({:.0} rows/s)",
        format.extension(),
        rows as f64 / secs
    );
    Ok(())
}
