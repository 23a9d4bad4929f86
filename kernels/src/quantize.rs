//! Fixed-point quantisation shared by both backends.
//!
//! Floating-point sums depend on summation order, which differs between a CPU loop
//! and a GPU kernel. Mapping each window's values to integers first makes every
//! permutation sum exact and order-independent, so the backends agree bit for bit.
//! Quantisation always runs on the CPU; the GPU receives the integers.

use crate::{KernelError, WindowSpec};

/// Largest fractional resolution used: f32 carries 24 significant bits, so finer
/// steps would only quantise rounding noise.
pub const MAX_SCALE_BITS: u32 = 20;

/// Scale exponent `k` for a pool of `n` values: the largest `k <= 20` with
/// `n * 2^k < 2^31`, so any subset sum fits in `u32` (and `i32`) on the GPU.
pub fn scale_bits_for_pool(n: u64) -> Option<u32> {
    // floor(31 - log2(n + 1)) computed exactly with integers.
    let limit = 1u64 << 31;
    (0..=MAX_SCALE_BITS)
        .rev()
        .find(|&k| n.saturating_mul(1u64 << k) < limit)
}

/// One quantised window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantWindow {
    /// `mean(window) - mean(baseline)` on the original values.
    pub observed: f32,
    /// Sum of the quantised window values: a permutation exceeds when its
    /// window-subset sum is `>=` this.
    pub observed_sum: u32,
}

/// Checks a window's bounds and returns its value slice.
pub fn window_values<'a>(
    values: &'a [f32],
    spec: &WindowSpec,
    index: usize,
) -> Result<&'a [f32], KernelError> {
    let bad = |reason: String| KernelError::BadWindow {
        window: index,
        reason,
    };
    if spec.baseline_len == 0 {
        return Err(bad("empty baseline".into()));
    }
    if spec.window_len == 0 {
        return Err(bad("empty window".into()));
    }
    let start = spec.offset as usize;
    let end = start + spec.baseline_len as usize + spec.window_len as usize;
    if end > values.len() {
        return Err(bad(format!(
            "values {start}..{end} out of bounds (pool has {})",
            values.len()
        )));
    }
    Ok(&values[start..end])
}

/// Quantises one window's pool (`baseline_len` baseline values, then the window)
/// into `out` (resized to the pool length).
///
/// `q = round((v - min) / (max - min) * 2^k)` with `k` from [`scale_bits_for_pool`];
/// computed in f64 so the integers do not depend on the platform. A pool with
/// `max == min` maps to all zeros: every permutation then ties the observed
/// statistic and the p-value is 1.
pub fn quantize_window(
    pool: &[f32],
    baseline_len: usize,
    index: usize,
    out: &mut Vec<u32>,
) -> Result<QuantWindow, KernelError> {
    let n = pool.len();
    let k = scale_bits_for_pool(n as u64).ok_or_else(|| KernelError::BadWindow {
        window: index,
        reason: format!("pool of {n} values is too large to quantise"),
    })?;
    let mut min = f32::INFINITY;
    let mut max = f32::NEG_INFINITY;
    for (position, &v) in pool.iter().enumerate() {
        if !v.is_finite() {
            return Err(KernelError::NonFinite {
                window: index,
                position,
            });
        }
        min = min.min(v);
        max = max.max(v);
    }
    out.clear();
    out.resize(n, 0);
    let range = max as f64 - min as f64;
    if range > 0.0 {
        let scale = (1u64 << k) as f64 / range;
        let top = (1u32 << k) as f64;
        for (q, &v) in out.iter_mut().zip(pool) {
            *q = ((v as f64 - min as f64) * scale).round().min(top) as u32;
        }
    }
    let (base, win) = pool.split_at(baseline_len);
    let mean = |xs: &[f32]| xs.iter().map(|&v| v as f64).sum::<f64>() / xs.len() as f64;
    let observed = (mean(win) - mean(base)) as f32;
    let observed_sum = out[baseline_len..].iter().sum();
    Ok(QuantWindow {
        observed,
        observed_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bits_respect_the_bound() {
        assert_eq!(scale_bits_for_pool(450), Some(20));
        assert_eq!(scale_bits_for_pool(2047), Some(20));
        assert_eq!(scale_bits_for_pool(2048), Some(19));
        for n in [1u64, 3, 100, 4096, 100_000, 1 << 20, (1 << 31) - 1] {
            let k = scale_bits_for_pool(n).unwrap();
            assert!(n * (1 << k) < 1 << 31);
            assert!(k == MAX_SCALE_BITS || n * (1 << (k + 1)) >= 1 << 31);
        }
        assert_eq!(scale_bits_for_pool(1 << 31), None);
    }

    #[test]
    fn quantises_endpoints_and_observed() {
        let mut q = Vec::new();
        let w = quantize_window(&[0.0, 1.0, 0.5, 1.0], 2, 0, &mut q).unwrap();
        assert_eq!(q, vec![0, 1 << 20, 1 << 19, 1 << 20]);
        assert_eq!(w.observed, 0.25);
        assert_eq!(w.observed_sum, (1 << 19) + (1 << 20));
    }

    #[test]
    fn zero_variance_is_all_zero() {
        let mut q = Vec::new();
        let w = quantize_window(&[3.0; 5], 3, 0, &mut q).unwrap();
        assert_eq!(q, vec![0; 5]);
        assert_eq!(w.observed_sum, 0);
        assert_eq!(w.observed, 0.0);
    }

    #[test]
    fn non_finite_is_rejected() {
        let mut q = Vec::new();
        let err = quantize_window(&[0.0, f32::NAN, 1.0], 1, 4, &mut q).unwrap_err();
        assert!(matches!(
            err,
            KernelError::NonFinite {
                window: 4,
                position: 1
            }
        ));
        let err = quantize_window(&[f32::INFINITY, 1.0], 1, 0, &mut q).unwrap_err();
        assert!(matches!(err, KernelError::NonFinite { position: 0, .. }));
    }
}
