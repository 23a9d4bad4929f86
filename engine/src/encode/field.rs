//! One numeric field's profile in a baseline: its quantile bins, its range
//! and the margin past it, and where a value falls (a bin or an excursion
//! of some level). [`super::numeric::NumericProfile`] keeps one per field and
//! per template.

use serde::{Deserialize, Serialize};

use super::numeric::{BINS, MAX_LEVEL, NumSymbol};

/// The range a value is judged against: these quantiles of the baseline, not
/// its extremes, so that one unflagged outlier does not widen it for good.
const RANGE_QUANTILES: (f64, f64) = (0.01, 0.99);
/// Values within this share of the baseline's spread outside the range are not
/// excursions: the range's own ends are noisy.
const MARGIN: f64 = 0.5;
/// Values above which a baseline's top tenth (20 values) measures its upper
/// tail's length well enough to shorten the margin by it.
const TAIL_VALUES: usize = 200;
/// Tail lengths (90th to 99th percentile) in the margin above the range:
/// for normal values the tail is 1.044 σ and half a spread 1.645 σ, so a
/// normal tail keeps the margin it had, and only a shorter one (values
/// with a hard top) is judged closer to it.
const TAIL_LENGTHS: f64 = MARGIN * 3.290 / 1.044;
/// The firm bar's extra margin, in spreads, is this over `n^1.25` (see
/// [`Bar::Firm`]).
const FIRM_EXTRA: f64 = 35.0;

/// Which margin past a range makes a value an excursion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bar {
    /// The excursion tokens' margin, [`margin_of`]: a value past it is
    /// encoded as an excursion.
    Soft,
    /// A margin wide enough that a value passes it by chance no more often
    /// at any sample size than past the soft bar of a large baseline: for
    /// normal values (on the log scale for positive fields) and this
    /// module's quantile estimators, about 3.6e-5, the tail past the 99th
    /// percentile plus half a spread. [`firm_margin_of`] is an upper
    /// envelope of the margins that give exactly that from 6 values on
    /// (computed by simulation: the soft bar lets 1.6e-3 through at 16
    /// values, 7e-5 at 50). One value between the bars is no evidence on
    /// its own: a flag that rests on such values alone needs a neighbour
    /// past the soft bar too (see the detector's short excursions).
    Firm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FieldProfile {
    /// Interior quantile edges on the transformed scale.
    pub(super) edges: Vec<f64>,
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) spread: f64,
    /// Positive fields (latencies, sizes) are compared on a log scale.
    pub(super) log: bool,
    /// The range on the original scale, for explanations.
    pub(super) min: f64,
    pub(super) max: f64,
    /// 5th–95th percentile spread on the original scale: drops of a positive
    /// field are judged linearly (on a log scale every value near zero would
    /// look far below a range that starts at 8).
    #[serde(default)]
    pub(super) lin_spread: f64,
    /// Values the profile was built from: a small sample's quantiles are
    /// uncertain, so its margin is wider.
    #[serde(default)]
    pub(super) n: usize,
    /// 1 when every value was a whole number, else 0: a count or a latency
    /// in whole milliseconds stands for any real within half a unit of it,
    /// so 3 after a range of 1–2 is the next value, not 1.5× the maximum.
    #[serde(default)]
    pub(super) step: f64,
    /// How far the top tenth of values reaches past the 90th percentile, on
    /// the transformed scale: the upper tail's own length (see
    /// `upper_margin`; negative in profiles saved before it was kept).
    #[serde(default = "unknown_tail")]
    pub(super) tail_hi: f64,
    /// The values rose with arrival (see [`super::clock`]): a value above the
    /// range is in the top bin, not an excursion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) clock: bool,
}

pub(super) fn unknown_tail() -> f64 {
    -1.0
}

impl FieldProfile {
    /// A profile of `values`, given in arrival order.
    pub(super) fn build(values: &mut [f64]) -> Self {
        let clock = super::clock::rises_with_arrival(values);
        values.sort_by(|a, b| a.total_cmp(b));
        // Non-negative fields (latencies, sizes, counts) are compared on a log
        // scale; ln(1 + v) keeps zeros finite.
        let log = values[0] >= 0.0;
        let t = |v: f64| if log { v.ln_1p() } else { v };
        let q = |p: f64| t(values[((values.len() - 1) as f64 * p).round() as usize]);
        let edges = (1..BINS).map(|i| q(i as f64 / BINS as f64)).collect();
        let lin_spread = values[((values.len() - 1) as f64 * 0.95).round() as usize]
            - values[((values.len() - 1) as f64 * 0.05).round() as usize];
        let mut lo = q(RANGE_QUANTILES.0);
        let mut hi = q(RANGE_QUANTILES.1);
        let mut spread = q(0.95) - q(0.05);
        if spread <= 0.0 {
            // A (nearly) constant field: its rare other values are its range.
            lo = t(values[0]);
            hi = t(values[values.len() - 1]);
            spread = hi - lo;
        }
        FieldProfile {
            edges,
            lo,
            hi,
            spread,
            log,
            min: if log { lo.exp_m1() } else { lo },
            max: if log { hi.exp_m1() } else { hi },
            lin_spread,
            n: values.len(),
            step: if values.iter().all(|v| v.fract() == 0.0) {
                1.0
            } else {
                0.0
            },
            tail_hi: q(0.99) - q(0.9),
            clock,
        }
    }

