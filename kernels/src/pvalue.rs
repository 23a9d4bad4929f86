//! Turning an exceedance sequence into a [`WindowStat`], the one place that defines
//! the Besag–Clifford answer for every backend.

use crate::{KernelError, PermutationParams, WindowStat};

/// Rejects parameter combinations that have no meaningful answer.
pub fn check_params(params: &PermutationParams) -> Result<(), KernelError> {
    if params.stop_after_exceedances == Some(0) {
        return Err(KernelError::BadParams(
            "stop_after_exceedances must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Summary of one window's ordered exceedance indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exceedances {
    /// Exceedances counted (all of them, or up to the stop).
    pub count: u32,
    /// 1-based permutation index of the h-th exceedance, 0 if it never happened.
    pub stop_at: u32,
}

/// The answer from the exceedance summary: if the h-th exceedance happened at
/// permutation k, `p = h / k` over `k` permutations; otherwise `p = (1 + c) / (1 + N)`.
pub fn finish(observed: f32, ex: Exceedances, params: &PermutationParams) -> WindowStat {
    match params.stop_after_exceedances {
        Some(h) if ex.stop_at != 0 => WindowStat {
            observed,
            exceedances: h,
            permutations_used: ex.stop_at,
            p_value: h as f64 / ex.stop_at as f64,
        },
        _ => WindowStat {
            observed,
            exceedances: ex.count,
            permutations_used: params.permutations,
            p_value: (1.0 + ex.count as f64) / (1.0 + params.permutations as f64),
        },
    }
}

/// Scans per-permutation indicators in order (CPU-side reduction of GPU output).
pub fn scan_indicators(
    indicators: impl IntoIterator<Item = bool>,
    stop: Option<u32>,
) -> Exceedances {
    let mut ex = Exceedances::default();
    for (k, hit) in indicators.into_iter().enumerate() {
        if hit {
            ex.count += 1;
            if Some(ex.count) == stop {
                ex.stop_at = k as u32 + 1;
                break;
            }
        }
    }
    ex
}
