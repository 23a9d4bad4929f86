//! Finding an archive's Parquet files, in a deterministic order, with
//! Hive-style `date=YYYY-MM-DD` partition filters.

use std::path::{Path, PathBuf};

use driftlock_engine::read;

use crate::BatchError;

/// One input file of a backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Path relative to the archive root, `/`-separated (the checkpoint's name for it).
    pub rel: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// The `date=` partition value, when a directory on the path has one.
    pub date: Option<String>,
}

/// An inclusive `date=` range; either end may be open. Dates compare as
/// `YYYY-MM-DD` strings, which order like the dates they name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DateRange {
    pub since: Option<String>,
    pub until: Option<String>,
}

impl DateRange {
    /// Checks both ends are `YYYY-MM-DD` dates.
    pub fn validated(since: Option<String>, until: Option<String>) -> Result<Self, BatchError> {
        for (flag, v) in [("since", &since), ("until", &until)] {
            if let Some(v) = v
                && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
            {
                return Err(BatchError::Invalid(format!(
                    "--{flag}: expected YYYY-MM-DD, got `{v}`"
                )));
            }
        }
        Ok(DateRange { since, until })
    }

    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Files without a `date=` partition pass only an open range: a filter
    /// asked for dates, and such a file has none.
    fn admits(&self, date: Option<&str>) -> bool {
        let Some(d) = date else { return self.is_open() };
        self.since.as_deref().is_none_or(|s| d >= s) && self.until.as_deref().is_none_or(|u| d <= u)
    }
}

/// The `date=` value of the innermost directory that has one.
fn partition_date(rel: &Path) -> Option<String> {
    rel.parent()?
        .components()
        .filter_map(|c| {
            c.as_os_str()
                .to_str()?
                .strip_prefix("date=")
                .map(str::to_owned)
        })
        .next_back()
}

/// Every `.parquet` file under `root` whose partition passes `range`, sorted by
/// relative path (so `date=` partitions run in date order). Hidden and `_`
/// entries (writers' temporary files, `_SUCCESS` markers) are skipped.
pub fn list(root: &Path, range: &DateRange) -> Result<Vec<ArchiveFile>, BatchError> {
    let meta = std::fs::metadata(root).map_err(|e| BatchError::io(root, e))?;
    let mut out = Vec::new();
    if meta.is_file() {
        out.push(ArchiveFile {
            rel: root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: root.to_path_buf(),
            bytes: meta.len(),
            date: None,
        });
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| BatchError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BatchError::io(&dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            let meta = std::fs::metadata(&path).map_err(|e| BatchError::io(&path, e))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
                continue;
            }
            let rel_path = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let date = partition_date(&rel_path);
            if !range.admits(date.as_deref()) {
                continue;
            }
            let rel = rel_path
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ArchiveFile {
                rel,
                path,
                bytes: meta.len(),
                date,
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// `paths`, in the order given, as a backfill's files: each must be a
/// Parquet file (by extension; a cluster's scan reads only Parquet) and is
/// made absolute, since a cluster's executors open it by that path.
pub fn files(paths: &[PathBuf]) -> Result<Vec<ArchiveFile>, BatchError> {
    let mut out = Vec::with_capacity(paths.len());
    for given in paths {
        if read::InputFormat::from_path(given) != Some(read::InputFormat::Parquet) {
            return Err(BatchError::Invalid(format!(
                "{}: not a Parquet file (.parquet); a cluster reads Parquet inputs only",
                given.display()
            )));
        }
        let path = std::fs::canonicalize(given).map_err(|e| BatchError::io(given, e))?;
        let meta = std::fs::metadata(&path).map_err(|e| BatchError::io(&path, e))?;
        out.push(ArchiveFile {
            rel: given.to_string_lossy().into_owned(),
            path,
            bytes: meta.len(),
            date: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_partitions_in_order_and_filters_dates() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "date=2025-01-02/part-0.parquet",
            "date=2025-01-01/part-1.parquet",
            "date=2025-01-01/part-0.parquet",
            "date=2025-01-03/part-0.parquet",
            "date=2025-01-03/_tmp.parquet",
            "date=2025-01-03/notes.txt",
        ] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let all = list(dir.path(), &DateRange::default()).unwrap();
        let rels: Vec<_> = all.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            rels,
            [
                "date=2025-01-01/part-0.parquet",
                "date=2025-01-01/part-1.parquet",
                "date=2025-01-02/part-0.parquet",
                "date=2025-01-03/part-0.parquet"
            ]
        );
        let range =
            DateRange::validated(Some("2025-01-02".into()), Some("2025-01-02".into())).unwrap();
        let some = list(dir.path(), &range).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].date.as_deref(), Some("2025-01-02"));
        assert!(DateRange::validated(Some("2025-13-01".into()), None).is_err());
    }

    #[test]
    fn given_files_must_be_parquet_and_become_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let parquet = dir.path().join("a.parquet");
        let csv = dir.path().join("b.csv");
        std::fs::write(&parquet, b"x").unwrap();
        std::fs::write(&csv, b"x").unwrap();
        let got = files(std::slice::from_ref(&parquet)).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].path.is_absolute(), "{:?}", got[0].path);
        assert_eq!(got[0].bytes, 1);
        let err = files(&[parquet.clone(), csv]).unwrap_err().to_string();
        assert!(
            err.contains("b.csv") && err.contains("Parquet inputs only"),
            "{err}"
        );
        let missing = files(&[dir.path().join("gone.parquet")])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("gone.parquet"), "{missing}");
    }
}
