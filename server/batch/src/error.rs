//! Everything offline work can fail at, in one enum: the CLI prints it, the
//! service maps it to HTTP statuses (a bad query is the client's, a failed read
//! is ours).

use std::path::Path;
use std::time::Duration;

use datafusion::error::DataFusionError;
use driftlock_engine::EngineError;
use driftlock_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A request that cannot be carried out as given (a backfill's options,
    /// an output format).
    #[error("{0}")]
    Invalid(String),
    /// A format name or extension that is none of the known ones.
    #[error("unknown output format `{0}` (expected ndjson, csv, parquet or arrow)")]
    UnknownFormat(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Writing anomalies (a file, a part, an export) failed.
    #[error("writing anomalies: {0}")]
    Output(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// An event earlier than its stream's previous one, in a pass that reads
    /// files in order (the backfill then sorts the archive instead).
    #[error("{0}")]
    WentBack(Box<crate::backfill::order::WentBack>),
    /// A SQL query is wrong: syntax, unknown table or column, a type error, or
    /// a statement a read-only session refuses.
    #[error("{0}")]
    Query(String),
    #[error("the query ran longer than {0:?}")]
    Timeout(Duration),
    /// The query needed more memory than the session's pool allows.
    #[error("the query needs more memory than the SQL limit allows: {0}")]
    MemoryLimit(String),
    /// Reading the data a query needs failed (I/O, the store).
    #[error("{0}")]
    QueryData(String),
}

pub type Result<T, E = BatchError> = std::result::Result<T, E>;

impl BatchError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        BatchError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<rusqlite::Error> for BatchError {
    fn from(e: rusqlite::Error) -> Self {
        BatchError::Store(StoreError::Sqlite(e))
    }
}

impl From<DataFusionError> for BatchError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => BatchError::MemoryLimit(m.clone()),
            DataFusionError::IoError(_)
            | DataFusionError::ObjectStore(_)
            | DataFusionError::Internal(_) => BatchError::QueryData(e.to_string()),
            _ => BatchError::Query(e.to_string()),
        }
    }
}

// Writers' failures (their sinks have no path to name).
macro_rules! output_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BatchError {
            fn from(e: $t) -> Self {
                BatchError::Output(e.to_string())
            }
        }
    )*};
}
output_error!(
    std::io::Error,
    arrow::error::ArrowError,
    parquet::errors::ParquetError,
    serde_json::Error
);
