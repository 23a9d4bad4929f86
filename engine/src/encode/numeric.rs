//! Numeric fields symbolised against the baseline's own distribution.
//!
//! A compressor sees digit strings, so `950` and `95` look almost alike to it. We
//! replace each number by the quantile bin it falls in among the baseline's values
//! of the same field (`#0`..`#7`), and a value outside the baseline's range by an
//! *excursion token*: a deterministic, incompressible string whose length grows with
//! how far the value left the range. Compression then sees "far above anything in
//! the baseline" as new information in proportion to the distance, and two events
//! with the same excursion share the same token.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::field::{Bar, FieldProfile, past_few, unknown_tail};
use super::identity::Identifiers;

/// Quantile bins per field.
pub const BINS: usize = 8;
pub(crate) const MAX_LEVEL: u32 = 4;
/// Bytes of excursion token per level.
const TOKEN_BYTES_PER_LEVEL: usize = 24;

/// Where a value sits relative to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumSymbol {
    Bin(u8),
    Above(u32),
    Below(u32),
    /// The baseline never had this field as a number.
    Unseen,
}

/// A template needs this many baseline values of a field before its own profile
/// is trusted over the field-wide one.
const MIN_CONTEXT_VALUES: usize = 20;

/// Per-field quantile profiles of one baseline: one per field path, and one per
/// (template context, field path) for templates seen often enough, so that a
/// fast endpoint's latency is judged against that endpoint, not against all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    fields: HashMap<String, FieldProfile, FixedState>,
    contextual: HashMap<u64, FieldProfile, FixedState>,
    /// Exact values of few-valued fields (status codes, flags) seen in the
    /// stream's memory: never excursions, even when the current baseline
    /// lacks them (keyed by [`path_key`], values as `f64` bits).
    #[serde(default)]
    known: HashMap<u64, Vec<u64>, FixedState>,
    /// The range of each (template, field) with too few baseline values for
    /// a profile of its own (see [`MIN_CONTEXT_VALUES`]).
    #[serde(default)]
    few: HashMap<u64, (f64, f64), FixedState>,
    /// How many baseline values each of `few` has.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    few_count: HashMap<u64, usize, FixedState>,
    /// The range a stream's memory kept of templates that do have a profile:
    /// values the stream once took as normal for the template stay normal
    /// when this baseline lacks them (a slower twin of a frequent template
    /// that reads alike, outnumbered in this baseline past its 99th
    /// percentile).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    remembered: HashMap<u64, (f64, f64), FixedState>,
    /// String fields that carry identity (see [`super::identity`]).
    #[serde(default, skip_serializing_if = "Identifiers::is_empty")]
    identifiers: Identifiers,
}

