//! The scoring model prepared from one baseline snapshot: numeric profile,
//! compressor dictionary, sorted calibration scores, vocabulary and the pool of
//! events searched for nearest neighbours. Rebuilt on the refresh grid, never
//! per event.

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compress::{CompressorKind, Prepared, compressed_len};
use crate::encode::{self, Encoded, Identifiers, NumericProfile};
use crate::error::Result;
use crate::memory::Memory;
use crate::novelty::{HashSet64, Novelty, Vocabulary};
use crate::shape::{RunsOf, ShapeModel};
use crate::stored::Stored;

/// Nonconformity of an event, lexicographic in (new members, new tokens,
/// numeric excursion, a new number or punctuation inside text, code
/// length): each kind of
/// evidence outranks any amount of the kinds after it. Baseline events are
/// ranked the same way, out of sample, so conformal p-values stay valid. A
/// number inside text ranks below a numeric excursion, whose evidence (how
/// far, in calibrated levels) is the more graded.
pub(crate) fn rank(score: f32, excursion: u32, reach: f32, novelty: Novelty) -> f32 {
    // At the level cap, how far beyond it (up to level 9.9) tells extremes apart.
    let excursion = if excursion >= 4 {
        reach.clamp(4.0, 9.9)
    } else {
        excursion as f32
    };
    let in_text = if novelty.in_text() { 50.0 } else { 0.0 };
    score.clamp(0.0, 49.9)
        + in_text
        + 100.0 * excursion
        + 1_000.0 * novelty.tokens.min(9) as f32
        + 10_000.0 * novelty.members.min(9) as f32
}

/// The code-length part of a rank: how unusual code length `score` is among
/// `calib`, code lengths against the same dictionary of events that it
/// leaves out (ascending), as a conformal p-value `p` mapped to
/// `-5 log10 p` (at most 49.9). Code lengths against different dictionaries
/// are not comparable (one rebuild gives a whole template a byte more than
/// the last), p-values against each dictionary's own held-out events are:
/// under exchangeability each is uniform whatever dictionary it met, so the
/// reference's ranks and a new event's agree. `u` breaks ties (the
/// conservative bound takes 1); beyond the top of `calib`, how far beyond on
/// the scale of its top [`TAIL`] grades `p` below `1 / (n + 1)`. Metric
/// events keep their raw code length: one series' dictionary moves little
/// between rebuilds (the calibration test's metric streams stay within ±30%
/// either way), and against a fifth of the baseline they lose resolution
/// (NAB 70.5 -> 69.1, 84 -> 82 windows found).
pub(crate) fn code_level(calib: &[f32], score: f32, u: f64, metric: bool) -> f32 {
    if metric {
        return score;
    }
    let p = conformal_p(calib, score, u);
    ((-p.log10()) * 5.0).min(49.9) as f32
}

/// Conformal p-value of `x` against `sorted` (ascending), ties broken by
/// `u` in (0, 1]; beyond every value of `sorted`, graded by [`tail`].
fn conformal_p(sorted: &[f32], x: f32, u: f64) -> f64 {
    match tail(sorted, x) {
        Some(t) => t / (sorted.len() + 1) as f64,
        None => tied_p(sorted, x, u),
    }
}

fn tied_p(sorted: &[f32], x: f32, u: f64) -> f64 {
    let n = sorted.len();
    let below = sorted.partition_point(|&v| v < x);
    let not_above = sorted.partition_point(|&v| v <= x);
    let greater = n - not_above;
    let equal = not_above - below;
    (greater as f64 + u * (1 + equal) as f64) / (n + 1) as f64
}

