//! Events queued per stream for a backfill or `score`, scored by the engine's
//! [`StreamSet`] (streams in parallel) over detectors the checkpoint saves and
//! restores, each anomaly returned with the event that reported it.
//!
//! Events wait in [`Pending`] until enough have gathered across streams: a
//! read batch of 8192 rows over 64 streams hands each detector about 128
//! events, and at that size the per-push costs (a cold detector state to
//! bring into cache, a chunk cut short by a model refresh) held a 64-stream
//! archive to 0.70× the single-stream rate. Detection does not depend on how
//! a stream's events are split into pushes, so buffering changes no result.

use std::collections::BTreeMap;

use driftlock_engine::read::{self, EventBatch};
use driftlock_engine::{Anomaly, DetectorConfig, EngineError, Event, StreamDetector, StreamSet};
use driftlock_kernels::PermutationBackend;
use serde_json::Value;

use super::checkpoint::{DetectorState, detector_states};

/// An anomaly and the event that reported it (for a change point, the event
/// that completed the window showing the change).
pub type Found = (Anomaly, Event);

/// One stream's waiting events, their positions in the backfill (events
/// counted across all files), which order the anomalies found, their
/// attributes where the reader deferred them and their bodies' text where
/// the reader kept it.
#[derive(Default)]
struct Queue {
    seqs: Vec<u64>,
    events: Vec<Event>,
    attributes: Vec<Option<String>>,
    bodies: Vec<Option<String>>,
}

impl Queue {
    /// Event `i` whole, for the anomaly it reported.
    fn event(&self, i: usize) -> Event {
        let mut e = self.events[i].clone();
        if let Some(text) = &self.attributes[i] {
            // The reader checked the text is JSON.
            e.attributes = read::parse_attributes(text).unwrap_or(Value::Null);
        }
        e
    }
}

/// Scored events, handed back to be freed on the thread that decoded them.
pub struct Spent(#[allow(dead_code)] Vec<Queue>);

/// Events read but not yet scored, by stream.
#[derive(Default)]
pub struct Pending {
    streams: BTreeMap<String, Queue>,
    len: usize,
    spent: Vec<Queue>,
    /// The input ends with these events: held flags are reported after them.
    ends: bool,
}

impl Pending {
    /// Queues a batch's events (any streams, file order); the first is the
    /// backfill's event number `first_seq`.
    pub fn add(&mut self, first_seq: u64, batch: EventBatch) {
        let EventBatch {
            events,
            attributes_text,
            body_text,
            ..
        } = batch;
        self.len += events.len();
        let mut texts = attributes_text.into_iter();
        let mut bodies = body_text.into_iter();
        for (seq, e) in (first_seq..).zip(events) {
            let q = match self.streams.get_mut(&e.stream_id) {
                Some(q) => q,
                None => self.streams.entry(e.stream_id.clone()).or_default(),
            };
            q.seqs.push(seq);
            q.events.push(e);
            q.attributes.push(texts.next().flatten());
            q.bodies.push(bodies.next().flatten());
        }
    }

    /// Marks the waiting events as the input's last: once they are scored,
    /// every detector reports the flags it still holds (see
    /// `StreamDetector::settle`).
    pub fn end_input(&mut self) {
        self.ends = true;
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events scored so far, for the caller to free on the thread that
    /// decoded them: with mimalloc, freeing millions of small allocations
    /// from other threads cost 13% of a backfill's CPU.
    fn take_spent(&mut self) -> Spent {
        Spent(std::mem::take(&mut self.spent))
    }

    /// [`score`](Self::score) on a thread of `scope`, which owns the
    /// detectors until [`InFlight::land`] gives them back: the caller reads
    /// and queues the next events meanwhile. With `snapshot`, the thread
    /// also serialises the detectors' states for a checkpoint.
    pub fn score_on<'scope, 'env>(
        mut self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        mut detectors: BTreeMap<String, StreamDetector>,
        config: &'env DetectorConfig,
        backend: &'env dyn PermutationBackend,
        snapshot: bool,
    ) -> InFlight<'scope> {
        InFlight(scope.spawn(move || {
            let found = self.score(&mut detectors, config, backend)?;
            let states = snapshot
                .then(|| detector_states(&detectors))
                .transpose()
                .map_err(|e| EngineError::State(e.to_string()))?;
            Ok(Landed {
                detectors,
                found,
                spent: self.take_spent(),
                states,
            })
        }))
    }

    /// Scores every waiting event and returns the anomalies in event order
    /// (the order of the rows they came from), whatever the push sizes were.
    pub fn score(
        &mut self,
        detectors: &mut BTreeMap<String, StreamDetector>,
        config: &DetectorConfig,
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<Found>, EngineError> {
        let queues = std::mem::take(&mut self.streams);
        self.len = 0;
        let mut set = StreamSet::with_detectors(config.clone(), std::mem::take(detectors))?;
        let found = set.push_grouped(
            queues
                .iter()
                .map(|(id, q)| (id.as_str(), q.events.as_slice(), q.bodies.as_slice())),
            backend,
        );
        *detectors = set.into_detectors();
        let mut out = Vec::new();
        for f in found? {
            let q = &queues[&f.stream_id];
            let in_queue = |index: u64| {
                let k = index.checked_sub(f.first)? as usize;
                (k < q.events.len()).then_some(k)
            };
            out.extend(f.anomalies.into_iter().map(|a| {
                let i = (a.reported_at.saturating_sub(f.first) as usize).min(q.events.len() - 1);
                // A held flag reported late carries its own event; read with
                // this queue, it is here with its deferred attributes.
                let e = match (a.held_event.as_deref(), in_queue(a.index)) {
                    (Some(_), Some(k)) => q.event(k),
                    (Some(held), None) => held.clone(),
                    (None, _) => q.event(i),
                };
                (q.seqs[i], (a, e))
            }));
            // Flags still held leave with the attributes read apart.
            if let Some(d) = detectors.get_mut(&f.stream_id) {
                for index in d.held_positions() {
                    if let Some(k) = in_queue(index)
                        && q.attributes[k].is_some()
                    {
                        let attributes = q.event(k).attributes;
                        d.set_held_attributes(index, &attributes);
                    }
                }
            }
        }
        if self.ends {
            // After every event, stream by stream.
            for d in detectors.values_mut() {
                for a in d.settle() {
                    if let Some(e) = a.held_event.as_deref().cloned() {
                        out.push((u64::MAX, (a, e)));
                    }
                }
            }
        }
        self.spent.extend(queues.into_values());
        // Stable: a change point and the event anomaly reported with it keep
        // their order.
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, f)| f).collect())
    }
}

