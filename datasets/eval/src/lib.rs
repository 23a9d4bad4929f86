//! Detection-quality evaluations on labelled public data: the Numenta Anomaly
//! Benchmark ([`nab`]) and HDFS block sessions ([`hdfs`]); on generated data,
//! logs whose normal changes ([`drift`]) and clean streams of many shapes
//! ([`shapes`]). Each returns a report struct; `driftlock eval` prints it. The
//! public data is not part of the repository: NAB and HDFS take the corpus
//! folder as an argument and fail clearly when it is absent.

pub mod drift;
mod error;
pub mod hdfs;
pub mod nab;
pub mod shapes;

pub use error::{EvalError, Result};

use std::path::Path;

/// Called with the number of units (NAB rows, HDFS sessions) just finished.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A progress callback that does nothing.
pub fn no_progress(_: u64) {}

pub(crate) fn require_dir(path: &Path, what: &'static str) -> Result<()> {
    let reason = if path.is_dir() {
        return Ok(());
    } else if path.exists() {
        "not a directory"
    } else {
        "no such directory"
    };
    Err(EvalError::Corpus {
        path: path.to_path_buf(),
        reason,
        what,
    })
}