/// Stable key of a field path.
pub fn path_key(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a number sits: its event's template context and key-set context
/// (see [`crate::encode::Encoded`]).
pub type Ctx = (u64, u64);

/// Key of a field path within a template context.
pub(crate) fn context_key(ctx: u64, path: &str) -> u64 {
    path.bytes().fold(ctx ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Key-set contexts share the map with template contexts, salted apart.
const KEYSET_SALT: u64 = 0x5bd1_e995_7f4a_7c15;

impl NumericProfile {
    /// Builds profiles from `(context, field path, value)` of the baseline
    /// events, in their arrival order (see `clock`).
    pub fn build<'a>(leaves: impl IntoIterator<Item = (Ctx, &'a str, f64)>) -> Self {
        let mut by_field: HashMap<&str, Vec<f64>, FixedState> = HashMap::default();
        let mut by_context: HashMap<u64, Vec<f64>, FixedState> = HashMap::default();
        for (ctx, path, v) in leaves {
            if v.is_finite() {
                by_field.entry(path).or_default().push(v);
                by_context
                    .entry(context_key(ctx.0, path))
                    .or_default()
                    .push(v);
                by_context
                    .entry(context_key(ctx.1 ^ KEYSET_SALT, path))
                    .or_default()
                    .push(v);
            }
        }
        let fields = by_field
            .into_iter()
            .map(|(k, mut vs)| (k.to_string(), FieldProfile::build(&mut vs)))
            .collect();
        // Contexts with too few values keep only their range (key-set
        // contexts too, though only templates' are looked up).
        let mut contextual = HashMap::default();
        let mut few = HashMap::default();
        let mut few_count = HashMap::default();
        for (k, mut vs) in by_context {
            if vs.len() >= MIN_CONTEXT_VALUES {
                contextual.insert(k, FieldProfile::build(&mut vs));
            } else {
                let lo = vs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                few.insert(k, (lo, hi));
                few_count.insert(k, vs.len());
            }
        }
        Self {
            fields,
            contextual,
            known: HashMap::default(),
            few,
            few_count,
            remembered: HashMap::default(),
            identifiers: Identifiers::default(),
        }
    }

    /// Writes the values of these fields as identities (see
    /// [`super::identity`]).
    pub(crate) fn with_identifiers(mut self, identifiers: Identifiers) -> Self {
        self.identifiers = identifiers;
        self
    }

    /// Whether the string field at the path with this [`path_key`] carries
    /// identity.
    pub(crate) fn is_identifier(&self, key: u64) -> bool {
        self.identifiers.contains(key)
    }

    /// Widens the few-valued templates' ranges (and adds those the baseline
    /// lacks) by what a stream's memory kept of them, keyed by
    /// template and field: a rare template absent from this baseline keeps its
    /// own range.
    pub fn with_ranges(
        mut self,
        ranges: impl IntoIterator<Item = (u64, (f64, f64), usize)>,
    ) -> Self {
        for (k, (lo, hi), n) in ranges {
            if self.contextual.contains_key(&k) {
                continue;
            }
            let r = self.few.entry(k).or_insert((lo, hi));
            *r = (r.0.min(lo), r.1.max(hi));
            // The range is now that of the values in both.
            if n > 0 {
                *self.few_count.entry(k).or_default() += n;
            }
        }
        self
    }

    /// Keeps beside the profiles of templates the range a stream's memory
    /// kept of their log lines (see `remembered`).
    pub fn with_remembered(mut self, ranges: impl IntoIterator<Item = (u64, (f64, f64))>) -> Self {
        self.remembered = ranges
            .into_iter()
            .filter(|(k, _)| self.contextual.contains_key(k))
            .collect();
        self
    }

    /// Keeps the upper tails' lengths (see `FieldProfile::upper_margin`) only
    /// for logs: a metric series' value past its all-time range is a record
    /// (`record_margin`), and its rolling baseline keeps half a spread.
    pub fn with_tails(mut self, logs: bool) -> Self {
        if !logs {
            for p in self.fields.values_mut().chain(self.contextual.values_mut()) {
                p.tail_hi = unknown_tail();
            }
        }
        self
    }

    /// Adds the exact values a stream's memory knows for few-valued fields.
    pub fn with_known<'a>(mut self, known: impl IntoIterator<Item = (u64, &'a [u64])>) -> Self {
        self.known = known.into_iter().map(|(k, v)| (k, v.to_vec())).collect();
        self
    }

    /// The template's profile if the baseline has enough of it, else that of
    /// events with the same keys (HTTP access lines with different paths),
    /// else the field's.
    fn profile(&self, ctx: Ctx, path: &str) -> Option<&FieldProfile> {
        self.contextual
            .get(&context_key(ctx.0, path))
            .or_else(|| self.contextual.get(&context_key(ctx.1 ^ KEYSET_SALT, path)))
            .or_else(|| self.fields.get(path))
    }

    pub fn symbol(&self, ctx: Ctx, path: &str, v: f64) -> NumSymbol {
        self.symbol_at(ctx, path, v, Bar::Soft)
    }

    /// [`symbol`](Self::symbol) with the margins of `bar` (see
    /// `field::Bar`).
    pub(crate) fn symbol_at(&self, ctx: Ctx, path: &str, v: f64, bar: Bar) -> NumSymbol {
        match self.profile(ctx, path) {
            Some(p) if v.is_finite() => match p.symbol_at(v, bar) {
                NumSymbol::Above(_) | NumSymbol::Below(_)
                    if self.is_known(path, v)
                        || self.within_own(ctx, path, p, v)
                        || self.remembered_normal(ctx, path, p, v) =>
                {
                    NumSymbol::Bin(if v > p.max { (BINS - 1) as u8 } else { 0 })
                }
                // A code the field is known to take is no spike of a
                // template that had other codes.
                NumSymbol::Bin(bin) if self.is_known(path, v) => NumSymbol::Bin(bin),
                NumSymbol::Bin(bin) => self
                    .beyond_own(ctx, path, p, v)
                    .map_or(NumSymbol::Bin(bin), |d| {
                        NumSymbol::Above(FieldProfile::level(d, p.margin()))
                    }),
                sym => sym,
            },
            Some(_) => NumSymbol::Above(MAX_LEVEL),
            None => NumSymbol::Unseen,
        }
    }

    /// Whether `v`, an excursion by [`symbol`](Self::symbol), is one at the
    /// firm bar too (see `field::Bar::Firm`). An excursion past a rare
    /// template's own few values (see `beyond_own`), or of a value that is
    /// not a number, is firm: a wider profile's spread, which mixes
    /// templates, is no measure of one template's chance tails.
    pub fn is_firm(&self, ctx: Ctx, path: &str, v: f64) -> bool {
        !matches!(self.symbol_at(ctx, path, v, Bar::Firm), NumSymbol::Bin(_))
    }

    /// How far past its range `v` reaches (the excursion level before its
    /// cap) in its profile, or past its rare template's own values; 0 without
    /// one.
    pub fn reach(&self, ctx: Ctx, path: &str, v: f64) -> f32 {
        match self.profile(ctx, path) {
            Some(p) if v.is_finite() => match p.reach(v) {
                0.0 if self.is_known(path, v) => 0.0,
                0.0 => self
                    .beyond_own(ctx, path, p, v)
                    .map_or(0.0, |d| FieldProfile::reach_of(d, p.margin())),
                r => r,
            },
            _ => 0.0,
        }
    }

    /// How many of the wider profile `p`'s spreads `v` is above its own
    /// template's few values, when that is past the margin a profile of
    /// that many values would have: a rare template, judged by its key
    /// set's or field's wide range, would otherwise hide a spike fifty times
    /// its own latency among other templates' slow lines. `p`'s spread is
    /// the yardstick, never the few values' own, so a rare template's
    /// ordinary tail is no excursion.
    fn beyond_own(&self, ctx: Ctx, path: &str, p: &FieldProfile, v: f64) -> Option<f64> {
        let key = context_key(ctx.0, path);
        if self.contextual.contains_key(&key) {
            return None;
        }
        let n = *self.few_count.get(&key)?;
        let &(_, hi) = self.few.get(&key)?;
        past_few(p, v, hi, n)
    }

    /// Whether `v` is far above `n` values whose largest is `hi` (see
    /// `beyond_own`), in the spread of the profile `ctx` and `path` are
    /// judged by: a spike among a new template's first lines.
    pub fn far_above(&self, ctx: Ctx, path: &str, v: f64, hi: f64, n: usize) -> bool {
        self.profile(ctx, path)
            .is_some_and(|p| past_few(p, v, hi, n).is_some())
    }

    /// The range an excursion of `v` is told against: its template's own
    /// few values when only they make it one (see `beyond_own`), else
    /// [`range`](Self::range).
    pub fn range_for(&self, ctx: Ctx, path: &str, v: f64) -> Option<(f64, f64)> {
        let own = self
            .profile(ctx, path)
            .filter(|p| {
                matches!(p.symbol(v), NumSymbol::Bin(_))
                    && self.beyond_own(ctx, path, p, v).is_some()
            })
            .and_then(|_| self.few.get(&context_key(ctx.0, path)).copied());
        own.or_else(|| self.range(ctx, path))
    }

    /// Whether `v`, outside the wider profile `p` it is judged by, is within
    /// its own template's few values (widened by `p`'s margin): a rare
    /// template that is always slower than the rest is not an excursion
    /// each time. Its flagged lines never enter the baseline, so it would
    /// otherwise never gather the values for a profile of its own.
    fn within_own(&self, ctx: Ctx, path: &str, p: &FieldProfile, v: f64) -> bool {
        let Some(&(lo, hi)) = self.few.get(&context_key(ctx.0, path)) else {
            return false;
        };
        let t = |x: f64| if p.log { x.max(0.0).ln_1p() } else { x };
        let slack = p.margin() * p.spread;
        (t(lo) - slack..=t(hi) + slack).contains(&t(v))
    }

    /// Whether `v` is within the range the stream's memory kept of its
    /// template (half a step wider for whole numbers), without a margin:
    /// only values once normal.
    fn remembered_normal(&self, ctx: Ctx, path: &str, p: &FieldProfile, v: f64) -> bool {
        self.remembered
            .get(&context_key(ctx.0, path))
            .is_some_and(|&(lo, hi)| {
                let h = p.step / 2.0;
                (lo - h..=hi + h).contains(&v)
            })
    }

    fn is_known(&self, path: &str, v: f64) -> bool {
        !self.known.is_empty()
            && self
                .known
                .get(&path_key(path))
                .is_some_and(|vals| vals.contains(&v.to_bits()))
    }

    /// The baseline's observed range of a field (for this template if known).
    pub fn range(&self, ctx: Ctx, path: &str) -> Option<(f64, f64)> {
        self.profile(ctx, path).map(|p| (p.min, p.max))
    }

    /// Whether `v` is far outside the field's baseline range: more than one
    /// baseline spread beyond its minimum or maximum.
    pub fn is_far(&self, ctx: Ctx, path: &str, v: f64) -> bool {
        matches!(self.symbol(ctx, path, v), NumSymbol::Above(l) | NumSymbol::Below(l) if l >= 2)
    }

    /// Whether some of `leaves` are outside their ranges and each of those
    /// is a quantity (a field with a spread), not a code (a field with one
    /// value, whose other values are excursions too).
    pub fn shifts_a_quantity(&self, ctx: Ctx, leaves: &[(String, f64)]) -> bool {
        let mut outside = leaves
            .iter()
            .filter(|(path, v)| {
                matches!(
                    self.symbol(ctx, path, *v),
                    NumSymbol::Above(_) | NumSymbol::Below(_)
                )
            })
            .peekable();
        outside.peek().is_some()
            && outside.all(|(path, _)| {
                self.profile(ctx, path)
                    .is_some_and(|p| p.spread > 0.0 && p.lin_spread > 0.0)
            })
    }

    pub fn contains(&self, path: &str) -> bool {
        self.fields.contains_key(path)
    }
}

