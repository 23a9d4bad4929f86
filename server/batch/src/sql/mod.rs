//! SQL over the events archive and the anomalies, on DataFusion.
//!
//! Tables: `events` (a Parquet folder; `date=` partition folders become a
//! `date` column) and `anomalies` (a Parquet file or folder, or the SQLite
//! store's `anomalies` table loaded into memory). The API runs queries
//! read-only (no DDL, DML or session statements), with a row limit and a
//! timeout. [`drift_score`] scores a query's rows (`drift_score('SELECT ...')`).

pub mod drift_score;
pub mod output;
pub mod tables;
pub mod yield_points;

use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::{SQLOptions, SessionContext};
use futures_util::StreamExt;

pub use tables::Tables;

use crate::BatchError;

/// Only queries: DDL (`CREATE`, `DROP`), DML (`INSERT`, `COPY ... TO`) and
/// session statements (`SET`, transactions) fail at planning.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans `query` under `options`.
pub async fn plan(
    ctx: &SessionContext,
    query: &str,
    options: SQLOptions,
) -> Result<datafusion::dataframe::DataFrame, BatchError> {
    Ok(ctx.sql_with_options(query, options).await?)
}

/// The first `limit` rows of a read-only query, within `timeout`; the flag says
/// whether rows were left off.
pub async fn query_limited(
    ctx: &SessionContext,
    query: &str,
    limit: usize,
    timeout: Duration,
) -> Result<(Vec<RecordBatch>, bool), BatchError> {
    let run = async {
        let df = plan(ctx, query, read_only()).await?;
        // One row past the limit tells whether the result was cut.
        let mut stream = df.limit(0, Some(limit + 1))?.execute_stream().await?;
        let (mut batches, mut rows) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let take = batch.num_rows().min(limit + 1 - rows);
            rows += take;
            batches.push(batch.slice(0, take));
            if rows > limit {
                break;
            }
        }
        let truncated = rows > limit;
        if truncated {
            // Drop the extra row from the last batch.
            let last = batches.pop().expect("a row past the limit came in a batch");
            let keep = last.num_rows() - 1;
            if keep > 0 {
                batches.push(last.slice(0, keep));
            }
        }
        Ok::<_, BatchError>((batches, truncated))
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| BatchError::Timeout(timeout))?
}
