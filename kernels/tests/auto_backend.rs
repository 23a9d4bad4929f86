//! `--device auto`: where batches run and what the summary says. The GPU cases
//! run on any adapter (lavapipe in CI) and skip with a message without one.

mod common;

use common::{make_batch, params};
use driftlock_kernels::{
    AutoBackend, CpuBackend, GPU_PROBE_MIN_WORK, PermutationBackend, WindowBatch, shared_gpu,
};

#[test]
fn auto_answers_like_the_cpu_and_says_where_it_ran() {
    let gpu = match shared_gpu() {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            return;
        }
    };
    let software = gpu.adapter_info().device_type == wgpu::DeviceType::Cpu;
    // Enough work to make auto look for the GPU.
    let (values, specs) = make_batch(&vec![(60u32, 12u32); 1100], 0.3, 5);
    let p = params(1000, Some(16));
    assert!(specs.len() as u64 * p.permutations as u64 >= GPU_PROBE_MIN_WORK);
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    let cpu = CpuBackend.window_tests(batch, p).unwrap();

    let forced = AutoBackend::new().with_threshold(0);
    assert_eq!(forced.window_tests(batch, p).unwrap(), cpu);
    let why = forced.describe();
    assert!(
        why.starts_with("the gpu backend for 1 of 1 batches"),
        "{why}"
    );
    assert!(why.contains("fixed crossover 0"), "{why}");

    if software {
        let auto = AutoBackend::new();
        assert_eq!(auto.window_tests(batch, p).unwrap(), cpu);
        let why = auto.describe();
        assert!(why.contains("is a software adapter"), "{why}");
        assert!(auto.gpu().is_none());
    } else {
        eprintln!("hardware adapter: measured crossover not asserted");
    }
}
