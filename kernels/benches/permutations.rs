//! Permutations per second for both backends (criterion throughput = windows ×
//! permutations). `DRIFTLOCK_BENCH_MAX_WINDOWS` (default 100000) caps the sizes run;
//! set it to 1000000 on a machine with time to spare.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftlock_kernels::{
    CpuBackend, GpuContext, PermutationBackend, PermutationParams, WindowBatch,
};

#[path = "support/workload.rs"]
#[allow(dead_code)]
mod workload;

const PERMS: u32 = 1000;
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

fn max_windows() -> usize {
    std::env::var("DRIFTLOCK_BENCH_MAX_WINDOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn params() -> PermutationParams {
    PermutationParams {
        permutations: PERMS,
        seed: 1,
        first_window: 0,
        stop_after_exceedances: None,
    }
}

fn run_group(c: &mut Criterion, name: &str, backend: &dyn PermutationBackend, cap: usize) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for windows in SIZES.into_iter().filter(|&w| w <= cap) {
        let (values, specs) =
            workload::sliding_windows(windows, workload::BASELINE, workload::WINDOW);
        group.throughput(Throughput::Elements(windows as u64 * PERMS as u64));
        group.bench_with_input(BenchmarkId::from_parameter(windows), &windows, |b, _| {
            b.iter(|| {
                let batch = WindowBatch {
                    values: &values,
                    windows: &specs,
                };
                black_box(backend.window_tests(batch, params()).unwrap())
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let cap = max_windows();
    run_group(c, "permutations/cpu", &CpuBackend::new(), cap);
    match GpuContext::new() {
        Ok(gpu) => {
            // A software rasteriser (lavapipe) is far slower than the CPU backend;
            // only the smallest size is worth timing there.
            let software = gpu.adapter_info().device_type == wgpu::DeviceType::Cpu;
            let gpu_cap = if software { cap.min(1_000) } else { cap };
            if software {
                eprintln!(
                    "GPU adapter {} is a software one: GPU sizes capped at 1000 windows",
                    gpu.adapter_info().name
                );
            }
            run_group(c, "permutations/gpu", &gpu, gpu_cap);
        }
        Err(e) => eprintln!("skipping GPU benchmarks: {e}"),
    }
}

criterion_group!(permutations, benches);
criterion_main!(permutations);
