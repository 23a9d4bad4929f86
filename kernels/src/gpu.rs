//! The wgpu backend. Quantisation and key derivation run on the CPU (shared with
//! the CPU backend); the shaders only sample subsets and compare integer sums, so the
//! answers are bit-identical to [`crate::CpuBackend`]. A baseline shared by many
//! windows is uploaded once and stays on the device (`gpu/baselines.rs`).
//!
//! Pools are limited to [`GPU_MAX_POOL`] values (the per-invocation membership
//! bitmask is a fixed private array); larger windows are a `BadWindow` error here and
//! should go to the CPU backend.
//!
//! Headless NVIDIA containers: if the loader reports "Could not get 'vkCreateInstance'
//! ... for ICD libGLX_nvidia.so.0", point `VK_ICD_FILENAMES` at a manifest whose
//! `library_path` is `libEGL_nvidia.so.0` (the GLX entry needs an X server). The
//! Vulkan loader (`libvulkan.so.1`) must be installed too.

use std::sync::{Arc, Mutex, mpsc};

mod baselines;
mod pairwise;
mod windows;

pub use windows::gpu_host_prepare;

use wgpu::util::DeviceExt as _;

use crate::{KernelError, PermutationBackend, PermutationParams, WindowBatch, WindowStat};

/// Largest pool (baseline + window, or matrix rows) the GPU kernels accept; must
/// match `MAX_WORDS * 32` in the shaders.
pub const GPU_MAX_POOL: usize = 4096;

const WG: u32 = 64;
/// Upper bound on windows per dispatch: small enough that CPU preparation of the next
/// chunk overlaps usefully with the GPU, large enough to fill a big GPU.
const MAX_CHUNK_WINDOWS: usize = 1 << 16;
/// Cap on any one buffer, whatever the adapter allows.
const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// A storage buffer reused across calls and grown on demand.
#[derive(Default)]
struct Slot(Option<wgpu::Buffer>);

impl Slot {
    fn get(
        &mut self,
        device: &wgpu::Device,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> &wgpu::Buffer {
        let size = size.max(16).next_multiple_of(16);
        if self.0.as_ref().is_none_or(|b| b.size() < size) {
            // Grow geometrically so a slowly growing workload does not reallocate
            // every call.
            let grown = self.0.as_ref().map_or(size, |b| size.max(b.size() * 3 / 2));
            self.0 = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("driftlock-kernels"),
                size: grown.next_multiple_of(16),
                usage,
                mapped_at_creation: false,
            }));
        }
        self.0.as_ref().expect("just created")
    }
}

#[derive(Default)]
struct Buffers {
    metas: Slot,
    q: Slot,
    /// Resident baseline integers, described by `baselines`.
    baseline: Slot,
    baselines: baselines::Baselines,
    bits: Slot,
    summary: Slot,
    staging: Slot,
    rows: Slot,
}

/// Owns the wgpu device, the compiled pipelines and reusable buffers. Creating one is
/// slow (hundreds of ms): share it ([`crate::shared_gpu`]).
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    permute: wgpu::ComputePipeline,
    reduce: wgpu::ComputePipeline,
    pairwise: wgpu::ComputePipeline,
    rng_check: wgpu::ComputePipeline,
    /// Also serialises calls: one batch owns the queue and buffers at a time.
    buffers: Mutex<Buffers>,
}

