//! Pairwise mode: a permutation test of the energy statistic on a distance matrix.
//!
//! Rows/columns `0..n` are group A, `n..n+m` group B. With within-group means taken
//! over all ordered pairs and the diagonal treated as 0 (the V-statistic),
//!
//! ```text
//! E = 2·mean(D_AB) − mean(D_AA) − mean(D_BB)
//!   = (2 / (n²m²)) · N · (m·R_B − N·W_B) + const,   N = n + m
//! ```
//!
//! where `R_B = Σ_{i∈B} R_i` (`R_i` the row sums) and `W_B` the sum over unordered
//! pairs within B. So a relabelling exceeds the observed statistic exactly when
//! `m·R_B − N·W_B >= m·R_obs − N·W_obs`, an integer comparison once the matrix is
//! quantised — O(m²) per permutation and identical on CPU and GPU. The matrix is
//! symmetrised as `(D_ij + D_ji) / 2` because compression distances are only
//! approximately symmetric.

use rayon::prelude::*;

use crate::pvalue::{self, Exceedances};
use crate::quantize::MAX_SCALE_BITS;
use crate::rng::{draw, fastmod, fastmod_magic, perm_key, window_key};
use crate::{KernelError, PermutationParams, WindowStat};

/// A quantised pairwise problem, ready for either backend.
#[derive(Debug, Clone)]
pub(crate) struct PairProblem {
    /// Pool size `n + m`.
    pub total: usize,
    /// Size of group B (the relabelled subset).
    pub m: usize,
    /// Symmetric quantised matrix, row-major `total × total`, zero diagonal.
    pub q: Vec<u32>,
    /// Row sums of `q`.
    pub rows: Vec<u32>,
    pub observed: f32,
    pub obs_rows: u32,
    pub obs_within: u32,
    pub key: u32,
}

impl PairProblem {
    /// Whether a relabelling with B-row-sum `r` and B-within-sum `w` is at least as
    /// extreme as the observed one. u128 because `m·R_B` can exceed 64 bits only for
    /// absurd sizes, but the check must never wrap.
    #[inline]
    pub fn exceeds(&self, r: u32, w: u32) -> bool {
        let (m, n) = (self.m as u128, self.total as u128);
        m * r as u128 + n * self.obs_within as u128 >= m * self.obs_rows as u128 + n * w as u128
    }
}

/// Largest `k <= 20` with `m·(N−1)·2^k < 2^32`: bounds every `R_B` and `W_B` sum.
fn pair_scale_bits(total: u64, m: u64) -> Option<u32> {
    let bound = m.saturating_mul(total.saturating_sub(1)).max(1);
    (0..=MAX_SCALE_BITS)
        .rev()
        .find(|&k| bound.saturating_mul(1u64 << k) < (1u64 << 32))
}

pub(crate) fn prepare(
    matrix: &[f32],
    n: usize,
    m: usize,
    params: &PermutationParams,
) -> Result<PairProblem, KernelError> {
    pvalue::check_params(params)?;
    let bad = |reason: String| KernelError::BadWindow { window: 0, reason };
    if n == 0 || m == 0 {
        return Err(bad(format!("both groups need members (n={n}, m={m})")));
    }
    let total = n + m;
    if matrix.len() != total * total {
        return Err(bad(format!(
            "matrix has {} entries, expected {total}×{total}",
            matrix.len()
        )));
    }
    if let Some(position) = matrix.iter().position(|v| !v.is_finite()) {
        return Err(KernelError::NonFinite {
            window: 0,
            position,
        });
    }
    let k = pair_scale_bits(total as u64, m as u64)
        .ok_or_else(|| bad(format!("matrix of {total} rows is too large to quantise")))?;
    let sym =
        |i: usize, j: usize| (matrix[i * total + j] as f64 + matrix[j * total + i] as f64) / 2.0;

    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut w_a, mut w_b, mut s_ab) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..total {
        for j in i + 1..total {
            let d = sym(i, j);
            lo = lo.min(d);
            hi = hi.max(d);
            match (i < n, j < n) {
                (true, true) => w_a += d,
                (false, false) => w_b += d,
                _ => s_ab += d,
            }
        }
    }
    let (nf, mf) = (n as f64, m as f64);
    let observed = (2.0 * s_ab / (nf * mf) - 2.0 * w_a / (nf * nf) - 2.0 * w_b / (mf * mf)) as f32;

    let mut q = vec![0u32; total * total];
    let range = hi - lo;
    if range > 0.0 {
        let scale = (1u64 << k) as f64 / range;
        let top = (1u32 << k) as f64;
        for i in 0..total {
            for j in i + 1..total {
                let v = ((sym(i, j) - lo) * scale).round().min(top) as u32;
                q[i * total + j] = v;
                q[j * total + i] = v;
            }
        }
    }
    let rows: Vec<u32> = q.chunks_exact(total).map(|r| r.iter().sum()).collect();
    let obs_rows = rows[n..].iter().sum();
    let obs_within = (n..total)
        .map(|i| q[i * total + i + 1..(i + 1) * total].iter().sum::<u32>())
        .sum();
    Ok(PairProblem {
        total,
        m,
        q,
        rows,
        observed,
        obs_rows,
        obs_within,
        key: window_key(params.seed, params.first_window),
    })
}

#[derive(Default)]
struct Scratch {
    mask: Vec<u64>,
    members: Vec<u32>,
}