/// A queue being scored on another thread.
pub struct InFlight<'scope>(std::thread::ScopedJoinHandle<'scope, Result<Landed, EngineError>>);

/// What a finished [`InFlight`] hands back.
pub struct Landed {
    pub detectors: BTreeMap<String, StreamDetector>,
    pub found: Vec<Found>,
    /// The scored events, to be freed where they were decoded.
    pub spent: Spent,
    /// The detectors' states, when asked for.
    pub states: Option<Vec<DetectorState>>,
}

impl InFlight<'_> {
    /// Waits for the scoring to finish.
    pub fn land(self) -> Result<Landed, EngineError> {
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftlock_kernels::CpuBackend;
    use serde_json::json;

    /// Three interleaved streams of routine requests with a rare fatal line;
    /// `sequence` is each event's position, to check the anomalies' order.
    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                // Every fourth rare line is fatal; the others are a message
                // in a known shape, held until its template had its chance
                // to recur.
                let rare = i % 97 == 50;
                let fatal = rare && i % 4 == 0;
                let msg = if fatal {
                    format!("disk {i} on fire, kernel panic")
                } else if rare {
                    "disk on fire kernel panic".to_owned()
                } else {
                    format!("GET /api/orders/{} 200", i % 13)
                };
                Event::from_json(json!({
                    "stream_id": format!("s{}", i % 3),
                    "type": "log",
                    "sequence": i,
                    "body": {"level": if fatal { "FATAL" } else { "INFO" }, "msg": msg},
                    "attributes": {"host": format!("h{i}")},
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn anomalies_come_in_event_order_with_their_attributes_whatever_the_push_sizes() {
        let config = DetectorConfig {
            baseline_size: 60,
            window_size: 10,
            hop_size: 5,
            ..DetectorConfig::default()
        };
        let cpu = CpuBackend::new();
        let evs = events(1200);
        let run = |chunk: usize| {
            let mut detectors = BTreeMap::new();
            let mut pending = Pending::default();
            let mut out = Vec::new();
            for (k, part) in evs.chunks(chunk).enumerate() {
                // Attributes deferred and body texts kept, as the backfill's
                // reader does.
                let batch = EventBatch {
                    attributes_text: part
                        .iter()
                        .map(|e| Some(e.attributes.to_string()))
                        .collect(),
                    events: part
                        .iter()
                        .map(|e| Event {
                            attributes: Value::Null,
                            ..e.clone()
                        })
                        .collect(),
                    ..EventBatch::default()
                };
                pending.add((k * chunk) as u64, batch);
                out.extend(pending.score(&mut detectors, &config, &cpu).unwrap());
                assert!(pending.is_empty());
            }
            out
        };
        let whole = run(1200);
        assert!(whole.len() > 3, "the test stream has anomalies to order");
        let key = |f: &Found| (f.1.stream_id.clone(), f.0.index, f.0.kind);
        let small = run(7);
        assert_eq!(
            whole.iter().map(key).collect::<Vec<_>>(),
            small.iter().map(key).collect::<Vec<_>>()
        );
        // Event order across streams: the events that reported the anomalies
        // never go back (a held flag's event is its own, reported later).
        let pos = |f: &Found| f.1.sequence.unwrap();
        let reported: Vec<u64> = small
            .iter()
            .map(|f| pos(f) as u64 + (f.0.reported_at - f.0.index) * 3)
            .collect();
        assert!(reported.windows(2).all(|w| w[0] <= w[1]), "{reported:?}");
        assert!(
            small.iter().any(|f| f.0.reported_at > f.0.index),
            "a held flag is among them"
        );
        // Each anomaly's event comes with its deferred attributes, parsed.
        for f in &small {
            assert_eq!(f.1.attributes, json!({"host": format!("h{}", pos(f))}));
        }
    }
}
