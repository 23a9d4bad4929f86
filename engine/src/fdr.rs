//! Benjamini–Hochberg: a false-discovery rate over many p-values at once.
//!
//! At 5% per event a million clean events give 50,000 flags; controlling the
//! share of false discoveries among the reported ones instead keeps a large
//! run's report meaningful. The p-values must be valid, which the detector's
//! conformal p-values are (see `engine/tests/calibration.rs`).

/// The Benjamini–Hochberg cut-off at rate `q` for the p-values `reported`
/// out of `m` tests in all (the others are taken to be above any cut-off,
/// which only makes the rule stricter): the largest `p_(k)` with
/// `p_(k) ≤ k q / m`, or `None` when nothing passes.
pub fn bh_cutoff(reported: &[f64], m: u64, q: f64) -> Option<f64> {
    let mut ps: Vec<f64> = reported.iter().copied().filter(|p| p.is_finite()).collect();
    ps.sort_by(|a, b| a.total_cmp(b));
    let m = m.max(ps.len() as u64) as f64;
    ps.iter()
        .enumerate()
        .rev()
        .find(|(k, p)| **p <= (*k as f64 + 1.0) * q / m)
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_largest_p_under_its_line() {
        // m = 10, q = 0.1: lines 0.01, 0.02, 0.03, ...
        let ps = [0.001, 0.015, 0.029, 0.2, 0.5];
        assert_eq!(bh_cutoff(&ps, 10, 0.1), Some(0.029));
        // A p-value above its own line still passes when a later one is under.
        assert_eq!(bh_cutoff(&[0.011, 0.012], 10, 0.1), Some(0.012));
        assert_eq!(bh_cutoff(&[0.5, 0.9], 10, 0.1), None);
        // More tests in all make it stricter.
        assert_eq!(bh_cutoff(&ps, 100, 0.1), Some(0.001));
        assert_eq!(bh_cutoff(&ps, 1_000, 0.1), None);
    }
}