/// One relabelling: draws B with Floyd's algorithm and tests it.
fn relabel_exceeds(p: &PairProblem, magic: &[u64], perm: u32, s: &mut Scratch) -> bool {
    let (total, m) = (p.total, p.m);
    let start = total - m;
    s.mask.clear();
    s.mask.resize(total.div_ceil(64), 0);
    s.members.clear();
    let pk = perm_key(p.key, perm);
    let (mut r, mut w) = (0u32, 0u32);
    for (c, &mg) in magic.iter().enumerate() {
        let j = (start + c) as u32;
        let t = fastmod(draw(pk, c as u32), mg, j + 1);
        let t = if (s.mask[(t >> 6) as usize] >> (t & 63)) & 1 != 0 {
            j
        } else {
            t
        };
        s.mask[(t >> 6) as usize] |= 1 << (t & 63);
        let row = &p.q[t as usize * total..(t as usize + 1) * total];
        w += s.members.iter().map(|&y| row[y as usize]).sum::<u32>();
        r += p.rows[t as usize];
        s.members.push(t);
    }
    p.exceeds(r, w)
}

/// Permutations evaluated in parallel per round; rounds let sequential stopping end
/// early without giving up parallelism.
const ROUND: u32 = 256;

pub(crate) fn pairwise_cpu(
    matrix: &[f32],
    n: usize,
    m: usize,
    params: PermutationParams,
) -> Result<WindowStat, KernelError> {
    let p = prepare(matrix, n, m, &params)?;
    let start = p.total - m;
    let magic: Vec<u64> = (start..p.total)
        .map(|j| fastmod_magic(j as u32 + 1))
        .collect();
    let stop = params.stop_after_exceedances;
    let mut ex = Exceedances::default();
    let mut first = 0u32;
    while first < params.permutations && ex.stop_at == 0 {
        let last = params.permutations.min(first.saturating_add(ROUND));
        let hits: Vec<bool> = (first..last)
            .into_par_iter()
            .map_init(Scratch::default, |s, perm| {
                relabel_exceeds(&p, &magic, perm, s)
            })
            .collect();
        let round = pvalue::scan_indicators(hits, stop.map(|h| h - ex.count));
        if round.stop_at != 0 {
            ex.stop_at = first + round.stop_at;
        }
        ex.count += round.count;
        first = last;
    }
    Ok(pvalue::finish(p.observed, ex, &params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(perms: u32) -> PermutationParams {
        PermutationParams {
            permutations: perms,
            seed: 3,
            first_window: 0,
            stop_after_exceedances: None,
        }
    }

    /// Points on a line; distance = |x_i − x_j|.
    fn line_matrix(xs: &[f32]) -> Vec<f32> {
        xs.iter()
            .flat_map(|a| xs.iter().map(move |b| (a - b).abs()))
            .collect()
    }

    #[test]
    fn integer_identity_matches_float_statistic() {
        // The integer test must order relabellings like the float statistic does.
        // Duplicates and a power-of-two range make the quantisation exact.
        let xs = [
            0.0f32, 16.0, 3.0, 3.0, 5.0, 9.0, 12.0, 1.0, 7.0, 7.0, 16.0, 2.0,
        ];
        let p = prepare(&line_matrix(&xs), 7, 5, &params(1)).unwrap();
        let energy = |b: &[usize]| {
            let inb = |i: usize| b.contains(&i);
            let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
            for i in 0..12 {
                for j in 0..12 {
                    let d = (xs[i] - xs[j]).abs() as f64;
                    match (inb(i), inb(j)) {
                        (false, false) => aa += d,
                        (true, true) => bb += d,
                        _ => ab += d / 2.0,
                    }
                }
            }
            2.0 * ab / 35.0 - aa / 49.0 - bb / 25.0
        };
        let obs = energy(&[7, 8, 9, 10, 11]);
        assert!((obs - p.observed as f64).abs() < 1e-5);
        for b in [
            [0, 1, 2, 3, 4],
            [2, 4, 6, 8, 10],
            [7, 8, 9, 10, 0],
            [11, 3, 5, 9, 1],
        ] {
            let r: u32 = b.iter().map(|&i| p.rows[i]).sum();
            let mut w = 0;
            for (x, &i) in b.iter().enumerate() {
                for &j in &b[x + 1..] {
                    w += p.q[i * 12 + j];
                }
            }
            let e = energy(&b);
            if (e - obs).abs() > 1e-6 {
                assert_eq!(p.exceeds(r, w), e > obs, "{b:?}");
            }
        }
    }

    #[test]
    fn separated_groups_are_significant() {
        let xs: Vec<f32> = (0..30)
            .map(|i| {
                if i < 20 {
                    i as f32 * 0.1
                } else {
                    10.0 + i as f32 * 0.1
                }
            })
            .collect();
        let r = pairwise_cpu(&line_matrix(&xs), 20, 10, params(499)).unwrap();
        assert_eq!(r.exceedances, 0);
        assert_eq!(r.p_value, 1.0 / 500.0);
        assert!(r.observed > 0.0);
    }

    #[test]
    fn stopping_matches_full_run_prefix() {
        let xs: Vec<f32> = (0..25).map(|i| ((i * 13) % 25) as f32).collect();
        let mat = line_matrix(&xs);
        let full = pairwise_cpu(&mat, 15, 10, params(600)).unwrap();
        let mut sp = params(600);
        sp.stop_after_exceedances = Some(5);
        let stopped = pairwise_cpu(&mat, 15, 10, sp).unwrap();
        assert!(full.exceedances >= 5);
        assert_eq!(stopped.exceedances, 5);
        assert_eq!(stopped.p_value, 5.0 / stopped.permutations_used as f64);
        assert!(stopped.permutations_used <= 600);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(prepare(&[0.0; 4], 2, 0, &params(1)).is_err());
        assert!(prepare(&[0.0; 5], 1, 1, &params(1)).is_err());
        let mut mat = vec![0.0; 9];
        mat[5] = f32::NAN;
        assert!(matches!(
            prepare(&mat, 1, 2, &params(1)),
            Err(KernelError::NonFinite { position: 5, .. })
        ));
    }
}
