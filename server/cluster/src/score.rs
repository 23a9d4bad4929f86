//! `score` on a cluster: the cluster backfill over the given files into a
//! staging folder beside the output, whose parts the client then writes
//! into the one output file, in its format, and deletes.
//!
//! Order: local `score` writes anomalies in the order of the rows that
//! reported them, across streams. The parts' rows do not say which row of
//! which file reported them (only the stream position, `reported_at`), so
//! that interleaving cannot be rebuilt; the output holds the same anomalies
//! with streams in `stream_id` order, each stream's in local `score`'s
//! order (see [`driftlock_batch::output::parts`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use driftlock_batch::output::{OutputFormat, create_file_sink, parts};

use crate::backfill::{ClusterBackfill, ClusterProgress};
use crate::{ClusterError, backfill};

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    pub files: usize,
    /// Events in the files, from their Parquet footers.
    pub events: u64,
    pub anomalies: u64,
    /// The job's result rows were lost with an executor and its parts were
    /// found in the attempts folder.
    pub from_listing: bool,
    pub secs: f64,
}

/// The staging folder of output `out`: `.NAME.parts` beside it, hidden,
/// so it is on the storage the executors must see anyway.
pub fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.parts"))
}

/// Scores `job.files` on the cluster into the file `job.out`, in the format
/// its extension names; `observe` sees where the job stands, as for a
/// backfill. The executors write the parts into a staging folder beside
/// `job.out`, deleted afterwards whether the run succeeded or not (there is
/// no checkpoint to resume from).
pub async fn run(
    job: &ClusterBackfill,
    observe: &mut (dyn FnMut(&ClusterProgress) + Send),
) -> crate::Result<ScoreSummary> {
    let start = Instant::now();
    // Checked before the cluster works, so a mistake costs nothing.
    OutputFormat::from_path(&job.out)?;
    let out_dir = match job.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&out_dir).map_err(|e| ClusterError::io(&out_dir, e))?;
    let out_dir = std::fs::canonicalize(&out_dir).map_err(|e| ClusterError::io(&out_dir, e))?;
    let file_name = job
        .out
        .file_name()
        .ok_or_else(|| ClusterError::Invalid(format!("{}: not a file", job.out.display())))?;
    let staging = staging_dir(&out_dir.join(file_name));
    // Only a killed run of this same output leaves one; its parts would
    // otherwise be taken for this run's.
    remove(&staging)?;
    let staged = ClusterBackfill {
        out: staging.clone(),
        ..job.clone()
    };
    let result = score_into(&staged, &job.out, &staging, observe).await;
    let removed = remove(&staging);
    let (done, anomalies) = result?;
    removed?;
    Ok(ScoreSummary {
        files: done.files,
        events: done.events,
        anomalies,
        from_listing: done.from_listing,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// The backfill into `staging`, then its parts into `out`.
async fn score_into(
    job: &ClusterBackfill,
    out: &Path,
    staging: &Path,
    observe: &mut (dyn FnMut(&ClusterProgress) + Send),
) -> crate::Result<(backfill::ClusterSummary, u64)> {
    let done = backfill::run(job, observe).await?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(staging).map_err(|e| ClusterError::io(staging, e))? {
        let path = entry.map_err(|e| ClusterError::io(staging, e))?.path();
        if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found.sort();
    let sink = create_file_sink(Some(out))?;
    let written = parts::write_by_stream(&found, sink)?;
    if written != done.anomalies {
        return Err(ClusterError::Invalid(format!(
            "the parts hold {written} anomalies, the job reported {}",
            done.anomalies
        )));
    }
    Ok((done, written))
}

fn remove(dir: &Path) -> crate::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::io(dir, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staging_folder_is_hidden_beside_the_output() {
        assert_eq!(
            staging_dir(Path::new("/data/out/anomalies.parquet")),
            Path::new("/data/out/.anomalies.parquet.parts")
        );
    }
}
