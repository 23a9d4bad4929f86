//! Where anomalies go in one stream: after the warm-up, at least `min_gap` normal
//! events apart, at random offsets, kinds cycled in shuffled rounds so every
//! requested kind is equally represented.

use super::anomaly::{AnomalyKind, FORMAT_VARIANTS, NOVEL_FIELD_VARIANTS};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// One planned anomaly and the parameters drawn for it up front, so that its
/// events agree (one shift factor for the whole segment, one pair of burst errors).
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    pub start: u64,
    pub len: u64,
    pub kind: AnomalyKind,
    /// Spike multiple of the median, or level-shift factor.
    pub factor: f64,
    /// Which novel message / novel field / format variant.
    pub variant: u32,
    /// The (at most two) unseen error messages a burst repeats.
    pub errors: [u32; 2],
}

pub(crate) struct PlanSpec<'a> {
    pub events: u64,
    pub warmup: u64,
    pub min_gap: u64,
    pub kinds: &'a [AnomalyKind],
    pub count: u64,
    /// When false, a count that does not fit is an error; when true it is reduced.
    pub clamp: bool,
}

pub(crate) fn plan(spec: &PlanSpec, rng: &mut Rng) -> Result<Vec<Placement>> {
    if spec.kinds.is_empty() || spec.count == 0 {
        return Ok(Vec::new());
    }
    let mut kinds = Vec::with_capacity(spec.count as usize);
    let mut round: Vec<AnomalyKind> = spec.kinds.to_vec();
    while (kinds.len() as u64) < spec.count {
        rng.shuffle(&mut round);
        kinds.extend(round.iter().copied());
    }
    kinds.truncate(spec.count as usize);
    let lens: Vec<u64> = kinds
        .iter()
        .map(|k| {
            let (lo, hi) = k.span();
            rng.int(lo as u64, hi as u64)
        })
        .collect();

    let needed = |k: usize| -> u64 {
        spec.warmup + lens[..k].iter().sum::<u64>() + (k as u64).saturating_sub(1) * spec.min_gap
    };
    let mut k = kinds.len();
    while k > 0 && needed(k) > spec.events {
        if !spec.clamp {
            return Err(Error::Config(format!(
                "{} anomalies need at least {} events per stream (warmup {} + gaps of {}), got {}",
                spec.count,
                needed(k),
                spec.warmup,
                spec.min_gap,
                spec.events
            )));
        }
        k -= 1;
    }
    kinds.truncate(k);
    if k == 0 {
        return Ok(Vec::new());
    }

    // Spread the slack: k sorted uniform offsets keep every gap >= min_gap.
    let slack = spec.events - needed(k);
    let mut offsets: Vec<u64> = (0..k).map(|_| rng.int(0, slack)).collect();
    offsets.sort_unstable();

    let mut out = Vec::with_capacity(k);
    let mut base = spec.warmup;
    for (i, kind) in kinds.into_iter().enumerate() {
        let factor = match kind {
            AnomalyKind::NumericSpike => rng.uniform(10.0, 50.0),
            AnomalyKind::LevelShift => rng.uniform(12.0, 20.0),
            _ => 1.0,
        };
        let variant = match kind {
            AnomalyKind::NovelField => rng.below(NOVEL_FIELD_VARIANTS as u64) as u32,
            AnomalyKind::FormatChange => rng.below(FORMAT_VARIANTS as u64) as u32,
            _ => rng.next_u64() as u32,
        };
        let errors = [rng.next_u64() as u32, rng.next_u64() as u32];
        out.push(Placement {
            start: base + offsets[i],
            len: lens[i],
            kind,
            factor,
            variant,
            errors,
        });
        base += lens[i] + spec.min_gap;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(events: u64, count: u64, clamp: bool) -> PlanSpec<'static> {
        PlanSpec {
            events,
            warmup: 600,
            min_gap: 150,
            kinds: &AnomalyKind::ALL,
            count,
            clamp,
        }
    }

    #[test]
    fn respects_warmup_gap_and_end() {
        for seed in 0..50 {
            let p = plan(&spec(20_000, 60, false), &mut Rng::new(seed)).unwrap();
            assert_eq!(p.len(), 60);
            assert!(p[0].start >= 600);
            for w in p.windows(2) {
                assert!(w[1].start >= w[0].start + w[0].len + 150);
            }
            let last = p.last().unwrap();
            assert!(last.start + last.len <= 20_000);
            for kind in AnomalyKind::ALL {
                assert_eq!(p.iter().filter(|x| x.kind == kind).count(), 10);
            }
        }
    }

    #[test]
    fn too_many_is_an_error_unless_clamped() {
        assert!(plan(&spec(2_000, 50, false), &mut Rng::new(1)).is_err());
        let p = plan(&spec(2_000, 50, true), &mut Rng::new(1)).unwrap();
        assert!(!p.is_empty() && p.len() < 50);
    }
}
