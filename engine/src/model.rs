//! The scoring model prepared from one baseline snapshot: numeric profile,
//! compressor dictionary, sorted calibration scores and the vocabulary used by
//! explanations. Rebuilt on the refresh grid, never per event.

use std::sync::OnceLock;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compress::{CompressorKind, Prepared};
use crate::encode::{self, Encoded, NumericProfile};
use crate::error::Result;

/// A baseline (or window) event as the detector keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub index: u64,
    pub timestamp: Option<String>,
    pub encoded: String,
    pub leaves: Vec<(String, f64)>,
    /// Template context of the event (see [`crate::encode::Encoded::context`]).
    pub context: u64,
    /// Nonconformity: bits per byte of the event not explained by the baseline.
    pub score: f32,
    pub sketch: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Model {
    pub profile: NumericProfile,
    /// Dictionary bytes, kept so a restored detector rebuilds the same `Prepared`.
    dict: String,
    #[serde(skip)]
    prepared: OnceLock<Prepared>,
    kind: CompressorKind,
    /// Baseline scores, ascending.
    pub calib: Vec<f32>,
    pub digest: String,
    /// Hashes of every object key in the baseline (cheap to build per refresh).
    pub key_hashes: HashSet<u64>,
    /// The baseline as of this model, for nearest-neighbour evidence: frozen with
    /// the model so that results never depend on how events were batched.
    pub snapshot: Vec<Stored>,
}

impl Clone for Model {
    fn clone(&self) -> Self {
        Model {
            profile: self.profile.clone(),
            dict: self.dict.clone(),
            prepared: self.prepared.clone(),
            kind: self.kind,
            calib: self.calib.clone(),
            digest: self.digest.clone(),
            key_hashes: self.key_hashes.clone(),
            snapshot: self.snapshot.clone(),
        }
    }
}

/// Share of the baseline (newest first) that goes into the dictionary. It matches
/// the cross-fitting folds (4 of 5) so that calibration scores and new scores are
/// measured against dictionaries of the same size.
pub(crate) const FOLDS: usize = 5;

impl Model {
    /// Builds the model from `baseline` (oldest first), whose scores are already
    /// out-of-sample.
    pub fn build(kind: CompressorKind, baseline: &[Stored]) -> Result<Self> {
        let profile = NumericProfile::build(
            baseline
                .iter()
                .flat_map(|s| s.leaves.iter().map(|(p, v)| (s.context, p.as_str(), *v))),
        );
        let keep = baseline.len() * (FOLDS - 1) / FOLDS;
        let dict = join(
            baseline[baseline.len() - keep..]
                .iter()
                .map(|s| s.encoded.as_str()),
        );
        let mut calib: Vec<f32> = baseline.iter().map(|s| s.score).collect();
        calib.sort_by(|a, b| a.total_cmp(b));
        let mut hasher = Sha256::new();
        let mut key_hashes = HashSet::new();
        for s in baseline {
            hasher.update(s.encoded.as_bytes());
            hasher.update(b"\n");
            key_hashes.extend(key_names_of(&s.encoded).map(key_hash));
        }
        let model = Model {
            profile,
            dict,
            prepared: OnceLock::new(),
            kind: kind.effective(),
            calib,
            digest: hex::encode(hasher.finalize()),
            key_hashes,
            snapshot: baseline.to_vec(),
        };
        model.prepared()?;
        Ok(model)
    }

    pub fn prepared(&self) -> Result<&Prepared> {
        if let Some(p) = self.prepared.get() {
            return Ok(p);
        }
        let p = Prepared::new(self.kind, self.dict.as_bytes())?;
        Ok(self.prepared.get_or_init(|| p))
    }

    /// Conformal p-value of `score` against the calibration scores, with ties
    /// broken by `u` in (0, 1] so that p is uniform under exchangeability and
    /// never 0.
    pub fn p_value(&self, score: f32, u: f64) -> f64 {
        let n = self.calib.len();
        let below = self.calib.partition_point(|&c| c < score);
        let not_above = self.calib.partition_point(|&c| c <= score);
        let greater = n - not_above;
        let equal = not_above - below;
        (greater as f64 + u * (1 + equal) as f64) / (n + 1) as f64
    }

    /// Whether `ev` is different enough to matter besides its NCD: an object key
    /// the baseline never had, or a numeric field far outside the baseline's range.
    pub fn has_structural_novelty(&self, ev: &Stored) -> bool {
        key_names_of(&ev.encoded).any(|k| !self.key_hashes.contains(&key_hash(k)))
            || ev
                .leaves
                .iter()
                .any(|(p, v)| self.profile.is_far(ev.context, p, *v))
    }

    /// The median calibration score: a "typical" baseline event.
    pub fn typical_score(&self) -> f32 {
        self.calib.get(self.calib.len() / 2).copied().unwrap_or(0.0)
    }
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

/// FNV-1a: a stable 64-bit hash for key names.
pub(crate) fn key_hash(k: &str) -> u64 {
    k.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Object keys in an encoded event (`"name":`).
pub(crate) fn key_names_of(encoded: &str) -> impl Iterator<Item = &str> {
    encoded
        .split("\":")
        .filter_map(|chunk| chunk.rsplit_once('"').map(|(_, k)| k))
}

/// Word-like tokens of an encoded event.
pub(crate) fn tokens_of(encoded: &str) -> impl Iterator<Item = &str> {
    encoded
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|t| t.len() >= 3 && !t.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_and_tokens_are_extracted() {
        let e = r#"{"level":"ERROR","msg":"disk full on <ip>","n":#3}"#;
        let keys: Vec<&str> = key_names_of(e).collect();
        assert_eq!(keys, ["level", "msg", "n"]);
        let toks: Vec<&str> = tokens_of(e).collect();
        assert!(toks.contains(&"disk") && toks.contains(&"ERROR"));
    }
}
