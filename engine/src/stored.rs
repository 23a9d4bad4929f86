//! An event as the detector keeps it in a baseline, a window or memory: its
//! encoded form, numeric leaves, contexts, out-of-sample score and rank, and the
//! structural facts novelty is judged on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::encode::context::Runs;
use crate::error::Result;
use crate::novelty::{Facts, Novelty};

/// A baseline (or window) event as the detector keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub index: u64,
    pub timestamp: Option<String>,
    pub encoded: String,
    pub leaves: Vec<(String, f64)>,
    /// Template context of the event (see [`crate::encode::Encoded::context`]).
    pub context: u64,
    /// Key-set context (see [`crate::encode::Encoded::keyset`]).
    #[serde(default)]
    pub keyset: u64,
    /// Bits per byte of the event not explained by the baseline.
    pub score: f32,
    /// The event's nonconformity: `score` with structural evidence ranked
    /// above it (see [`crate::model::rank`]).
    pub rank: f32,
    /// Largest numeric excursion level (0 when every number is in range).
    pub excursion: u32,
    pub novelty: Novelty,
    pub facts: Facts,
    /// The newest values of each numeric field's series, for metric events
    /// with a context (see [`crate::shape`]); shared with the event's `Raw`.
    #[serde(default, skip_serializing_if = "Runs::is_empty")]
    pub runs: Arc<Runs>,
    /// A metric event: its numbers are a series' level, normal when the
    /// rolling baseline says so, whatever the series once took.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metric: bool,
    /// Flagged, then admitted when its template became normal: its numbers
    /// never widen what the memory keeps as the template's normal range (a
    /// spike among a new template's first lines would stay normal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
    /// `C(encoded)`, once something asked for it.
    #[serde(skip)]
    pub clen: LenCache,
    /// Its string values (see [`crate::encode::Identifiers`]), as the
    /// encoder wrote them; read back from `encoded` once for an event
    /// restored from a saved state.
    #[serde(skip)]
    pub strings: StringsCache,
}

impl Stored {
    /// `(path, value)` hashes of the event's string values.
    pub fn strings(&self) -> &[(u64, u64)] {
        self.strings
            .0
            .get_or_init(|| crate::encode::Identifiers::leaves_of(&self.encoded))
    }
}

#[cfg(test)]
impl Stored {
    /// An event of template `context` (key set 7) with these numbers and
    /// nothing else, for unit tests.
    pub(crate) fn bare(index: u64, context: u64, leaves: &[(&str, f64)]) -> Stored {
        Stored {
            index,
            timestamp: None,
            encoded: String::new(),
            leaves: leaves.iter().map(|(p, v)| (p.to_string(), *v)).collect(),
            context,
            keyset: 7,
            score: 0.0,
            rank: 0.0,
            excursion: 0,
            novelty: Default::default(),
            facts: Default::default(),
            runs: Default::default(),
            metric: false,
            learned: false,
            clen: Default::default(),
            strings: Default::default(),
        }
    }
}

/// A compressed length computed when first needed and kept with its event, so
/// that a nearest-neighbour candidate is compressed alone once, not once per
/// model (every 100 events) that offers it. A cache, not part of the event:
/// it is not persisted and never makes two events unequal.
#[derive(Default)]
pub(crate) struct LenCache(AtomicU32);

impl LenCache {
    /// The cached length, or `f()`'s (0 means not computed yet).
    pub fn get_or(&self, f: impl FnOnce() -> Result<usize>) -> Result<usize> {
        let cached = self.0.load(Ordering::Relaxed);
        if cached > 0 {
            return Ok(cached as usize);
        }
        let n = f()?;
        self.0.store(n as u32, Ordering::Relaxed);
        Ok(n)
    }
}

impl Clone for LenCache {
    fn clone(&self) -> Self {
        LenCache(AtomicU32::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PartialEq for LenCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LenCache")
    }
}

/// [`Stored::strings`], computed when first needed; like [`LenCache`], not
/// persisted and never making two events unequal.
#[derive(Default, Clone)]
pub(crate) struct StringsCache(std::sync::OnceLock<Vec<(u64, u64)>>);

impl From<Vec<(u64, u64)>> for StringsCache {
    fn from(strings: Vec<(u64, u64)>) -> Self {
        StringsCache(std::sync::OnceLock::from(strings))
    }
}

impl PartialEq for StringsCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for StringsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StringsCache")
    }
}
