use thiserror::Error;

/// Everything the engine can refuse or fail at.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A detector parameter outside its range; `field` is the config key.
    #[error("invalid config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// Bad input data, located as precisely as the reader can.
    #[error("{file}: row {row}: column `{column}`: {reason}")]
    BadRow {
        file: String,
        row: u64,
        column: String,
        reason: String,
    },
    #[error("{file}: {reason}")]
    BadFile { file: String, reason: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("compression failed: {0}")]
    Compression(String),
    #[error(transparent)]
    Kernel(#[from] driftlock_kernels::KernelError),
    #[error("detector state: {0}")]
    State(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
