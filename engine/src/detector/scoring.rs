//! Scoring a chunk of events against the frozen model, in parallel: encode,
//! code length, rank and conformal p-value of each event, and the nearest
//! known events of those whose p-value passes.

use std::sync::Arc;

use rayon::prelude::*;

use super::{Raw, StreamDetector, body_text};
use crate::compress::compressed_len;
use crate::encode::context::{Leaves, Runs, series_key};
use crate::encode::{Bar, encode_at};
use crate::error::Result;
use crate::model::{rank, score_event};
use crate::novelty::Facts;
use crate::pairwise::ncd_with_lens;
use crate::shape;
use crate::stored::{Stored, StringsCache};
use crate::{Event, EventKind, Neighbour};

/// Baseline events compressed against a candidate to find its nearest neighbour,
/// chosen by sketch distance.
const NEIGHBOUR_CANDIDATES: usize = 4;
/// A numeric excursion (a value more than half a baseline spread outside the
/// baseline's 1st–99th percentile range) makes an event different enough to
/// matter whatever its NCD: one number changes a long event's NCD by little.
const FAR_EXCURSION: u32 = 1;
const NEIGHBOURS_REPORTED: usize = 3;
/// Baseline events whose own nearest NCD gives the baseline's spacing.
const SPACING_SAMPLE: usize = 16;
/// A flag whose only news is its code length needs an NCD to its nearest
/// known events this many times the baseline's spacing (see
/// [`StreamDetector::spacing`]): at p ≤ α its code length is in the
/// baseline's top α by construction, so on free text, where every line is
/// as far from the rest, the NCD threshold alone let α of clean lines
/// through. 1.5 and 2.5 differ from 2 by a few flags in 40,000 lines of free
/// text or Zipf-distributed templates, and by none on HDFS.
const SPACING_FACTOR: f64 = 2.0;

/// One event scored in a chunk, before the sequential pass.
pub(super) struct Scored {
    /// The event as `recent` keeps it, copied in the parallel stage.
    pub raw: Option<Raw>,
    pub stored: Arc<Stored>,
    pub p: f64,
    /// The conservative p-value: ties, with baseline events and within the
    /// code-length part, count against the event.
    pub p_upper: f64,
    /// (ncd, neighbours) for events whose p-value passed.
    pub nearest: Option<(f64, Vec<Neighbour>)>,
    /// Never-seen tokens or members, or a far numeric excursion.
    pub structural: bool,
    /// Farther from its nearest known events than baseline events are from
    /// theirs (see [`StreamDetector::spacing`]); measured only for a
    /// candidate whose code length is its only news.
    pub apart: bool,
    /// Its only news is numbers past the soft bar and none past the firm
    /// one, and without their tokens it is within the NCD threshold of its
    /// nearest known events (see [`super::short_excursions`]).
    pub short: bool,
    /// A metric event's series and how many of `stored.leaves` are its own
    /// fields (the derived ones follow), when records are kept.
    pub series: Option<(u64, usize)>,
}

impl StreamDetector {
    /// Encodes, scores and p-values every event of the chunk in parallel against
    /// the frozen model, and finds nearest baseline events for the candidates.
    pub(super) fn score_chunk(
        &self,
        chunk: &[Event],
        bodies: &[Option<String>],
        derived: Vec<(Leaves, Runs)>,
    ) -> Result<Vec<Scored>> {
        let model = self.model();
        let prepared = model.prepared()?;
        let alpha = self.config.p_value_threshold;
        let first = self.seen;
        chunk
            .par_iter()
            .zip(derived)
            .enumerate()
            .map(|(j, (event, (derived, runs)))| {
                let index = first + j as u64;
                let runs = runs.shared();
                let (enc, score) = score_event(
                    prepared,
                    &model.profile,
                    &event.body,
                    self.mask_for(event.kind),
                )?;
                let series = self
                    .keeps_records(event.kind)
                    .then(|| (series_key(enc.keyset, &event.body), enc.leaves.len()));
                let mut enc = enc.with_derived(&derived, &model.profile);
                let shape = shape::excursion(model.shape(), enc.context, enc.keyset, &runs);
                enc.excursion = enc.excursion.max(shape);
                let facts = Facts::of(&enc.bytes);
                let novelty = model.vocab.novelty(&self.memory.vocab, &facts);
                let mut short = enc.excursion >= 1 && !enc.firm && shape == 0 && !novelty.any();
                let metric = event.kind == EventKind::Metric;
                let level = |u| {
                    let code = model.code_level(score, u, metric);
                    rank(code, enc.excursion, enc.reach, novelty)
                };
                let rank = level(level_tie_breaker(self.config.seed, index));
                let rank_upper = level(1.0);
                let p = model.p_value(rank, unit_interval(self.config.seed, index));
                let stored = Arc::new(Stored {
                    index,
                    timestamp: event.timestamp.clone(),
                    encoded: enc.bytes,
                    leaves: enc.leaves,
                    context: enc.context,
                    keyset: enc.keyset,
                    score,
                    rank,
                    excursion: enc.excursion,
                    novelty,
                    facts,
                    runs: runs.clone(),
                    metric,
                    learned: false,
                    clen: Default::default(),
                    strings: StringsCache::from(enc.strings),
                });
                // The randomised p-value is the calibrated one; the flag also
                // needs the conservative one, so that an event tied with
                // baseline events is not flagged by its tie-breaker's draw.
                let p_upper = model.p_upper(rank_upper);
                let nearest = if p <= alpha && p_upper <= alpha {
                    Some(self.nearest(&stored)?)
                } else {
                    None
                };
                if short && let Some((ncd, _)) = &nearest {
                    // A short event's excursion tokens are most of what sets
                    // it apart: its NCD is judged without them.
                    short = *ncd < self.config.ncd_threshold
                        || self.ncd_at_firm_bar(event, &stored)? < self.config.ncd_threshold;
                }
                let news = model.is_news(novelty, alpha);
                let structural = news || stored.excursion >= FAR_EXCURSION;
                let apart = match &nearest {
                    Some((ncd, _))
                        if !structural
                            && stored.excursion == 0
                            && *ncd >= self.config.ncd_threshold =>
                    {
                        *ncd > SPACING_FACTOR * self.spacing()?
                    }
                    _ => false,
                };
                Ok(Scored {
                    raw: Some(Raw {
                        index,
                        timestamp: event.timestamp.clone(),
                        body: match bodies.get(j) {
                            Some(Some(text)) => text.clone(),
                            _ => body_text::of(&event.body),
                        },
                        mask: self.mask_for(event.kind),
                        metric,
                        derived,
                        runs,
                    }),
                    stored,
                    p,
                    p_upper,
                    nearest,
                    structural,
                    apart,
                    short,
                    series,
                })
            })
            .collect()
    }

