//! Fixed-point quantisation shared by both backends.
//!
//! Floating-point sums depend on summation order, which differs between a CPU loop
//! and a GPU kernel. Mapping each window's values to integers first makes every
//! permutation sum exact and order-independent, so the backends agree bit for bit.
//! Quantisation always runs on the CPU; the GPU receives the integers. Its grid
//! spans 2^20 steps for pools under 2048 values, so the integers need 21 bits: a
//! 16-bit upload would change the grid and with it the answers.

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

/// Checks a window's bounds and returns its baseline and window values.
pub fn window_values<'a>(
    values: &'a [f32],
    spec: &WindowSpec,
    index: usize,
) -> Result<(&'a [f32], &'a [f32]), KernelError> {
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
    let part = |what: &str, offset: u32, len: u32| {
        let (start, end) = (offset as usize, offset as usize + len as usize);
        values.get(start..end).ok_or_else(|| {
            bad(format!(
                "{what} values {start}..{end} out of bounds (pool has {})",
                values.len()
            ))
        })
    };
    Ok((
        part("baseline", spec.baseline_offset, spec.baseline_len)?,
        part("window", spec.window_offset, spec.window_len)?,
    ))
}

/// Range and sum of a run of values, the part of quantisation that a baseline
/// shared by many windows needs computing once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub min: f32,
    pub max: f32,
    /// In order, in f64: the mean's exact value does not depend on the backend.
    pub sum: f64,
    pub len: usize,
}

impl Span {
    /// `first_position` is the pool position of `values[0]`, for the error.
    pub fn of(values: &[f32], index: usize, first_position: usize) -> Result<Span, KernelError> {
        let mut min = f32::INFINITY;
        let mut max = f32::NEG_INFINITY;
        let mut sum = 0.0f64;
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                return Err(KernelError::NonFinite {
                    window: index,
                    position: first_position + i,
                });
            }
            min = min.min(v);
            max = max.max(v);
            sum += v as f64;
        }
        Ok(Span {
            min,
            max,
            sum,
            len: values.len(),
        })
    }

    fn mean(&self) -> f64 {
        self.sum / self.len as f64
    }
}

/// The integer grid of one pool: `q = round((v - min) / (max - min) * 2^k)`, with
/// `k` from [`scale_bits_for_pool`], in f64 so the integers do not depend on the
/// platform. A pool with `max == min` maps to all zeros: every permutation then
/// ties the observed statistic and the p-value is 1. Windows whose pools have
/// the same grid and baseline share the baseline's integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub min: f32,
    pub max: f32,
    pub scale_bits: u32,
}

impl Grid {
    pub fn for_pool(baseline: &Span, window: &Span, index: usize) -> Result<Grid, KernelError> {
        let n = baseline.len + window.len;
        let scale_bits = scale_bits_for_pool(n as u64).ok_or_else(|| KernelError::BadWindow {
            window: index,
            reason: format!("pool of {n} values is too large to quantise"),
        })?;
        Ok(Grid {
            min: baseline.min.min(window.min),
            max: baseline.max.max(window.max),
            scale_bits,
        })
    }

    /// Bit-exact equality (the grid is a cache key).
    pub fn same(&self, other: &Grid) -> bool {
        self.min.to_bits() == other.min.to_bits()
            && self.max.to_bits() == other.max.to_bits()
            && self.scale_bits == other.scale_bits
    }

    /// Quantises `values` (all inside the grid's range) into `out`.
    pub fn quantize_into(&self, values: &[f32], out: &mut [u32]) {
        let range = self.max as f64 - self.min as f64;
        if range > 0.0 {
            let scale = (1u64 << self.scale_bits) as f64 / range;
            let top = (1u32 << self.scale_bits) as f64;
            for (q, &v) in out.iter_mut().zip(values) {
                *q = ((v as f64 - self.min as f64) * scale).round().min(top) as u32;
            }
        } else {
            out[..values.len()].fill(0);
        }
    }
}

/// `mean(window) - mean(baseline)` on the original values.
pub fn observed(baseline: &Span, window: &Span) -> f32 {
    (window.mean() - baseline.mean()) as f32
}

/// Quantises one window's pool (baseline, then window) into `out` (resized to
/// the pool length): [`Span`]s, their [`Grid`] and the integers in one call.
pub fn quantize_window(
    baseline: &[f32],
    window: &[f32],
    index: usize,
    out: &mut Vec<u32>,
) -> Result<QuantWindow, KernelError> {
    let base = Span::of(baseline, index, 0)?;
    let win = Span::of(window, index, baseline.len())?;
    let grid = Grid::for_pool(&base, &win, index)?;
    out.clear();
    out.resize(baseline.len() + window.len(), 0);
    let (qb, qw) = out.split_at_mut(baseline.len());
    grid.quantize_into(baseline, qb);
    grid.quantize_into(window, qw);
    Ok(QuantWindow {
        observed: observed(&base, &win),
        observed_sum: qw.iter().sum(),
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
        let w = quantize_window(&[0.0, 1.0], &[0.5, 1.0], 0, &mut q).unwrap();
        assert_eq!(q, vec![0, 1 << 20, 1 << 19, 1 << 20]);
        assert_eq!(w.observed, 0.25);
        assert_eq!(w.observed_sum, (1 << 19) + (1 << 20));
    }

    #[test]
    fn zero_variance_is_all_zero() {
        let mut q = Vec::new();
        let w = quantize_window(&[3.0; 3], &[3.0; 2], 0, &mut q).unwrap();
        assert_eq!(q, vec![0; 5]);
        assert_eq!(w.observed_sum, 0);
        assert_eq!(w.observed, 0.0);
    }

    #[test]
    fn non_finite_is_rejected() {
        let mut q = Vec::new();
        let err = quantize_window(&[0.0], &[f32::NAN, 1.0], 4, &mut q).unwrap_err();
        assert!(matches!(
            err,
            KernelError::NonFinite {
                window: 4,
                position: 1
            }
        ));
        let err = quantize_window(&[f32::INFINITY], &[1.0], 0, &mut q).unwrap_err();
        assert!(matches!(err, KernelError::NonFinite { position: 0, .. }));
    }

    #[test]
    fn shared_baseline_integers_match_whole_pool() {
        // A window inside the baseline's range leaves the grid, and so the
        // baseline's integers, unchanged; one outside it moves the grid.
        let base = [0.0f32, 4.0, 1.5, 2.25];
        let mut whole = Vec::new();
        let mut shared = vec![0u32; 4];
        let b = Span::of(&base, 0, 0).unwrap();
        for win in [[1.0f32, 3.0], [-1.0, 2.0]] {
            quantize_window(&base, &win, 0, &mut whole).unwrap();
            let w = Span::of(&win, 0, base.len()).unwrap();
            let grid = Grid::for_pool(&b, &w, 0).unwrap();
            grid.quantize_into(&base, &mut shared);
            assert_eq!(whole[..4], shared[..]);
            let inside = win[0] >= 0.0;
            let base_grid = Grid::for_pool(&b, &b, 0).unwrap();
            assert_eq!(grid.same(&base_grid), inside);
        }
    }
}