/// Writes the encoded form of a symbol.
pub fn write_symbol(out: &mut String, path: &str, sym: NumSymbol) {
    match sym {
        NumSymbol::Bin(b) => {
            let _ = write!(out, "#{b}");
        }
        NumSymbol::Unseen => out.push_str("#new"),
        NumSymbol::Above(level) => excursion(out, path, b'^', level),
        NumSymbol::Below(level) => excursion(out, path, b'v', level),
    }
}

fn excursion(out: &mut String, path: &str, dir: u8, level: u32) {
    out.push('#');
    out.push(dir as char);
    // FNV-1a of (path, direction) seeds a splitmix stream: the token is the same
    // for the same field, direction and level, and looks random to a compressor.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes().chain([dir]) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for _ in 0..(level as usize * TOKEN_BYTES_PER_LEVEL) {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push(ALPHABET[(z % 62) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> NumericProfile {
        let vals: Vec<f64> = (1..=400).map(|i| 20.0 + (i % 40) as f64).collect();
        NumericProfile::build(vals.iter().map(|&v| ((0, 0), "latency_ms", v)))
    }

    #[test]
    fn in_range_values_get_their_quantile_bin() {
        let p = profile();
        assert_eq!(p.symbol((0, 0), "latency_ms", 20.0), NumSymbol::Bin(0));
        assert_eq!(p.symbol((0, 0), "latency_ms", 59.0), NumSymbol::Bin(7));
    }

    #[test]
    fn excursions_grow_with_distance() {
        let p = profile();
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 70.0),
            NumSymbol::Bin(_)
        ));
        let NumSymbol::Above(near) = p.symbol((0, 0), "latency_ms", 120.0) else {
            panic!("120 should be above the range")
        };
        let NumSymbol::Above(far) = p.symbol((0, 0), "latency_ms", 950.0) else {
            panic!("950 should be above the range")
        };
        assert!(far > near, "{far} > {near}");
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", -5.0),
            NumSymbol::Below(_)
        ));
        assert_eq!(p.symbol((0, 0), "cpu", 1.0), NumSymbol::Unseen);
    }

    #[test]
    fn remembered_exact_values_are_not_excursions() {
        let p = profile();
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 500.0),
            NumSymbol::Above(_)
        ));
        let bits = [500f64.to_bits()];
        let p = p.with_known([(path_key("latency_ms"), &bits[..])]);
        assert_eq!(p.symbol((0, 0), "latency_ms", 500.0), NumSymbol::Bin(7));
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 501.0),
            NumSymbol::Above(_)
        ));
    }

    #[test]
    fn whole_numbers_stand_for_half_a_unit_either_way() {
        // A latency in whole milliseconds mostly 1 or 2: 3 is the next value
        // (it stands for anything from 2.5), not 1.5× the maximum; 5 is out.
        let vals: Vec<f64> = (0..400)
            .map(|i| if i % 3 == 0 { 1.0 } else { 2.0 })
            .collect();
        let p = NumericProfile::build(vals.iter().map(|&v| ((0, 0), "latency_ms", v)));
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 3.0),
            NumSymbol::Bin(_)
        ));
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 5.0),
            NumSymbol::Above(_)
        ));
        // The same values measured finely: 3 is beyond them.
        let fine: Vec<f64> = vals.iter().map(|v| v + 0.001).collect();
        let p = NumericProfile::build(fine.iter().map(|&v| ((0, 0), "latency_ms", v)));
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 3.001),
            NumSymbol::Above(_)
        ));
    }

    #[test]
    fn a_rare_template_is_judged_by_its_own_few_values_too() {
        // 400 fast lines of one template, 3 slow ones of another: too few for
        // a profile of its own, so the key set's judges it.
        let mut leaves: Vec<(Ctx, &str, f64)> = (0..400)
            .map(|i| ((1, 9), "latency_ms", 20.0 + (i % 40) as f64))
            .collect();
        leaves.extend([150.0, 190.0, 170.0].map(|v| ((2, 9), "latency_ms", v)));
        let p = NumericProfile::build(leaves.iter().copied());
        assert!(matches!(
            p.symbol((2, 9), "latency_ms", 175.0),
            NumSymbol::Bin(_)
        ));
        assert!(matches!(
            p.symbol((2, 9), "latency_ms", 2_000.0),
            NumSymbol::Above(_)
        ));
        assert!(
            matches!(p.symbol((3, 9), "latency_ms", 175.0), NumSymbol::Above(_)),
            "a template without values of its own is judged by the field"
        );
        // Absent from this baseline, its range comes from the stream's memory.
        let fast = NumericProfile::build(leaves[..400].iter().copied());
        assert!(matches!(
            fast.symbol((2, 9), "latency_ms", 110.0),
            NumSymbol::Above(_)
        ));
        assert!(matches!(
            fast.symbol((2, 9), "latency_ms", 175.0),
            NumSymbol::Above(_)
        ));
        let remembered = fast.with_ranges([(context_key(2, "latency_ms"), (150.0, 190.0), 0)]);
        assert!(matches!(
            remembered.symbol((2, 9), "latency_ms", 175.0),
            NumSymbol::Bin(_)
        ));
    }

    #[test]
    fn values_the_memory_kept_of_a_template_stay_normal_beside_its_profile() {
        // One template context, two messages: 400 fast lines of one, 3 slow
        // lines of its twin, past the context's 99th percentile.
        let mut leaves: Vec<(Ctx, &str, f64)> = (0..400)
            .map(|i| ((1, 9), "latency_ms", 3.0 + (i % 9) as f64))
            .collect();
        leaves.extend([22.0, 25.0, 30.0].map(|v| ((1, 9), "latency_ms", v)));
        let p = NumericProfile::build(leaves.iter().copied());
        assert!(matches!(
            p.symbol((1, 9), "latency_ms", 25.0),
            NumSymbol::Above(_)
        ));
        let remembered = p.with_remembered([(context_key(1, "latency_ms"), (3.0, 31.0))]);
        for v in [25.0, 31.0, 31.4] {
            assert!(
                matches!(
                    remembered.symbol((1, 9), "latency_ms", v),
                    NumSymbol::Bin(_)
                ),
                "{v} was within what the stream took as normal"
            );
        }
        assert!(
            matches!(
                remembered.symbol((1, 9), "latency_ms", 60.0),
                NumSymbol::Above(_)
            ),
            "no margin beyond the remembered range"
        );
    }

    #[test]
    fn a_rare_templates_spike_is_judged_against_its_own_few_values() {
        // Request lines of templates from 20 ms to 400 ms share a key set; a
        // rare one answers in 4–6 ms, too few lines for a profile.
        let mut leaves: Vec<(Ctx, &str, f64)> = (0..400u64)
            .map(|i| {
                let v = if i % 100 < 8 {
                    300 + i % 3 * 50
                } else {
                    20 + i % 21
                };
                ((10 + i % 4, 9), "latency_ms", v as f64)
            })
            .collect();
        leaves.extend([4.0, 5.0, 6.0, 5.0, 4.0].map(|v| ((2, 9), "latency_ms", v)));
        let p = NumericProfile::build(leaves.iter().copied());
        assert!(
            matches!(p.symbol((2, 9), "latency_ms", 250.0), NumSymbol::Above(_)),
            "fifty times its own latency, inside the key set's range"
        );
        assert!(p.reach((2, 9), "latency_ms", 250.0) > 0.0);
        assert_eq!(p.range_for((2, 9), "latency_ms", 250.0), Some((4.0, 6.0)));
        for v in [6.0, 9.0, 12.0] {
            assert!(
                matches!(p.symbol((2, 9), "latency_ms", v), NumSymbol::Bin(_)),
                "{v}: a tail of its own, measured in the wide spread"
            );
        }
        // One value is a range no one should trust: only the margin of a
        // one-value profile past it counts.
        let mut one = leaves[..400].to_vec();
        one.push(((3, 9), "latency_ms", 18.0));
        let p = NumericProfile::build(one.iter().copied());
        assert!(matches!(
            p.symbol((3, 9), "latency_ms", 35.0),
            NumSymbol::Bin(_)
        ));
        assert!(matches!(
            p.symbol((3, 9), "latency_ms", 3_000.0),
            NumSymbol::Above(_)
        ));
    }

    #[test]
    fn a_code_the_field_is_known_to_take_is_no_spike_of_a_rare_template() {
        // Status codes over many templates; a rare template has only had 200s.
        let codes = [200.0, 200.0, 200.0, 201.0, 204.0, 304.0, 400.0, 404.0];
        let mut leaves: Vec<(Ctx, &str, f64)> = (0..400usize)
            .map(|i| ((10 + i as u64 % 4, 9), "code", codes[i % 8]))
            .collect();
        leaves.extend([200.0; 12].map(|v| ((2, 9), "code", v)));
        let p = NumericProfile::build(leaves.iter().copied());
        assert!(
            matches!(p.symbol((2, 9), "code", 404.0), NumSymbol::Above(_)),
            "without the field's values, 404 is past the template's own"
        );
        let bits: Vec<u64> = codes.iter().map(|c| c.to_bits()).collect();
        let p = p.with_known([(path_key("code"), &bits[..])]);
        assert!(matches!(p.symbol((2, 9), "code", 404.0), NumSymbol::Bin(_)));
        assert_eq!(p.reach((2, 9), "code", 404.0), 0.0);
        assert!(
            matches!(p.symbol((2, 9), "code", 503.0), NumSymbol::Above(_)),
            "a code the field never took still is"
        );
    }

    #[test]
    fn a_short_upper_tail_is_left_sooner_and_a_metric_keeps_half_a_spread() {
        // 400 latencies spread evenly over 20–60: no tail past 60.
        let leaves: Vec<(Ctx, &str, f64)> = (0..400)
            .map(|i| ((1, 9), "latency_ms", 20.0 + (i % 41) as f64))
            .collect();
        let p = NumericProfile::build(leaves.iter().copied());
        let above = |p: &NumericProfile, v| {
            matches!(p.symbol((1, 9), "latency_ms", v), NumSymbol::Above(_))
        };
        assert!(above(&p, 100.0), "1.7× a hard top");
        assert!(p.reach((1, 9), "latency_ms", 100.0) > 0.0);
        assert!(!above(&p, 62.0));
        // The same values as a metric series: half a spread, as before.
        let metric = NumericProfile::build(leaves.iter().copied()).with_tails(false);
        assert!(!above(&metric, 100.0));
        // Normal values' tail (judged linearly: some are negative) keeps
        // about half a spread.
        let normal: Vec<(Ctx, &str, f64)> = (1..400)
            .map(|i| ((1, 9), "x", 10.0 * probit(i as f64 / 400.0)))
            .collect();
        let n = NumericProfile::build(normal.iter().copied());
        let prof = n.profile((1, 9), "x").expect("a profile");
        assert!(
            (prof.upper_margin() - prof.margin()).abs() < 0.05,
            "{} vs {}",
            prof.upper_margin(),
            prof.margin()
        );
        let uniform = p.profile((1, 9), "latency_ms").expect("a profile");
        assert!(uniform.upper_margin() < uniform.margin() / 2.0);
    }

    /// The standard normal quantile of `p`, by bisection on Φ (erf after
    /// Abramowitz and Stegun 7.1.26, to 1.5e-7).
    fn probit(p: f64) -> f64 {
        let erf = |x: f64| {
            let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
            let y = 1.0
                - t * (0.254_829_592
                    + t * (-0.284_496_736
                        + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
                    * (-x * x).exp();
            y.copysign(x)
        };
        let phi = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
        let (mut lo, mut hi) = (-8.0, 8.0);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if phi(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }

    #[test]
    fn drops_of_positive_fields_are_judged_linearly() {
        // On a log scale 1 would be far below 20..59; linearly it is within
        // half a spread of the range.
        let p = profile();
        assert!(matches!(
            p.symbol((0, 0), "latency_ms", 8.0),
            NumSymbol::Bin(0)
        ));
    }

    #[test]
    fn excursion_tokens_are_deterministic_and_long() {
        let (mut a, mut b) = (String::new(), String::new());
        write_symbol(&mut a, "latency_ms", NumSymbol::Above(3));
        write_symbol(&mut b, "latency_ms", NumSymbol::Above(3));
        assert_eq!(a, b);
        assert_eq!(a.len(), 2 + 3 * TOKEN_BYTES_PER_LEVEL);
    }
}