    /// `v` (`x` on the transformed scale) and the range's end on the side
    /// `v` is, each moved half a step towards the other (see `step`).
    pub(super) fn towards_range(&self, v: f64, x: f64) -> (f64, f64, f64) {
        let t = |v: f64| if self.log { v.max(0.0).ln_1p() } else { v };
        if self.step <= 0.0 {
            return (x, self.lo, self.hi);
        }
        let h = self.step / 2.0;
        if x > self.hi {
            (t(v - h), self.lo, t(self.max + h))
        } else if x < self.lo {
            (t(v + h), t(self.min - h), self.hi)
        } else {
            (x, self.lo, self.hi)
        }
    }

    pub(super) fn margin(&self) -> f64 {
        margin_of(self.n)
    }

    /// The margins below and above the range at `bar`.
    fn margins(&self, bar: Bar) -> (f64, f64) {
        let extra = match bar {
            Bar::Soft => 0.0,
            Bar::Firm => firm_margin_of(self.n) - margin_of(self.n),
        };
        (self.margin() + extra, self.upper_margin() + extra)
    }

    /// The margin above the range: [`margin`](Self::margin), or shorter
    /// where the baseline measured an upper tail shorter than a normal
    /// one's (see [`TAIL_LENGTHS`]). A latency capped at 60 over hundreds
    /// of lines makes 100 an excursion; a normal or longer tail keeps half
    /// a spread.
    pub(super) fn upper_margin(&self) -> f64 {
        let margin = self.margin();
        if self.n < TAIL_VALUES || self.tail_hi < 0.0 || self.spread <= 0.0 {
            return margin;
        }
        let own = TAIL_LENGTHS * self.tail_hi / self.spread + 1.0 / (self.n as f64).sqrt();
        margin.min(own)
    }

    /// The excursion level of a value `d` spreads past the range's end:
    /// 1 from `margin` out, then one more per doubling.
    pub(super) fn level(d: f64, margin: f64) -> u32 {
        (1 + (1.0 + d - margin).max(1.0).log2().floor() as u32).min(MAX_LEVEL)
    }

    /// [`level`](Self::level) before its cap, as a real number.
    pub(super) fn reach_of(d: f64, margin: f64) -> f32 {
        if d <= margin {
            return 0.0;
        }
        (1.0 + (1.0 + d - margin).log2()) as f32
    }

    pub(super) fn symbol(&self, v: f64) -> NumSymbol {
        self.symbol_at(v, Bar::Soft)
    }

    /// [`symbol`](Self::symbol) with the margins of `bar`.
    pub(super) fn symbol_at(&self, v: f64, bar: Bar) -> NumSymbol {
        let (margin, above) = self.margins(bar);
        if self.log && v < 0.0 {
            return NumSymbol::Below(MAX_LEVEL);
        }
        let x = if self.log { v.ln_1p() } else { v };
        let (moved, lo, hi) = self.towards_range(v, x);
        let level = |d: f64| Self::level(d, margin);
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
        if self.clock && x > hi {
            return NumSymbol::Bin((BINS - 1) as u8);
        }
        if moved > hi + above * self.spread {
            return NumSymbol::Above(Self::level((moved - hi) / self.spread, above));
        }
        if self.log {
            let (v, min) = (v + self.step / 2.0, self.min - self.step / 2.0);
            if self.lin_spread > 0.0 && v < min - margin * self.lin_spread {
                return NumSymbol::Below(level((min - v) / self.lin_spread));
            }
        } else if moved < lo - margin * self.spread {
            return NumSymbol::Below(level((lo - moved) / self.spread));
        }
        NumSymbol::Bin(self.bin(x))
    }

    /// The quantile bin of `x` (on the transformed scale): how many distinct
    /// edges lie below it. A value that fills several bins by itself (a count
    /// or a code) is several equal edges; counting each would move the values
    /// above it a bin whenever its share crosses a multiple of 1/[`BINS`],
    /// and a stream's lines would stop matching their own baseline's bytes.
    fn bin(&self, x: f64) -> u8 {
        let mut below = self.edges.iter().take_while(|&&e| e < x).peekable();
        let mut n = 0u8;
        while let Some(e) = below.next() {
            if below.peek() != Some(&e) {
                n += 1;
            }
        }
        n
    }

