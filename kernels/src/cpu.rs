//! The rayon CPU backend: windows in parallel, permutations sequential per window so
//! sequential stopping can end a null window after a handful of permutations.

use rayon::prelude::*;

use crate::pvalue::{self, Exceedances};
use crate::quantize::{Grid, Span, observed, window_values};
use crate::rng::{draw, fastmod, fastmod_magic, perm_key, window_key};
use crate::{
    KernelError, PermutationBackend, PermutationParams, WindowBatch, WindowSpec, WindowStat,
};

/// Batched permutation tests on the CPU (rayon's global pool). Handles pools of any
/// size.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }
}

/// Per-thread buffers reused across windows, so the hot loop never allocates.
#[derive(Default)]
struct Scratch {
    q: Vec<u32>,
    /// Membership bitmask of the pool for Floyd's sampling.
    mask: Vec<u64>,
    /// Indices drawn in the current permutation (to clear `mask` in O(m)).
    picked: Vec<u32>,
    /// `fastmod_magic(j + 1)` for each draw: the divisors repeat every permutation.
    magic: Vec<u64>,
    /// The `(start, n)` that `magic` was computed for: consecutive windows of a
    /// stream usually have the same pool and window sizes, and a null window
    /// stops after a few dozen permutations, so its divisions are worth skipping.
    magic_for: (usize, usize),
    /// The baseline (offset, length) whose span was computed last, and the
    /// grid whose integers `q[..baseline_len]` hold: windows sharing a baseline
    /// skip both.
    base: Option<((u32, u32), Span)>,
    base_grid: Option<((u32, u32), Grid)>,
}

impl Scratch {
    /// Quantises window `i`'s pool into `q` (baseline first), reusing the
    /// baseline's span and integers from the previous window where they match.
    fn quantize(
        &mut self,
        values: &[f32],
        spec: &WindowSpec,
        i: usize,
    ) -> Result<crate::quantize::QuantWindow, KernelError> {
        let (base, win) = window_values(values, spec, i)?;
        let id = (spec.baseline_offset, spec.baseline_len);
        let bspan = match self.base {
            Some((at, span)) if at == id => span,
            _ => {
                let span = Span::of(base, i, 0)?;
                self.base = Some((id, span));
                span
            }
        };
        let wspan = Span::of(win, i, base.len())?;
        let grid = Grid::for_pool(&bspan, &wspan, i)?;
        let b = base.len();
        let current = matches!(self.base_grid, Some((at, g)) if at == id && g.same(&grid));
        self.q.resize(b + win.len(), 0);
        if !current {
            grid.quantize_into(base, &mut self.q[..b]);
            self.base_grid = Some((id, grid));
        }
        grid.quantize_into(win, &mut self.q[b..]);
        Ok(crate::quantize::QuantWindow {
            observed: observed(&bspan, &wspan),
            observed_sum: self.q[b..].iter().sum(),
        })
    }
}

impl PermutationBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn window_tests(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError> {
        pvalue::check_params(&params)?;
        batch
            .windows
            .par_iter()
            .enumerate()
            .with_min_len(4)
            .map_init(Scratch::default, |scratch, (i, spec)| {
                let qw = scratch.quantize(batch.values, spec, i)?;
                let key = window_key(params.seed, params.first_window + i as u64);
                let ex = window_exceedances(
                    spec.window_len as usize,
                    qw.observed_sum,
                    key,
                    &params,
                    scratch,
                );
                Ok(pvalue::finish(qw.observed, ex, &params))
            })
            .collect()
    }

    fn pairwise_test(
        &self,
        matrix: &[f32],
        n: usize,
        m: usize,
        params: PermutationParams,
    ) -> Result<WindowStat, KernelError> {
        crate::pairwise::pairwise_cpu(matrix, n, m, params)
    }
}

/// Permutations evaluated together: their draws are independent, so interleaving
/// them hides the multiply and store-to-load latencies of a single Floyd chain.
const LANES: usize = 4;

