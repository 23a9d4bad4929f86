//! What a job runs, as persisted with it: checked when the job is submitted,
//! and turned into a backfill configuration each time it runs, so the archive
//! roots are checked again (a symlink may have moved) and `partition: latest`
//! picks the newest partition of the day it runs, not of the day it was made.

use std::path::Path;

use driftlock_engine::read::{ColumnMapping, ReadOptions};
use driftlock_engine::{DetectorConfig, EventKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use driftlock_batch::BatchError;
use driftlock_batch::backfill::roots::ArchiveRoots;
use driftlock_batch::backfill::{BackfillConfig, DateRange, Output, archive};

/// Read batches between two checkpoints (as `driftlock backfill`'s default).
pub const CHECKPOINT_EVERY: u64 = driftlock_batch::backfill::CHECKPOINT_EVERY;
/// Rows per read batch unless the job says otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 8192;
pub const MAX_BATCH_ROWS: usize = 1_000_000;

/// Which `date=` partitions a run reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// Every partition in `since`..`until` (every file when neither is set).
    #[default]
    All,
    /// Only the newest `date=` partition, chosen when the run starts.
    Latest,
}

/// Which input columns feed which event fields (defaults as `driftlock score`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Columns {
    /// Stream id column (default `stream_id`; without one, one stream per file).
    pub stream_id: Option<String>,
    /// Event time column (default `timestamp`).
    pub timestamp: Option<String>,
    /// Event type column (default `type`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Column holding the body as a JSON object (default `body`; without one,
    /// the other columns form the body).
    pub body: Option<String>,
    /// `log`, `metric`, `trace` or `llm`, for inputs without a type column.
    pub default_type: Option<String>,
    /// Columns left out of the body, e.g. labels.
    pub ignore: Vec<String>,
}

impl Columns {
    /// The engine's mapping; the error is the message for `columns.default_type`.
    pub fn mapping(&self) -> Result<ColumnMapping, String> {
        let mut m = ColumnMapping::default();
        if let Some(c) = &self.stream_id {
            m = m.with_stream(c);
        }
        if let Some(c) = &self.timestamp {
            m = m.with_timestamp(c);
        }
        if let Some(c) = &self.kind {
            m = m.with_kind(c);
        }
        if let Some(c) = &self.body {
            m = m.with_body(c);
        }
        if let Some(t) = &self.default_type {
            let kind = EventKind::parse(t)
                .ok_or_else(|| format!("expected log, metric, trace or llm, got `{t}`"))?;
            m = m.with_default_kind(kind);
        }
        for c in &self.ignore {
            m = m.with_ignored(c);
        }
        Ok(m)
    }
}

/// A job's input, detector and reading options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSpec {
    /// The archive folder (searched for `.parquet` files, `date=` partitions
    /// welcome) or a single input file, canonicalised.
    pub path: String,
    /// First `date=` partition (YYYY-MM-DD), inclusive.
    pub since: Option<String>,
    /// Last `date=` partition (YYYY-MM-DD), inclusive.
    pub until: Option<String>,
    pub partition: Partition,
    /// The detector configuration, defaults filled in.
    #[schema(value_type = Object)]
    pub config: DetectorConfig,
    pub columns: Columns,
    pub skip_bad_rows: bool,
    pub batch_rows: usize,
}

impl JobSpec {
    /// The backfill a run of this job performs, into the server's store.
    pub fn backfill(
        &self,
        roots: &ArchiveRoots,
        data_dir: &Path,
    ) -> Result<BackfillConfig, BatchError> {
        let archive = roots.resolve(Path::new(&self.path))?;
        let range = match self.partition {
            Partition::All => DateRange::validated(self.since.clone(), self.until.clone())?,
            Partition::Latest => {
                let newest = latest_partition(&archive)?;
                DateRange {
                    since: Some(newest.clone()),
                    until: Some(newest),
                }
            }
        };
        let mapping = self
            .columns
            .mapping()
            .map_err(|e| BatchError::Invalid(format!("columns.default_type: {e}")))?;
        Ok(BackfillConfig {
            archive,
            range,
            detector: self.config.clone(),
            read: ReadOptions {
                mapping,
                batch_rows: self.batch_rows.clamp(1, MAX_BATCH_ROWS),
                skip_bad_rows: self.skip_bad_rows,
                format: None,
                defer_attributes: false,
                keep_body_text: false,
            },
            output: Output::Store(data_dir.to_path_buf()),
            checkpoint_every: CHECKPOINT_EVERY,
            buffer_events: driftlock_batch::backfill::BUFFER_EVENTS,
            checkpoint: None,
        })
    }
}

/// The newest `date=` partition under `archive`.
pub fn latest_partition(archive: &Path) -> Result<String, BatchError> {
    archive::list(archive, &DateRange::default())?
        .into_iter()
        .filter_map(|f| f.date)
        .max()
        .ok_or_else(|| {
            BatchError::Invalid(format!(
                "partition \"latest\": no date=YYYY-MM-DD partition under {}",
                archive.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_partition_is_the_newest_date() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["date=2025-01-02/a.parquet", "date=2025-01-10/b.parquet"] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        assert_eq!(latest_partition(dir.path()).unwrap(), "2025-01-10");
        let flat = tempfile::tempdir().unwrap();
        std::fs::write(flat.path().join("a.parquet"), b"x").unwrap();
        assert!(latest_partition(flat.path()).is_err());
    }

    #[test]
    fn columns_refuse_an_unknown_type() {
        let c = Columns {
            default_type: Some("metric".into()),
            ignore: vec!["label".into()],
            ..Columns::default()
        };
        assert!(c.mapping().is_ok());
        let bad = Columns {
            default_type: Some("weather".into()),
            ..Columns::default()
        };
        assert!(bad.mapping().unwrap_err().contains("weather"));
    }
}
