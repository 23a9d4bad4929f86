//! Recurrence: does a new anomaly repeat an earlier one of its stream?
//!
//! Flagged events do not enter the baseline (only new templates that recur
//! within a window do), so a rare but regular pattern (a
//! nightly batch job's spike, the daily step of a square wave) stays novel
//! and is flagged every time it comes back. The detector still flags it — a
//! baseline cannot know what it never kept — but each anomaly says which
//! earlier anomaly it repeats and how closely, so a person (or an incident's
//! rank, see [`crate::incident`]) can tell a new incident from a known one.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::anomaly::Recurrence;
use crate::encode::NumericProfile;
use crate::stored::Stored;

/// Anomalies remembered per stream; older ones are forgotten.
pub(crate) const REMEMBERED: usize = 64;

/// Distances at or below this are worth a sentence in `why`.
pub(crate) const CLOSE: f64 = 0.05;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Past {
    index: u64,
    context: u64,
    keyset: u64,
    leaves: Vec<(String, f64)>,
}

/// The newest flagged events of a stream, as numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PastAnomalies {
    recent: VecDeque<Past>,
}

impl PastAnomalies {
    /// The remembered anomaly nearest to `ev`: same template and key set, and
    /// distance the largest difference over their shared numeric fields
    /// (derived ones included), each over the width of that field's range in
    /// `profile` stretched to cover both values. `None` when no remembered
    /// anomaly shares a number with it.
    pub fn nearest(&self, ev: &Stored, profile: &NumericProfile) -> Option<Recurrence> {
        let mut candidates = self
            .recent
            .iter()
            .filter(|p| p.context == ev.context && p.keyset == ev.keyset)
            .peekable();
        candidates.peek()?;
        let ctx = (ev.context, ev.keyset);
        let ranges: Vec<Option<(f64, f64)>> = ev
            .leaves
            .iter()
            .map(|(path, _)| profile.range(ctx, path))
            .collect();
        let mut best: Option<Recurrence> = None;
        for past in candidates {
            let mut distance: Option<f64> = None;
            for (k, ((path, v), range)) in ev.leaves.iter().zip(&ranges).enumerate() {
                // Events of one template list their numbers in the same order.
                let same = past.leaves.get(k).filter(|(p, _)| p == path);
                let Some((_, w)) = same.or_else(|| past.leaves.iter().find(|(p, _)| p == path))
                else {
                    continue;
                };
                // Two spikes far above a range are compared by their height,
                // not by the width of the range they both left.
                let width = range.map_or(0.0, |(lo, hi)| hi.max(*v).max(*w) - lo.min(*v).min(*w));
                let d = if width > 0.0 {
                    (v - w).abs() / width
                } else if v == w {
                    0.0
                } else {
                    1.0
                };
                distance = Some(distance.map_or(d, |m: f64| m.max(d)));
            }
            if let Some(d) = distance
                && best.as_ref().is_none_or(|b| d < b.distance)
            {
                best = Some(Recurrence {
                    index: past.index,
                    distance: d,
                });
            }
        }
        best
    }

    /// Forgets the anomalies at `positions` (held flags never reported).
    pub fn forget(&mut self, positions: &[u64]) {
        if !positions.is_empty() {
            self.recent.retain(|p| !positions.contains(&p.index));
        }
    }

    pub fn remember(&mut self, ev: &Stored) {
        if ev.leaves.is_empty() {
            return;
        }
        if self.recent.len() >= REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(Past {
            index: ev.index,
            context: ev.context,
            keyset: ev.keyset,
            leaves: ev.leaves.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::numeric::Ctx;

    fn stored(index: u64, context: u64, leaves: &[(&str, f64)]) -> Stored {
        Stored::bare(index, context, leaves)
    }

    /// `value` ranges over 0..100 and `mad` over 0..10 in context 1.
    fn profile() -> NumericProfile {
        let ctx: Ctx = (1, 7);
        NumericProfile::build(
            (0..=100).flat_map(move |i| [(ctx, "value", i as f64), (ctx, "mad", i as f64 / 10.0)]),
        )
    }

    #[test]
    fn the_nearest_anomaly_by_the_widest_difference_over_each_range() {
        let mut past = PastAnomalies::default();
        past.remember(&stored(10, 1, &[("value", 300.0), ("mad", 2.0)]));
        past.remember(&stored(20, 1, &[("value", 305.0), ("mad", 9.0)]));
        let r = past
            .nearest(
                &stored(30, 1, &[("value", 303.0), ("mad", 2.5)]),
                &profile(),
            )
            .expect("comparable");
        // #10 differs by 3 in value and 0.5 in mad, #20 by 2 and 6.5: over
        // the value range stretched to 303 and the mad range about 10 wide,
        // #10 is nearer, at about 0.05.
        assert_eq!(r.index, 10);
        let (lo, _) = profile().range((1, 7), "value").unwrap();
        let (mad_lo, mad_hi) = profile().range((1, 7), "mad").unwrap();
        let expected = (3.0 / (303.0 - lo)).max(0.5 / (mad_hi - mad_lo));
        assert!((r.distance - expected).abs() < 1e-12, "{}", r.distance);
        assert!((0.04..0.06).contains(&r.distance), "{}", r.distance);
    }

    #[test]
    fn spikes_far_outside_the_range_are_compared_by_their_height() {
        // A nightly spike to about 1,000 over a range of 0..100: 970 and
        // 1,000 are the same spike to a person, although they differ by a
        // third of the range; 400 is a different one.
        let mut past = PastAnomalies::default();
        past.remember(&stored(10, 1, &[("value", 1000.0)]));
        let near = past
            .nearest(&stored(30, 1, &[("value", 970.0)]), &profile())
            .expect("comparable");
        assert!(near.distance <= CLOSE, "{}", near.distance);
        let far = past
            .nearest(&stored(30, 1, &[("value", 400.0)]), &profile())
            .expect("comparable");
        assert!(far.distance > 0.5, "{}", far.distance);
    }

    #[test]
    fn other_templates_and_events_without_numbers_do_not_compare() {
        let mut past = PastAnomalies::default();
        past.remember(&stored(10, 2, &[("value", 300.0)]));
        past.remember(&stored(11, 1, &[]));
        assert!(past.recent.len() == 1, "no numbers, nothing remembered");
        assert!(
            past.nearest(&stored(30, 1, &[("value", 300.0)]), &profile())
                .is_none()
        );
    }

    #[test]
    fn only_the_newest_anomalies_are_remembered() {
        let mut past = PastAnomalies::default();
        for i in 0..REMEMBERED as u64 + 5 {
            past.remember(&stored(i, 1, &[("value", 1000.0 + i as f64)]));
        }
        assert_eq!(past.recent.len(), REMEMBERED);
        assert_eq!(past.recent.front().map(|p| p.index), Some(5));
    }
}