/// Runs the permutations of one quantised window (`scratch.q`, window last `m`).
fn window_exceedances(
    m: usize,
    observed_sum: u32,
    key: u32,
    params: &PermutationParams,
    s: &mut Scratch,
) -> Exceedances {
    let n = s.q.len();
    let start = n - m;
    let words = n.div_ceil(64);
    s.mask.clear();
    s.mask.resize(words * LANES, 0);
    if s.magic_for != (start, n) || s.magic.len() != m {
        s.magic.clear();
        s.magic
            .extend((start..n).map(|j| fastmod_magic(j as u32 + 1)));
        s.magic_for = (start, n);
    }
    s.picked.clear();
    s.picked.resize(m * LANES, 0);

    let mut ex = Exceedances::default();
    let mut perm = 0u32;
    while perm < params.permutations {
        let mut sums = [0u32; LANES];
        let lanes = if params.permutations - perm >= LANES as u32 {
            sums = subset_sums::<LANES>(s, start, words, perm, key);
            LANES
        } else {
            sums[0] = subset_sums::<1>(s, start, words, perm, key)[0];
            1
        };
        for (l, &sum) in sums[..lanes].iter().enumerate() {
            if sum >= observed_sum {
                ex.count += 1;
                if Some(ex.count) == params.stop_after_exceedances {
                    ex.stop_at = perm + l as u32 + 1;
                    return ex;
                }
            }
        }
        perm += lanes as u32;
    }
    ex
}

/// Window-subset sums of permutations `first .. first + L`, each drawn with Robert
/// Floyd's algorithm (exactly m draws, no rejection). Leaves the masks cleared.
#[inline(always)]
fn subset_sums<const L: usize>(
    s: &mut Scratch,
    start: usize,
    words: usize,
    first: u32,
    key: u32,
) -> [u32; L] {
    let (q, mask, magic, picked) = (&s.q[..], &mut s.mask[..], &s.magic[..], &mut s.picked[..]);
    let m = magic.len();
    assert!(mask.len() >= words * L && picked.len() >= m * L && start + m == q.len());
    let keys: [u32; L] = std::array::from_fn(|l| perm_key(key, first + l as u32));
    let mut sums = [0u32; L];
    for (c, &mg) in magic.iter().enumerate() {
        let j = (start + c) as u32;
        for l in 0..L {
            let t = fastmod(draw(keys[l], c as u32), mg, j + 1);
            let w = l * words;
            // SAFETY: t <= j < n = q.len(), so t / 64 < words and lane l's mask
            // word w + t / 64 < words * L <= mask.len(); c + l * m < picked.len()
            // (checked above). Unchecked indexing keeps the loop branch-free.
            unsafe {
                let taken = (*mask.get_unchecked(w + (t >> 6) as usize) >> (t & 63)) & 1 != 0;
                let t = if taken { j } else { t };
                *mask.get_unchecked_mut(w + (t >> 6) as usize) |= 1 << (t & 63);
                // Sums stay below 2^31: see quantize::scale_bits_for_pool.
                sums[l] += *q.get_unchecked(t as usize);
                *picked.get_unchecked_mut(l * m + c) = t;
            }
        }
    }
    for l in 0..L {
        for &t in &picked[l * m..(l + 1) * m] {
            // SAFETY: every picked t < n, see above.
            unsafe { *mask.get_unchecked_mut(l * words + (t >> 6) as usize) = 0 };
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(perms: u32, stop: Option<u32>) -> PermutationParams {
        PermutationParams {
            permutations: perms,
            seed: 9,
            first_window: 0,
            stop_after_exceedances: stop,
        }
    }

    #[test]
    fn clear_shift_gives_small_p() {
        let mut values = vec![0.0f32; 100];
        for (i, v) in values.iter_mut().enumerate() {
            *v = (i % 7) as f32 + if i >= 80 { 100.0 } else { 0.0 };
        }
        let spec = WindowSpec::pooled(0, 80, 20);
        let batch = WindowBatch {
            values: &values,
            windows: &[spec],
        };
        let r = CpuBackend.window_tests(batch, params(999, None)).unwrap();
        assert_eq!(r[0].exceedances, 0);
        assert_eq!(r[0].p_value, 1.0 / 1000.0);
        assert!(r[0].observed > 99.0);
    }

    #[test]
    fn whole_pool_window_always_ties() {
        // m == n is impossible (baseline non-empty), but m == n - 1 with one distinct
        // baseline value is a corner where every draw hits the taken branch often.
        let values = [1.0f32, 2.0, 3.0, 4.0];
        let spec = WindowSpec::pooled(0, 1, 3);
        let batch = WindowBatch {
            values: &values,
            windows: &[spec],
        };
        let r = CpuBackend.window_tests(batch, params(400, None)).unwrap();
        // Observed leaves out the minimum: exceeded only by the same subset (1/4).
        let share = r[0].exceedances as f64 / 400.0;
        assert!((0.17..0.33).contains(&share), "{share}");
    }
}
