//! Readers end to end: each format, mappings, errors and batching.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::{FileWriter, StreamWriter};
use arrow::record_batch::RecordBatch;
use driftlock_engine::read::{ColumnMapping, EventBatch, ReadOptions, open};
use driftlock_engine::{EngineError, Event, EventKind};
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

/// A batch in the engine's own column names, body as JSON text.
fn event_batch() -> RecordBatch {
    let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
        1_700_000_000_000,
        1_700_000_000_250,
        1_700_000_001_000,
    ]));
    RecordBatch::try_from_iter(vec![
        ("stream_id", strings(&["api", "api", "db"])),
        ("timestamp", ts),
        ("type", strings(&["log", "metric", "trace"])),
        (
            "body",
            strings(&[r#"{"msg":"a"}"#, r#"{"v":1.5}"#, r#"{"span":"x"}"#]),
        ),
        ("attributes", strings(&[r#"{"host":"h1"}"#, "{}", "{}"])),
        ("idempotency_key", strings(&["k1", "k2", "k3"])),
        (
            "sequence",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn expected_events() -> Vec<Event> {
    vec![
        Event {
            stream_id: "api".into(),
            timestamp: Some("2023-11-14T22:13:20Z".into()),
            kind: EventKind::Log,
            body: json!({"msg": "a"}),
            attributes: json!({"host": "h1"}),
            idempotency_key: Some("k1".into()),
            sequence: Some(1),
        },
        Event {
            stream_id: "api".into(),
            timestamp: Some("2023-11-14T22:13:20.250Z".into()),
            kind: EventKind::Metric,
            body: json!({"v": 1.5}),
            attributes: json!({}),
            idempotency_key: Some("k2".into()),
            sequence: None,
        },
        Event {
            stream_id: "db".into(),
            timestamp: Some("2023-11-14T22:13:21Z".into()),
            kind: EventKind::Trace,
            body: json!({"span": "x"}),
            attributes: json!({}),
            idempotency_key: Some("k3".into()),
            sequence: Some(3),
        },
    ]
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

fn write_ipc_file(path: &Path, batches: &[RecordBatch]) {
    let mut w = FileWriter::try_new(File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

fn write_ipc_stream(path: &Path, batches: &[RecordBatch]) {
    let mut w = StreamWriter::try_new(File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

fn path(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn parquet_round_trips_events() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "events.parquet");
    write_parquet(&p, &[event_batch()], 1024);
    let reader = open(&p, &ReadOptions::default()).unwrap();
    assert_eq!(reader.total_rows(), Some(3));
    assert_eq!(reader.total_bytes(), std::fs::metadata(&p).unwrap().len());
    assert_eq!(reader.bytes_read(), 0);
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let got: Vec<Event> = batches.into_iter().flat_map(|b| b.events).collect();
    assert_eq!(got, expected_events());
}

#[test]
fn ipc_file_and_stream_round_trip_events() {
    let dir = TempDir::new().unwrap();
    let file = path(&dir, "events.arrow");
    write_ipc_file(&file, &[event_batch()]);
    assert_eq!(events(&file, &ReadOptions::default()), expected_events());
    let stream = path(&dir, "events.ipc");
    write_ipc_stream(&stream, &[event_batch()]);
    assert_eq!(events(&stream, &ReadOptions::default()), expected_events());
}

#[test]
fn ndjson_round_trips_events() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "events.ndjson");
    let mut text = String::new();
    for e in expected_events() {
        text += &serde_json::to_string(&e).unwrap();
        text += "\n\n";
    }
    std::fs::write(&p, &text).unwrap();
    let mut reader = open(&p, &ReadOptions::default()).unwrap();
    let batch = reader.next().unwrap().unwrap();
    assert_eq!(batch.events, expected_events());
    assert!(reader.next().is_none());
    assert_eq!(reader.bytes_read(), text.len() as u64);
}

#[test]
fn csv_round_trips_events() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "events.csv");
    std::fs::write(
        &p,
        "stream_id,timestamp,type,body,idempotency_key,sequence\n\
         api,2024-01-01T00:00:00Z,log,\"{\"\"msg\"\":\"\"a, b\"\"}\",k1,7\n\
         db,,metric,\"{\"\"v\"\":2}\",,\n",
    )
    .unwrap();
    let got = events(&p, &ReadOptions::default());
    assert_eq!(
        got,
        vec![
            Event {
                stream_id: "api".into(),
                timestamp: Some("2024-01-01T00:00:00Z".into()),
                kind: EventKind::Log,
                body: json!({"msg": "a, b"}),
                attributes: serde_json::Value::Null,
                idempotency_key: Some("k1".into()),
                sequence: Some(7),
            },
            Event {
                stream_id: "db".into(),
                timestamp: None,
                kind: EventKind::Metric,
                body: json!({"v": 2}),
                ..Default::default()
            },
        ]
    );
}

#[test]
fn nab_csv_becomes_metric_events_of_the_file_stem() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "ec2_cpu_utilization_5f5533.csv");
    std::fs::write(
        &p,
        "timestamp,value\n2014-02-14 14:27:00,51.846\n2014-02-14 14:32:00,12\n",
    )
    .unwrap();
    let mut opts = ReadOptions::default();
    opts.mapping.default_kind = Some(EventKind::Metric);
    let got = events(&p, &opts);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].stream_id, "ec2_cpu_utilization_5f5533");
    assert_eq!(got[0].kind, EventKind::Metric);
    assert_eq!(got[0].timestamp.as_deref(), Some("2014-02-14 14:27:00"));
    assert_eq!(got[0].body, json!({"value": 51.846}));
    assert_eq!(got[1].body, json!({"value": 12.0}));
}

#[test]
fn csv_epoch_timestamps_become_rfc3339() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "m.csv");
    std::fs::write(&p, "timestamp,value\n1700000000,1\n1700000000500,2\n").unwrap();
    let got = events(&p, &ReadOptions::default());
    assert_eq!(got[0].timestamp.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(
        got[1].timestamp.as_deref(),
        Some("2023-11-14T22:13:20.500Z")
    );
    assert_eq!(got[1].body, json!({"value": 2}));
}

#[test]
fn default_mapping_puts_other_columns_in_a_typed_body() {
    let dir = TempDir::new().unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("stream_id", strings(&["s", "s"])),
        (
            "latency_ms",
            Arc::new(Float64Array::from(vec![Some(12.5), None])) as ArrayRef,
        ),
        (
            "code",
            Arc::new(Int64Array::from(vec![200, 500])) as ArrayRef,
        ),
        (
            "ok",
            Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef,
        ),
        ("path", strings(&["/a", "/b"])),
        ("trace_id", strings(&["t1", "t2"])),
    ])
    .unwrap();
    let opts = ReadOptions {
        mapping: ColumnMapping::default().with_ignored("trace_id"),
        ..Default::default()
    };
    for name in ["typed.parquet", "typed.arrow"] {
        let p = path(&dir, name);
        if name.ends_with("parquet") {
            write_parquet(&p, std::slice::from_ref(&batch), 1024);
        } else {
            write_ipc_file(&p, std::slice::from_ref(&batch));
        }
        let got = events(&p, &opts);
        assert_eq!(
            got[0].body,
            json!({"latency_ms": 12.5, "code": 200, "ok": true, "path": "/a"}),
            "{name}"
        );
        assert_eq!(got[1].body, json!({"code": 500, "ok": false, "path": "/b"}));
        assert_eq!(got[0].stream_id, "s");
        assert_eq!(got[0].kind, EventKind::Log);
        assert_eq!(got[0].timestamp, None);
    }
}

#[test]
fn explicit_mapping_reads_named_columns() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "custom.csv");
    std::fs::write(
        &p,
        "host,ts,level,payload,stream_id\nweb1,2024-05-01T00:00:00Z,trace,\"{\"\"a\"\":1}\",zzz\n",
    )
    .unwrap();
    let opts = ReadOptions {
        mapping: ColumnMapping::default()
            .with_stream("host")
            .with_timestamp("ts")
            .with_kind("level")
            .with_body("payload"),
        ..Default::default()
    };
    let got = events(&p, &opts);
    assert_eq!(got[0].stream_id, "web1");
    assert_eq!(got[0].timestamp.as_deref(), Some("2024-05-01T00:00:00Z"));
    assert_eq!(got[0].kind, EventKind::Trace);
    assert_eq!(got[0].body, json!({"a": 1}));

    // Without a body column, unmapped columns (here the unused `stream_id`) form the body.
    let opts = ReadOptions {
        mapping: ColumnMapping::default()
            .with_stream("host")
            .with_default_kind(EventKind::Llm)
            .with_ignored("payload")
            .with_ignored("level"),
        ..Default::default()
    };
    let got = events(&p, &opts);
    assert_eq!(got[0].kind, EventKind::Llm);
    assert_eq!(
        got[0].body,
        json!({"ts": "2024-05-01T00:00:00Z", "stream_id": "zzz"})
    );
}

