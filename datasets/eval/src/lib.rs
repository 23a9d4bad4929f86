//! Detection-quality evaluations on labelled public data: the Numenta Anomaly
//! Benchmark ([`nab`]) and HDFS block sessions ([`hdfs`]). Each returns a report
//! struct; `driftlock eval` prints it. The data is not part of the repository:
//! both take the corpus folder as an argument and fail clearly when it is absent.

pub mod bursts;
pub mod hdfs;
pub mod nab;

use std::path::Path;

/// Called with the number of units (NAB rows, HDFS sessions) just finished.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A progress callback that does nothing.
pub fn no_progress(_: u64) {}

pub(crate) fn require_dir(path: &Path, what: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        Ok(())
    } else if path.exists() {
        anyhow::bail!(
            "{}: not a directory (expected the {what} folder)",
            path.display()
        )
    } else {
        anyhow::bail!(
            "{}: no such directory (expected the {what} folder)",
            path.display()
        )
    }
}
