//! The batch size from which the GPU beats the CPU backend, measured once per
//! stopping rule when `auto` first has a batch that could use the GPU.
//!
//! Both backends run a synthetic null workload shaped like the engine's (one
//! baseline of 400 values, windows of 50); the GPU's fixed cost per call
//! (upload, dispatch, read-back) is the time of a one-window call. With
//! sequential stopping the CPU runs few permutations per null window while the
//! GPU runs them all, so the crossover depends on the stopping rule.

use std::time::Instant;

use crate::rng::hash32;
use crate::{
    CpuBackend, GpuContext, KernelError, PermutationBackend, PermutationParams, WindowBatch,
    WindowSpec,
};

const BASELINE: u32 = 400;
const WINDOW: u32 = 50;
const PERMS: u32 = 1024;
const GPU_WINDOWS: usize = 512;
const CPU_WINDOWS: usize = 256;
const REPEATS: usize = 3;

/// What the measurement found, in windows × permutations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossover {
    /// Smallest batch the GPU finishes sooner; `None` if it was slower at every size.
    pub work: Option<u64>,
    pub gpu_per_s: f64,
    pub cpu_per_s: f64,
    /// The GPU's fixed cost of one call.
    pub gpu_latency_s: f64,
}

impl Crossover {
    /// From the two rates and the GPU's fixed cost: the GPU wins a batch of `W` when
    /// `latency + W / gpu < W / cpu`.
    pub fn from_rates(gpu_per_s: f64, cpu_per_s: f64, gpu_latency_s: f64) -> Self {
        let gain = 1.0 / cpu_per_s - 1.0 / gpu_per_s;
        let work = (gain > 0.0).then(|| (gpu_latency_s / gain).ceil().max(1.0) as u64);
        Crossover {
            work,
            gpu_per_s,
            cpu_per_s,
            gpu_latency_s,
        }
    }
}

/// Times both backends on a null workload with `stop` as the stopping rule.
pub(crate) fn measure(gpu: &GpuContext, stop: Option<u32>) -> Result<Crossover, KernelError> {
    let (values, specs) = null_batch(GPU_WINDOWS.max(CPU_WINDOWS));
    let params = PermutationParams {
        permutations: PERMS,
        seed: 0x5eed,
        first_window: 0,
        stop_after_exceedances: stop,
    };
    let time = |backend: &dyn PermutationBackend, windows: usize| {
        let batch = WindowBatch {
            values: &values,
            windows: &specs[..windows],
        };
        let mut best = f64::INFINITY;
        for _ in 0..REPEATS {
            let t = Instant::now();
            backend.window_tests(batch, params)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok::<f64, KernelError>(best)
    };
    let latency = time(gpu, 1)?;
    let gpu_secs = (time(gpu, GPU_WINDOWS)? - latency).max(1e-9);
    let cpu_secs = time(&CpuBackend::new(), CPU_WINDOWS)?.max(1e-9);
    let work = |windows: usize| windows as f64 * PERMS as f64;
    Ok(Crossover::from_rates(
        work(GPU_WINDOWS) / gpu_secs,
        work(CPU_WINDOWS) / cpu_secs,
        latency,
    ))
}

/// `windows` null windows: the same baseline, each window a fresh draw from
/// the same distribution.
fn null_batch(windows: usize) -> (Vec<f32>, Vec<WindowSpec>) {
    let mut x = 0x0c0f_fee5u32;
    let mut uniform = move || {
        x = hash32(x.wrapping_add(0x9e37_79b9));
        (x >> 8) as f32 / (1u32 << 24) as f32
    };
    let values: Vec<f32> = (0..BASELINE as usize + windows * WINDOW as usize)
        .map(|_| uniform())
        .collect();
    let specs = (0..windows as u32)
        .map(|i| WindowSpec {
            baseline_offset: 0,
            baseline_len: BASELINE,
            window_offset: BASELINE + i * WINDOW,
            window_len: WINDOW,
        })
        .collect();
    (values, specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_from_rates() {
        // 1 ms fixed cost, GPU 10x the CPU's 10^8/s: 10^-8 - 10^-9 s saved a unit.
        let c = Crossover::from_rates(1e9, 1e8, 1e-3);
        assert_eq!(c.work, Some(111_112));
        assert_eq!(Crossover::from_rates(1e8, 1e8, 1e-3).work, None);
        assert_eq!(Crossover::from_rates(1e7, 1e8, 0.0).work, None);
        assert_eq!(Crossover::from_rates(1e9, 1e8, 0.0).work, Some(1));
    }
}
