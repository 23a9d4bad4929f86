//! The benchmark workload, shared by the criterion bench and the throughput example:
//! sliding windows over one stream, baseline 400 + window 50, stride 50.

use driftlock_kernels::WindowSpec;

pub const BASELINE: u32 = 400;
pub const WINDOW: u32 = 50;

pub fn sliding_windows(windows: usize, baseline: u32, window: u32) -> (Vec<f32>, Vec<WindowSpec>) {
    let stride = window as usize;
    let len = windows * stride + (baseline + window) as usize;
    let mut x = 0x1234_5678u32;
    let values = (0..len)
        .map(|_| {
            x = driftlock_kernels::rng::hash32(x.wrapping_add(0x9e37_79b9));
            (x >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect();
    let specs = (0..windows)
        .map(|i| WindowSpec::pooled((i * stride) as u32, baseline, window))
        .collect();
    (values, specs)
}
