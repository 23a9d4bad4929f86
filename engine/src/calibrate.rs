//! Cross-fitting: out-of-sample scores for a fresh baseline.
//!
//! A baseline event scored against a dictionary that contains itself looks
//! perfectly normal, so its score could never be compared with a new event's.
//! The baseline is split into [`FOLDS`] interleaved folds; each fold is encoded
//! with a numeric profile of the other folds and scored against a dictionary of
//! the other folds — the same size of dictionary that new events meet later.

use rayon::prelude::*;

use crate::compress::{CompressorKind, Prepared};
use crate::detector::Raw;
use crate::encode::{NumericProfile, encode, numeric_leaves};
use crate::error::Result;
use crate::model::{FOLDS, Stored, join, score_event};
use crate::pairwise::sketch;

/// Scores every event of `raws` out-of-sample and returns them as baseline
/// events, encoded with the profile of the whole set.
pub(crate) fn cross_fit(kind: CompressorKind, raws: &[Raw]) -> Result<Vec<Stored>> {
    let leaves: Vec<(u64, Vec<(String, f64)>)> = raws
        .par_iter()
        .map(|r| numeric_leaves(&r.body, r.mask))
        .collect();
    let fold_of = |i: usize| i % FOLDS;
    let scores: Vec<Vec<(usize, f32)>> = (0..FOLDS)
        .into_par_iter()
        .map(|k| {
            let others = || (0..raws.len()).filter(move |&i| fold_of(i) != k);
            let profile = NumericProfile::build(others().flat_map(|i| {
                let (ctx, ls) = &leaves[i];
                ls.iter().map(move |(p, v)| (*ctx, p.as_str(), *v))
            }));
            let encoded: Vec<String> = others()
                .map(|i| encode(&raws[i].body, &profile, raws[i].mask).bytes)
                .collect();
            let prepared =
                Prepared::new(kind, join(encoded.iter().map(String::as_str)).as_bytes())?;
            (0..raws.len())
                .filter(|&i| fold_of(i) == k)
                .map(|i| {
                    Ok((
                        i,
                        score_event(&prepared, &profile, &raws[i].body, raws[i].mask)?.1,
                    ))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let mut score = vec![0f32; raws.len()];
    for (i, s) in scores.into_iter().flatten() {
        score[i] = s;
    }
    let full = NumericProfile::build(
        leaves
            .iter()
            .flat_map(|(ctx, ls)| ls.iter().map(move |(p, v)| (*ctx, p.as_str(), *v))),
    );
    Ok(raws
        .par_iter()
        .zip(leaves)
        .zip(score)
        .map(|((r, (context, leaves)), score)| {
            let encoded = encode(&r.body, &full, r.mask).bytes;
            Stored {
                index: r.index,
                timestamp: r.timestamp.clone(),
                sketch: sketch(encoded.as_bytes()),
                encoded,
                leaves,
                context,
                score,
            }
        })
        .collect())
}