/// For `x` beyond every value of `sorted`, where the tie-breaker alone
/// would decide the p-value, how far beyond it is on the scale of the
/// reference's own top: `1 / (1 + excess / β)`, β the mean excess of the
/// top [`TAIL`] values over the next one. Under the null, with a tail no
/// heavier than a Pareto's, that is at least uniform, so the p-value stays
/// valid below `1 / (n + 1)` and the most extreme event gets the smallest.
fn tail(sorted: &[f32], x: f32) -> Option<f64> {
    let &top = sorted.last()?;
    if x <= top {
        return None;
    }
    let k = TAIL.min(sorted.len() - 1);
    if k == 0 {
        return Some(1.0);
    }
    let base = sorted[sorted.len() - 1 - k] as f64;
    let beta = sorted[sorted.len() - k..]
        .iter()
        .map(|&r| r as f64 - base)
        .sum::<f64>()
        / k as f64;
    let excess = (x - top) as f64;
    // 1 / (1 + x/β) rather than e^(−x/β): no more than an exponential
    // tail's probability, and a jump of structural evidence (hundreds in
    // rank) does not underflow to one value for every extreme.
    let t = if beta > 0.0 {
        1.0 / (1.0 + excess / beta)
    } else {
        1.0 / (1.0 + excess)
    };
    Some(t.max(f64::MIN_POSITIVE))
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Model {
    pub profile: NumericProfile,
    /// Dictionary bytes, kept so a restored detector rebuilds the same `Prepared`.
    dict: String,
    #[serde(skip)]
    prepared: OnceLock<Prepared>,
    kind: CompressorKind,
    /// Code lengths against this dictionary of the baseline events it leaves
    /// out (the oldest fifth) and of the flagged events of their span,
    /// ascending: the window tests' reference.
    pub calib: Vec<f32>,
    /// Ranks of the baseline and of the flagged events of its span, ascending:
    /// the event p-values' reference.
    pub calib_rank: Vec<f32>,
    #[serde(skip)]
    digest: OnceLock<String>,
    pub vocab: Vocabulary,
    /// Nearest-neighbour candidates: the baseline as of this model (frozen with
    /// it, so results never depend on how events were batched), then memory
    /// exemplars of templates the baseline lacks.
    pub pool: Vec<Arc<Stored>>,
    baseline_len: usize,
    /// The baseline's runs (see [`crate::shape`]), rebuilt from the baseline
    /// when a restored model first needs them.
    #[serde(skip)]
    shape: OnceLock<ShapeModel>,
    /// Least distance in positions between baseline runs that may explain
    /// each other (the detector's window).
    #[serde(default)]
    shape_gap: u64,
    /// How far baseline events are from their own nearest known events (see
    /// the detector's `spacing`), measured when a flag first needs it.
    #[serde(skip)]
    pub spacing: OnceLock<f64>,
    /// The shares of baseline events that brought never-seen tokens, members
    /// and numbers in text on arrival (see [`Model::is_news`]).
    #[serde(skip)]
    news_shares: OnceLock<[f64; 3]>,
}

impl Clone for Model {
    fn clone(&self) -> Self {
        Model {
            profile: self.profile.clone(),
            dict: self.dict.clone(),
            prepared: self.prepared.clone(),
            kind: self.kind,
            calib: self.calib.clone(),
            calib_rank: self.calib_rank.clone(),
            digest: self.digest.clone(),
            vocab: self.vocab.clone(),
            pool: self.pool.clone(),
            baseline_len: self.baseline_len,
            shape: self.shape.clone(),
            shape_gap: self.shape_gap,
            spacing: self.spacing.clone(),
            news_shares: self.news_shares.clone(),
        }
    }
}

/// Share of the baseline (newest first) that goes into the dictionary. It matches
/// the cross-fitting folds (4 of 5) so that calibration scores and new scores are
/// measured against dictionaries of the same size.
pub(crate) const FOLDS: usize = 5;

/// Reference ranks that set the scale of the tail beyond them.
const TAIL: usize = 20;

impl Model {
    /// Builds the model from `baseline` (oldest first), whose scores and ranks
    /// are already out-of-sample, and the stream's memory. `held` are the
    /// flagged events of the baseline's span: only their ranks are used, in
    /// the event p-values' reference (see the detector's `held`).
    pub fn build(
        kind: CompressorKind,
        baseline: &[Arc<Stored>],
        held: &[Arc<Stored>],
        memory: &Memory,
        shape_gap: u64,
    ) -> Result<Self> {
        Self::build_with(kind, baseline, held, shape_gap, || memory)
    }

    /// [`build`](Self::build) with the memory absorbed (see [`Memory::absorb`])
    /// beside the dictionary's preparation, which does not read it: the
    /// detector's refresh would otherwise absorb it on one core while the
    /// other waits.
    pub fn build_absorbing(
        kind: CompressorKind,
        baseline: &[Arc<Stored>],
        held: &[Arc<Stored>],
        memory: &mut Memory,
        shape_gap: u64,
    ) -> Result<Self> {
        Self::build_with(kind, baseline, held, shape_gap, move || {
            memory.absorb();
            &*memory
        })
    }

    fn build_with<'m>(
        kind: CompressorKind,
        baseline: &[Arc<Stored>],
        held: &[Arc<Stored>],
        shape_gap: u64,
        memory: impl FnOnce() -> &'m Memory + Send,
    ) -> Result<Self> {
        let keep = baseline.len() * (FOLDS - 1) / FOLDS;
        let dict = join(
            baseline[baseline.len() - keep..]
                .iter()
                .map(|s| s.encoded.as_str()),
        );
        let kind = kind.effective();
        // Preparing the dictionary is the costliest step; the rest of the model
        // is built beside it.
        let (prepared, rest) = rayon::join(
            || Prepared::new(kind, dict.as_bytes()),
            || {
                let memory = memory();
                let profile = NumericProfile::build(baseline.iter().flat_map(|s| {
                    s.leaves
                        .iter()
                        .map(|(p, v)| ((s.context, s.keyset), p.as_str(), *v))
                }))
                .with_known(memory.known_values())
                .with_ranges(memory.ranges())
                .with_remembered(memory.template_ranges())
                .with_tails(baseline.iter().any(|s| !s.metric))
                .with_identifiers(Identifiers::of_leaves(baseline.iter().map(|s| s.strings())));
                let mut calib_rank: Vec<f32> =
                    baseline.iter().chain(held).map(|s| s.rank).collect();
                calib_rank.sort_by(|a, b| a.total_cmp(b));
                let contexts: HashSet64 = baseline.iter().map(|s| s.context).collect();
                let mut pool: Vec<Arc<Stored>> = baseline.to_vec();
                pool.extend(memory.exemplars_beyond(&contexts).cloned());
                let vocab = Vocabulary::of(baseline.iter().map(|s| &s.facts));
                let shape = shape_of(baseline, shape_gap);
                (profile, calib_rank, pool, vocab, shape)
            },
        );
        let (profile, calib_rank, pool, vocab, shape) = rest;
        let prepared = prepared?;
        // The window tests' reference: the baseline events this dictionary
        // leaves out and the flagged events of their span, scored against it. Scores kept from each event's arrival
        // were measured against older dictionaries, and a window's mean is
        // sensitive enough to tell one dictionary from another.
        let left_out = &baseline[..baseline.len() - keep];
        let span = left_out
            .first()
            .zip(left_out.last())
            .map(|(a, b)| a.index..=b.index);
        let held_in_span = held
            .iter()
            .filter(|h| span.as_ref().is_some_and(|r| r.contains(&h.index)));
        let mut calib: Vec<f32> = left_out
            .iter()
            .chain(held_in_span)
            .collect::<Vec<_>>()
            .par_iter()
            .map(|s| {
                let bits = prepared.conditional_len(s.encoded.as_bytes())? as f32 * 8.0;
                Ok(bits / s.encoded.len().max(1) as f32)
            })
            .collect::<Result<_>>()?;
        calib.sort_by(|a, b| a.total_cmp(b));
        Ok(Model {
            profile,
            dict,
            prepared: OnceLock::from(prepared),
            kind,
            calib,
            calib_rank,
            digest: OnceLock::new(),
            vocab,
            pool,
            baseline_len: baseline.len(),
            shape: OnceLock::from(shape),
            shape_gap,
            spacing: OnceLock::new(),
            news_shares: OnceLock::new(),
        })
    }

    /// The baseline's runs of metric values (see [`crate::shape`]).
    pub fn shape(&self) -> &ShapeModel {
        self.shape
            .get_or_init(|| shape_of(self.baseline(), self.shape_gap))
    }

    pub fn prepared(&self) -> Result<&Prepared> {
        if let Some(p) = self.prepared.get() {
            return Ok(p);
        }
        let p = Prepared::new(self.kind, self.dict.as_bytes())?;
        Ok(self.prepared.get_or_init(|| p))
    }

    /// Hex SHA-256 of the baseline's encoded events, computed when first asked.
    pub fn digest(&self) -> &str {
        self.digest.get_or_init(|| {
            let mut hasher = Sha256::new();
            for s in self.baseline() {
                hasher.update(s.encoded.as_bytes());
                hasher.update(b"\n");
            }
            hex::encode(hasher.finalize())
        })
    }

    /// What the model's indexing relies on, for a model read from a saved
    /// state (which may be damaged): its baseline is a prefix of its pool.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.baseline_len > self.pool.len() {
            return Err(format!(
                "model baseline of {} events in a pool of {}",
                self.baseline_len,
                self.pool.len()
            ));
        }
        Ok(())
    }

    pub fn baseline(&self) -> &[Arc<Stored>] {
        &self.pool[..self.baseline_len]
    }

    /// `C(x)` of pool event `i`, cached with the event.
    pub fn pool_len(&self, i: usize) -> Result<usize> {
        let ev = &self.pool[i];
        ev.clen
            .get_or(|| compressed_len(self.kind, ev.encoded.as_bytes()))
    }

    /// Conformal p-value of `rank` against the calibration ranks, with ties
    /// broken by `u` in (0, 1] so that p is uniform under exchangeability and
    /// never 0.
    pub fn p_value(&self, rank: f32, u: f64) -> f64 {
        conformal_p(&self.calib_rank, rank, u)
    }

    /// The conservative conformal p-value of `rank`: ties count against the
    /// event (`u` = 1). An event whose evidence ties with baseline events can
    /// have a small randomised p-value by the draw of its tie-breaker alone;
    /// this bound is small only when the event outranks the baseline.
    pub fn p_upper(&self, rank: f32) -> f64 {
        tied_p(&self.calib_rank, rank, 1.0)
    }

    /// [`code_level`] of a new event's code length against this dictionary.
    pub fn code_level(&self, score: f32, u: f64, metric: bool) -> f32 {
        code_level(&self.calib, score, u, metric)
    }

    /// Whether `n` is news at level `alpha`: never-seen tokens, members or
    /// numbers in text of a kind that fewer than `alpha` of the baseline's
    /// events brought on arrival. Where clean lines bring a kind that often
    /// (usernames, dynamic keys), it is what the stream does, no evidence at
    /// that level; the shares come from the baseline alone.
    pub fn is_news(&self, n: Novelty, alpha: f64) -> bool {
        let shares = self.news_shares.get_or_init(|| {
            let baseline = self.baseline();
            let share = |f: fn(&Novelty) -> bool| {
                baseline.iter().filter(|s| f(&s.novelty)).count() as f64
                    / baseline.len().max(1) as f64
            };
            [
                share(|n| n.tokens > 0),
                share(|n| n.members > 0),
                share(|n| n.values > 0),
            ]
        });
        [n.tokens, n.members, n.values]
            .iter()
            .zip(shares)
            .any(|(&count, &share)| count > 0 && share < alpha)
    }

    /// The median calibration score: a "typical" baseline event.
    pub fn typical_score(&self) -> f32 {
        self.calib.get(self.calib.len() / 2).copied().unwrap_or(0.0)
    }
}

fn shape_of(baseline: &[Arc<Stored>], gap: u64) -> ShapeModel {
    ShapeModel::build(
        baseline.iter().map(|s| RunsOf {
            context: s.context,
            keyset: s.keyset,
            runs: &s.runs,
        }),
        gap,
    )
}

/// Encodes and scores one event body against a prepared dictionary.
pub(crate) fn score_event(
    prepared: &Prepared,
    profile: &NumericProfile,
    body: &serde_json::Value,
    mask: bool,
) -> Result<(Encoded, f32)> {
    let enc = encode::encode(body, profile, mask);
    let bits = prepared.conditional_len(enc.bytes.as_bytes())? as f32 * 8.0;
    let score = bits / enc.bytes.len().max(1) as f32;
    Ok((enc, score))
}

pub(crate) fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        out.push_str(p);
        out.push('\n');
    }
    out
}
