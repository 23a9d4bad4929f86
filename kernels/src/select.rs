//! Choosing a backend: `--device auto|cpu|gpu`.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use crate::{
    CpuBackend, GpuContext, KernelError, PermutationBackend, PermutationParams, WindowBatch,
    WindowStat,
};

/// Which device runs the permutation tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The GPU for batches large enough to pay for the transfer, if an adapter exists.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            other => Err(format!(
                "unknown device {other:?} (expected auto, cpu or gpu)"
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Gpu => "gpu",
        })
    }
}

/// `windows × permutations` from which [`AutoBackend`] sends a batch to the GPU.
/// Below it, upload + dispatch + readback latency exceeds the CPU's compute time.
pub const GPU_AUTO_THRESHOLD: u64 = 2_000_000;

static SHARED_GPU: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();

/// The process-wide GPU context, created on first use (device creation is slow). A
/// failure is remembered too, so a machine without an adapter is probed once.
pub fn shared_gpu() -> Result<Arc<GpuContext>, KernelError> {
    SHARED_GPU
        .get_or_init(|| match GpuContext::new() {
            Ok(ctx) => Ok(Arc::new(ctx)),
            Err(KernelError::NoAdapter(msg)) => Err(msg),
            Err(other) => Err(other.to_string()),
        })
        .clone()
        .map_err(KernelError::NoAdapter)
}

/// The backend for a device choice. `Gpu` without an adapter is an error; `Auto`
/// without one falls back to the CPU (logged once).
pub fn backend(choice: DeviceChoice) -> Result<Arc<dyn PermutationBackend>, KernelError> {
    match choice {
        DeviceChoice::Cpu => Ok(Arc::new(CpuBackend::new())),
        DeviceChoice::Gpu => match shared_gpu() {
            Ok(gpu) => Ok(gpu),
            Err(KernelError::NoAdapter(msg)) => Err(KernelError::NoAdapter(format!(
                "--device gpu was requested but no usable GPU adapter was found ({msg}); \
                 use --device cpu or auto"
            ))),
            Err(e) => Err(e),
        },
        DeviceChoice::Auto => Ok(Arc::new(AutoBackend::new())),
    }
}

/// Holds both backends and picks per call: the GPU for big batches when present.
pub struct AutoBackend {
    cpu: CpuBackend,
    gpu: Option<Arc<GpuContext>>,
    threshold: u64,
}

impl AutoBackend {
    pub fn new() -> Self {
        let gpu = match shared_gpu() {
            Ok(gpu) => Some(gpu),
            Err(e) => {
                tracing::info!("no GPU adapter, permutation tests run on the CPU: {e}");
                None
            }
        };
        AutoBackend {
            cpu: CpuBackend::new(),
            gpu,
            threshold: GPU_AUTO_THRESHOLD,
        }
    }

    /// Overrides [`GPU_AUTO_THRESHOLD`] (windows × permutations).
    pub fn with_threshold(mut self, threshold: u64) -> Self {
        self.threshold = threshold;
        self
    }

    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    fn pick(&self, work: u64, fits_gpu: bool) -> &dyn PermutationBackend {
        match &self.gpu {
            Some(gpu) if fits_gpu && work >= self.threshold => gpu.as_ref(),
            _ => &self.cpu,
        }
    }
}

impl Default for AutoBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl PermutationBackend for AutoBackend {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn window_tests(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError> {
        let work = batch.windows.len() as u64 * params.permutations as u64;
        let fits = batch
            .windows
            .iter()
            .all(|w| w.baseline_len as u64 + w.window_len as u64 <= crate::GPU_MAX_POOL as u64);
        self.pick(work, fits).window_tests(batch, params)
    }

    fn pairwise_test(
        &self,
        matrix: &[f32],
        n: usize,
        m: usize,
        params: PermutationParams,
    ) -> Result<WindowStat, KernelError> {
        // Pairwise work per permutation is O(m²), so weigh it like m² windows.
        let work = (m as u64).pow(2) * params.permutations as u64;
        let fits = n + m <= crate::GPU_MAX_POOL;
        self.pick(work, fits).pairwise_test(matrix, n, m, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices() {
        assert_eq!("auto".parse::<DeviceChoice>(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse::<DeviceChoice>(), Ok(DeviceChoice::Cpu));
        assert_eq!("gpu".parse::<DeviceChoice>(), Ok(DeviceChoice::Gpu));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Gpu.to_string(), "gpu");
    }
}
