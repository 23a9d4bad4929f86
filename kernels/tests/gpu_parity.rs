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
    specs.push(WindowSpec {
        offset: values.len() as u32,
        baseline_len: 12,
        window_len: 4,
    });
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
    let big = [WindowSpec {
        offset: 0,
        baseline_len: 4000,
        window_len: 100,
    }];
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
    let small = [WindowSpec {
        offset: 0,
        baseline_len: 6,
        window_len: 4,
    }];
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
