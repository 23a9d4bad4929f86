//! CPU and GPU must agree bit for bit. Runs on any Vulkan adapter (lavapipe in CI);
//! skips with a message when there is none.

mod common;

use common::{make_batch, params, uniform};
use driftlock_kernels::rng::{draw, hash32, perm_key, window_key};
use driftlock_kernels::{
    CpuBackend, GpuContext, KernelError, PermutationBackend, PermutationParams, WindowBatch,
    WindowSpec,
};

fn gpu() -> Option<GpuContext> {
    match GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

fn assert_same(gpu: &GpuContext, values: &[f32], specs: &[WindowSpec], p: PermutationParams) {
    let batch = WindowBatch {
        values,
        windows: specs,
    };
    let cpu = CpuBackend.window_tests(batch, p).unwrap();
    let got = gpu.window_tests(batch, p).unwrap();
    assert_eq!(cpu.len(), got.len());
    for (i, (c, g)) in cpu.iter().zip(&got).enumerate() {
        assert_eq!(c, g, "window {i} ({:?}) with {p:?}", specs[i]);
        assert_eq!(c.p_value.to_bits(), g.p_value.to_bits());
    }
}

#[test]
fn wgsl_generator_matches_rust() {
    let Some(gpu) = gpu() else { return };
    let mut cases = vec![
        (42u64, 7u64, 3u32, 5u32),
        (u64::MAX, 1 << 40, 0, 0),
        (0, 0, u32::MAX, 4095),
    ];
    let mut s = 1u32;
    for _ in 0..200 {
        let a = hash32(s);
        let b = hash32(a);
        s = hash32(b);
        cases.push(((a as u64) << 32 | b as u64, s as u64, a % 5000, b % 4096));
    }
    let out = gpu.rng_check(&cases).unwrap();
    // Pinned (same numbers as rng.rs unit tests).
    assert_eq!(out[0][1], 0x50b7_01d0);
    assert_eq!(out[0][2], 0xd68b_d7fd);
    assert_eq!(out[0][3], 0xb13d_dcb7);
    assert_eq!(out[1][1], 0xaaf5_a09e);
    for (&(seed, win, perm, c), o) in cases.iter().zip(&out) {
        let wk = window_key(seed, win);
        let pk = perm_key(wk, perm);
        assert_eq!(*o, [hash32(c), wk, pk, draw(pk, c)]);
    }
}

#[test]
fn windows_match_cpu_on_many_shapes() {
    let Some(gpu) = gpu() else { return };
    // Tiny windows, window larger than baseline, odd sizes, near the GPU pool limit.
    let mut shapes: Vec<(u32, u32)> = vec![
        (1, 1),
        (1, 2),
        (2, 1),
        (3, 3),
        (1, 3),
        (5, 40),
        (2, 60),
        (63, 1),
        (65, 33),
    ];
    let mut s = 99u32;
    for _ in 0..70 {
        s = hash32(s);
        shapes.push((1 + s % 97, 1 + (s >> 8) % 31));
    }
    shapes.push((3900, 100));
    let (values, specs) = make_batch(&shapes, 0.4, 17);
    for (perms, stop) in [
        (37, None),
        (64, None),
        (100, Some(1)),
        (100, Some(5)),
        (33, Some(40)),
        (1, None),
        (0, None),
    ] {
        assert_same(&gpu, &values, &specs, params(perms, stop));
    }
}

#[test]
fn zero_variance_and_split_batches_match() {
    let Some(gpu) = gpu() else { return };
    let (mut values, mut specs) = make_batch(&vec![(30u32, 7u32); 150], 0.2, 23);
    specs.push(WindowSpec::pooled(values.len() as u32, 12, 4));
    values.extend([1.25f32; 16]);
    assert_same(&gpu, &values, &specs, params(96, Some(8)));
    let p = PermutationParams {
        first_window: 1000,
        ..params(96, None)
    };
    let whole = gpu
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs,
            },
            p,
        )
        .unwrap();
    let tail = gpu
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs[77..],
            },
            PermutationParams {
                first_window: 1077,
                ..p
            },
        )
        .unwrap();
    assert_eq!(&whole[77..], &tail[..]);
    assert_eq!(whole.last().unwrap().p_value, 1.0);
}

#[test]
fn gpu_rejects_bad_windows() {
    let Some(gpu) = gpu() else { return };
    let mut state = 5;
    let mut values: Vec<f32> = (0..5000).map(|_| uniform(&mut state)).collect();
    let big = [WindowSpec::pooled(0, 4000, 100)];
    let err = gpu
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &big,
            },
            params(8, None),
        )
        .unwrap_err();
    assert!(
        matches!(err, KernelError::BadWindow { window: 0, .. }),
        "{err}"
    );
    values[7] = f32::NAN;
    let small = [WindowSpec::pooled(0, 6, 4)];
    let err = gpu
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &small,
            },
            params(8, None),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::NonFinite {
                window: 0,
                position: 7
            }
        ),
        "{err}"
    );
}

