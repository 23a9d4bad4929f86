//! What scoring can fail at; the HTTP edge maps each to the spec's errors.

use driftlock_engine::EngineError;
use driftlock_store::StoreError;

/// Scoring could not be done; nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A `config_override` field is invalid (named `config_override.<field>`).
    #[error("{field}: {reason}")]
    InvalidOverride { field: String, reason: String },
    /// The override contradicts the stream's existing config.
    #[error("{0}")]
    Conflict(String),
    /// The stream's saved state would exceed the caller's quota.
    #[error("the stream's state would be {bytes} bytes, over the limit of {limit}")]
    OverQuota { bytes: u64, limit: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("detector: {0}")]
    Engine(EngineError),
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for ScoreError {
    fn from(e: rusqlite::Error) -> Self {
        ScoreError::Store(e.into())
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ScoreError {
    ScoreError::Internal(e.to_string())
}

impl From<EngineError> for ScoreError {
    /// A config error names its `config_override` field.
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Config { field, reason } => ScoreError::InvalidOverride {
                field: format!("config_override.{field}"),
                reason,
            },
            other => ScoreError::Engine(other),
        }
    }
}
