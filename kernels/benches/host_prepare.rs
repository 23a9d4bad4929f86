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

const BASELINE: usize = 400;
const WINDOW: usize = 50;
const HOP: usize = 10;
const SIZES: [usize; 2] = [1_000, 100_000];

fn uniform(x: &mut u32) -> f32 {
    *x = driftlock_kernels::rng::hash32(x.wrapping_add(0x9e37_79b9));
    (*x >> 8) as f32 / (1u32 << 24) as f32
}

/// An engine batch, with the baseline copied per window or shared.
fn engine_batch(windows: usize, shared: bool) -> (Vec<f32>, Vec<WindowSpec>) {
    let mut x = 0x1234_5678u32;
    let baseline: Vec<f32> = (0..BASELINE).map(|_| uniform(&mut x)).collect();
    let stream: Vec<f32> = (0..windows * HOP + WINDOW)
        .map(|_| uniform(&mut x))
        .collect();
    let mut values = Vec::new();
    let mut specs = Vec::new();
    if shared {
        values.extend_from_slice(&baseline);
        for i in 0..windows {
            specs.push(WindowSpec {
                baseline_offset: 0,
                baseline_len: BASELINE as u32,
                window_offset: values.len() as u32,
                window_len: WINDOW as u32,
            });
            values.extend_from_slice(&stream[i * HOP..i * HOP + WINDOW]);
        }
        return (values, specs);
    }
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
