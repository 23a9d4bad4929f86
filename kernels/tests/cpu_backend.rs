mod common;

use common::{make_batch, params, uniform};
use driftlock_kernels::{
    CpuBackend, KernelError, PermutationBackend, PermutationParams, WindowBatch, WindowSpec,
};

#[test]
fn calibrated_under_the_null() {
    // i.i.d. uniform values: P(p <= 0.05) should be ~0.05.
    let shapes = vec![(60u32, 15u32); 2000];
    let (values, specs) = make_batch(&shapes, 0.0, 11);
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    let stats = CpuBackend.window_tests(batch, params(199, None)).unwrap();
    let share = stats.iter().filter(|s| s.p_value <= 0.05).count() as f64 / stats.len() as f64;
    assert!(
        (0.03..=0.07).contains(&share),
        "share of p <= 0.05: {share}"
    );
}

#[test]
fn deterministic_and_splittable() {
    let shapes: Vec<(u32, u32)> = (0..50).map(|i| (5 + i % 17, 1 + i % 9)).collect();
    let (values, specs) = make_batch(&shapes, 0.5, 3);
    let p = params(300, Some(10));
    let all = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs,
            },
            p,
        )
        .unwrap();
    let again = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs,
            },
            p,
        )
        .unwrap();
    assert_eq!(all, again);
    let (a, b) = specs.split_at(21);
    let first = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: a,
            },
            p,
        )
        .unwrap();
    let rest = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: b,
            },
            PermutationParams {
                first_window: 21,
                ..p
            },
        )
        .unwrap();
    assert_eq!([first, rest].concat(), all);
    // A different seed gives a different exceedance pattern somewhere.
    let other = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs,
            },
            PermutationParams { seed: 1, ..p },
        )
        .unwrap();
    assert_ne!(other, all);
}

#[test]
fn stopping_is_a_prefix_of_the_full_run() {
    let shapes = vec![(40u32, 8u32); 60];
    let (values, specs) = make_batch(&shapes, 0.3, 5);
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    let full = CpuBackend.window_tests(batch, params(500, None)).unwrap();
    let stopped = CpuBackend
        .window_tests(batch, params(500, Some(7)))
        .unwrap();
    for (f, s) in full.iter().zip(&stopped) {
        assert_eq!(f.observed, s.observed);
        if f.exceedances >= 7 {
            assert_eq!(s.exceedances, 7);
            assert_eq!(s.p_value, 7.0 / s.permutations_used as f64);
        } else {
            assert_eq!(s, f);
        }
        assert!(s.p_value > 0.0 && s.p_value <= 1.0);
    }
}

#[test]
fn zero_variance_gives_p_one() {
    let values = vec![2.5f32; 30];
    let specs = [WindowSpec::pooled(0, 20, 10)];
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    for stop in [None, Some(3)] {
        let s = CpuBackend.window_tests(batch, params(100, stop)).unwrap()[0];
        assert_eq!(s.p_value, 1.0);
        assert_eq!(s.observed, 0.0);
    }
}

#[test]
fn bad_inputs_are_errors() {
    let mut state = 1;
    let mut values: Vec<f32> = (0..20).map(|_| uniform(&mut state)).collect();
    values[13] = f32::NAN;
    let specs = [WindowSpec::pooled(0, 5, 5), WindowSpec::pooled(10, 5, 5)];
    let err = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &specs,
            },
            params(10, None),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::NonFinite {
                window: 1,
                position: 3
            }
        ),
        "{err}"
    );
    for spec in [
        WindowSpec::pooled(0, 0, 5),
        WindowSpec::pooled(0, 5, 0),
        WindowSpec::pooled(15, 5, 5),
    ] {
        let err = CpuBackend
            .window_tests(
                WindowBatch {
                    values: &values,
                    windows: &[spec],
                },
                params(10, None),
            )
            .unwrap_err();
        assert!(
            matches!(err, KernelError::BadWindow { window: 0, .. }),
            "{err}"
        );
    }
    let ok = [WindowSpec::pooled(0, 5, 5)];
    let err = CpuBackend
        .window_tests(
            WindowBatch {
                values: &values,
                windows: &ok,
            },
            params(10, Some(0)),
        )
        .unwrap_err();
    assert!(matches!(err, KernelError::BadParams(_)));
}

#[test]
fn p_is_never_zero() {
    let shapes = vec![(3u32, 1u32), (1, 1), (2, 3), (100, 2)];
    let (values, specs) = make_batch(&shapes, 50.0, 8);
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    for perms in [0, 1, 10] {
        for stop in [None, Some(1)] {
            for s in CpuBackend.window_tests(batch, params(perms, stop)).unwrap() {
                assert!(s.p_value > 0.0 && s.p_value <= 1.0, "{s:?}");
            }
        }
    }
}
