//! Driftlock's offline work over archives and the store. Every failure is a
//! [`BatchError`].
//!
//! - [`output`]: the anomaly writers (NDJSON, CSV, Parquet, Arrow IPC), streaming.
//! - [`backfill`]: scoring an archive with checkpoints, into Parquet parts or the
//!   store; resumable and deterministic.
//! - [`sql`]: DataFusion over archives and the store's tables (`driftlock sql`,
//!   `/v1/sql`).
//! - [`score`]: scoring files into one writer, the backfill's machinery
//!   without checkpoints (`driftlock score`).
//! - [`plan`]: the backfill as a DataFusion plan (an archive scan and a
//!   scoring operator) that one machine or a Ballista cluster runs.
//! - [`export`]: bulk export of stored anomalies into any writer, and [`report`]
//!   a Markdown summary of them.

pub mod backfill;
mod error;
pub mod export;
pub mod output;
pub mod plan;
pub mod report;
pub mod score;
pub mod sql;

pub use error::{BatchError, Result};
