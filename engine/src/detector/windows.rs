//! Window tests: the permutation test of each window's unflagged scores
//! against the baseline's, batched into one kernel call per run of windows.

use driftlock_kernels::{PermutationBackend, PermutationParams, WindowBatch, WindowSpec};

use super::{STOP_AFTER_EXCEEDANCES, Scored, StreamDetector};
use crate::error::Result;

impl StreamDetector {
    /// Permutation tests of every window that ends inside this chunk, in one
    /// kernel call: the window's unflagged scores against the baseline's scores.
    /// Flagged events are left out on both sides (they never enter the baseline),
    /// so the test stays calibrated and measures drift among normal-looking events.
    pub(super) fn window_tests(
        &self,
        scored: &[Scored],
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<f64>> {
        let (w, hop) = (self.config.window_size, self.config.hop_size as u64);
        let calib = &self.model().calib;
        let mut history: Vec<(f32, bool)> = self
            .window
            .iter()
            .map(|e| (e.ev.score, e.flagged))
            .collect();
        // Runs of consecutive window ordinals, one kernel call each; a window with
        // no unflagged event has p = 1 by definition and ends a run.
        let mut stats = Vec::new();
        let mut run = Run::default();
        let mut ordinal = self.windows_tested;
        for (j, s) in scored.iter().enumerate() {
            history.push((s.stored.score, self.is_flagged(s)));
            let pos = self.since_origin + j as u64 + 1;
            if pos >= w as u64 && pos.is_multiple_of(hop) {
                let unflagged: Vec<f32> = history[history.len() - w..]
                    .iter()
                    .filter(|(_, f)| !f)
                    .map(|(v, _)| *v)
                    .collect();
                if unflagged.is_empty() {
                    stats.extend(run.finish(self, backend)?);
                    stats.push(1.0);
                } else {
                    if run.specs.is_empty() {
                        run.first = ordinal;
                        run.values.extend_from_slice(calib);
                    }
                    // Every window of a run shares the one copy of the baseline.
                    run.specs.push(WindowSpec {
                        baseline_offset: 0,
                        baseline_len: calib.len() as u32,
                        window_offset: run.values.len() as u32,
                        window_len: unflagged.len() as u32,
                    });
                    run.values.extend_from_slice(&unflagged);
                }
                ordinal += 1;
            }
        }
        stats.extend(run.finish(self, backend)?);
        Ok(stats)
    }
}

/// Windows of one kernel call: consecutive ordinals from `first`.
#[derive(Default)]
struct Run {
    first: u64,
    values: Vec<f32>,
    specs: Vec<WindowSpec>,
}

impl Run {
    fn finish(&mut self, d: &StreamDetector, backend: &dyn PermutationBackend) -> Result<Vec<f64>> {
        if self.specs.is_empty() {
            return Ok(Vec::new());
        }
        let params = PermutationParams {
            permutations: d.config.permutation_count,
            seed: d.config.seed,
            first_window: self.first,
            stop_after_exceedances: Some(STOP_AFTER_EXCEEDANCES),
        };
        let stats = backend.window_tests(
            WindowBatch {
                values: &self.values,
                windows: &self.specs,
            },
            params,
        )?;
        self.values.clear();
        self.specs.clear();
        Ok(stats.into_iter().map(|s| s.p_value).collect())
    }
}
