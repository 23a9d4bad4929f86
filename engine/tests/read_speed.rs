//! Parquet read throughput. Ignored by default (it writes ~1M rows); run with
//! `cargo test --release -p driftlock-engine --test read_speed -- --ignored --nocapture`.

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::record_batch::RecordBatch;
use driftlock_engine::read::{ReadOptions, open};
use parquet::arrow::ArrowWriter;

const ROWS: usize = 1_000_000;
const CHUNK: usize = 100_000;

/// Seven columns: stream, timestamp, kind, and four that make up the body.
fn chunk(start: usize) -> RecordBatch {
    let idx = start..start + CHUNK;
    let s = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(idx.clone().map(f)))
    };
    RecordBatch::try_from_iter(vec![
        ("stream_id", s(&|i| format!("svc-{}", i % 8))),
        (
            "timestamp",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                idx.clone().map(|i| 1_700_000_000_000 + i as i64 * 10),
            )) as ArrayRef,
        ),
        ("type", s(&|_| "log".to_owned())),
        ("level", s(&|i| ["info", "warn", "error"][i % 3].to_owned())),
        (
            "latency_ms",
            Arc::new(Float64Array::from_iter_values(
                idx.clone().map(|i| (i % 997) as f64 * 0.5),
            )) as ArrayRef,
        ),
        (
            "status",
            Arc::new(Int64Array::from_iter_values(
                idx.clone().map(|i| 200 + (i % 5) as i64),
            )) as ArrayRef,
        ),
        ("path", s(&|i| format!("/api/v1/items/{}", i % 1000))),
    ])
    .unwrap()
}

#[test]
#[ignore]
fn parquet_rows_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speed.parquet");
    let first = chunk(0);
    let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), first.schema(), None).unwrap();
    w.write(&first).unwrap();
    for start in (CHUNK..ROWS).step_by(CHUNK) {
        w.write(&chunk(start)).unwrap();
    }
    w.close().unwrap();

    // Arrow decoding alone, to tell the reader's cost from parquet's.
    let t = Instant::now();
    let decoded: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        File::open(&path).unwrap(),
    )
    .unwrap()
    .with_batch_size(8192)
    .build()
    .unwrap()
    .map(|b| b.unwrap().num_rows())
    .sum();
    println!(
        "parquet decode only: {decoded} rows in {:.3}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let cpu = thread_cpu_ns();
    let mut rows = 0usize;
    for batch in open(&path, &ReadOptions::default()).unwrap() {
        rows += batch.unwrap().events.len();
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(rows, ROWS);
    println!(
        "parquet read: {rows} rows (7 columns) in {secs:.3}s = {:.0} rows/s",
        rows as f64 / secs
    );
    // On a shared machine wall time includes waiting for a core; CPU time does not.
    if let (Some(a), Some(b)) = (cpu, thread_cpu_ns()) {
        let cpu_secs = (b - a) as f64 / 1e9;
        println!(
            "parquet read: {cpu_secs:.3}s of CPU = {:.0} rows/s per core",
            rows as f64 / cpu_secs
        );
    }
}

/// This thread's time on CPU (Linux), in nanoseconds.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
