//! The saved form of a [`StreamDetector`]: its fields as they are, except the
//! baseline, which is written as a part of the model's pool when it shares it.
//!
//! The model's nearest-neighbour pool starts with the baseline as of the
//! model's build, and between builds the baseline only loses events at its
//! front and gains them at its back. Written out in full, both copies made up
//! about 40% of a saved detector (the API saves one after every batch). Now
//! `baseline_pool_from` says where the baseline starts in that part, and
//! `baseline` lists only the events added since. States written before (no
//! `baseline_pool_from`) are read as they were.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::records::Records;
use super::recurrence::PastAnomalies;
use super::{Raw, StreamDetector, WindowEntry};
use crate::DetectorConfig;
use crate::encode::context::Rolling;
use crate::model::{Model, Stored};
use crate::novelty::Memory;

/// `(from, shared)` when `baseline` is `pool[from..]` (`shared` events)
/// followed by others. Events are compared by identity, or by value for a
/// state read in the older form, whose copies are separate.
fn shared_part(baseline: &VecDeque<Arc<Stored>>, pool: &[Arc<Stored>]) -> Option<(usize, usize)> {
    let first = baseline.front()?;
    let from = pool.iter().position(|p| p.index == first.index)?;
    let shared = pool.len() - from;
    let same = shared <= baseline.len()
        && baseline
            .iter()
            .zip(&pool[from..])
            .all(|(a, b)| Arc::ptr_eq(a, b) || a == b);
    same.then_some((from, shared))
}

impl Serialize for StreamDetector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pool = self.model.as_ref().map(Model::baseline).unwrap_or(&[]);
        let (pool_from, shared) = match shared_part(&self.baseline, pool) {
            Some((from, shared)) => (Some(from), shared),
            None => (None, 0),
        };
        let mut st = s.serialize_struct("StreamDetector", 15)?;
        st.serialize_field("stream_id", &self.stream_id)?;
        st.serialize_field("config", &self.config)?;
        st.serialize_field("seen", &self.seen)?;
        st.serialize_field("recent", &self.recent)?;
        st.serialize_field("baseline_pool_from", &pool_from)?;
        st.serialize_field("baseline", &Tail(&self.baseline, shared))?;
        st.serialize_field("window", &self.window)?;
        st.serialize_field("memory", &self.memory)?;
        st.serialize_field("rolling", &self.rolling)?;
        st.serialize_field("model", &self.model)?;
        st.serialize_field("since_origin", &self.since_origin)?;
        st.serialize_field("last_window_p", &self.last_window_p)?;
        st.serialize_field("windows_tested", &self.windows_tested)?;
        st.serialize_field("past", &self.past)?;
        st.serialize_field("records", &self.records)?;
        st.end()
    }
}

/// The events of a baseline after its first `.1`.
struct Tail<'a>(&'a VecDeque<Arc<Stored>>, usize);

impl Serialize for Tail<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().skip(self.1))
    }
}

/// A saved detector as read; see [`StreamDetector`] for the fields.
#[derive(Deserialize)]
struct Saved {
    stream_id: String,
    config: DetectorConfig,
    seen: u64,
    recent: VecDeque<Raw>,
    /// Where the baseline starts in the model's, when it shares it; `baseline`
    /// then holds only the events after that part.
    #[serde(default)]
    baseline_pool_from: Option<usize>,
    baseline: Vec<Arc<Stored>>,
    window: VecDeque<WindowEntry>,
    #[serde(default)]
    memory: Memory,
    #[serde(default)]
    rolling: Rolling,
    model: Option<Model>,
    since_origin: u64,
    last_window_p: Option<f64>,
    windows_tested: u64,
    #[serde(default)]
    past: PastAnomalies,
    #[serde(default)]
    records: Records,
}

impl<'de> Deserialize<'de> for StreamDetector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(d)?;
        let baseline: VecDeque<Arc<Stored>> = match saved.baseline_pool_from {
            None => saved.baseline.into(),
            Some(from) => {
                let pool = saved.model.as_ref().map(Model::baseline).unwrap_or(&[]);
                let shared = pool.get(from..).ok_or_else(|| {
                    D::Error::custom(format!(
                        "baseline_pool_from {from} is past the model's baseline of {}",
                        pool.len()
                    ))
                })?;
                shared.iter().cloned().chain(saved.baseline).collect()
            }
        };
        Ok(StreamDetector {
            stream_id: saved.stream_id,
            config: saved.config,
            seen: saved.seen,
            recent: saved.recent,
            baseline,
            window: saved.window,
            memory: saved.memory,
            rolling: saved.rolling,
            model: saved.model,
            since_origin: saved.since_origin,
            last_window_p: saved.last_window_p,
            windows_tested: saved.windows_tested,
            past: saved.past,
            records: saved.records,
            diagnostics: None,
        })
    }
}
