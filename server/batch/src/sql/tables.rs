//! Registering the `events` and `anomalies` tables on a DataFusion session.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use super::yield_points::YieldEverywhere;
use datafusion::prelude::ParquetReadOptions;

use crate::BatchError;
use driftlock_store::{Store, StoreError};

/// Where the `anomalies` table comes from.
#[derive(Debug, Clone)]
pub enum AnomalySource {
    /// A Parquet file or folder (e.g. `driftlock backfill --out`).
    Parquet(PathBuf),
    /// The server's store, loaded into memory at registration (no evidence column).
    Store(Store),
}

/// The tables a session sees; an absent one is simply not registered.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub events: Option<PathBuf>,
    pub anomalies: Option<AnomalySource>,
}

/// Whether any directory under `dir` (one level) is a `date=` partition.
fn has_date_partitions(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("date=") && e.path().is_dir())
    })
}

/// DataFusion wants folders as URLs ending in `/`.
fn table_url(path: &Path) -> Result<String, BatchError> {
    let abs = std::fs::canonicalize(path)
        .map_err(|e| BatchError::Query(format!("{}: {e}", path.display())))?;
    let mut s = abs.to_string_lossy().into_owned();
    if abs.is_dir() && !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

async fn register_parquet(ctx: &SessionContext, name: &str, path: &Path) -> Result<(), BatchError> {
    let mut options = ParquetReadOptions::default();
    if path.is_dir() && has_date_partitions(path) {
        options = options.table_partition_cols(vec![("date".to_owned(), DataType::Utf8)]);
    }
    ctx.register_parquet(name, table_url(path)?, options)
        .await?;
    Ok(())
}

/// What every session of a bounded SQL service shares: one memory pool (so
/// that concurrent queries together stay under it) and a partition count that
/// matches the threads the queries run on.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    env: Arc<RuntimeEnv>,
    target_partitions: usize,
}

impl SessionLimits {
    /// `memory_bytes` for all queries together (operators that cannot get
    /// memory fail the query: spilling to disk is off, so a query can fill
    /// neither memory nor the disk); `partitions` per query.
    pub fn new(memory_bytes: usize, partitions: usize) -> Result<Self, BatchError> {
        let env = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(memory_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        Ok(Self {
            env,
            target_partitions: partitions.max(1),
        })
    }

    /// Bytes the pool has lent out now.
    pub fn memory_reserved(&self) -> usize {
        self.env.memory_pool.reserved()
    }
}

/// A session with `tables` registered.
pub async fn session(tables: &Tables) -> Result<SessionContext, BatchError> {
    register(SessionContext::new(), tables).await
}

/// [`session`] under `limits`.
pub async fn session_within(
    tables: &Tables,
    limits: &SessionLimits,
) -> Result<SessionContext, BatchError> {
    let config = SessionConfig::new().with_target_partitions(limits.target_partitions);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(limits.env.clone())
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(YieldEverywhere))
        .build();
    register(SessionContext::new_with_state(state), tables).await
}

async fn register(ctx: SessionContext, tables: &Tables) -> Result<SessionContext, BatchError> {
    ctx.register_udtf(
        super::drift_score::NAME,
        Arc::new(super::drift_score::DriftScoreFunction),
    );
    if let Some(events) = &tables.events {
        register_parquet(&ctx, "events", events).await?;
    }
    match &tables.anomalies {
        Some(AnomalySource::Parquet(p)) => register_parquet(&ctx, "anomalies", p).await?,
        Some(AnomalySource::Store(store)) => {
            let store = store.clone();
            let batch = tokio::task::spawn_blocking(move || store_batch(&store))
                .await
                .map_err(|e| BatchError::QueryData(e.to_string()))?
                .map_err(|e| BatchError::QueryData(e.to_string()))?;
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            ctx.register_table("anomalies", Arc::new(table))?;
        }
        None => {}
    }
    Ok(ctx)
}

const TEXT: [&str; 10] = [
    "id",
    "stream_id",
    "kind",
    "timestamp",
    "detected_at",
    "why",
    "compressor",
    "status",
    "event",
    "batch_id",
];
const INTS: [&str; 3] = ["position", "reported_at", "ts_ms"];
const REALS: [&str; 6] = [
    "ncd",
    "p_value",
    "confidence",
    "compression_ratio",
    "entropy_change",
    "window_p_value",
];

/// The store's anomalies as one record batch (columns as in the table, less
/// `evidence`, which is large and nested).
fn store_batch(store: &Store) -> Result<RecordBatch, StoreError> {
    store.with_conn(|conn| {
        // `reported_at` is the stream position of the event whose arrival
        // reported the anomaly: its own for an event anomaly, a later one for a
        // change point. Rows stored before the column existed have NULL there;
        // for those the event's own position is the best answer there is.
        let columns: Vec<String> = TEXT
            .iter()
            .chain(&INTS)
            .chain(&REALS)
            .map(|&c| match c {
                "reported_at" => "COALESCE(reported_at, position)".to_owned(),
                c => c.to_owned(),
            })
            .collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM anomalies ORDER BY seq",
            columns.join(", ")
        ))?;
        let mut text: Vec<StringBuilder> = TEXT.iter().map(|_| StringBuilder::new()).collect();
        let mut ints: Vec<Int64Builder> = INTS.iter().map(|_| Int64Builder::new()).collect();
        let mut reals: Vec<Float64Builder> = REALS.iter().map(|_| Float64Builder::new()).collect();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            for (i, b) in text.iter_mut().enumerate() {
                b.append_option(r.get::<_, Option<String>>(i)?);
            }
            for (i, b) in ints.iter_mut().enumerate() {
                b.append_option(r.get::<_, Option<i64>>(TEXT.len() + i)?);
            }
            for (i, b) in reals.iter_mut().enumerate() {
                b.append_option(r.get::<_, Option<f64>>(TEXT.len() + INTS.len() + i)?);
            }
        }
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (name, mut b) in TEXT.iter().zip(text) {
            fields.push(Field::new(*name, DataType::Utf8, true));
            arrays.push(Arc::new(b.finish()));
        }
        for (name, mut b) in INTS.iter().zip(ints) {
            fields.push(Field::new(*name, DataType::Int64, true));
            arrays.push(Arc::new(b.finish()));
        }
        for (name, mut b) in REALS.iter().zip(reals) {
            fields.push(Field::new(*name, DataType::Float64, true));
            arrays.push(Arc::new(b.finish()));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
}
