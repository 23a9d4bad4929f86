//! Engine throughput, reported as events/s by criterion.
//!
//! - `per_event`: scoring events one push at a time on a calibrated stream.
//! - `stream_batch`: one stream, 10,000 events per push, the defaults (zstd,
//!   1000 permutations, window 50, hop 10).
//! - `metric_context`: a clean metric stream, 10,000 events per push, without
//!   and with `metric_context = 10` (its cost), and with `record_margin = 0.05`
//!   (the cost of records).
//! - `window_test`: one window test (400 + 50 scores, 1000 permutations) with and
//!   without early stopping; events/s = windows × hop.
//! - `archive`: reading and scoring a generated Parquet archive of 8 streams.

use std::hint::black_box;

// The same allocator as the `driftlock` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use driftlock_benches::log_events;
use driftlock_datasets::{GeneratorConfig, StreamKind, write_parquet};
use driftlock_engine::read::{self, ColumnMapping, ReadOptions};
use driftlock_engine::{DetectorConfig, StreamDetector, StreamSet};
use driftlock_kernels::{
    CpuBackend, PermutationBackend, PermutationParams, WindowBatch, WindowSpec,
};

fn calibrated(events: &[driftlock_engine::Event]) -> StreamDetector {
    let mut d = StreamDetector::new("bench", DetectorConfig::default()).unwrap();
    d.push(&events[..1000]).unwrap();
    d
}

fn per_event(c: &mut Criterion) {
    let events = log_events(3000, 1);
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(10);
    g.bench_function("push_one_at_a_time_x1000", |b| {
        b.iter_batched(
            || calibrated(&events),
            |mut d| {
                for e in &events[1000..2000] {
                    black_box(d.push(std::slice::from_ref(e)).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn stream_batch(c: &mut Criterion) {
    let events = log_events(11_000, 2);
    let mut g = c.benchmark_group("stream_batch");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("logs_defaults_10k", |b| {
        b.iter_batched(
            || calibrated(&events),
            |mut d| black_box(d.push(&events[1000..]).unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The cost of the metric context (rolling median and MAD, and each run
/// compared with the baseline's runs): one clean metric stream, 10,000 events
/// per push, without and with `metric_context = 10`; and the cost of records
/// (`record_margin = 0.05`, no context).
fn metric_context(c: &mut Criterion) {
    let events: Vec<_> = GeneratorConfig::clean(StreamKind::Metrics, 11_000, 2)
        .build()
        .unwrap()
        .map(|e| driftlock_benches::to_event(&e))
        .collect();
    let mut g = c.benchmark_group("metric_context");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    for (name, n, records) in [
        ("metrics_off_10k", 0, None),
        ("metrics_context_10_10k", 10, None),
        ("metrics_records_10k", 0, Some(0.05)),
    ] {
        let config = DetectorConfig {
            metric_context: n,
            record_margin: records,
            ..Default::default()
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut d = StreamDetector::new("bench", config.clone()).unwrap();
                    d.push(&events[..1000]).unwrap();
                    d
                },
                |mut d| black_box(d.push(&events[1000..]).unwrap()),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn window_test(c: &mut Criterion) {
    let values: Vec<f32> = (0..450)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let spec = [WindowSpec::pooled(0, 400, 50)];
    let cpu = CpuBackend::new();
    let mut g = c.benchmark_group("window_test");
    // One window test per hop of 10 events.
    g.throughput(Throughput::Elements(10));
    for (name, stop) in [("1000_permutations", None), ("early_stopping_16", Some(16))] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let params = PermutationParams {
                    permutations: 1000,
                    seed: 1,
                    first_window: 0,
                    stop_after_exceedances: stop,
                };
                black_box(
                    cpu.window_tests(
                        WindowBatch {
                            values: &values,
                            windows: &spec,
                        },
                        params,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn archive(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.parquet");
    let n = 200_000u64;
    let stream = GeneratorConfig::new(StreamKind::Logs, n, 3)
        .with_streams(8)
        .build()
        .unwrap();
    write_parquet(&path, stream, 8192).unwrap();
    let opts = ReadOptions {
        mapping: ColumnMapping::default()
            .with_ignored("label")
            .with_ignored("anomaly_kind"),
        ..Default::default()
    };
    let mut g = c.benchmark_group("archive");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("parquet_8_streams_200k", |b| {
        b.iter(|| {
            let mut set = StreamSet::new(DetectorConfig::default()).unwrap();
            let cpu = CpuBackend::new();
            let mut found = 0;
            for batch in read::open(&path, &opts).unwrap() {
                found += set.push(batch.unwrap().events, &cpu).unwrap().len();
            }
            black_box(found)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    per_event,
    stream_batch,
    metric_context,
    window_test,
    archive
);
criterion_main!(benches);
