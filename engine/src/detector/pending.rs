//! Flags of new messages, held until they can no longer become normal.
//!
//! A line whose only news is words (its fields known, and no new category
//! value that raises an alarm, such as a new `ERROR` level; a new service
//! name is words) is most often a new message of a service that
//! changed, and a template that recurs is the stream's new normal (see the
//! detector's `ADMIT_AFTER`): its first lines were flagged only because
//! nothing like them had come before. Reported with their events, each would
//! raise an alarm for the service's own evolution. So, like an alert's
//! pending state, such a flag waits: once its template can no longer become
//! normal by it (the baseline's span later, or [`HOLD_SECONDS`] of event
//! time, so a slow live stream is not kept waiting) it is reported as it was
//! scored, with its incident decided then; if its template became normal
//! first, or a later line of it entered the baseline unflagged, it is
//! dropped. Which flags wait and when they leave depend on
//! stream positions and timestamps only, so batching changes nothing.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::StreamDetector;
use crate::incident::parse_seconds;
use crate::stored::Stored;
use crate::{Anomaly, Event, EventKind, Recurrence};

/// Event time after which a held flag is reported whatever its position.
pub const HOLD_SECONDS: i64 = 600;

/// One held flag: the anomaly as scored, what reporting it needs later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub anomaly: Anomaly,
    /// The anomaly's `recurs` (not part of its serialised form).
    recurs: Option<(u64, f64)>,
    pub template: (u64, u64),
    /// The event: the caller may no longer have it.
    event: Event,
}

impl Held {
    pub fn new(anomaly: Anomaly, template: (u64, u64), event: Event) -> Self {
        let recurs = anomaly.recurs.map(|r| (r.index, r.distance));
        Held {
            anomaly,
            recurs,
            template,
            event,
        }
    }

    /// Sets the held event's attributes (see [`Pending::set_attributes`]).
    pub fn set_attributes(&mut self, attributes: &serde_json::Value) {
        self.event.attributes = attributes.clone();
    }

    /// The anomaly to report now, at stream position `at`.
    pub fn report(self, at: u64) -> Anomaly {
        let mut a = self.anomaly;
        a.recurs = self
            .recurs
            .map(|(index, distance)| Recurrence { index, distance });
        a.reported_at = at;
        a.held_event = Some(Box::new(self.event));
        a
    }
}

/// A stream's held flags, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    queue: VecDeque<Held>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn hold(&mut self, anomaly: Anomaly, template: (u64, u64), event: Event) {
        self.queue.push_back(Held::new(anomaly, template, event));
    }

    /// Drops the flags of `template`, now normal; returns their positions.
    pub fn drop_template(&mut self, template: (u64, u64)) -> Vec<u64> {
        let mut dropped = Vec::new();
        self.queue.retain(|h| {
            let same = h.template == template;
            if same {
                dropped.push(h.anomaly.index);
            }
            !same
        });
        dropped
    }

    /// The flags due before the event at position `now` (timestamp `time`)
    /// is judged: every decision that could make them normal was taken
    /// within `horizon` events after them.
    pub fn due(&mut self, now: u64, time: Option<&str>, horizon: u64) -> Vec<Held> {
        let now_s = time.and_then(parse_seconds);
        let mut out = Vec::new();
        while let Some(h) = self.queue.front() {
            let late = match (
                now_s,
                h.anomaly.timestamp.as_deref().and_then(parse_seconds),
            ) {
                (Some(t), Some(s)) => t - s > HOLD_SECONDS,
                _ => false,
            };
            if h.anomaly.index + horizon < now || late {
                out.extend(self.queue.pop_front());
            } else {
                break;
            }
        }
        out
    }

    /// Positions of the held flags, oldest first.
    pub fn positions(&self) -> impl Iterator<Item = u64> + '_ {
        self.queue.iter().map(|h| h.anomaly.index)
    }

    /// Sets the attributes of the held event at `index`: a caller that read
    /// them apart from the event (see `read::ReadOptions`) hands them over.
    pub fn set_attributes(&mut self, index: u64, attributes: &serde_json::Value) {
        if let Some(h) = self.queue.iter_mut().find(|h| h.anomaly.index == index) {
            h.set_attributes(attributes);
        }
    }

    /// The held flags at `positions`, taken out to be reported now.
    pub fn take(&mut self, positions: &[u64]) -> Vec<Held> {
        if positions.is_empty() {
            return Vec::new();
        }
        let (taken, kept) = self
            .queue
            .drain(..)
            .partition(|h| positions.contains(&h.anomaly.index));
        self.queue = kept;
        taken.into()
    }

    /// Every held flag, oldest first (the input has ended).
    pub fn drain(&mut self) -> Vec<Held> {
        self.queue.drain(..).collect()
    }
}

