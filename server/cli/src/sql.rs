//! `driftlock sql`: DataFusion SQL over an events archive and anomalies.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;

use driftlock_batch::sql::output::{ResultWriter, pretty};
use driftlock_batch::sql::tables::{AnomalySource, Tables, session};
use driftlock_store::Store;
use driftlock_store::SyncMode;

/// Run a SQL query over the events archive (`events`) and the anomalies
/// (`anomalies`), printing a table or writing a file.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:\n  \
    driftlock sql --events archive/ \"SELECT date, stream_id, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2\"\n  \
    driftlock sql --anomalies anomalies/ \"SELECT kind, count(*) FROM anomalies GROUP BY kind\"\n  \
    driftlock sql --store driftlock-data --out top.csv \"SELECT * FROM anomalies ORDER BY p_value LIMIT 100\"")]
pub struct SqlArgs {
    /// The query (DataFusion SQL).
    pub query: String,
    /// Parquet folder registered as `events` (date= folders become a `date` column).
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Parquet file or folder registered as `anomalies`.
    #[arg(long, value_name = "PATH", conflicts_with = "store")]
    pub anomalies: Option<PathBuf>,
    /// The server's data directory: its anomalies are registered as `anomalies`.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Write the result to FILE (.parquet, .csv, .ndjson) instead of printing it.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let anomalies = match (&args.anomalies, &args.store) {
        (Some(p), _) => Some(AnomalySource::Parquet(p.clone())),
        (None, Some(dir)) => {
            let db = dir.join("driftlock.db");
            if !db.exists() {
                bail!("{}: no driftlock store here", dir.display());
            }
            Some(AnomalySource::Store(Store::open(&db, SyncMode::Normal)?))
        }
        (None, None) => None,
    };
    let tables = Tables {
        events: args.events.clone(),
        anomalies,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ctx = session(&tables).await?;
        let df = ctx.sql(&args.query).await.context("query")?;
        let mut stream = df.execute_stream().await.context("query")?;
        match &args.out {
            Some(path) => {
                let mut writer = ResultWriter::create(path, stream.schema())?;
                let mut rows = 0usize;
                while let Some(batch) = stream.next().await {
                    let batch = batch.context("query")?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                }
                writer.finish()?;
                eprintln!("wrote {rows} rows to {}", path.display());
            }
            None => {
                let mut batches = Vec::new();
                while let Some(batch) = stream.next().await {
                    batches.push(batch.context("query")?);
                }
                println!("{}", pretty(&batches)?);
            }
        }
        Ok(())
    })
}
