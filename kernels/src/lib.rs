//! Batched permutation statistics for Driftlock.
//!
//! A batch holds many windows over one `f32` vector: each window names its
//! baseline (`values[baseline_offset..][..baseline_len]`) and its own values
//! (`values[window_offset..][..window_len]`), so windows tested against the same
//! baseline share one copy of it (the GPU backend then uploads it once). Positions
//! in a window's pool count the baseline first, then the window. The statistic
//! is `mean(window) - mean(baseline)`; a permutation draws a random
//! `window_len`-subset of the pooled values and the p-value is
//! `(1 + #{perm stat >= observed}) / (1 + permutations)`, or the Besag–Clifford
//! `h / k` when sequential stopping ends the test at the h-th
//! exceedance (permutation k).
//!
//! Two backends implement [`PermutationBackend`] with bit-identical answers:
//! [`CpuBackend`] (rayon, stops early) and [`GpuContext`] (wgpu compute shaders).
//! They agree because
//! - each window's pool is quantised to integers on the CPU ([`quantize`]), so
//!   every permutation sum is exact and order-independent;
//! - the random subsets come from one counter-based `u32` generator ([`rng`]) keyed by
//!   (seed, global window index, permutation, draw), sampled with Robert Floyd's
//!   algorithm — the same code path in Rust and WGSL;
//! - the p-value is defined from the ordered exceedance sequence ([`pvalue`]).
//!
//! [`backend`] picks a backend from a [`DeviceChoice`]. The same machinery runs the
//! pairwise energy test on a distance matrix ([`PermutationBackend::pairwise_test`]).
//!
//! ```
//! use driftlock_kernels::{
//!     CpuBackend, PermutationBackend, PermutationParams, WindowBatch, WindowSpec,
//! };
//!
//! // 40 baseline values around 0, then a window of 10 values shifted up.
//! let mut values: Vec<f32> = (0..40).map(|i| (i % 5) as f32 * 0.1).collect();
//! values.extend((0..10).map(|i| 2.0 + (i % 3) as f32 * 0.1));
//! let windows = [WindowSpec::pooled(0, 40, 10)];
//! let params = PermutationParams {
//!     permutations: 999,
//!     seed: 7,
//!     first_window: 0,
//!     stop_after_exceedances: Some(20),
//! };
//! let stats = CpuBackend::new()
//!     .window_tests(WindowBatch { values: &values, windows: &windows }, params)
//!     .unwrap();
//! assert_eq!(stats[0].exceedances, 0);
//! assert_eq!(stats[0].p_value, 1.0 / 1000.0);
//! assert!(stats[0].observed > 1.5);
//! ```

mod cpu;
mod crossover;
mod error;
mod gpu;
mod pairwise;
pub mod pvalue;
pub mod quantize;
pub mod rng;
mod select;

pub use cpu::CpuBackend;
pub use crossover::Crossover;
pub use error::KernelError;
pub use gpu::{GPU_MAX_POOL, GpuContext, gpu_host_prepare};
pub use select::{
    AutoBackend, DeviceChoice, GPU_PROBE_MIN_WORK, QUIET_PROBE_ENV, backend, shared_gpu,
};

/// Where one window's baseline and own values sit in [`WindowBatch::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub baseline_offset: u32,
    pub baseline_len: u32,
    pub window_offset: u32,
    pub window_len: u32,
}

impl WindowSpec {
    /// A pool stored back to back from `offset`: the baseline, then the window.
    pub const fn pooled(offset: u32, baseline_len: u32, window_len: u32) -> Self {
        WindowSpec {
            baseline_offset: offset,
            baseline_len,
            window_offset: offset + baseline_len,
            window_len,
        }
    }
}

/// Many windows over one value buffer.
#[derive(Debug, Clone, Copy)]
pub struct WindowBatch<'a> {
    pub values: &'a [f32],
    pub windows: &'a [WindowSpec],
}

/// Permutation settings shared by every window of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermutationParams {
    pub permutations: u32,
    pub seed: u64,
    /// Window index of `windows[0]` in the caller's numbering: the generator is keyed
    /// by (seed, first_window + i, permutation), so splitting a batch changes nothing.
    pub first_window: u64,
    /// Besag–Clifford sequential stopping: stop at the h-th exceedance. The answer is
    /// defined from the ordered exceedance sequence, so a backend that runs every
    /// permutation and one that stops early return the same p-value. `Some(0)` is
    /// rejected with [`KernelError::BadParams`].
    pub stop_after_exceedances: Option<u32>,
}

/// The answer for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStat {
    /// `mean(window) - mean(baseline)` on the input values.
    pub observed: f32,
    /// Permutations whose statistic was >= the observed one (among those run).
    pub exceedances: u32,
    /// Permutations that count for the p-value (all of them unless stopped early).
    pub permutations_used: u32,
    /// Permutation p-value with the +1 correction; never 0.
    pub p_value: f64,
}

/// A backend for batched permutation tests.
pub trait PermutationBackend: Send + Sync {
    fn name(&self) -> &'static str;

    /// Which backend ran the calls so far and why, for a run's summary.
    fn describe(&self) -> String {
        format!("the {} backend", self.name())
    }

    /// One [`WindowStat`] per window, in order. Errors name the window by its
    /// position in `batch.windows`.
    fn window_tests(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError>;

    /// Energy-statistic permutation test on a symmetric `(n + m)²` row-major
    /// distance matrix: group A is the first `n` rows, group B the last `m`; a
    /// relabelling draws a random B of size `m`. `observed` is
    /// `2·mean(D_AB) − mean(D_AA) − mean(D_BB)` (V-statistic means, diagonal taken as
    /// 0, the matrix symmetrised as `(D_ij + D_ji) / 2`). The generator is keyed by
    /// `params.first_window` as the window index. See the `pairwise` module docs.
    ///
    /// The default runs on the CPU, so other implementors (test doubles) get it free.
    fn pairwise_test(
        &self,
        matrix: &[f32],
        n: usize,
        m: usize,
        params: PermutationParams,
    ) -> Result<WindowStat, KernelError> {
        pairwise::pairwise_cpu(matrix, n, m, params)
    }
}