    /// The baseline (or memory) events nearest to `ev` by NCD (spec formula,
    /// event vs event). Only the few most similar by shared tokens and members
    /// are compressed.
    pub(super) fn nearest(&self, ev: &Stored) -> Result<(f64, Vec<Neighbour>)> {
        self.nearest_but(ev, None)
    }

    /// How far baseline events are from their own nearest known events: the
    /// median NCD of [`SPACING_SAMPLE`] of them spread over the baseline, each
    /// against the pool without itself (the model's, so answers do not depend
    /// on when it is first asked). Templated lines have near twins (HDFS
    /// sessions: 0.09); free text has none (0.35).
    pub(super) fn spacing(&self) -> Result<f64> {
        let model = self.model();
        if let Some(&s) = model.spacing.get() {
            return Ok(s);
        }
        let baseline = model.baseline();
        let k = SPACING_SAMPLE.min(baseline.len());
        let mut ncds = (0..k)
            .map(|j| {
                let b = &baseline[j * baseline.len() / k];
                Ok(self.nearest_but(b, Some(b.index))?.0)
            })
            .collect::<Result<Vec<f64>>>()?;
        ncds.sort_by(|a, b| a.total_cmp(b));
        let median = ncds.get(k / 2).copied().unwrap_or(0.0);
        Ok(*model.spacing.get_or_init(|| median))
    }

    /// [`nearest`](Self::nearest) among the pool without the event at
    /// position `skip`.
    fn nearest_but(&self, ev: &Stored, skip: Option<u64>) -> Result<(f64, Vec<Neighbour>)> {
        let model = self.model();
        let kept = |b: &Stored| Some(b.index) != skip;
        // Events of the same template are the natural neighbours; only when
        // there are none is every pool event ranked by shared tokens.
        let mut by_overlap: Vec<(u32, u64, usize)> = model
            .pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.context == ev.context && kept(b))
            .map(|(i, b)| {
                (
                    u32::MAX - b.index.min(u32::MAX as u64 - 1) as u32,
                    b.index,
                    i,
                )
            })
            .collect();
        if by_overlap.is_empty() {
            by_overlap = model
                .pool
                .iter()
                .enumerate()
                .filter(|(_, b)| kept(b))
                .map(|(i, b)| (u32::MAX - ev.facts.overlap(&b.facts), b.index, i))
                .collect();
        }
        let k = NEIGHBOUR_CANDIDATES.min(by_overlap.len());
        if k == 0 {
            return Ok((1.0, Vec::new()));
        }
        by_overlap.select_nth_unstable(k - 1);
        let kind = self.config.compressor;
        let x = ev.encoded.as_bytes();
        let cx = ev.clen.get_or(|| compressed_len(kind, x))?;
        let mut found = by_overlap[..k]
            .iter()
            .map(|&(_, index, i)| {
                let b = &model.pool[i];
                Ok(Neighbour {
                    index,
                    ncd: ncd_with_lens(kind, x, cx, b.encoded.as_bytes(), model.pool_len(i)?)?,
                    encoded: b.encoded.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        found.sort_by(|a, b| a.ncd.total_cmp(&b.ncd).then(a.index.cmp(&b.index)));
        found.truncate(NEIGHBOURS_REPORTED);
        Ok((found[0].ncd, found))
    }

    /// The NCD to its nearest known events of `stored`, the encoding of
    /// `event`, with its numbers judged at the firm bar (see
    /// [`super::short_excursions`]).
    fn ncd_at_firm_bar(&self, event: &Event, stored: &Stored) -> Result<f64> {
        let enc = encode_at(
            &event.body,
            &self.model().profile,
            self.mask_for(event.kind),
            Bar::Firm,
        );
        let firm = Stored {
            encoded: enc.bytes,
            clen: Default::default(),
            strings: Default::default(),
            ..stored.clone()
        };
        Ok(self.nearest(&firm)?.0)
    }

    pub(super) fn is_flagged(&self, s: &Scored) -> bool {
        let evidence = s.stored.excursion > 0 || s.apart;
        s.nearest
            .as_ref()
            .is_some_and(|(d, _)| s.structural || (*d >= self.config.ncd_threshold && evidence))
    }
}

/// The tie-breaker of an event's code-length part (see
/// [`crate::model::code_level`]), drawn apart from the p-value's own.
pub(super) fn level_tie_breaker(seed: u64, index: u64) -> f64 {
    unit_interval(seed ^ 0x6c65_7665_6c00_0000, index)
}

/// A number in (0, 1] derived from (seed, index): the conformal tie-breaker.
fn unit_interval(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}