impl StreamDetector {
    /// Whether a flag of `ev` waits to see if its template recurs (see
    /// [`super::pending`]): new words (a new service name among them), but
    /// every field known and nothing else new. A new field, alarm level or
    /// punctuation is reported at once.
    pub(super) fn holds(&self, kind: EventKind, ev: &Stored) -> bool {
        self.config.learn_recurring
            && self.config.hold_new_templates
            && kind != EventKind::Metric
            && self.new_words_only(ev)
    }

    /// Reports a held flag at stream position `at`, its incident decided now.
    pub(super) fn report_held(&mut self, h: Held, at: u64, out: &mut Vec<Anomaly>) {
        let template = h.template;
        let mut a = h.report(at);
        self.incidents.assign(&mut a, template);
        out.push(a);
    }

    /// Reports the flags due before the event at position `now` (see
    /// [`Pending::due`]).
    pub(super) fn release_due(&mut self, now: u64, time: Option<&str>, out: &mut Vec<Anomaly>) {
        for h in self.pending.due(now, time, self.words_horizon()) {
            self.release(h, now, out);
        }
    }

    /// Reports `h` at `at`, unless a later line of its template entered the
    /// baseline unflagged: its words became known through other templates,
    /// so it recurred as a normal message though its own flags never
    /// gathered to make it one.
    fn release(&mut self, h: Held, at: u64, out: &mut Vec<Anomaly>) {
        let i = h.anomaly.index;
        let recurred = self
            .baseline
            .iter()
            .any(|e| e.index > i && (e.context, e.keyset) == h.template);
        if recurred {
            self.past.forget(&[i]);
        } else {
            self.report_held(h, at, out);
        }
    }

    /// Reports every held flag now, as if the stream had gone on without
    /// its templates recurring: for the end of a finite input (a file, a
    /// backfill), never for a live stream that goes on.
    pub fn settle(&mut self) -> Vec<Anomaly> {
        let at = self.seen.saturating_sub(1);
        let mut out = Vec::new();
        // No line follows to confirm a flag of short excursions.
        self.clear_short();
        for h in self.pending.drain() {
            self.release(h, at, &mut out);
        }
        out
    }

    /// Stream positions of the flags held (see [`settle`](Self::settle)).
    pub fn held_positions(&self) -> Vec<u64> {
        let mut held: Vec<u64> = self.pending.positions().collect();
        held.extend(self.short.waiting_index());
        held
    }

    /// Gives the held event at `index` its attributes, for a caller that
    /// read them apart from the event: the anomaly is reported with them.
    pub fn set_held_attributes(&mut self, index: u64, attributes: &serde_json::Value) {
        self.pending.set_attributes(index, attributes);
        self.short.set_attributes(index, attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(index: u64, seconds: i64) -> Anomaly {
        Anomaly {
            timestamp: Some(
                chrono::DateTime::from_timestamp(seconds, 0)
                    .expect("a time")
                    .to_rfc3339(),
            ),
            recurs: Some(Recurrence {
                index: 3,
                distance: 0.2,
            }),
            ..crate::anomaly::test_anomaly(index)
        }
    }

    #[test]
    fn a_flag_waits_its_horizon_or_its_time_then_leaves_as_scored() {
        let mut p = Pending::default();
        let event = |body: serde_json::Value| Event {
            body,
            ..Event::default()
        };
        p.hold(anomaly(10, 1_000), (1, 1), event(serde_json::json!({})));
        p.hold(
            anomaly(20, 1_000),
            (2, 1),
            event(serde_json::json!({"a": 1})),
        );
        assert!(p.due(110, None, 100).is_empty(), "110 may still decide #10");
        let due = p.due(111, None, 100);
        assert_eq!(due.len(), 1);
        let a = due.into_iter().next().expect("one").report(111);
        assert_eq!((a.index, a.reported_at), (10, 111));
        assert_eq!(a.recurs.map(|r| r.index), Some(3), "kept while held");
        assert_eq!(a.held_event.map(|e| e.body), Some(serde_json::json!({})));
        // Ten minutes of event time release it before its horizon.
        let stamp = chrono::DateTime::from_timestamp(1_000 + HOLD_SECONDS + 1, 0)
            .expect("a time")
            .to_rfc3339();
        assert_eq!(p.due(30, Some(&stamp), 100).len(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn a_template_that_became_normal_takes_its_flags_with_it() {
        let mut p = Pending::default();
        for (i, t) in [(5, 1), (6, 2), (7, 1)] {
            p.hold(anomaly(i, 0), (t, 0), Event::default());
        }
        assert_eq!(p.drop_template((1, 0)), vec![5, 7]);
        let left: Vec<u64> = p.drain().iter().map(|h| h.anomaly.index).collect();
        assert_eq!(left, vec![6]);
    }
}
