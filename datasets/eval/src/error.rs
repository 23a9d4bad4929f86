//! What an evaluation can fail at. The message says what was being done; the
//! source (a dataset, the engine, the file system) says why.

use std::path::PathBuf;

use driftlock_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The corpus folder is missing or not a folder.
    #[error("{}: {reason} (expected the {what} folder)", path.display())]
    Corpus {
        path: PathBuf,
        reason: &'static str,
        what: &'static str,
    },
    /// Loading or scoring labelled data.
    #[error("{context}")]
    Dataset {
        context: String,
        #[source]
        source: driftlock_datasets::Error,
    },
    /// The detector refused a configuration or failed on events.
    #[error("{context}")]
    Engine {
        context: String,
        #[source]
        source: EngineError,
    },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An option or a corpus that cannot be evaluated.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, EvalError>;

/// Adds what was being done to a dataset or engine error.
pub(crate) trait Context<T> {
    fn context(self, what: impl Into<String>) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, driftlock_datasets::Error> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| EvalError::Dataset {
            context: what.into(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, EngineError> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| EvalError::Engine {
            context: what.into(),
            source,
        })
    }
}
