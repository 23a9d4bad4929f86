//! A stream's memory beyond its rolling baseline (tokens, members, few-valued
//! fields and template exemplars of events that left it).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bounded::make_room;
use crate::encode::numeric::{context_key, path_key};
use crate::novelty::{HashSet64, Vocabulary};
use crate::stored::Stored;

const MEMORY_TOKENS: usize = 1 << 16;
/// A numeric field with more distinct values than this is continuous: its
/// exact values are not remembered.
const MEMORY_VALUES_PER_FIELD: usize = 16;
const MEMORY_MEMBERS: usize = 1 << 12;
/// Template exemplars kept for nearest-neighbour evidence.
const MEMORY_EXEMPLARS: usize = 256;
/// (template, numeric field) ranges kept.
const MEMORY_RANGES: usize = 4096;

/// What a stream has seen beyond its rolling baseline: the tokens and members
/// of every event that left the baseline, and one exemplar per template.
///
/// A normal but rare message (a WARN seen once an hour) drops out of a
/// 400-event baseline; without memory it would be flagged on its next
/// occurrence, never re-enter the baseline, and be flagged forever. Events that
/// leave the baseline are queued and merged at the next model refresh, so the
/// memory a chunk is scored with never depends on how events were batched.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Memory {
    pub vocab: Vocabulary,
    exemplars: BTreeMap<u64, Arc<Stored>>,
    /// Exact values of few-valued numeric fields, by path key (`None` once a
    /// field proved continuous).
    #[serde(default)]
    values: BTreeMap<u64, Option<Vec<u64>>>,
    /// Each template's numeric fields' range (min, max, last position), by
    /// [`context_key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    ranges: BTreeMap<u64, (f64, f64, u64)>,
    /// How many values each of `ranges` was widened by (none in states
    /// saved before they were counted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    range_counts: BTreeMap<u64, u64>,
    /// The same, of log (non-metric) events only: see
    /// [`template_ranges`](Self::template_ranges).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    template_ranges: BTreeMap<u64, (f64, f64, u64)>,
    pending: Vec<Arc<Stored>>,
}

impl Memory {
    /// Queues an event that left the baseline.
    pub fn remember(&mut self, ev: Arc<Stored>) {
        self.pending.push(ev);
    }

    /// Merges the queue (called at model refreshes and rebuilds).
    pub fn absorb(&mut self) {
        for ev in std::mem::take(&mut self.pending) {
            self.vocab.add(&ev.facts, MEMORY_TOKENS.max(MEMORY_MEMBERS));
            for (path, v) in &ev.leaves {
                if v.is_finite() {
                    let key = context_key(ev.context, path);
                    if let Some(gone) = widen(&mut self.ranges, key, *v, ev.index) {
                        self.range_counts.remove(&gone);
                    }
                    *self.range_counts.entry(key).or_default() += 1;
                    if !ev.metric && !ev.learned {
                        widen(&mut self.template_ranges, key, *v, ev.index);
                    }
                }
                let slot = self
                    .values
                    .entry(path_key(path))
                    .or_insert_with(|| Some(Vec::new()));
                if let Some(vals) = slot {
                    let bits = v.to_bits();
                    if !vals.contains(&bits) {
                        vals.push(bits);
                        if vals.len() > MEMORY_VALUES_PER_FIELD {
                            *slot = None;
                        }
                    }
                }
            }
            if !self.exemplars.contains_key(&ev.context) {
                make_room(&mut self.exemplars, ev.context, MEMORY_EXEMPLARS, |e| {
                    e.index
                });
                self.exemplars.insert(ev.context, ev);
            }
        }
    }

    /// Exact values of the few-valued fields, for
    /// [`NumericProfile::with_known`](crate::encode::NumericProfile::with_known).
    pub fn known_values(&self) -> impl Iterator<Item = (u64, &[u64])> {
        self.values
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
    }

    /// Templates' field ranges, for
    /// [`NumericProfile::with_ranges`](crate::encode::NumericProfile::with_ranges).
    /// Each comes with how many values it holds (0 where not counted).
    pub fn ranges(&self) -> impl Iterator<Item = (u64, (f64, f64), usize)> + '_ {
        self.ranges.iter().map(|(k, r)| {
            let n = self.range_counts.get(k).copied().unwrap_or(0);
            (*k, (r.0, r.1), n as usize)
        })
    }

    /// Log templates' field ranges, for
    /// [`NumericProfile::with_remembered`](crate::encode::NumericProfile::with_remembered).
    pub fn template_ranges(&self) -> impl Iterator<Item = (u64, (f64, f64))> + '_ {
        self.template_ranges.iter().map(|(k, r)| (*k, (r.0, r.1)))
    }

    /// Exemplars of templates that `skip` (the baseline's contexts) lacks.
    pub fn exemplars_beyond<'a>(
        &'a self,
        skip: &'a HashSet64,
    ) -> impl Iterator<Item = &'a Arc<Stored>> + 'a {
        self.exemplars
            .iter()
            .filter(|(ctx, _)| !skip.contains(ctx))
            .map(|(_, e)| e)
    }
}

/// Widens the range kept under `key` by `v`, seen at `index`, making room
/// first by dropping the range seen least recently; returns its key.
fn widen(ranges: &mut BTreeMap<u64, (f64, f64, u64)>, key: u64, v: f64, index: u64) -> Option<u64> {
    let gone = make_room(ranges, key, MEMORY_RANGES, |r| r.2);
    let r = ranges.entry(key).or_insert((v, v, index));
    *r = (r.0.min(v), r.1.max(v), index);
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: u64, latency: f64, metric: bool, learned: bool) -> Arc<Stored> {
        Arc::new(Stored {
            metric,
            learned,
            ..Stored::bare(index, 5, &[("latency_ms", latency)])
        })
    }

    #[test]
    fn only_log_lines_that_entered_unflagged_widen_a_templates_normal_range() {
        let mut m = Memory::default();
        m.remember(line(1, 20.0, false, false));
        m.remember(line(2, 30.0, false, false));
        m.remember(line(3, 900.0, false, true));
        m.absorb();
        let key = context_key(5, "latency_ms");
        fn of(mut it: impl Iterator<Item = (u64, (f64, f64))>, key: u64) -> Option<(f64, f64)> {
            it.find(|(k, _)| *k == key).map(|(_, r)| r)
        }
        assert_eq!(of(m.template_ranges(), key), Some((20.0, 30.0)));
        let counted = |m: &Memory| m.ranges().find(|(k, ..)| *k == key).map(|(_, r, n)| (r, n));
        assert_eq!(
            counted(&m),
            Some(((20.0, 900.0), 3)),
            "a rare template's range and how many values it holds"
        );
        let mut metrics = Memory::default();
        metrics.remember(line(1, 20.0, true, false));
        metrics.absorb();
        assert_eq!(of(metrics.template_ranges(), key), None);
        assert_eq!(counted(&metrics), Some(((20.0, 20.0), 1)));
    }
}
