//! The saved form of a [`StreamDetector`]: its fields as they are, except
//! that what the live detector shares is written once.
//!
//! The model's nearest-neighbour pool starts with the baseline as of the
//! model's build, and between builds the baseline only loses events at its
//! front and gains them at its back. Written out in full, both copies made up
//! about 40% of a saved detector (the API writes one as its snapshots). So
//! `baseline_pool_from` says where the baseline starts in that part, and
//! `baseline` lists only the events added since. Likewise a raw event of
//! `recent` leaves out its metric runs when a kept event of the same position
//! (window, baseline or pool) carries the same ones: they were shared in
//! memory and are shared again on reading. States written before (no
//! `baseline_pool_from`, runs in every raw event) are read as they were.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::pending::Pending;
use super::records::Records;
use super::recurrence::PastAnomalies;
use super::short_excursions::ShortExcursions;
use super::{Raw, StreamDetector, WindowEntry, body_text};
use crate::DetectorConfig;
use crate::encode::context::{Rolling, Runs};
use crate::incident::Incidents;
use crate::memory::Memory;
use crate::model::Model;
use crate::stored::Stored;

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
        let mut st = s.serialize_struct("StreamDetector", 19)?;
        st.serialize_field("stream_id", &self.stream_id)?;
        st.serialize_field("config", &self.config)?;
        st.serialize_field("seen", &self.seen)?;
        let kept = kept_runs(&self.window, &self.baseline, self.model.as_ref());
        st.serialize_field("recent", &Recent(&self.recent, &kept))?;
        st.serialize_field("baseline_pool_from", &pool_from)?;
        st.serialize_field("baseline", &Tail(&self.baseline, shared))?;
        st.serialize_field("held", &self.held)?;
        st.serialize_field("window", &self.window)?;
        st.serialize_field("memory", &self.memory)?;
        st.serialize_field("rolling", &self.rolling)?;
        st.serialize_field("model", &self.model)?;
        st.serialize_field("since_origin", &self.since_origin)?;
        st.serialize_field("last_window_p", &self.last_window_p)?;
        st.serialize_field("windows_tested", &self.windows_tested)?;
        st.serialize_field("past", &self.past)?;
        st.serialize_field("incidents", &self.incidents)?;
        if self.pending.is_empty() {
            st.skip_field("pending")?;
        } else {
            st.serialize_field("pending", &self.pending)?;
        }
        if self.short.is_empty() {
            st.skip_field("short")?;
        } else {
            st.serialize_field("short", &self.short)?;
        }
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

/// The runs of the kept events (window, baseline, the model's pool) by
/// stream position.
fn kept_runs<'a>(
    window: &'a VecDeque<WindowEntry>,
    baseline: &'a VecDeque<Arc<Stored>>,
    model: Option<&'a Model>,
) -> HashMap<u64, &'a Arc<Runs>> {
    let pool = model.map(|m| m.pool.as_slice()).unwrap_or(&[]);
    window
        .iter()
        .map(|e| &e.ev)
        .chain(baseline)
        .chain(pool)
        .filter(|s| !s.runs.is_empty())
        .map(|s| (s.index, &s.runs))
        .collect()
}

/// `recent`, each raw event without its runs when a kept event has them.
struct Recent<'a>(&'a VecDeque<Raw>, &'a HashMap<u64, &'a Arc<Runs>>);

impl Serialize for Recent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|raw| {
            let kept = self.1.get(&raw.index);
            let shared = kept.is_some_and(|k| Arc::ptr_eq(k, &raw.runs) || **k == raw.runs);
            RawOut { raw, shared }
        }))
    }
}

/// A raw event as `Raw`'s own form writes it, less its runs when `shared`.
struct RawOut<'a> {
    raw: &'a Raw,
    shared: bool,
}

impl Serialize for RawOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Body<'a>(&'a str);
        impl Serialize for Body<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                body_text::serialize(self.0, s)
            }
        }
        let r = self.raw;
        let runs = !self.shared && !r.runs.is_empty();
        let mut st = s.serialize_struct("Raw", 5 + usize::from(runs) + usize::from(r.metric))?;
        st.serialize_field("index", &r.index)?;
        st.serialize_field("timestamp", &r.timestamp)?;
        st.serialize_field("body", &Body(&r.body))?;
        st.serialize_field("mask", &r.mask)?;
        if r.metric {
            st.serialize_field("metric", &r.metric)?;
        }
        st.serialize_field("derived", &r.derived)?;
        if runs {
            st.serialize_field("runs", &r.runs)?;
        }
        st.end()
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
    #[serde(default)]
    held: VecDeque<Arc<Stored>>,
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
    incidents: Incidents,
    #[serde(default)]
    pending: Pending,
    #[serde(default)]
    short: ShortExcursions,
    #[serde(default)]
    records: Records,
}

