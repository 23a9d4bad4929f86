//! Choosing a backend: `--device auto|cpu|gpu`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::crossover::{self, Crossover};
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

/// Least `windows × permutations` for which `auto` looks for a GPU at all, so that
/// a run whose batches are all smaller never touches the graphics stack. The
/// engine's default calls are at most 10 windows × 1000 (10k), which would not win
/// back a device's creation and crossover measurement; its exact mode at 100,000
/// permutations sends at least 100k per call, even an event at a time. From here
/// the measured crossover decides.
pub const GPU_PROBE_MIN_WORK: u64 = 1 << 16;

/// Environment the binary sets at start-up (where unset) so that looking for a GPU
/// stays quiet: Mesa's device-select layer opens a Wayland or X connection to order
/// the devices for a display, which compute has no use for, and libwayland prints
/// `error: XDG_RUNTIME_DIR is invalid or not set` where there is no session.
pub const QUIET_PROBE_ENV: [(&str, &str); 1] = [("NODEVICE_SELECT", "1")];

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
/// looks for a GPU only when a batch is large enough to use one.
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

/// A crossover measured for a stopping rule, or why it could not be.
type Measured = (Option<u32>, Result<Crossover, String>);

/// The GPU as `auto` found it.
enum Probe {
    Usable(Arc<GpuContext>),
    Unusable(String),
}

/// Picks a backend per call: the GPU for batches past the crossover, measured
/// once per stopping rule when the first batch that could use the GPU arrives.
/// Software adapters (lavapipe) run on the same cores as the CPU backend and are
/// never picked unless a fixed threshold is set.
pub struct AutoBackend {
    cpu: CpuBackend,
    gpu: OnceLock<Probe>,
    threshold: Option<u64>,
    crossovers: Mutex<Vec<Measured>>,
    cpu_batches: AtomicU64,
    gpu_batches: AtomicU64,
    largest: AtomicU64,
}

impl AutoBackend {
    /// Probes nothing yet.
    pub fn new() -> Self {
        AutoBackend {
            cpu: CpuBackend::new(),
            gpu: OnceLock::new(),
            threshold: None,
            crossovers: Mutex::new(Vec::new()),
            cpu_batches: AtomicU64::new(0),
            gpu_batches: AtomicU64::new(0),
            largest: AtomicU64::new(0),
        }
    }

