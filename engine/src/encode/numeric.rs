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
use std::fmt::Write;

use serde::{Deserialize, Serialize};

/// Quantile bins per field.
pub const BINS: usize = 8;
/// Values closer than this share of the baseline's spread to its range are not
/// excursions: the baseline's own extremes are noisy.
const MARGIN: f64 = 0.25;
const MAX_LEVEL: u32 = 4;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FieldProfile {
    /// Interior quantile edges on the transformed scale.
    edges: Vec<f64>,
    lo: f64,
    hi: f64,
    spread: f64,
    /// Positive fields (latencies, sizes) are compared on a log scale.
    log: bool,
    /// Observed range on the original scale, for explanations.
    min: f64,
    max: f64,
}

impl FieldProfile {
    fn build(values: &mut [f64]) -> Self {
        values.sort_by(|a, b| a.total_cmp(b));
        // Non-negative fields (latencies, sizes, counts) are compared on a log
        // scale; ln(1 + v) keeps zeros finite.
        let log = values[0] >= 0.0;
        let t = |v: f64| if log { v.ln_1p() } else { v };
        let q = |p: f64| t(values[((values.len() - 1) as f64 * p).round() as usize]);
        let edges = (1..BINS).map(|i| q(i as f64 / BINS as f64)).collect();
        let lo = t(values[0]);
        let hi = t(values[values.len() - 1]);
        let mut spread = q(0.95) - q(0.05);
        if spread <= 0.0 {
            spread = hi - lo;
        }
        FieldProfile {
            edges,
            lo,
            hi,
            spread,
            log,
            min: values[0],
            max: values[values.len() - 1],
        }
    }

    fn symbol(&self, v: f64) -> NumSymbol {
        if self.log && v < 0.0 {
            return NumSymbol::Below(MAX_LEVEL);
        }
        let x = if self.log { v.ln_1p() } else { v };
        let level = |d: f64| -> u32 { (1 + (1.0 + d).log2().floor() as u32).min(MAX_LEVEL) };
        if self.spread <= 0.0 {
            // A constant field: any other value is an excursion.
            return if x > self.hi {
                NumSymbol::Above(2)
            } else if x < self.lo {
                NumSymbol::Below(2)
            } else {
                NumSymbol::Bin(0)
            };
        }
        if x > self.hi + MARGIN * self.spread {
            return NumSymbol::Above(level((x - self.hi) / self.spread));
        }
        if x < self.lo - MARGIN * self.spread {
            return NumSymbol::Below(level((self.lo - x) / self.spread));
        }
        NumSymbol::Bin(self.edges.iter().filter(|&&e| e < x).count() as u8)
    }
}

/// A template needs this many baseline values of a field before its own profile
/// is trusted over the field-wide one.
const MIN_CONTEXT_VALUES: usize = 12;

/// Per-field quantile profiles of one baseline: one per field path, and one per
/// (template context, field path) for templates seen often enough, so that a
/// fast endpoint's latency is judged against that endpoint, not against all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    fields: HashMap<String, FieldProfile>,
    contextual: HashMap<u64, FieldProfile>,
}

fn context_key(ctx: u64, path: &str) -> u64 {
    path.bytes().fold(ctx ^ 0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl NumericProfile {
    /// Builds profiles from `(context, field path, value)` of the baseline events.
    pub fn build<'a>(leaves: impl IntoIterator<Item = (u64, &'a str, f64)>) -> Self {
        let mut by_field: HashMap<&str, Vec<f64>> = HashMap::new();
        let mut by_context: HashMap<u64, Vec<f64>> = HashMap::new();
        for (ctx, path, v) in leaves {
            if v.is_finite() {
                by_field.entry(path).or_default().push(v);
                by_context
                    .entry(context_key(ctx, path))
                    .or_default()
                    .push(v);
            }
        }
        let fields = by_field
            .into_iter()
            .map(|(k, mut vs)| (k.to_string(), FieldProfile::build(&mut vs)))
            .collect();
        let contextual = by_context
            .into_iter()
            .filter(|(_, vs)| vs.len() >= MIN_CONTEXT_VALUES)
            .map(|(k, mut vs)| (k, FieldProfile::build(&mut vs)))
            .collect();
        Self { fields, contextual }
    }

    fn profile(&self, ctx: u64, path: &str) -> Option<&FieldProfile> {
        self.contextual
            .get(&context_key(ctx, path))
            .or_else(|| self.fields.get(path))
    }

    pub fn symbol(&self, ctx: u64, path: &str, v: f64) -> NumSymbol {
        match self.profile(ctx, path) {
            Some(p) if v.is_finite() => p.symbol(v),
            Some(_) => NumSymbol::Above(MAX_LEVEL),
            None => NumSymbol::Unseen,
        }
    }

    /// The baseline's observed range of a field (for this template if known).
    pub fn range(&self, ctx: u64, path: &str) -> Option<(f64, f64)> {
        self.profile(ctx, path).map(|p| (p.min, p.max))
    }

    /// Whether `v` is far outside the field's baseline range: more than one
    /// baseline spread beyond its minimum or maximum.
    pub fn is_far(&self, ctx: u64, path: &str, v: f64) -> bool {
        matches!(self.symbol(ctx, path, v), NumSymbol::Above(l) | NumSymbol::Below(l) if l >= 2)
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
        NumericProfile::build(vals.iter().map(|&v| (0, "latency_ms", v)))
    }

    #[test]
    fn in_range_values_get_their_quantile_bin() {
        let p = profile();
        assert_eq!(p.symbol(0, "latency_ms", 20.0), NumSymbol::Bin(0));
        assert_eq!(p.symbol(0, "latency_ms", 59.0), NumSymbol::Bin(7));
    }

    #[test]
    fn excursions_grow_with_distance() {
        let p = profile();
        let NumSymbol::Above(near) = p.symbol(0, "latency_ms", 80.0) else {
            panic!("80 should be above the range")
        };
        let NumSymbol::Above(far) = p.symbol(0, "latency_ms", 950.0) else {
            panic!("950 should be above the range")
        };
        assert!(far > near, "{far} > {near}");
        assert!(matches!(
            p.symbol(0, "latency_ms", 1.0),
            NumSymbol::Below(_)
        ));
        assert_eq!(p.symbol(0, "cpu", 1.0), NumSymbol::Unseen);
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
