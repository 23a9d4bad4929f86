//! Host-side work of the GPU backend per window (validation, quantisation,
//! packing) and the bytes it uploads, for an engine batch: every window tested
//! against one baseline (400 scores), windows of 50 scores sliding by 10.
//! `pooled`: each window's pool stored whole (the baseline copied per window);
//! `shared`: one copy of the baseline that every window names. Criterion
//! throughput is windows; the upload bytes per window are printed once per size.
//! Runs without a GPU.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftlock_kernels::{PermutationParams, WindowBatch, WindowSpec, gpu_host_prepare};

const SIZES: [usize; 2] = [1_000, 100_000];

#[path = "support/workload.rs"]
#[allow(dead_code)]
mod workload;

fn engine_batch(windows: usize, shared: bool) -> (Vec<f32>, Vec<WindowSpec>) {
    workload::engine_batch(windows, workload::BASELINE, workload::WINDOW, shared)
}

fn params() -> PermutationParams {
    PermutationParams {
        permutations: 1000,
        seed: 1,
        first_window: 0,
        stop_after_exceedances: None,
    }
}

fn benches(c: &mut Criterion) {
    for shared in [false, true] {
        layout(c, shared);
    }
}

fn layout(c: &mut Criterion, shared: bool) {
    let name = if shared { "shared" } else { "pooled" };
    let mut group = c.benchmark_group(format!("host_prepare/gpu/{name}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for windows in SIZES {
        let (values, specs) = engine_batch(windows, shared);
        let batch = WindowBatch {
            values: &values,
            windows: &specs,
        };
        let bytes = gpu_host_prepare(batch, params()).unwrap();
        eprintln!(
            "host_prepare/gpu/{name}/{windows}: {bytes} upload bytes, {:.1} per window",
            bytes as f64 / windows as f64
        );
        group.throughput(Throughput::Elements(windows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(windows), &windows, |b, _| {
            b.iter(|| black_box(gpu_host_prepare(batch, params()).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(host, benches);
criterion_main!(host);