#[test]
fn default_stream_overrides_the_file_stem() {
    let dir = TempDir::new().unwrap();
    let p = path(&dir, "x.jsonl");
    std::fs::write(&p, "{\"msg\":\"hi\",\"n\":null}\n").unwrap();
    let got = events(&p, &ReadOptions::default());
    assert_eq!(got[0].stream_id, "x");
    assert_eq!(got[0].body, json!({"msg": "hi"}));
    let mut opts = ReadOptions::default();
    opts.mapping.default_stream = Some("svc".into());
    assert_eq!(events(&p, &opts)[0].stream_id, "svc");
}

#[test]
fn batch_rows_is_respected_in_every_format() {
    let dir = TempDir::new().unwrap();
    let n = 10i64;
    let batch = RecordBatch::try_from_iter(vec![(
        "value",
        Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
    )])
    .unwrap();
    let pq = path(&dir, "n.parquet");
    write_parquet(&pq, std::slice::from_ref(&batch), 4);
    let ipc = path(&dir, "n.arrow");
    write_ipc_file(&ipc, std::slice::from_ref(&batch));
    let csv = path(&dir, "n.csv");
    let nd = path(&dir, "n.ndjson");
    let (mut c, mut j) = ("value\n".to_string(), String::new());
    for i in 0..n {
        c += &format!("{i}\n");
        j += &format!("{{\"value\":{i}}}\n");
    }
    std::fs::write(&csv, c).unwrap();
    std::fs::write(&nd, j).unwrap();
    let opts = ReadOptions {
        batch_rows: 3,
        ..Default::default()
    };
    for p in [&pq, &ipc, &csv, &nd] {
        let mut reader = open(p, &opts).unwrap();
        let mut sizes = vec![];
        let mut values = vec![];
        let mut last_bytes = 0;
        while let Some(b) = reader.next() {
            let b = b.unwrap();
            assert_eq!(b.first_row, values.len() as u64, "{}", p.display());
            sizes.push(b.events.len());
            values.extend(b.events.iter().map(|e| e.body["value"].as_i64().unwrap()));
            assert!(reader.bytes_read() >= last_bytes, "{}", p.display());
            last_bytes = reader.bytes_read();
        }
        assert!(sizes.iter().all(|s| *s <= 3), "{}: {sizes:?}", p.display());
        assert_eq!(values, (0..n).collect::<Vec<_>>(), "{}", p.display());
        assert_eq!(reader.bytes_read(), reader.total_bytes());
    }
}

#[test]
fn struct_and_int_epoch_columns_in_parquet() {
    use arrow::array::StructArray;
    use arrow::datatypes::Fields;
    let dir = TempDir::new().unwrap();
    let fields = Fields::from(vec![
        Field::new("msg", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]);
    let body = StructArray::new(
        fields.clone(),
        vec![strings(&["hello"]), Arc::new(Int64Array::from(vec![3]))],
        None,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("timestamp", DataType::Int64, false),
        Field::new("body", DataType::Struct(fields), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1_700_000_000_000_000i64])),
            Arc::new(body),
        ],
    )
    .unwrap();
    let p = path(&dir, "s.pq");
    write_parquet(&p, &[batch], 1024);
    let got = events(&p, &ReadOptions::default());
    assert_eq!(got[0].timestamp.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(got[0].body, json!({"msg": "hello", "n": 3}));
}
