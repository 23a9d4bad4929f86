//! Window tests on the GPU: CPU-side chunk preparation (overlapped with the GPU on
//! a producer thread) and the permute + reduce dispatches.
//!
//! Upload layout: each window sends its own integers and a 24-byte header; its
//! baseline's integers live in a resident buffer ([`Baselines`]), uploaded once
//! for all the windows (and calls) that share that baseline and grid.

use std::collections::HashMap;
use std::sync::mpsc;

use rayon::prelude::*;
use wgpu::util::DeviceExt as _;

use super::baselines::Baselines;
use super::{Buffers, GPU_MAX_POOL, GpuContext, MAX_BUFFER_BYTES, MAX_CHUNK_WINDOWS, gpu_err};
use crate::pvalue::{self, Exceedances};
use crate::quantize::{Grid, Span, observed, window_values};
use crate::rng::window_key;
use crate::{KernelError, PermutationParams, WindowBatch, WindowStat};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Meta {
    /// First baseline integer in the resident buffer.
    base_off: u32,
    b: u32,
    /// First window integer in the chunk's window buffer.
    win_off: u32,
    m: u32,
    obs: u32,
    key: u32,
}

/// A chunk of windows quantised on the CPU, ready for upload.
struct Prepared {
    metas: Vec<Meta>,
    /// The windows' own integers.
    q: Vec<u32>,
    /// Baseline integers new to the device, to be written at word `images_at`.
    images: Vec<u32>,
    images_at: u64,
    /// Words the resident buffer must hold.
    resident_words: u64,
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
/// quantisation and packing, as one upload onto an empty device. Returns the
/// bytes it would upload. For the host-side benchmark (`benches/host_prepare.rs`).
#[doc(hidden)]
pub fn gpu_host_prepare(
    batch: WindowBatch<'_>,
    params: PermutationParams,
) -> Result<u64, KernelError> {
    pvalue::check_params(&params)?;
    let mut resident = Baselines::default();
    let prepared = GpuContext::prepare_chunk(
        &batch,
        0..batch.windows.len(),
        &params,
        &mut resident,
        MAX_BUFFER_BYTES / 4,
        Vec::new(),
    )?;
    Ok(
        prepared.metas.len() as u64 * std::mem::size_of::<Meta>() as u64
            + (prepared.q.len() + prepared.images.len()) as u64 * 4,
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
        // A rayon worker waiting here runs other rayon jobs meanwhile: the
        // holder's producer quantises with rayon, and blocking every worker on
        // this lock (streams scored in parallel) would deadlock.
        let mut bufs = loop {
            match self.buffers.try_lock() {
                Ok(bufs) => break bufs,
                Err(std::sync::TryLockError::WouldBlock) => {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::yield_now();
                    }
                }
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    return Err(gpu_err("GPU buffers poisoned by a panic"));
                }
            }
        };
        let mut out = Vec::with_capacity(batch.windows.len());
        let chunks = self.chunks(&batch, blocks);
        let max_words = self.max_binding() / 4;
        let mut resident = std::mem::take(&mut bufs.baselines);
        let result = std::thread::scope(|scope| {
            // One chunk prepared ahead; spent q buffers come back for reuse.
            let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<Prepared, KernelError>>(1);
            let (spent_tx, spent_rx) = mpsc::channel::<Vec<u32>>();
            let batch = &batch;
            let resident = &mut resident;
            scope.spawn(move || {
                for range in chunks {
                    let q = spent_rx.try_recv().unwrap_or_default();
                    let prepared =
                        Self::prepare_chunk(batch, range, &params, resident, max_words, q);
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
        });
        // After an error the device may lack images the index lists.
        bufs.baselines = if result.is_ok() {
            resident
        } else {
            Baselines::default()
        };
        result
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
                || count * (std::mem::size_of::<Meta>() as u64 / 4) > max_words
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

    /// CPU half of a chunk: validation, quantisation, keys and the baselines the
    /// device lacks. Runs on a producer thread so it overlaps with the GPU working
    /// on the previous chunk.
    fn prepare_chunk(
        batch: &WindowBatch<'_>,
        range: std::ops::Range<usize>,
        params: &PermutationParams,
        resident: &mut Baselines,
        max_words: u64,
        mut q: Vec<u32>,
    ) -> Result<Prepared, KernelError> {
        let windows = &batch.windows[range.clone()];
        for (k, w) in windows.iter().enumerate() {
            let n = w.baseline_len as usize + w.window_len as usize;
            if n > GPU_MAX_POOL {
                return Err(KernelError::BadWindow {
                    window: range.start + k,
                    reason: format!(
                        "pool of {n} values exceeds the GPU limit of {GPU_MAX_POOL}; use the CPU backend"
                    ),
                });
            }
        }
        // Ranges and sums; each worker reuses the span of the baseline it saw last.
        let spans: Vec<(Span, Span)> = windows
            .par_iter()
            .enumerate()
            .with_min_len(64)
            .map_init(
                || None,
                |last: &mut Option<((u32, u32), Span)>, (k, w)| {
                    let i = range.start + k;
                    let (base, win) = window_values(batch.values, w, i)?;
                    let id = (w.baseline_offset, w.baseline_len);
                    let bspan = match *last {
                        Some((at, span)) if at == id => span,
                        _ => {
                            let span = Span::of(base, i, 0)?;
                            *last = Some((id, span));
                            span
                        }
                    };
                    Ok((bspan, Span::of(win, i, base.len())?))
                },
            )
            .collect::<Result<_, KernelError>>()?;

        // The chunk's distinct (baseline, grid) images, and each window's.
        let mut local = HashMap::new();
        let mut images: Vec<(usize, Grid)> = Vec::new();
        let mut image_of = Vec::with_capacity(windows.len());
        let mut metas = Vec::with_capacity(windows.len());
        let mut win_words = 0u32;
        for (k, (w, (bspan, wspan))) in windows.iter().zip(&spans).enumerate() {
            let i = range.start + k;
            let grid = Grid::for_pool(bspan, wspan, i)?;
            let key = (
                w.baseline_offset,
                w.baseline_len,
                grid.min.to_bits(),
                grid.max.to_bits(),
                grid.scale_bits,
            );
            let image = *local.entry(key).or_insert_with(|| {
                images.push((k, grid));
                images.len() - 1
            });
            image_of.push(image);
            metas.push(Meta {
                base_off: 0,
                b: w.baseline_len,
                win_off: win_words,
                m: w.window_len,
                obs: 0,
                key: window_key(params.seed, params.first_window + i as u64),
            });
            win_words += w.window_len;
        }

        // Images already on the device are reused; the others go after them.
        let baseline = |k: usize| {
            let w = &windows[k];
            &batch.values[w.baseline_offset as usize..][..w.baseline_len as usize]
        };
        let bound: u64 = images
            .iter()
            .map(|&(k, _)| windows[k].baseline_len as u64)
            .sum();
        resident.reserve(bound, max_words);
        let images_at = resident.used();
        let mut offsets = Vec::with_capacity(images.len());
        let mut fresh = Vec::new();
        for &(k, grid) in &images {
            let values = baseline(k);
            let offset = resident.find(values, &grid).unwrap_or_else(|| {
                fresh.push((k, grid));
                resident.insert(values, grid)
            });
            offsets.push(offset);
        }
        let mut image_words = vec![0u32; (resident.used() - images_at) as usize];
        let mut slots = Vec::with_capacity(fresh.len());
        let mut rest = &mut image_words[..];
        for &(k, _) in &fresh {
            let (head, tail) = rest.split_at_mut(windows[k].baseline_len as usize);
            slots.push(head);
            rest = tail;
        }
        slots
            .into_par_iter()
            .zip(&fresh)
            .for_each(|(dst, &(k, grid))| grid.quantize_into(baseline(k), dst));

        // The windows' own integers, back to back. Recycled buffers keep their
        // pages: no fresh page faults per chunk.
        q.resize(win_words as usize, 0);
        let mut slices = Vec::with_capacity(windows.len());
        let mut rest = &mut q[..];
        for md in &metas {
            let (head, tail) = rest.split_at_mut(md.m as usize);
            slices.push(head);
            rest = tail;
        }
        let observed: Vec<f32> = slices
            .into_par_iter()
            .zip(metas.par_iter_mut())
            .enumerate()
            .with_min_len(64)
            .map(|(k, (dst, md))| {
                let w = &windows[k];
                let win = &batch.values[w.window_offset as usize..][..w.window_len as usize];
                let image = image_of[k];
                images[image].1.quantize_into(win, dst);
                md.obs = dst.iter().sum();
                md.base_off = offsets[image];
                let (bspan, wspan) = &spans[k];
                observed(bspan, wspan)
            })
            .collect();
        Ok(Prepared {
            metas,
            q,
            images: image_words,
            images_at,
            resident_words: resident.capacity(),
            observed,
        })
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
        let metas_buf = bufs
            .metas
            .get(dev, num * std::mem::size_of::<Meta>() as u64, storage);
        let q_buf = bufs.q.get(dev, q_len as u64 * 4, storage);
        let base_buf = bufs.baseline.get(dev, chunk.resident_words * 4, storage);
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
        if !chunk.images.is_empty() {
            self.queue.write_buffer(
                base_buf,
                chunk.images_at * 4,
                bytemuck::cast_slice(&chunk.images),
            );
        }
        let layout = self.permute.get_bind_group_layout(0);
        let entries = [
            uniform.as_entire_binding(),
            metas_buf.as_entire_binding(),
            q_buf.as_entire_binding(),
            bits_buf.as_entire_binding(),
            summary_buf.as_entire_binding(),
            base_buf.as_entire_binding(),
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
            entries: &[
                entries[0].clone(),
                entries[1].clone(),
                entries[2].clone(),
                entries[3].clone(),
                entries[5].clone(),
            ],
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
