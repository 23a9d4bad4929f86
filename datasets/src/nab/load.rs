//! Reading the NAB corpus layout: `data/<category>/<name>.csv`,
//! `labels/combined_windows.json`, `config/profiles.json`.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::scoring::{CostMatrix, Profile};
use super::{NabFile, Window};
use crate::error::{Error, Result};
use crate::time::parse_datetime_micros;

fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn require_dir(root: &Path) -> Result<()> {
    if root.is_dir() {
        Ok(())
    } else {
        Err(Error::MissingPath(root.to_path_buf()))
    }
}

/// Loads every data file under `root/data` that has an entry in
/// `root/labels/combined_windows.json`, sorted by key. Label entries without a
/// data file are skipped (part of the corpus may be held back); a data file
/// without labels is an error, since it could not be scored.
pub fn load_corpus(root: impl AsRef<Path>) -> Result<Vec<NabFile>> {
    let root = root.as_ref();
    require_dir(root)?;
    let labels_path = root.join("labels").join("combined_windows.json");
    let labels = read_json(&labels_path)?;
    let labels = labels
        .as_object()
        .ok_or_else(|| Error::parse(&labels_path, 0, "expected a JSON object"))?;

    let data = root.join("data");
    require_dir(&data)?;
    let mut keys = Vec::new();
    for cat in fs::read_dir(&data).map_err(|e| Error::io(&data, e))? {
        let cat = cat.map_err(|e| Error::io(&data, e))?.path();
        if !cat.is_dir() {
            continue;
        }
        for f in fs::read_dir(&cat).map_err(|e| Error::io(&cat, e))? {
            let f = f.map_err(|e| Error::io(&cat, e))?.path();
            if f.extension().is_some_and(|x| x == "csv") {
                let key = format!(
                    "{}/{}",
                    cat.file_name().unwrap_or_default().to_string_lossy(),
                    f.file_name().unwrap_or_default().to_string_lossy()
                );
                keys.push(key);
            }
        }
    }
    keys.sort();

    let mut files = Vec::with_capacity(keys.len());
    for key in keys {
        let limits = labels.get(&key).ok_or_else(|| {
            Error::parse(
                &labels_path,
                0,
                format!("no label entry for data file {key}"),
            )
        })?;
        let limits = parse_limits(limits, &labels_path, &key)?;
        files.push(load_file(data.join(&key), &key, limits)?);
    }
    Ok(files)
}

fn parse_limits(v: &Value, path: &Path, key: &str) -> Result<Vec<(String, String)>> {
    let bad = || {
        Error::parse(
            path,
            0,
            format!("{key}: windows must be [[start, end], ...]"),
        )
    };
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|w| match w.as_array().map(|a| a.as_slice()) {
            Some([Value::String(a), Value::String(b)]) => Ok((a.clone(), b.clone())),
            _ => Err(bad()),
        })
        .collect()
}

/// Loads one `timestamp,value` CSV and maps window limits to rows: a window runs
/// from the first to the last row whose timestamp lies in [start, end]. A
/// window that covers no row of the file is dropped (NAB would never enter it).
pub fn load_file(
    path: impl AsRef<Path>,
    key: &str,
    window_limits: Vec<(String, String)>,
) -> Result<NabFile> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if n == 0 || line.trim().is_empty() {
            continue; // header
        }
        let (ts, val) = line
            .split_once(',')
            .ok_or_else(|| Error::parse(path, n + 1, "expected `timestamp,value`"))?;
        let us = parse_datetime_micros(ts)
            .ok_or_else(|| Error::parse(path, n + 1, format!("bad timestamp {ts:?}")))?;
        let v: f64 = val
            .trim()
            .parse()
            .map_err(|_| Error::parse(path, n + 1, format!("bad value {val:?}")))?;
        timestamps.push(us.div_euclid(1_000_000));
        values.push(v);
    }

    let mut windows = Vec::with_capacity(window_limits.len());
    for (a, b) in &window_limits {
        let bad = |s: &str| Error::parse(path, 0, format!("bad window timestamp {s:?} for {key}"));
        let start = parse_datetime_micros(a).ok_or_else(|| bad(a))?;
        let end = parse_datetime_micros(b).ok_or_else(|| bad(b))?;
        // A linear scan, not a binary search: a few NAB files repeat or step back
        // timestamps around DST changes.
        let inside = |t: &i64| (start..=end).contains(&(t * 1_000_000));
        if let (Some(first), Some(last)) = (
            timestamps.iter().position(inside),
            timestamps.iter().rposition(inside),
        ) {
            windows.push(Window {
                start: first,
                end: last,
            });
        }
    }
    windows.sort_by_key(|w| w.start);

    let (category, name) = key.split_once('/').unwrap_or(("", key));
    Ok(NabFile {
        key: key.to_string(),
        category: category.to_string(),
        name: name.to_string(),
        timestamps,
        values,
        windows,
        window_limits,
    })
}

/// Loads `root/config/profiles.json` (in file order: standard, reward_low_FP_rate,
/// reward_low_FN_rate in NAB's copy).
pub fn load_profiles(root: impl AsRef<Path>) -> Result<Vec<Profile>> {
    let root = root.as_ref();
    require_dir(root)?;
    let path = root.join("config").join("profiles.json");
    let v = read_json(&path)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::parse(&path, 0, "expected a JSON object"))?;
    obj.iter()
        .map(|(name, p)| {
            let m = &p["CostMatrix"];
            let w = |k: &str| {
                m[k].as_f64().ok_or_else(|| {
                    Error::parse(&path, 0, format!("profile {name}: missing CostMatrix.{k}"))
                })
            };
            Ok(Profile {
                name: name.clone(),
                costs: CostMatrix {
                    tp: w("tpWeight")?,
                    fp: w("fpWeight")?,
                    fn_: w("fnWeight")?,
                    tn: w("tnWeight").unwrap_or(1.0),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_map_to_inclusive_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let mut csv = String::from("timestamp,value\r\n");
        for i in 0..10 {
            csv.push_str(&format!("2014-04-01 00:{:02}:00,{}.5\r\n", i * 5, i));
        }
        fs::write(&p, csv).unwrap();
        let f = load_file(
            &p,
            "cat/x.csv",
            vec![
                (
                    "2014-04-01 00:10:00.000000".into(),
                    "2014-04-01 00:20:00.000000".into(),
                ),
                (
                    "2014-04-01 00:31:00.000000".into(),
                    "2014-04-01 00:34:00.000000".into(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(f.len(), 10);
        assert_eq!(f.values[3], 3.5);
        assert_eq!(f.windows, vec![Window { start: 2, end: 4 }]);
        assert_eq!((f.category.as_str(), f.name.as_str()), ("cat", "x.csv"));
    }

    #[test]
    fn missing_root_names_the_path() {
        let err = load_corpus("/definitely/not/here").unwrap_err();
        assert!(err.to_string().contains("/definitely/not/here"), "{err}");
    }
}
