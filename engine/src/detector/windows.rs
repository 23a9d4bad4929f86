//! Window tests: the permutation test of each window's scores against the
//! model's reference, batched into one kernel call per run of windows.

use driftlock_kernels::{PermutationBackend, PermutationParams, WindowBatch, WindowSpec};

use super::{STOP_AFTER_EXCEEDANCES, Scored, StreamDetector};
use crate::error::Result;

impl StreamDetector {
    /// Permutation tests of every window that ends inside this chunk, in one
    /// kernel call: the window's scores against the model's reference (see
    /// `Model::calib`). Flagged events are kept on both sides, so the two
    /// sides are drawn alike.
    pub(super) fn window_tests(
        &self,
        scored: &[Scored],
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<f64>> {
        let (w, hop) = (self.config.window_size, self.config.hop_size as u64);
        let calib = &self.model().calib;
        let mut history: Vec<f32> = self.window.iter().map(|e| e.ev.score).collect();
        // Runs of consecutive window ordinals, one kernel call each.
        let mut stats = Vec::new();
        let mut run = Run::default();
        let mut ordinal = self.windows_tested;
        for (j, s) in scored.iter().enumerate() {
            history.push(s.stored.score);
            let pos = self.since_origin + j as u64 + 1;
            if pos >= w as u64 && pos.is_multiple_of(hop) {
                if run.specs.is_empty() {
                    run.first = ordinal;
                    run.values.extend_from_slice(calib);
                }
                // Every window of a run shares the one copy of the reference.
                run.specs.push(WindowSpec {
                    baseline_offset: 0,
                    baseline_len: calib.len() as u32,
                    window_offset: run.values.len() as u32,
                    window_len: w as u32,
                });
                run.values.extend_from_slice(&history[history.len() - w..]);
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
            stop_after_exceedances: d.config.early_stop.then_some(STOP_AFTER_EXCEEDANCES),
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
