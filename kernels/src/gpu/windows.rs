//! Window tests on the GPU: CPU-side chunk preparation (overlapped with the GPU on
//! a producer thread) and the permute + reduce dispatches.

use std::sync::mpsc;

use rayon::prelude::*;
use wgpu::util::DeviceExt as _;

use super::{Buffers, GPU_MAX_POOL, GpuContext, MAX_CHUNK_WINDOWS, gpu_err};
use crate::pvalue::{self, Exceedances};
use crate::quantize::{quantize_window, window_values};
use crate::rng::window_key;
use crate::{KernelError, PermutationParams, WindowBatch, WindowStat};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Meta {
    q_off: u32,
    n: u32,
    m: u32,
    obs: u32,
    key: u32,
}

/// A chunk of windows quantised on the CPU, ready for upload.
struct Prepared {
    metas: Vec<Meta>,
    q: Vec<u32>,
    observed: Vec<f32>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WindowParams {
    num_windows: u32,
    perms: u32,
    blocks: u32,
    stop_h: u32,
}

/// The GPU backend's host-side work for `batch` without a device: validation,
/// quantisation and packing, as one upload. Returns the bytes it would upload. For
/// the host-side benchmark (`benches/host_prepare.rs`).
#[doc(hidden)]
pub fn gpu_host_prepare(
    batch: WindowBatch<'_>,
    params: PermutationParams,
) -> Result<u64, KernelError> {
    pvalue::check_params(&params)?;
    let prepared = GpuContext::prepare_chunk(&batch, 0..batch.windows.len(), &params, Vec::new())?;
    Ok(
        prepared.metas.len() as u64 * std::mem::size_of::<Meta>() as u64
            + prepared.q.len() as u64 * 4,
    )
}

impl GpuContext {
    pub(super) fn run_windows(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError> {
        pvalue::check_params(&params)?;
        let blocks = params.permutations.div_ceil(32).max(1) as u64;
        let mut bufs = self
            .buffers
            .lock()
            .map_err(|_| gpu_err("GPU buffers poisoned by a panic"))?;
        let mut out = Vec::with_capacity(batch.windows.len());
        let chunks = self.chunks(&batch, blocks);
        std::thread::scope(|scope| {
            // One chunk prepared ahead; spent q buffers come back for reuse.
            let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<Prepared, KernelError>>(1);
            let (spent_tx, spent_rx) = mpsc::channel::<Vec<u32>>();
            let batch = &batch;
            scope.spawn(move || {
                for range in chunks {
                    let q = spent_rx.try_recv().unwrap_or_default();
                    let prepared = Self::prepare_chunk(batch, range, &params, q);
                    let failed = prepared.is_err();
                    // A send error means the consumer gave up (GPU error): stop.
                    if ready_tx.send(prepared).is_err() || failed {
                        break;
                    }
                }
            });
            for prepared in ready_rx {
                let prepared = prepared?;
                self.run_chunk(&mut bufs, &prepared, &params, &mut out)?;
                let _ = spent_tx.send(prepared.q);
            }
            Ok(out)
        })
    }

    /// Splits `batch` into chunks that fit the adapter's buffer limits.
    fn chunks(&self, batch: &WindowBatch<'_>, blocks: u64) -> Vec<std::ops::Range<usize>> {
        let max_words = self.max_binding() / 4;
        let mut out = Vec::new();
        let (mut start, mut q_words) = (0usize, 0u64);
        for (i, w) in batch.windows.iter().enumerate() {
            let n = w.baseline_len as u64 + w.window_len as u64;
            let count = (i - start) as u64 + 1;
            let too_big = q_words + n > max_words
                || count * blocks > max_words
                || count * 5 > max_words
                || count as usize > MAX_CHUNK_WINDOWS;
            if too_big && i > start {
                out.push(start..i);
                start = i;
                q_words = 0;
            }
            q_words += n;
        }
        if start < batch.windows.len() {
            out.push(start..batch.windows.len());
        }
        out
    }

    /// CPU half of a chunk: validation, quantisation and keys. Runs on a producer
    /// thread so it overlaps with the GPU working on the previous chunk.
    fn prepare_chunk(
        batch: &WindowBatch<'_>,
        range: std::ops::Range<usize>,
        params: &PermutationParams,
        mut q: Vec<u32>,
    ) -> Result<Prepared, KernelError> {
        let windows = &batch.windows[range.clone()];
        // Lay the quantised pools out back to back, then fill them in parallel.
        let mut metas = Vec::with_capacity(windows.len());
        let mut q_len = 0usize;
        for (k, w) in windows.iter().enumerate() {
            let i = range.start + k;
            let n = w.baseline_len as usize + w.window_len as usize;
            if n > GPU_MAX_POOL {
                return Err(KernelError::BadWindow {
                    window: i,
                    reason: format!(
                        "pool of {n} values exceeds the GPU limit of {GPU_MAX_POOL}; use the CPU backend"
                    ),
                });
            }
            metas.push(Meta {
                q_off: q_len as u32,
                n: n as u32,
                m: w.window_len,
                obs: 0,
                key: window_key(params.seed, params.first_window + i as u64),
            });
            q_len += n;
        }
        // Recycled buffers keep their pages: no fresh page faults per chunk.
        q.resize(q_len, 0);
        let mut slices = Vec::with_capacity(windows.len());
        let mut rest = &mut q[..];
        for md in &metas {
            let (head, tail) = rest.split_at_mut(md.n as usize);
            slices.push(head);
            rest = tail;
        }
        let observed: Vec<f32> = slices
            .into_par_iter()
            .zip(metas.par_iter_mut())
            .enumerate()
            .with_min_len(64)
            .map_init(Vec::new, |tmp, (k, (dst, md))| {
                let i = range.start + k;
                let pool = window_values(batch.values, &windows[k], i)?;
                let qw = quantize_window(pool, windows[k].baseline_len as usize, i, tmp)?;
                dst.copy_from_slice(tmp);
                md.obs = qw.observed_sum;
                Ok(qw.observed)
            })
            .collect::<Result<_, KernelError>>()?;
        Ok(Prepared { metas, q, observed })
    }

    /// GPU half of a chunk: upload, permute, reduce, read back.
    fn run_chunk(
        &self,
        bufs: &mut Buffers,
        chunk: &Prepared,
        params: &PermutationParams,
        out: &mut Vec<WindowStat>,
    ) -> Result<(), KernelError> {
        let (metas, q) = (&chunk.metas, &chunk.q);
        let q_len = q.len();
        let num = metas.len() as u64;
        let blocks = params.permutations.div_ceil(32).max(1);
        let wparams = WindowParams {
            num_windows: num as u32,
            perms: params.permutations,
            blocks,
            stop_h: params.stop_after_exceedances.unwrap_or(0),
        };
        let dev = &self.device;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let uniform = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("window params"),
            contents: bytemuck::bytes_of(&wparams),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let metas_buf = bufs.metas.get(dev, num * 20, storage);
        let q_buf = bufs.q.get(dev, q_len as u64 * 4, storage);
        let bits_buf = bufs.bits.get(dev, num * blocks as u64 * 4, storage);
        let summary_bytes = num * 8;
        let summary_buf =
            bufs.summary
                .get(dev, summary_bytes, storage | wgpu::BufferUsages::COPY_SRC);
        let staging = bufs.staging.get(
            dev,
            summary_bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        self.queue
            .write_buffer(metas_buf, 0, bytemuck::cast_slice(metas));
        if !q.is_empty() {
            self.queue.write_buffer(q_buf, 0, bytemuck::cast_slice(q));
        }
        let layout = self.permute.get_bind_group_layout(0);
        let entries = [
            uniform.as_entire_binding(),
            metas_buf.as_entire_binding(),
            q_buf.as_entire_binding(),
            bits_buf.as_entire_binding(),
            summary_buf.as_entire_binding(),
        ];
        let entries: Vec<_> = entries
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            })
            .collect();
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("windows"),
            layout: &layout,
            entries: &entries[..4],
        });
        let reduce_bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("windows reduce"),
            layout: &self.reduce.get_bind_group_layout(0),
            entries: &[entries[0].clone(), entries[3].clone(), entries[4].clone()],
        });
        let mut encoder = dev.create_command_encoder(&Default::default());
        if params.permutations > 0 {
            self.dispatch(&mut encoder, &self.permute, &bind, num * blocks as u64)?;
        } else {
            encoder.clear_buffer(bits_buf, 0, Some(num * blocks as u64 * 4));
        }
        self.dispatch(&mut encoder, &self.reduce, &reduce_bind, num)?;
        encoder.copy_buffer_to_buffer(summary_buf, 0, staging, 0, summary_bytes);
        let summary = self.submit_and_read(encoder, staging, summary_bytes)?;
        out.extend(
            summary
                .chunks_exact(2)
                .zip(&chunk.observed)
                .map(|(s, &obs)| {
                    pvalue::finish(
                        obs,
                        Exceedances {
                            count: s[0],
                            stop_at: s[1],
                        },
                        params,
                    )
                }),
        );
        Ok(())
    }
}
