//! Cross-fitting: out-of-sample scores for a fresh baseline.
//!
//! A baseline event scored against a dictionary that contains itself looks
//! perfectly normal, so its score could never be compared with a new event's.
//! The baseline is split into [`FOLDS`] interleaved folds; each fold is encoded
//! with a numeric profile of the other folds and scored against a dictionary of
//! the other folds — the same size of dictionary that new events meet later.

use rayon::prelude::*;
use serde_json::Value;

use super::scoring::level_tie_breaker;
use super::{Raw, body_text};
use crate::compress::{CompressorKind, Prepared};
use crate::encode::numeric::Ctx;
use crate::encode::{Identifiers, NumericProfile, encode};
use crate::error::{EngineError, Result};
use crate::memory::Memory;
use crate::model::{FOLDS, code_level, join, rank, score_event};
use crate::novelty::{Facts, Novelty, Vocabulary};
use crate::shape::{self, RunsOf, ShapeModel};
use crate::stored::Stored;

/// Scores every event of `raws` out-of-sample and returns them as baseline
/// events, encoded with the profile of the whole set. Novelty is judged
/// against the other folds and the stream's `memory`, as a new event's is
/// judged against the baseline and the memory.
pub(crate) fn cross_fit(
    kind: CompressorKind,
    raws: &[Raw],
    memory: &Memory,
    shape_gap: u64,
    seed: u64,
) -> Result<Vec<Stored>> {
    let bodies: Vec<Value> = raws
        .par_iter()
        .map(|r| body_text::parse(&r.body).map_err(|e| EngineError::State(e.to_string())))
        .collect::<Result<_>>()?;
    // Which fields carry identity decides the templates, so it comes first.
    let plain: Vec<Vec<(u64, u64)>> = raws
        .par_iter()
        .zip(&bodies)
        .map(|(r, body)| encode(body, &NumericProfile::default(), r.mask).strings)
        .collect();
    let identifiers = Identifiers::of_leaves(plain.iter().map(Vec::as_slice));
    let named = NumericProfile::default().with_identifiers(identifiers.clone());
    let leaves: Vec<(Ctx, Vec<(String, f64)>)> = raws
        .par_iter()
        .zip(&bodies)
        .map(|(r, body)| {
            let e = encode(body, &named, r.mask);
            let (ctx, mut ls) = ((e.context, e.keyset), e.leaves);
            ls.extend(r.derived.iter().cloned());
            (ctx, ls)
        })
        .collect();
    let logs = raws.iter().any(|r| !r.metric);
    let full = NumericProfile::build(
        leaves
            .iter()
            .flat_map(|(ctx, ls)| ls.iter().map(move |(p, v)| (*ctx, p.as_str(), *v))),
    )
    .with_known(memory.known_values())
    .with_ranges(memory.ranges())
    .with_remembered(memory.template_ranges())
    .with_tails(logs)
    .with_identifiers(identifiers.clone());
    // Tokens and members do not depend on the numeric profile.
    let (encoded, strings): (Vec<String>, Vec<Vec<(u64, u64)>>) = raws
        .par_iter()
        .zip(&bodies)
        .map(|(r, body)| {
            let e = encode(body, &full, r.mask);
            (e.bytes, e.strings)
        })
        .unzip();
    let facts: Vec<Facts> = encoded.par_iter().map(|e| Facts::of(e)).collect();
    // Interleaved folds, so that a drifting baseline is spread evenly; but
    // contiguous ones once events carry a rolling context: a neighbour's
    // context is nearly the event's own, and with interleaved folds it would
    // sit in the other folds and make every baseline event look in range.
    let blocked = raws.iter().any(|r| !r.derived.is_empty());
    let n = raws.len().max(1);
    let fold_of = |i: usize| if blocked { i * FOLDS / n } else { i % FOLDS };
    type Out = (usize, f32, u32, f32, Novelty);
    let scores: Vec<Vec<Out>> = (0..FOLDS)
        .into_par_iter()
        .map(|k| {
            let others = || (0..raws.len()).filter(move |&i| fold_of(i) != k);
            let profile = NumericProfile::build(others().flat_map(|i| {
                let (ctx, ls) = &leaves[i];
                ls.iter().map(move |(p, v)| (*ctx, p.as_str(), *v))
            }))
            .with_known(memory.known_values())
            .with_ranges(memory.ranges())
            .with_remembered(memory.template_ranges())
            .with_tails(logs)
            .with_identifiers(identifiers.clone());
            let vocab = Vocabulary::of(others().map(|i| &facts[i]));
            let shapes = ShapeModel::build(
                others().map(|i| RunsOf {
                    context: leaves[i].0.0,
                    keyset: leaves[i].0.1,
                    runs: &raws[i].runs,
                }),
                shape_gap,
            );
            let fold_encoded: Vec<String> = others()
                .map(|i| encode(&bodies[i], &profile, raws[i].mask).bytes)
                .collect();
            let prepared = Prepared::new(
                kind,
                join(fold_encoded.iter().map(String::as_str)).as_bytes(),
            )?;
            (0..raws.len())
                .filter(|&i| fold_of(i) == k)
                .map(|i| {
                    let (enc, score) = score_event(&prepared, &profile, &bodies[i], raws[i].mask)?;
                    let enc = enc.with_derived(&raws[i].derived, &profile);
                    let excursion = enc.excursion.max(shape::excursion(
                        &shapes,
                        enc.context,
                        enc.keyset,
                        &raws[i].runs,
                    ));
                    let novelty = vocab.novelty(&memory.vocab, &facts[i]);
                    Ok((i, score, excursion, enc.reach, novelty))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let mut out: Vec<Option<(Out, f32)>> = vec![None; raws.len()];
    for fold in scores {
        // Each event's code length is judged among its fold's others, all
        // measured against the one dictionary that leaves them out, as a new
        // event's among the model's held-out events.
        let mut calib: Vec<f32> = fold.iter().map(|o| o.1).collect();
        calib.sort_by(|a, b| a.total_cmp(b));
        for o in fold {
            let mut others = calib.clone();
            let own = others.partition_point(|&x| x < o.1);
            others.remove(own);
            let raw = &raws[o.0];
            let u = level_tie_breaker(seed, raw.index);
            let level = code_level(&others, o.1, u, raw.metric);
            out[o.0] = Some((o, level));
        }
    }
    Ok(raws
        .iter()
        .zip(leaves)
        .zip(encoded)
        .zip(strings)
        .zip(facts)
        .zip(out)
        .map(
            |(((((r, (context, leaves)), encoded), strings), facts), o)| {
                let ((_, score, excursion, reach, novelty), level) =
                    o.expect("every event is in one fold");
                Stored {
                    index: r.index,
                    timestamp: r.timestamp.clone(),
                    encoded,
                    leaves,
                    context: context.0,
                    keyset: context.1,
                    score,
                    rank: rank(level, excursion, reach, novelty),
                    excursion,
                    novelty,
                    facts,
                    runs: r.runs.clone(),
                    metric: r.metric,
                    learned: false,
                    clen: Default::default(),
                    strings: strings.into(),
                }
            },
        )
        .collect())
}
