//! The benchmark workloads, shared by the criterion benches and the throughput example.
//! `sliding_windows`: windows over one stream, each with its own baseline 400 + window 50,
//! stride 50. `engine_batch`: what the engine sends, every window of 50 sliding by 10
//! tested against one baseline of 400, with the baseline copied per window or shared.

use driftlock_kernels::WindowSpec;

pub const BASELINE: u32 = 400;
pub const WINDOW: u32 = 50;
/// The engine's hop between windows.
pub const HOP: usize = 10;

fn uniform(x: &mut u32) -> f32 {
    *x = driftlock_kernels::rng::hash32(x.wrapping_add(0x9e37_79b9));
    (*x >> 8) as f32 / (1u32 << 24) as f32
}

pub fn sliding_windows(windows: usize, baseline: u32, window: u32) -> (Vec<f32>, Vec<WindowSpec>) {
    let stride = window as usize;
    let len = windows * stride + (baseline + window) as usize;
    let mut x = 0x1234_5678u32;
    let values = (0..len).map(|_| uniform(&mut x)).collect();
    let specs = (0..windows)
        .map(|i| WindowSpec::pooled((i * stride) as u32, baseline, window))
        .collect();
    (values, specs)
}

/// An engine batch: one baseline, windows sliding by [`HOP`]; `shared` stores the
/// baseline once for every window to name, otherwise each window's pool is stored whole.
pub fn engine_batch(
    windows: usize,
    baseline: u32,
    window: u32,
    shared: bool,
) -> (Vec<f32>, Vec<WindowSpec>) {
    let (baseline, window) = (baseline as usize, window as usize);
    let mut x = 0x1234_5678u32;
    let base: Vec<f32> = (0..baseline).map(|_| uniform(&mut x)).collect();
    let stream: Vec<f32> = (0..windows * HOP + window)
        .map(|_| uniform(&mut x))
        .collect();
    let mut values = Vec::new();
    let mut specs = Vec::with_capacity(windows);
    if shared {
        values.extend_from_slice(&base);
    }
    for i in 0..windows {
        let own = &stream[i * HOP..i * HOP + window];
        if shared {
            specs.push(WindowSpec {
                baseline_offset: 0,
                baseline_len: baseline as u32,
                window_offset: values.len() as u32,
                window_len: window as u32,
            });
        } else {
            specs.push(WindowSpec::pooled(
                values.len() as u32,
                baseline as u32,
                window as u32,
            ));
            values.extend_from_slice(&base);
        }
        values.extend_from_slice(own);
    }
    (values, specs)
}
