use thiserror::Error;

/// Everything that can go wrong in a permutation kernel.
///
/// `window` is the position of the offending window in [`crate::WindowBatch::windows`]
/// (0 for the pairwise test); `position` is relative to that window's first value
/// (or the index into the pairwise matrix).
#[derive(Debug, Error)]
pub enum KernelError {
    #[error("window {window}: value at position {position} is not finite")]
    NonFinite { window: usize, position: usize },
    #[error("window {window}: {reason}")]
    BadWindow { window: usize, reason: String },
    #[error("invalid permutation parameters: {0}")]
    BadParams(String),
    #[error("no GPU adapter available: {0}")]
    NoAdapter(String),
    #[error("GPU error: {0}")]
    Gpu(String),
}
