//! Bulk export throughput: 1,000,000 stored anomalies exported as Parquet,
//! reported as rows/s by criterion.
//!
//! - `export/parquet_write`: `export::write` into a discarding writer (the
//!   SQLite read, column building and Parquet encoding).
//! - `export/parquet_http_body`: the `/v1/anomalies/export` body stream
//!   (`export::stream`) drained on a tokio runtime, channel hand-off included.
//!
//! Rows are shaped like the service's (an event body, and evidence holding the
//! detector config, encoded form, two nearest baseline events and a digest),
//! each one different. Environment:
//! - `DRIFTLOCK_EXPORT_BENCH_ROWS` (default 1000000): how many.
//! - `DRIFTLOCK_EXPORT_BENCH_DIR`: keep the database in this data directory
//!   (reused when it already holds the rows), e.g. to measure the peak memory of
//!   `driftlock export --data-dir DIR --format parquet` on the same data.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use driftlock_batch::export;
use driftlock_batch::output::OutputFormat;
use driftlock_engine::{AnomalyKind, DetectorConfig, Metrics};
use driftlock_store::SyncMode;
use driftlock_store::anomalies::{self, AnomalyFilter, AnomalyRecord};
use driftlock_store::record::AnomalyStatus;
use driftlock_store::{Store, StoreError};
use http_body_util::BodyExt;
use serde_json::json;

fn rows_wanted() -> u64 {
    std::env::var("DRIFTLOCK_EXPORT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

const PATHS: [&str; 6] = [
    "/api/v1/orders",
    "/api/v1/users/{id}",
    "/health",
    "/api/v1/cart",
    "/login",
    "/api/v1/search",
];

fn record(i: u64) -> AnomalyRecord {
    let config = DetectorConfig::default();
    let path = PATHS[(i % PATHS.len() as u64) as usize];
    let status = [200, 404, 500, 503][(i % 4) as usize];
    let latency = 20 + (i * 7919) % 4000;
    let encoded = format!(
        "{{\"latency_ms\":\"<num:q{}>\",\"level\":\"error\",\"msg\":\"request to {path} failed \
         with {status} after <num> ms\",\"path\":\"{path}\",\"status\":{status},\"trace\":\"<hex>\"}}",
        i % 8
    );
    let neighbour = |k: u64| {
        json!({
            "index": i.saturating_sub(50 + k * 13),
            "ncd": 0.31 + (i % 97) as f64 / 200.0 + k as f64 / 1000.0,
            "encoded": format!(
                "{{\"latency_ms\":\"<num:q{}>\",\"level\":\"info\",\"msg\":\"request to {path} \
                 served in <num> ms\",\"path\":\"{path}\",\"status\":200}}",
                (i + k) % 8
            ),
        })
    };
    let ts_ms = 1_735_689_600_000 + i as i64 * 1000;
    AnomalyRecord {
        seq: 0,
        id: format!("anom_bench_{i:012}"),
        stream_id: format!("svc-{}", i % 8),
        position: 1000 + i,
        kind: if i.is_multiple_of(500) {
            AnomalyKind::ChangePoint
        } else {
            AnomalyKind::Event
        },
        timestamp: driftlock_store::time::format_ms(ts_ms),
        ts_ms,
        detected_at: driftlock_store::time::format_ms(ts_ms + 250),
        metrics: Metrics {
            ncd: 0.35 + (i % 61) as f64 / 100.0,
            p_value: 1.0 / (400.0 + (i % 400) as f64),
            confidence: 1.0 - 1.0 / (400.0 + (i % 400) as f64),
            compression_ratio: 1.5 + (i % 13) as f64 / 10.0,
            entropy_change: ((i % 21) as f64 - 10.0) / 7.0,
        },
        window_p_value: i.is_multiple_of(3).then_some(0.001 * (i % 50) as f64),
        why: format!(
            "status {status} never seen in the baseline; latency_ms {latency} is 3.2 spreads above \
             the baseline range; nearest baseline event #{} (NCD 0.41)",
            i.saturating_sub(50)
        ),
        compressor: "zstd".into(),
        status: AnomalyStatus::New,
        event: json!({
            "stream_id": format!("svc-{}", i % 8),
            "timestamp": driftlock_store::time::format_ms(ts_ms),
            "type": "log",
            "body": {"level": "error", "msg": format!("request to {path} failed with {status} after {latency} ms"),
                     "path": path, "status": status, "latency_ms": latency, "trace": format!("{:016x}", i.wrapping_mul(2654435761))},
        }),
        has_evidence: true,
        evidence: Some(json!({
            "config": config,
            "seed": config.seed,
            "permutation_count": config.permutation_count,
            "compressor_requested": config.compressor,
            "compressor": "zstd",
            "baseline_digest": format!("{:064x}", (i / 1000).wrapping_mul(0x9e3779b97f4a7c15)),
            "encoded": encoded,
            "nearest": [neighbour(0), neighbour(1)],
            "window_p_value": null,
            "stream_position": 1000 + i,
        })),
        batch_id: format!("batch_{}", i / 256),
        reported_at: 1000 + i,
    }
}

/// A store holding `rows` anomalies: one transaction, the store's own insert
/// (a cached prepared statement).
fn store(rows: u64) -> (Store, Option<tempfile::TempDir>) {
    let (dir, temp) = match std::env::var_os("DRIFTLOCK_EXPORT_BENCH_DIR") {
        Some(d) => (PathBuf::from(d), None),
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_path_buf(), Some(t))
        }
    };
    let opened = Instant::now();
    let store = Store::open(&dir.join("driftlock.db"), SyncMode::Normal).unwrap();
    if opened.elapsed().as_secs() >= 1 {
        // A database of an older schema was migrated.
        eprintln!("opened in {:.1}s", opened.elapsed().as_secs_f64());
    }
    let have = store
        .with_conn(|c| anomalies::count(c, &AnomalyFilter::default()))
        .unwrap();
    if have != rows {
        let start = Instant::now();
        store
            .with_conn(|c| {
                let tx = c.transaction()?;
                tx.execute("DELETE FROM anomalies", [])?;
                for i in 0..rows {
                    anomalies::insert(&tx, &record(i))?;
                }
                tx.commit()?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let bytes = std::fs::metadata(dir.join("driftlock.db")).unwrap().len();
        eprintln!(
            "inserted {rows} anomalies in {:.1}s ({:.0} rows/s); database {:.0} MB at {}",
            start.elapsed().as_secs_f64(),
            rows as f64 / start.elapsed().as_secs_f64(),
            bytes as f64 / 1e6,
            dir.display()
        );
    }
    (store, temp)
}

/// Counts what it is given.
#[derive(Default)]
struct Counter(u64);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bench_export(c: &mut Criterion) {
    let rows = rows_wanted();
    let (store, _temp) = store(rows);
    let filter = AnomalyFilter::default();
    let mut g = c.benchmark_group("export");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.bench_function("parquet_write", |b| {
        b.iter(|| {
            let n =
                export::write(&store, &filter, OutputFormat::Parquet, Counter::default()).unwrap();
            assert_eq!(n, rows);
        })
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    g.bench_function("parquet_http_body", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut body = driftlock_service::api::export::stream(
                    store.clone(),
                    filter.clone(),
                    OutputFormat::Parquet,
                );
                let mut bytes = 0usize;
                while let Some(frame) = body.frame().await {
                    bytes += frame.unwrap().into_data().map_or(0, |d| d.len());
                }
                black_box(bytes)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