impl<'de> Deserialize<'de> for StreamDetector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(d)?;
        // A state is read back from a store that may hold a damaged one: what
        // indexing relies on is checked here rather than panicking later.
        saved.config.validate().map_err(D::Error::custom)?;
        if let Some(model) = &saved.model {
            model.check().map_err(D::Error::custom)?;
        }
        // Counters only grow by events seen, far below overflowing.
        if saved.seen > u64::MAX / 4
            || saved.windows_tested > saved.seen
            || saved.since_origin > saved.seen
        {
            return Err(D::Error::custom(format!(
                "counters out of step: seen {}, since_origin {}, windows_tested {}",
                saved.seen, saved.since_origin, saved.windows_tested
            )));
        }
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
        let mut recent = saved.recent;
        {
            let kept = kept_runs(&saved.window, &baseline, saved.model.as_ref());
            for raw in recent.iter_mut().filter(|r| r.runs.is_empty()) {
                if let Some(runs) = kept.get(&raw.index) {
                    raw.runs = Arc::clone(runs);
                }
            }
        }
        Ok(StreamDetector {
            stream_id: saved.stream_id,
            config: saved.config,
            seen: saved.seen,
            recent,
            baseline,
            held: saved.held,
            window: saved.window,
            memory: saved.memory,
            rolling: saved.rolling,
            model: saved.model,
            since_origin: saved.since_origin,
            last_window_p: saved.last_window_p,
            windows_tested: saved.windows_tested,
            past: saved.past,
            incidents: saved.incidents,
            pending: saved.pending,
            short: saved.short,
            records: saved.records,
            diagnostics: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{Event, EventKind};

    /// A regular series with a spike at 1300.
    fn metric_events(range: std::ops::Range<u64>) -> Vec<Event> {
        range
            .map(|i| {
                let v = 50.0 + 10.0 * (i as f64 * 0.1).sin() + (i % 7) as f64;
                Event {
                    kind: EventKind::Metric,
                    body: json!({ "value": if i == 1300 { 500.0 } else { v } }),
                    ..Default::default()
                }
            })
            .collect()
    }

    #[test]
    fn metric_runs_and_the_baseline_are_written_once_and_the_older_form_still_reads() {
        let config = DetectorConfig {
            metric_context: 10,
            ..Default::default()
        };
        let mut whole = StreamDetector::new("s", config.clone()).unwrap();
        let all = whole.push(&metric_events(0..1500)).unwrap();
        let mut d = StreamDetector::new("s", config).unwrap();
        let mut found = d.push(&metric_events(0..1250)).unwrap();

        let json = serde_json::to_string(&d).unwrap();
        let saved: Value = serde_json::from_str(&json).unwrap();
        let recent = saved["recent"].as_array().unwrap();
        let with_runs = recent.iter().filter(|r| r.get("runs").is_some()).count();
        // Only raw events with no kept twin (flagged ones, never in the
        // baseline) still carry their runs.
        assert!(
            with_runs * 10 < recent.len(),
            "{with_runs} of {}",
            recent.len()
        );
        assert!(saved["baseline_pool_from"].is_u64());

        // `RawOut` writes what `Raw`'s own form does, runs included.
        for raw in &d.recent {
            let own = serde_json::to_value(raw).unwrap();
            let out = serde_json::to_value(RawOut { raw, shared: false }).unwrap();
            assert_eq!(own, out);
        }

        // The form written before: every raw event's runs, the whole baseline.
        let mut older = saved.clone();
        older["recent"] = serde_json::to_value(&d.recent).unwrap();
        older["baseline"] = serde_json::to_value(&d.baseline).unwrap();
        older.as_object_mut().unwrap().remove("baseline_pool_from");
        let older_json = serde_json::to_string(&older).unwrap();
        assert!(
            (json.len() as f64) < 0.75 * older_json.len() as f64,
            "{} bytes against {} in the older form",
            json.len(),
            older_json.len()
        );

        let mut restored: StreamDetector = serde_json::from_str(&json).unwrap();
        let from_older: StreamDetector = serde_json::from_str(&older_json).unwrap();
        // Both read back to the detector that was saved, written in the
        // shorter form again (lengths: a vocabulary's hash sets may list
        // their members in another order after a reload).
        assert_eq!(serde_json::to_string(&restored).unwrap().len(), json.len());
        assert_eq!(
            serde_json::to_string(&from_older).unwrap().len(),
            json.len()
        );
        let twin = |d: &StreamDetector, i: u64| {
            let raw = d.recent.iter().find(|r| r.index == i).unwrap();
            let kept = d.baseline.iter().find(|s| s.index == i).unwrap();
            Arc::ptr_eq(&raw.runs, &kept.runs)
        };
        let i = restored.baseline.back().unwrap().index;
        assert!(twin(&d, i) && twin(&restored, i));

        let rest = restored.push(&metric_events(1250..1500)).unwrap();
        assert!(rest.iter().any(|a| a.index == 1300), "{rest:?}");
        found.extend(rest);
        assert_eq!(all, found, "a restored detector gives the same answers");
    }
}