    /// A fixed crossover (windows × permutations) instead of the measured one; the
    /// GPU is then probed from this size and used even when it is a software one.
    pub fn with_threshold(mut self, threshold: u64) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// The GPU in use, probing for one if that has not happened yet.
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        match self.probe() {
            Probe::Usable(gpu) => Some(gpu),
            Probe::Unusable(_) => None,
        }
    }

    fn probe(&self) -> &Probe {
        self.gpu.get_or_init(|| match shared_gpu() {
            Ok(gpu) if self.threshold.is_none() && is_software(&gpu) => Probe::Unusable(format!(
                "{} is a software adapter, slower than the CPU backend",
                gpu.adapter_info().name
            )),
            Ok(gpu) => Probe::Usable(gpu),
            Err(e) => {
                tracing::info!("no GPU adapter, permutation tests run on the CPU: {e}");
                Probe::Unusable(e.to_string())
            }
        })
    }

    /// The measured crossover for a stopping rule, measured on first use.
    fn crossover(&self, gpu: &GpuContext, stop: Option<u32>) -> Option<u64> {
        if let Some(t) = self.threshold {
            return Some(t);
        }
        let mut known = self.crossovers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = known.iter().find(|(s, _)| *s == stop) {
            return c.as_ref().ok().and_then(|c| c.work);
        }
        let measured = crossover::measure(gpu, stop).map_err(|e| e.to_string());
        match &measured {
            Ok(c) => tracing::info!(?stop, ?c, "GPU crossover measured"),
            Err(e) => tracing::warn!("GPU crossover measurement failed, using the CPU: {e}"),
        }
        let work = measured.as_ref().ok().and_then(|c| c.work);
        known.push((stop, measured));
        work
    }

    fn pick(&self, work: u64, fits_gpu: bool, stop: Option<u32>) -> &dyn PermutationBackend {
        self.largest.fetch_max(work, Ordering::Relaxed);
        let floor = self.threshold.unwrap_or(GPU_PROBE_MIN_WORK);
        if fits_gpu
            && work >= floor
            && let Probe::Usable(gpu) = self.probe()
            && self.crossover(gpu, stop).is_some_and(|c| work >= c)
        {
            self.gpu_batches.fetch_add(1, Ordering::Relaxed);
            return gpu.as_ref();
        }
        self.cpu_batches.fetch_add(1, Ordering::Relaxed);
        &self.cpu
    }

    /// Why the batches so far ran where they did, e.g. for a run's summary.
    fn reason(&self) -> String {
        let gpu_batches = self.gpu_batches.load(Ordering::Relaxed);
        let cpu_batches = self.cpu_batches.load(Ordering::Relaxed);
        let largest = self.largest.load(Ordering::Relaxed);
        let measured = || {
            let known = self.crossovers.lock().unwrap_or_else(|e| e.into_inner());
            let parts: Vec<String> = known
                .iter()
                .map(|(stop, c)| {
                    let rule = stop.map_or("no early stop".into(), |h| format!("stop at {h}"));
                    match c {
                        Ok(Crossover { work: Some(w), .. }) => {
                            format!("from {} with {rule}", work_text(*w))
                        }
                        Ok(_) => format!("never with {rule}"),
                        Err(e) => format!("not measured with {rule}: {e}"),
                    }
                })
                .collect();
            match (self.threshold, parts.is_empty()) {
                (Some(t), _) => format!("fixed crossover {}", work_text(t)),
                (None, true) => "no crossover measured".into(),
                (None, false) => format!("measured crossover {}", parts.join(", ")),
            }
        };
        match self.gpu.get() {
            _ if gpu_batches > 0 => {
                let gpu = self.gpu().expect("a batch ran on it");
                let info = gpu.adapter_info();
                format!(
                    "the gpu backend for {gpu_batches} of {} batches ({}, {:?}; {}), \
                     the cpu backend for the rest",
                    gpu_batches + cpu_batches,
                    info.name,
                    info.backend,
                    measured()
                )
            }
            None => format!(
                "the cpu backend (auto: no batch reached {} windows × permutations, \
                 so no GPU was looked for; the largest had {})",
                work_text(self.threshold.unwrap_or(GPU_PROBE_MIN_WORK)),
                work_text(largest)
            ),
            Some(Probe::Unusable(why)) => format!("the cpu backend (auto: {why})"),
            Some(Probe::Usable(gpu)) => format!(
                "the cpu backend (auto: {} wins {}; the largest batch had {})",
                gpu.adapter_info().name,
                measured(),
                work_text(largest)
            ),
        }
    }
}

fn is_software(gpu: &GpuContext) -> bool {
    gpu.adapter_info().device_type == wgpu::DeviceType::Cpu
}

/// `1.2M`-style counts for summaries.
fn work_text(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.0}k", n as f64 / 1e3),
        1_000_000..10_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.1}M", n as f64 / 1e6),
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

    fn describe(&self) -> String {
        self.reason()
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
        self.pick(work, fits, params.stop_after_exceedances)
            .window_tests(batch, params)
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
        self.pick(work, fits, params.stop_after_exceedances)
            .pairwise_test(matrix, n, m, params)
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

    #[test]
    fn small_batches_never_probe_and_say_so() {
        let auto = AutoBackend::new();
        let values = [0.0f32, 1.0, 2.0, 3.0];
        let windows = [crate::WindowSpec::pooled(0, 2, 2)];
        let params = PermutationParams {
            permutations: 100,
            seed: 1,
            first_window: 0,
            stop_after_exceedances: None,
        };
        let batch = WindowBatch {
            values: &values,
            windows: &windows,
        };
        auto.window_tests(batch, params).unwrap();
        assert!(
            auto.gpu.get().is_none(),
            "a 100-permutation batch probed the GPU"
        );
        let why = auto.describe();
        assert!(
            why.starts_with("the cpu backend (auto: no batch reached 66k"),
            "{why}"
        );
        assert!(why.contains("the largest had 100"), "{why}");
    }

    #[test]
    fn work_is_written_short() {
        assert_eq!(work_text(9_999), "9999");
        assert_eq!(work_text(50_000), "50k");
        assert_eq!(work_text(1 << 20), "1.05M");
        assert_eq!(work_text(1_000_000), "1.00M");
        assert_eq!(work_text(12_345_678), "12.3M");
    }
}
