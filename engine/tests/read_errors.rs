//! Reader errors: each names the file, and the row and column where it can.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use driftlock_engine::EngineError;
use driftlock_engine::event::Event;
use driftlock_engine::read::{ColumnMapping, EventBatch, InputFormat, ReadOptions, open};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::json;
use tempfile::TempDir;

fn read_all(path: &Path, opts: &ReadOptions) -> Result<Vec<EventBatch>, EngineError> {
    open(path, opts)?.collect()
}

fn events(path: &Path, opts: &ReadOptions) -> Vec<Event> {
    read_all(path, opts)
        .unwrap()
        .into_iter()
        .flat_map(|b| b.events)
        .collect()
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn event_batch() -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("stream_id", strings(&["api"])),
        ("timestamp", strings(&["2024-01-01T00:00:00Z"])),
        ("body", strings(&["{}"])),
    ])
    .unwrap()
}

fn write_parquet(path: &Path, batches: &[RecordBatch], row_group_rows: usize) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut w = ArrowWriter::try_new(
        File::create(path).unwrap(),
        batches[0].schema(),
        Some(props),
    )
    .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn path(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn missing_explicit_column_names_file_and_column() {
    let dir = TempDir::new().unwrap();
    let opts = ReadOptions {
        mapping: ColumnMapping::default().with_timestamp("event_time"),
        ..Default::default()
    };
    let pq = path(&dir, "e.parquet");
    write_parquet(&pq, &[event_batch()], 1024);
    let csv = path(&dir, "e.csv");
    std::fs::write(&csv, "timestamp,value\n1,2\n").unwrap();
    for p in [&pq, &csv] {
        let err = open(p, &opts).unwrap_err();
        assert!(matches!(err, EngineError::BadFile { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains("event_time"), "{msg}");
    }
    let nd = path(&dir, "e.ndjson");
    std::fs::write(&nd, "{\"timestamp\":\"t\",\"msg\":\"x\"}\n").unwrap();
    let err = read_all(&nd, &opts).unwrap_err();
    let EngineError::BadRow {
        file, row, column, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (file.as_str(), *row, column.as_str()),
        (nd.display().to_string().as_str(), 1, "event_time")
    );
}

#[test]
fn bad_json_body_names_file_row_and_column() {
    let dir = TempDir::new().unwrap();
    let batch = RecordBatch::try_from_iter(vec![(
        "body",
        strings(&[r#"{"ok":1}"#, r#"{"ok":2}"#, "{not json", r#"{"ok":4}"#]),
    )])
    .unwrap();
    let pq = path(&dir, "b.parquet");
    write_parquet(&pq, std::slice::from_ref(&batch), 2);
    let csv = path(&dir, "b.csv");
    std::fs::write(
        &csv,
        "body\n\"{\"\"ok\"\":1}\"\n\"{\"\"ok\"\":2}\"\n{not json\n\"{\"\"ok\"\":4}\"\n",
    )
    .unwrap();
    let nd = path(&dir, "b.ndjson");
    std::fs::write(&nd, "{\"ok\":1}\n{\"ok\":2}\n{not json\n{\"ok\":4}\n").unwrap();
    for (p, column) in [(&pq, "body"), (&csv, "body"), (&nd, "(line)")] {
        let err = read_all(p, &ReadOptions::default()).unwrap_err();
        match &err {
            EngineError::BadRow {
                file,
                row,
                column: c,
                ..
            } => {
                assert_eq!(file, &p.display().to_string());
                assert_eq!(*row, 3, "{err}");
                assert_eq!(c, column);
            }
            other => panic!("{other:?}"),
        }

        let opts = ReadOptions {
            skip_bad_rows: true,
            batch_rows: 2,
            ..Default::default()
        };
        let batches = read_all(p, &opts).unwrap();
        let skipped: u64 = batches.iter().map(|b| b.skipped_rows).sum();
        let kept: usize = batches.iter().map(|b| b.events.len()).sum();
        assert_eq!((kept, skipped), (3, 1), "{}", p.display());
        assert_eq!(batches[1].first_row, 2);
        assert_eq!(batches[1].skipped_rows, 1);
    }
}

#[test]
fn bad_kind_and_sequence_are_bad_rows() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "k.csv");
    std::fs::write(&p, "type,sequence,msg\nlog,1,a\nnope,2,b\nlog,x,c\n").unwrap();
    let err = read_all(&p, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("row 2: column `type`"), "{err}");
    let opts = ReadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let batches = read_all(&p, &opts).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].events.len(), 1);
    assert_eq!(batches[0].skipped_rows, 2);
}

#[test]
fn unknown_extension_is_an_error() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "events.xlsx");
    std::fs::write(&p, "x").unwrap();
    let err = open(&p, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, EngineError::BadFile { .. }));
    assert!(err.to_string().contains("events.xlsx"), "{err}");
    assert!(err.to_string().contains("extension"), "{err}");
    // ... unless the format is given.
    let opts = ReadOptions {
        format: Some(InputFormat::Csv),
        ..Default::default()
    };
    std::fs::write(&p, "a\n1\n").unwrap();
    assert_eq!(events(&p, &opts)[0].body, json!({"a": 1}));
}

#[test]
fn missing_file_names_the_path() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "nope.parquet");
    let err = open(&p, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, EngineError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&p.display().to_string()), "{err}");
}

#[test]
fn corrupt_files_are_bad_files() {
    let dir = TempDir::new().unwrap();
    for name in ["c.parquet", "c.arrow"] {
        let p = path(&dir, name);
        std::fs::write(&p, "this is not columnar").unwrap();
        let err = open(&p, &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(err, EngineError::BadFile { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn empty_and_bom_prefixed_text_files() {
    let dir = TempDir::new().unwrap();
    for name in ["empty.csv", "empty.ndjson"] {
        let p = path(&dir, name);
        std::fs::write(&p, "").unwrap();
        let got = read_all(&p, &ReadOptions::default());
        assert!(got.map(|b| b.is_empty()).unwrap_or(true), "{name}");
    }
    let p = path(&dir, "header_only.csv");
    std::fs::write(&p, "timestamp,value\n").unwrap();
    assert!(read_all(&p, &ReadOptions::default()).unwrap().is_empty());

    let p = path(&dir, "bom.csv");
    std::fs::write(&p, "\u{feff}timestamp,value\n2024-01-01,1\n").unwrap();
    let got = events(&p, &ReadOptions::default());
    assert_eq!(got[0].timestamp.as_deref(), Some("2024-01-01"));
    assert_eq!(got[0].body, json!({"value": 1}));
    let p = path(&dir, "bom.ndjson");
    std::fs::write(&p, "\u{feff}{\"value\":1}\n").unwrap();
    assert_eq!(
        events(&p, &ReadOptions::default())[0].body,
        json!({"value": 1})
    );
}
