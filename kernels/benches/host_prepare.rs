//! Host-side work of the GPU backend per window (validation, quantisation,
//! packing) and the bytes it uploads, on the engine's layout: every window of a
//! batch tested against one shared baseline (400 scores), windows of 50 scores
//! sliding by 10. Criterion throughput is windows; the upload bytes per window
//! are printed once per size. Runs without a GPU.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftlock_kernels::{PermutationParams, WindowBatch, WindowSpec, gpu_host_prepare};

const BASELINE: usize = 400;
const WINDOW: usize = 50;
const HOP: usize = 10;
const SIZES: [usize; 2] = [1_000, 100_000];

fn uniform(x: &mut u32) -> f32 {
    *x = driftlock_kernels::rng::hash32(x.wrapping_add(0x9e37_79b9));
    (*x >> 8) as f32 / (1u32 << 24) as f32
}

/// The batch as the engine builds it: each window's pool is the baseline
/// followed by the window's scores.
fn engine_batch(windows: usize) -> (Vec<f32>, Vec<WindowSpec>) {
    let mut x = 0x1234_5678u32;
    let baseline: Vec<f32> = (0..BASELINE).map(|_| uniform(&mut x)).collect();
    let stream: Vec<f32> = (0..windows * HOP + WINDOW)
        .map(|_| uniform(&mut x))
        .collect();
    let mut values = Vec::new();
    let mut specs = Vec::new();
    for i in 0..windows {
        specs.push(WindowSpec::pooled(
            values.len() as u32,
            BASELINE as u32,
            WINDOW as u32,
        ));
        values.extend_from_slice(&baseline);
        values.extend_from_slice(&stream[i * HOP..i * HOP + WINDOW]);
    }
    (values, specs)
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
    let mut group = c.benchmark_group("host_prepare/gpu");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for windows in SIZES {
        let (values, specs) = engine_batch(windows);
        let batch = WindowBatch {
            values: &values,
            windows: &specs,
        };
        let bytes = gpu_host_prepare(batch, params()).unwrap();
        eprintln!(
            "host_prepare/gpu/{windows}: {bytes} upload bytes, {:.1} per window",
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