    /// The excursion level of `v` before it is capped at [`MAX_LEVEL`], as a
    /// real number: how far beyond the cap an extreme value goes.
    pub(super) fn reach(&self, v: f64) -> f32 {
        let x = if self.log { v.ln_1p() } else { v };
        let (x, lo, hi) = self.towards_range(v, x);
        let (v_up, min) = (v + self.step / 2.0, self.min - self.step / 2.0);
        let d = if self.spread <= 0.0 {
            return 0.0;
        } else if x > hi {
            if self.clock {
                return 0.0;
            }
            return Self::reach_of((x - hi) / self.spread, self.upper_margin());
        } else if self.log {
            if self.lin_spread > 0.0 && v_up < min {
                (min - v_up) / self.lin_spread
            } else {
                0.0
            }
        } else if x < lo {
            (lo - x) / self.spread
        } else {
            0.0
        };
        Self::reach_of(d, self.margin())
    }
}

/// How many of `p`'s spreads `v` is above `hi`, the largest of `n` values,
/// when that is past the margin of a range of `n` values (never, for a
/// profile without a spread or of a clock).
pub(super) fn past_few(p: &FieldProfile, v: f64, hi: f64, n: usize) -> Option<f64> {
    if p.spread <= 0.0 || p.clock {
        return None;
    }
    let t = |x: f64| if p.log { x.max(0.0).ln_1p() } else { x };
    let h = p.step / 2.0;
    let d = (t(v - h) - t(hi + h)) / p.spread;
    (d > margin_of(n)).then_some(d)
}

/// The margin, in spreads, of a range estimated from `n` values.
pub(super) fn margin_of(n: usize) -> f64 {
    MARGIN + 1.0 / (n.max(1) as f64).sqrt()
}

/// The margin of [`Bar::Firm`] for a range estimated from `n` values.
pub(super) fn firm_margin_of(n: usize) -> f64 {
    margin_of(n) + FIRM_EXTRA / (n.max(1) as f64).powf(1.25)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_keeps_its_bin_as_the_shares_of_the_values_below_move() {
        // 1 or 3 in about equal shares: four or three of the seven edges are 1s.
        let bins: Vec<u8> = [196, 200, 204]
            .iter()
            .map(|&ones| {
                let mut v: Vec<f64> = (0..400).map(|i| if i < ones { 1.0 } else { 3.0 }).collect();
                let p = FieldProfile::build(&mut v);
                match p.symbol(3.0) {
                    NumSymbol::Bin(b) => b,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(bins, [1, 1, 1]);
    }

    /// Standard normal draws from a fixed seed (splitmix64, Box–Muller).
    struct Normals(u64);

    impl Normals {
        fn unit(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn next(&mut self) -> f64 {
            let (u, v) = (1.0 - self.unit(), self.unit());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// P(Z > z) for a standard normal Z, by Simpson's rule over [z, z + 12].
    fn normal_sf(z: f64) -> f64 {
        let (steps, width) = (400, 12.0);
        let h = width / steps as f64;
        let pdf = |x: f64| (-x * x / 2.0).exp() / (std::f64::consts::TAU).sqrt();
        let inner: f64 = (1..steps)
            .map(|i| pdf(z + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        (pdf(z) + inner + pdf(z + width)) * h / 3.0
    }

    /// The chance a new normal value passes a profile of `n` normal values
    /// at `bar`, averaged over `reps` baselines.
    fn pass_rate(n: usize, bar: Bar, reps: usize, rng: &mut Normals) -> f64 {
        let total: f64 = (0..reps)
            .map(|_| {
                let mut values: Vec<f64> = (0..n).map(|_| rng.next() - 20.0).collect();
                let p = FieldProfile::build(&mut values);
                assert!(!p.log && p.step == 0.0);
                normal_sf(p.hi + 20.0 + p.margins(bar).1 * p.spread)
            })
            .sum();
        total / reps as f64
    }

    #[test]
    fn the_firm_bar_is_as_rare_at_every_sample_size_as_the_soft_bar_of_a_large_baseline() {
        // Normal tail past the 99th percentile plus half a 5th–95th spread.
        let large = normal_sf(2.326 + MARGIN * 3.290);
        let mut rng = Normals(7);
        for n in [8, 12, 20, 30, 52, 100, 152, 199] {
            let firm = pass_rate(n, Bar::Firm, 4000, &mut rng);
            println!("{n} values: firm bar passes {firm:.2e}, large baseline {large:.2e}");
            assert!(firm <= 1.3 * large, "{n} values: {firm:.2e} > {large:.2e}");
        }
        // Without it a dozen values let tails through 40 times as often.
        let soft = pass_rate(16, Bar::Soft, 4000, &mut rng);
        assert!(soft > 20.0 * large, "16 values: {soft:.2e}");
    }
}