fn shader(device: &wgpu::Device, label: &str, body: &str) -> wgpu::ShaderModule {
    let source = format!("{}\n{}", include_str!("rng.wgsl"), body);
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

fn pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry: &str,
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

fn gpu_err(e: impl std::fmt::Display) -> KernelError {
    KernelError::Gpu(e.to_string())
}

impl GpuContext {
    /// Opens the highest-performance adapter (any backend; `WGPU_BACKEND` etc.
    /// are honoured) and compiles the kernels. `NoAdapter` when there is none.
    pub fn new() -> Result<Self, KernelError> {
        pollster::block_on(Self::new_async())
    }

    async fn new_async() -> Result<Self, KernelError> {
        // Vulkan/Metal/DX12 only: compute needs no GL, and probing GL prints noise
        // on headless machines. WGPU_BACKEND still overrides.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        let instance = wgpu::Instance::new(desc.with_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| KernelError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers: big storage bindings mean fewer chunks.
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("driftlock-kernels"),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                KernelError::NoAdapter(format!("{} ({:?}): {e}", info.name, info.backend))
            })?;
        device.on_uncaptured_error(Arc::new(|e| tracing::error!("wgpu error: {e}")));
        let limits = device.limits();

        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let windows = shader(&device, "windows.wgsl", include_str!("windows.wgsl"));
        let pairs = shader(&device, "pairwise.wgsl", include_str!("pairwise.wgsl"));
        let check = shader(&device, "rng_check.wgsl", include_str!("rng_check.wgsl"));
        let ctx = GpuContext {
            permute: pipeline(&device, &windows, "permute"),
            reduce: pipeline(&device, &windows, "reduce"),
            pairwise: pipeline(&device, &pairs, "pairwise"),
            rng_check: pipeline(&device, &check, "rng_check"),
            device,
            queue,
            info,
            limits,
            buffers: Mutex::default(),
        };
        if let Some(e) = scope.pop().await {
            return Err(KernelError::Gpu(format!("shader compilation failed: {e}")));
        }
        tracing::debug!(adapter = %ctx.info.name, backend = ?ctx.info.backend, "GPU context ready");
        Ok(ctx)
    }

    /// The adapter in use, e.g. for logs.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
            .min(MAX_BUFFER_BYTES)
    }

    /// Workgroup grid covering `invocations`, 2-D when one dimension is not enough.
    fn grid(&self, invocations: u64) -> Result<(u32, u32), KernelError> {
        let groups = invocations.div_ceil(WG as u64).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(KernelError::Gpu(format!(
                "{invocations} invocations exceed the dispatch limits"
            )));
        }
        Ok((x as u32, y as u32))
    }

    fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        invocations: u64,
    ) -> Result<(), KernelError> {
        let (x, y) = self.grid(invocations)?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(x, y, 1);
        Ok(())
    }

    /// Submits `encoder` (which must end with a copy into `staging`), waits, and
    /// returns the first `bytes` of `staging`.
    fn submit_and_read(
        &self,
        encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u32>, KernelError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..bytes);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let error = pollster::block_on(scope.pop());
        if let Some(e) = error {
            return Err(gpu_err(e));
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(gpu_err)?;
        rx.recv().map_err(gpu_err)?.map_err(gpu_err)?;
        let out = bytemuck::cast_slice(&slice.get_mapped_range().map_err(gpu_err)?).to_vec();
        staging.unmap();
        Ok(out)
    }
}

impl PermutationBackend for GpuContext {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn window_tests(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError> {
        self.run_windows(batch, params)
    }

    fn pairwise_test(
        &self,
        matrix: &[f32],
        n: usize,
        m: usize,
        params: PermutationParams,
    ) -> Result<WindowStat, KernelError> {
        self.run_pairwise(matrix, n, m, params)
    }
}

impl GpuContext {
    /// Evaluates the WGSL generator on `(seed, window, perm, counter)` cases and
    /// returns `(hash32(counter), window_key, perm_key, draw)` for each. For tests
    /// that pin the WGSL port to the Rust one.
    #[doc(hidden)]
    pub fn rng_check(&self, cases: &[(u64, u64, u32, u32)]) -> Result<Vec<[u32; 4]>, KernelError> {
        let words: Vec<u32> = cases
            .iter()
            .flat_map(|&(s, w, p, c)| {
                [s as u32, (s >> 32) as u32, w as u32, (w >> 32) as u32, p, c]
            })
            .collect();
        let dev = &self.device;
        let input = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("rng cases"),
            contents: bytemuck::cast_slice(&words),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bytes = cases.len() as u64 * 16;
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("rng out"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("rng staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.rng_check.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: input.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: output.as_entire_binding(),
                },
            ],
        });
        let mut encoder = dev.create_command_encoder(&Default::default());
        self.dispatch(&mut encoder, &self.rng_check, &bind, cases.len() as u64)?;
        encoder.copy_buffer_to_buffer(&output, 0, &staging, 0, bytes);
        let flat = self.submit_and_read(encoder, &staging, bytes)?;
        Ok(flat
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect())
    }
}
