#![allow(dead_code)]
//! Shared input generators (a tiny local generator keeps the tests dependency-free).

use driftlock_kernels::rng::hash32;
use driftlock_kernels::{PermutationParams, WindowSpec};

/// Deterministic uniform f32 in [0, 1).
pub fn uniform(state: &mut u32) -> f32 {
    *state = hash32(state.wrapping_add(0x9e37_79b9));
    (*state >> 8) as f32 / (1u32 << 24) as f32
}

/// Windows of the given (baseline, window) shapes, each with its own values; the
/// window part is shifted by `shift` for every third window.
pub fn make_batch(shapes: &[(u32, u32)], shift: f32, seed: u32) -> (Vec<f32>, Vec<WindowSpec>) {
    let mut state = seed;
    let mut values = Vec::new();
    let mut specs = Vec::new();
    for (k, &(b, m)) in shapes.iter().enumerate() {
        specs.push(WindowSpec::pooled(values.len() as u32, b, m));
        for i in 0..b + m {
            let bump = if i >= b && k % 3 == 0 { shift } else { 0.0 };
            values.push(uniform(&mut state) + bump);
        }
    }
    (values, specs)
}

pub fn params(perms: u32, stop: Option<u32>) -> PermutationParams {
    PermutationParams {
        permutations: perms,
        seed: 0xdead_beef_1234,
        first_window: 0,
        stop_after_exceedances: stop,
    }
}
