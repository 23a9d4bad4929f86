//! Where a backfill's anomalies go, committed once per checkpoint interval.
//!
//! Crash safety comes from the order "output first, then checkpoint" plus a
//! rule that makes a replayed interval harmless:
//! - Parquet folder: interval `n` becomes `part-{n:06}.parquet` (written to a
//!   temporary name, fsynced, renamed). A part numbered at or after the
//!   checkpoint's `next_part` was never committed and is deleted on resume,
//!   then written again, identically (detection is deterministic).
//! - SQLite store: one transaction per interval; anomaly ids are derived from
//!   (backfill config hash, stream, position, kind) and inserted with
//!   `INSERT OR IGNORE` on the unique `id`, so a replayed interval adds nothing.

use std::path::{Path, PathBuf};

use driftlock_engine::DetectorConfig;
use rusqlite::TransactionBehavior;

use super::checkpoint::{sync_dir, tmp_path};
use super::detectors::Found;
use crate::BatchError;
use crate::output::{AnomalySink, ParquetSink};
use driftlock_store::Store;
use driftlock_store::SyncMode;
use driftlock_store::anomalies::AnomalyRecord;
use driftlock_store::record::Origin;

/// The store's database file under a data directory (as `driftlock serve` uses it).
pub const STORE_FILE: &str = "driftlock.db";

/// An open destination.
pub enum Sink {
    Parts {
        dir: PathBuf,
    },
    Store {
        store: Store,
        config_hash: String,
        config: DetectorConfig,
    },
}

fn part_name(n: u64) -> String {
    format!("part-{n:06}.parquet")
}

/// The part number of a file named like [`part_name`].
fn part_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

impl Sink {
    pub fn parts(dir: &Path) -> Result<Self, BatchError> {
        std::fs::create_dir_all(dir).map_err(|e| BatchError::io(dir, e))?;
        Ok(Sink::Parts {
            dir: dir.to_path_buf(),
        })
    }

    pub fn store(
        data_dir: &Path,
        config_hash: &str,
        config: &DetectorConfig,
    ) -> Result<Self, BatchError> {
        let store = Store::open(&data_dir.join(STORE_FILE), SyncMode::Full)?;
        Ok(Sink::Store {
            store,
            config_hash: config_hash.to_owned(),
            config: config.clone(),
        })
    }

    /// Part files already in a folder that has no checkpoint: refusing them
    /// keeps a backfill from mixing its parts with someone else's.
    pub fn foreign_parts(&self) -> Result<usize, BatchError> {
        let Sink::Parts { dir } = self else {
            return Ok(0);
        };
        Ok(self.list_parts(dir)?.len())
    }

    fn list_parts(&self, dir: &Path) -> Result<Vec<(u64, PathBuf)>, BatchError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| BatchError::io(dir, e))? {
            let entry = entry.map_err(|e| BatchError::io(dir, e))?;
            if let Some(n) = part_number(&entry.file_name().to_string_lossy()) {
                out.push((n, entry.path()));
            }
        }
        Ok(out)
    }

    /// Deletes what an interrupted run wrote after its last checkpoint.
    pub fn discard_uncommitted(&self, next_part: u64) -> Result<(), BatchError> {
        let Sink::Parts { dir } = self else {
            return Ok(());
        };
        for (n, path) in self.list_parts(dir)? {
            if n >= next_part {
                std::fs::remove_file(&path).map_err(|e| BatchError::io(&path, e))?;
            }
            let tmp = tmp_path(&path);
            if tmp.exists() {
                std::fs::remove_file(&tmp).map_err(|e| BatchError::io(&tmp, e))?;
            }
        }
        let tmp = tmp_path(&dir.join(part_name(next_part)));
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(|e| BatchError::io(&tmp, e))?;
        }
        Ok(())
    }

    /// Deletes everything this backfill wrote (its parts, or its anomalies in
    /// the store): a pass that found its order wrong starts over.
    pub fn discard_all(&self) -> Result<(), BatchError> {
        match self {
            Sink::Parts { .. } => self.discard_uncommitted(0),
            Sink::Store {
                store, config_hash, ..
            } => store.with_conn(|conn| {
                driftlock_store::anomalies::delete_batch(
                    conn,
                    &driftlock_store::record::backfill_batch_id(config_hash),
                )?;
                Ok(())
            }),
        }
    }

    /// Durably writes interval `part`'s anomalies (nothing when there are none).
    pub fn commit(&self, part: u64, found: &[Found]) -> Result<(), BatchError> {
        if found.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Parts { dir } => {
                let path = dir.join(part_name(part));
                let tmp = tmp_path(&path);
                let file = std::fs::File::create(&tmp).map_err(|e| BatchError::io(&tmp, e))?;
                let mut sink =
                    ParquetSink::new(file).map_err(|e| BatchError::Output(format!("{e:#}")))?;
                let anomalies: Vec<_> = found.iter().map(|(a, _)| a.clone()).collect();
                sink.write(&anomalies)
                    .map_err(|e| BatchError::Output(format!("{e:#}")))?;
                let file = sink
                    .into_inner()
                    .map_err(|e| BatchError::Output(format!("{e:#}")))?;
                file.sync_all().map_err(|e| BatchError::io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| BatchError::io(&path, e))?;
                sync_dir(&path)
            }
            Sink::Store {
                store,
                config_hash,
                config,
            } => store.with_conn(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for f in found {
                    let (a, event) = f;
                    let origin = Origin::Backfill { config_hash };
                    let record = AnomalyRecord::from_anomaly(config, a, event, origin);
                    driftlock_store::anomalies::insert_or_ignore(&tx, &record)?;
                }
                tx.commit()?;
                Ok::<_, BatchError>(())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_number(&part_name(42)), Some(42));
        assert_eq!(part_number("part-1.parquet"), None);
        assert_eq!(part_number("part-000001.parquet.tmp"), None);
    }
}
