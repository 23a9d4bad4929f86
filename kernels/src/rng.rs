//! The counter-based generator shared, bit for bit, by the CPU backend and the WGSL
//! shaders (`rng.wgsl`).
//!
//! Only wrapping `u32` arithmetic is used because WGSL has no 64-bit integers.
//! The building block is Chris Wellons' `lowbias32` integer hash (a bijection on
//! `u32`). Keys are chained as follows:
//!
//! ```text
//! hash32(x)       = lowbias32(x)
//! absorb(h, x)    = hash32(h ^ hash32(x))
//! window_key(s,w) = absorb(absorb(absorb(absorb(0x243f6a88, lo(s)), hi(s)), lo(w)), hi(w))
//! perm_key(k, p)  = absorb(k, p)
//! draw(pk, c)     = hash32(pk + c * 0x9e3779b9)          (wrapping)
//! uniform(pk,c,j) = draw(pk, c) % (j + 1)                 in [0, j]
//! ```
//!
//! `s` is the 64-bit seed, `w` the 64-bit window index in the caller's numbering,
//! `p` the permutation index and `c` the draw counter within a permutation. The
//! modulo bias is below `(j + 1) / 2^32`, negligible for pools of a few thousand, and
//! identical on both backends. Changing anything here changes every p-value: the
//! pinned outputs in the tests below (and `tests/gpu_parity.rs`) guard it.

const WINDOW_KEY_INIT: u32 = 0x243f_6a88;
const GOLDEN: u32 = 0x9e37_79b9;

/// `lowbias32` by Chris Wellons (bias ≈ 0.17, two multiplies — cheap enough for the
/// per-draw hot loop).
#[inline(always)]
pub const fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Folds one word into a running key.
#[inline(always)]
pub const fn absorb(h: u32, x: u32) -> u32 {
    hash32(h ^ hash32(x))
}

/// Key of one window: depends on the seed and the window's global index only, so a
/// batch can be split anywhere without changing any answer.
#[inline]
pub const fn window_key(seed: u64, window: u64) -> u32 {
    let k = absorb(WINDOW_KEY_INIT, seed as u32);
    let k = absorb(k, (seed >> 32) as u32);
    let k = absorb(k, window as u32);
    absorb(k, (window >> 32) as u32)
}

/// Key of one permutation of a window.
#[inline(always)]
pub const fn perm_key(window_key: u32, perm: u32) -> u32 {
    absorb(window_key, perm)
}

/// The `c`-th raw 32-bit draw of a permutation.
#[inline(always)]
pub const fn draw(perm_key: u32, counter: u32) -> u32 {
    hash32(perm_key.wrapping_add(counter.wrapping_mul(GOLDEN)))
}

/// Precomputed constant for [`fastmod`]: `x % d == fastmod(x, fastmod_magic(d), d)`.
///
/// The CPU hot loop would otherwise spend most of its time in a hardware divide;
/// Lemire's "faster remainder by direct computation" is exact for every `u32`
/// numerator and divisor, so it returns the same value as the shader's `%`.
#[inline]
pub const fn fastmod_magic(d: u32) -> u64 {
    (u64::MAX / d as u64).wrapping_add(1)
}

/// `x % d` given `magic = fastmod_magic(d)`.
#[inline(always)]
pub const fn fastmod(x: u32, magic: u64, d: u32) -> u32 {
    let low = magic.wrapping_mul(x as u64);
    ((low as u128 * d as u128) >> 64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned outputs: the WGSL port is checked against the same numbers in
    /// `tests/gpu_parity.rs`, so both implementations are nailed to these.
    #[test]
    fn pinned_outputs() {
        assert_eq!(hash32(0), 0);
        assert_eq!(hash32(1), PINNED_HASH1);
        assert_eq!(window_key(42, 7), PINNED_WK);
        let pk = perm_key(PINNED_WK, 3);
        assert_eq!(pk, PINNED_PK);
        assert_eq!(draw(pk, 5), PINNED_DRAW);
        assert_eq!(window_key(u64::MAX, 1 << 40), PINNED_WK_BIG);
    }

    const PINNED_HASH1: u32 = 0x6889_90c0;
    const PINNED_WK: u32 = 0x50b7_01d0;
    const PINNED_PK: u32 = 0xd68b_d7fd;
    const PINNED_DRAW: u32 = 0xb13d_dcb7;
    const PINNED_WK_BIG: u32 = 0xaaf5_a09e;

    #[test]
    fn fastmod_matches_modulo() {
        let mut x = 1u32;
        for d in (1..5000u32).chain([u32::MAX, u32::MAX - 1, 1 << 31, 65_537]) {
            let magic = fastmod_magic(d);
            for _ in 0..50 {
                x = hash32(x.wrapping_add(1));
                assert_eq!(fastmod(x, magic, d), x % d, "x={x} d={d}");
            }
            assert_eq!(fastmod(u32::MAX, magic, d), u32::MAX % d);
            assert_eq!(fastmod(0, magic, d), 0);
        }
    }

    #[test]
    fn draws_look_uniform() {
        // Coarse sanity check: 10 buckets, 100k draws, each within 5% of expected.
        let mut buckets = [0u32; 10];
        let wk = window_key(1, 2);
        for p in 0..1000 {
            let pk = perm_key(wk, p);
            for c in 0..100 {
                buckets[(draw(pk, c) % 10) as usize] += 1;
            }
        }
        for b in buckets {
            assert!((9500..10500).contains(&b), "{buckets:?}");
        }
    }
}
