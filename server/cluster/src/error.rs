use std::path::PathBuf;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Batch(#[from] driftlock_batch::BatchError),
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ClusterError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ClusterError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
