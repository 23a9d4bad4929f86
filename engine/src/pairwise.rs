//! Normalised compression distance between events, one pair or a whole matrix.
//!
//! NCD(x, y) = (C(xy) − min(C(x), C(y))) / max(C(x), C(y)), the spec's formula,
//! always on inputs of comparable size (event vs event, window vs equal-sized
//! sample) so that size alone never looks like novelty.

use rayon::prelude::*;

use crate::compress::{CompressorKind, compressed_len, compressed_len_concat};
use crate::error::Result;

/// NCD of two inputs whose lone compressed lengths are already known.
pub fn ncd_with_lens(
    kind: CompressorKind,
    x: &[u8],
    cx: usize,
    y: &[u8],
    cy: usize,
) -> Result<f64> {
    let cxy = compressed_len_concat(kind, x, y)?;
    let (lo, hi) = (cx.min(cy) as f64, cx.max(cy).max(1) as f64);
    Ok(((cxy as f64 - lo) / hi).clamp(0.0, 1.0))
}

/// NCD of two inputs.
pub fn ncd(kind: CompressorKind, x: &[u8], y: &[u8]) -> Result<f64> {
    let cx = compressed_len(kind, x)?;
    let cy = compressed_len(kind, y)?;
    ncd_with_lens(kind, x, cx, y, cy)
}

/// The symmetric NCD matrix of `items` (row-major, `n × n`, zero diagonal), filled
/// in parallel on all cores; each item is compressed alone once.
pub fn ncd_matrix<T: AsRef<[u8]> + Sync>(kind: CompressorKind, items: &[T]) -> Result<Vec<f32>> {
    let n = items.len();
    let lens: Vec<usize> = items
        .par_iter()
        .map(|x| compressed_len(kind, x.as_ref()))
        .collect::<Result<_>>()?;
    let rows: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        return Ok(0.0);
                    }
                    // Compress each unordered pair in a fixed order so the matrix
                    // is exactly symmetric.
                    let (a, b) = if i < j { (i, j) } else { (j, i) };
                    let (x, y) = (items[a].as_ref(), items[b].as_ref());
                    ncd_with_lens(kind, x, lens[a], y, lens[b]).map(|d| d as f32)
                })
                .collect::<Result<Vec<f32>>>()
        })
        .collect::<Result<_>>()?;
    Ok(rows.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_inputs_are_close_and_unrelated_far() {
        let a = br#"{"level":"INFO","msg":"GET /api/orders/<num> 200 in 43ms","svc":"checkout"}"#;
        let b = br#"{"level":"INFO","msg":"GET /api/orders/<num> 200 in 44ms","svc":"checkout"}"#;
        let c = br#"{"kernel":"BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1]"}"#;
        let k = CompressorKind::Zstd;
        assert!(ncd(k, a, b).unwrap() < 0.3);
        assert!(ncd(k, a, c).unwrap() > 0.5);
    }

    #[test]
    fn matrix_is_symmetric_with_zero_diagonal() {
        let items = ["alpha beta gamma", "alpha beta delta", "zzz yyy xxx www"];
        let m = ncd_matrix(CompressorKind::Zstd, &items).unwrap();
        for i in 0..3 {
            assert_eq!(m[i * 3 + i], 0.0);
            for j in 0..3 {
                assert_eq!(m[i * 3 + j], m[j * 3 + i]);
            }
        }
    }
}