#[test]
fn pairwise_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut state = 3;
    for &(n, m, shift) in &[
        (1usize, 1usize, 0.0f32),
        (2, 1, 0.0),
        (5, 7, 0.5),
        (30, 20, 0.0),
        (40, 13, 0.3),
        (3, 70, 0.1),
    ] {
        let total = n + m;
        let xs: Vec<f32> = (0..total)
            .map(|i| uniform(&mut state) + if i >= n { shift } else { 0.0 })
            .collect();
        // Slightly asymmetric, like compression distances.
        let matrix: Vec<f32> = (0..total * total)
            .map(|k| (xs[k / total] - xs[k % total]).abs() + 0.01 * uniform(&mut state))
            .collect();
        for (perms, stop) in [(200u32, None), (200, Some(4)), (1, None)] {
            let p = params(perms, stop);
            let c = CpuBackend.pairwise_test(&matrix, n, m, p).unwrap();
            let g = gpu.pairwise_test(&matrix, n, m, p).unwrap();
            assert_eq!(c, g, "n={n} m={m} perms={perms} stop={stop:?}");
            assert!(c.p_value > 0.0);
        }
    }
}

/// Windows of every shape against shared baselines: two baselines in one buffer,
/// windows interleaved between them, overlapping each other, some inside the
/// baseline's range (sharing its integers) and some beyond it (a grid of their own).
#[test]
fn shared_baselines_match_cpu_on_many_shapes() {
    let Some(gpu) = gpu() else { return };
    let mut state = 41;
    let mut values: Vec<f32> = (0..3900).map(|_| uniform(&mut state)).collect();
    // Window values from 1000 on: most in [0, 1), every fifth one far out.
    values.extend((0..4000).map(|i| {
        let v = uniform(&mut state);
        if i % 97 == 0 { v * 5.0 - 2.0 } else { v }
    }));
    let mut specs = Vec::new();
    let mut s = 7u32;
    for k in 0..400u32 {
        s = hash32(s);
        let (b, base_at) = match k % 3 {
            0 => (400, 0),
            1 => (37, 500),
            _ => (1 + s % 900, 1000),
        };
        let m = 1 + (s >> 12) % 60;
        specs.push(WindowSpec {
            baseline_offset: base_at,
            baseline_len: b,
            window_offset: 3900 + (s >> 4) % 3900,
            window_len: m,
        });
    }
    // A window inside its own baseline's span of the buffer, and the pool limit.
    specs.push(WindowSpec {
        baseline_offset: 0,
        baseline_len: 400,
        window_offset: 100,
        window_len: 50,
    });
    specs.push(WindowSpec {
        baseline_offset: 0,
        baseline_len: 3900,
        window_offset: 3900,
        window_len: 196,
    });
    for (perms, stop) in [(37, None), (200, Some(7)), (1, None), (0, None)] {
        assert_same(&gpu, &values, &specs, params(perms, stop));
    }
}

/// The resident baselines are found by content: a different baseline at the same
/// place in the next call is uploaded, not taken for the previous one.
#[test]
fn resident_baselines_follow_content_across_calls() {
    let Some(gpu) = gpu() else { return };
    let engine_like = |seed: u32, shift: f32| {
        let mut state = seed;
        let values: Vec<f32> = (0..400 + 30 * 50)
            .map(|_| uniform(&mut state) + shift)
            .collect();
        let specs: Vec<WindowSpec> = (0..30u32)
            .map(|i| WindowSpec {
                baseline_offset: 0,
                baseline_len: 400,
                window_offset: 400 + i * 50,
                window_len: 50,
            })
            .collect();
        (values, specs)
    };
    let (a, specs) = engine_like(1, 0.0);
    let (mut b, _) = engine_like(2, 0.0);
    // Same range as `a`'s baseline (so the same grid), other values.
    b[..400].copy_from_slice(&a[..400]);
    b[17] = a[18];
    let (c, _) = engine_like(1, 0.25);
    for values in [&a, &b, &a, &c, &b] {
        assert_same(&gpu, values, &specs, params(300, Some(10)));
    }
}

/// More windows than one chunk holds, all on one baseline: later chunks find it
/// resident.
#[test]
fn shared_baseline_across_chunks_matches() {
    let Some(gpu) = gpu() else { return };
    let mut state = 3;
    let windows = 70_000u32;
    let values: Vec<f32> = (0..20 + windows + 3).map(|_| uniform(&mut state)).collect();
    let specs: Vec<WindowSpec> = (0..windows)
        .map(|i| WindowSpec {
            baseline_offset: 0,
            baseline_len: 20,
            window_offset: 20 + i,
            window_len: 3,
        })
        .collect();
    assert_same(&gpu, &values, &specs, params(3, None));
}
