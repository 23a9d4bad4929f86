//! Parquet and NDJSON round trips.

use std::fs::File;

use driftlock_datasets::write::event_schema;
use driftlock_datasets::{
    AnomalyKind, GeneratorConfig, StreamKind, read_parquet, write_ndjson, write_parquet,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

#[test]
fn parquet_round_trip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let cfg = GeneratorConfig::new(StreamKind::Mixed, 12_000, 3).with_streams(4);
    let expected: Vec<_> = cfg.build().unwrap().collect();
    // A batch size that does not divide the row count exercises the tail batch.
    let stats = write_parquet(&path, expected.clone(), 1_000 - 7).unwrap();
    assert_eq!(stats.rows, 12_000);
    assert_eq!(
        stats.anomalous_rows,
        expected.iter().filter(|e| e.label.is_some()).count() as u64
    );
    assert!(stats.anomalous_rows > 0);

    let back: Vec<_> = read_parquet(&path, 4096)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, expected);

    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 12_000);
    let col = meta.row_group(0).column(3);
    assert_eq!(col.column_path().string(), "body");
    assert!(matches!(
        col.compression(),
        parquet::basic::Compression::ZSTD(_)
    ));
    let names: Vec<_> = event_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "stream_id",
            "timestamp",
            "type",
            "body",
            "attributes",
            "label",
            "anomaly_kind"
        ]
    );
}

#[test]
fn ndjson_lines_are_engine_events_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.ndjson");
    let cfg = GeneratorConfig::new(StreamKind::Llm, 2_000, 5).with_anomalies(
        &[AnomalyKind::ErrorBurst],
        driftlock_datasets::AnomalyCount::Count(2),
    );
    let stats = write_ndjson(&path, cfg.build().unwrap()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, stats.rows);
    let labelled = lines.iter().filter(|l| l["label"] == true).count() as u64;
    assert_eq!(labelled, stats.anomalous_rows);
    assert!((16..=30).contains(&labelled));
    let first = &lines[0];
    assert_eq!(first["type"], "llm");
    assert_eq!(first["stream_id"], "svc-0");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(first["body"]["prompt"].is_string());
    assert_eq!(first["anomaly_kind"], Value::Null);
    assert!(lines.iter().any(|l| l["anomaly_kind"] == "error_burst"));
}

#[test]
fn unwritable_path_is_named() {
    let err = write_ndjson("/no/such/dir/x.ndjson", Vec::new()).unwrap_err();
    assert!(err.to_string().contains("/no/such/dir/x.ndjson"), "{err}");
}
