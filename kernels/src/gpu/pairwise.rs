//! The pairwise energy test on the GPU: one invocation per permutation.

use wgpu::util::DeviceExt as _;

use super::{GPU_MAX_POOL, GpuContext, gpu_err};
use crate::pairwise::PairProblem;
use crate::pvalue::{self, Exceedances};
use crate::{KernelError, PermutationParams, WindowStat};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PairParams {
    total: u32,
    m: u32,
    perms: u32,
    key: u32,
    obs_rows: u32,
    obs_within: u32,
    pad: [u32; 2],
}

impl GpuContext {
    pub(super) fn run_pairwise(
        &self,
        matrix: &[f32],
        n: usize,
        m: usize,
        params: PermutationParams,
    ) -> Result<WindowStat, KernelError> {
        let p = crate::pairwise::prepare(matrix, n, m, &params)?;
        if p.total > GPU_MAX_POOL {
            return Err(KernelError::BadWindow {
                window: 0,
                reason: format!(
                    "{} rows exceed the GPU limit of {GPU_MAX_POOL}; use the CPU backend",
                    p.total
                ),
            });
        }
        let perms = params.permutations;
        if perms as u64 * 4 > self.max_binding() {
            return Err(KernelError::BadParams(format!(
                "{perms} permutations exceed the GPU buffer limit"
            )));
        }
        let ex = if perms == 0 {
            Exceedances::default()
        } else {
            let hits = self.pairwise_hits(&p, perms)?;
            pvalue::scan_indicators(hits.iter().map(|&h| h != 0), params.stop_after_exceedances)
        };
        Ok(pvalue::finish(p.observed, ex, &params))
    }

    fn pairwise_hits(&self, p: &PairProblem, perms: u32) -> Result<Vec<u32>, KernelError> {
        let mut guard = self
            .buffers
            .lock()
            .map_err(|_| gpu_err("GPU buffers poisoned by a panic"))?;
        let bufs = &mut *guard;
        let dev = &self.device;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let pparams = PairParams {
            total: p.total as u32,
            m: p.m as u32,
            perms,
            key: p.key,
            obs_rows: p.obs_rows,
            obs_within: p.obs_within,
            pad: [0; 2],
        };
        let uniform = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("pair params"),
            contents: bytemuck::bytes_of(&pparams),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let bytes = perms as u64 * 4;
        let q_buf = bufs.q.get(dev, p.q.len() as u64 * 4, storage);
        self.queue
            .write_buffer(q_buf, 0, bytemuck::cast_slice(&p.q));
        let rows_buf = bufs.rows.get(dev, p.rows.len() as u64 * 4, storage);
        self.queue
            .write_buffer(rows_buf, 0, bytemuck::cast_slice(&p.rows));
        let hits_buf = bufs
            .summary
            .get(dev, bytes, storage | wgpu::BufferUsages::COPY_SRC);
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("pairwise"),
            layout: &self.pairwise.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: q_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: rows_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: hits_buf.as_entire_binding(),
                },
            ],
        });
        let staging = bufs.staging.get(
            dev,
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut encoder = dev.create_command_encoder(&Default::default());
        self.dispatch(&mut encoder, &self.pairwise, &bind, perms as u64)?;
        encoder.copy_buffer_to_buffer(hits_buf, 0, staging, 0, bytes);
        self.submit_and_read(encoder, staging, bytes)
    }
}
