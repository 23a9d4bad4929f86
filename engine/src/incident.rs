//! Incidents: a stream's anomalies grouped causally, each with a rank.
//!
//! A person reads a run of flags from one cause as one alert. An anomaly
//! opens an incident when none is open; the incident stays open while new
//! anomalies keep coming, and closes once the stream has been quiet for
//! [`QUIET_EVENTS`] events and [`QUIET_SECONDS`] of event time. An anomaly
//! that repeats an earlier one (recurrence distance below
//! [`REPEAT_DISTANCE`]) joins an open incident without holding it open: a
//! regular pattern flagged each time it comes back is not an incident going
//! on, and holding one open for it hides the next real change. A record (a
//! value beyond everything its series had) opens an incident wherever it
//! falls. Only anomalies reported earlier decide (a held flag is assigned
//! when it is reported), so an incident never changes once reported, live
//! or in a backfill.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{Anomaly, AnomalyKind};

/// Events after an incident's last new anomaly during which further
/// anomalies belong to it: three default windows of 50.
pub const QUIET_EVENTS: u64 = 150;

/// Event time after an incident's last new anomaly during which further
/// anomalies belong to it, when both carry timestamps: a fast stream's
/// incident is not cut into pieces by its event count alone.
pub const QUIET_SECONDS: i64 = 600;

/// An anomaly this close to an earlier one repeats it (1% of the fields'
/// stretched ranges; see [`crate::Recurrence`]).
pub const REPEAT_DISTANCE: f64 = 0.01;

/// Scale of the recurrence distance in an incident's rank.
pub const RECURRENCE_SCALE: f64 = 0.1;

/// Rank of an incident whose first anomaly has no numbers and repeats the
/// template of an earlier incident's.
const TEMPLATE_REPEAT_RANK: f64 = 0.05;

/// Incident openers remembered for template repeats.
const REMEMBERED: usize = 64;

/// The incident an anomaly belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IncidentTag {
    /// The stream's incident number, from 1.
    pub id: u64,
    /// Whether this anomaly opened it.
    pub opens: bool,
    /// How new the incident is against the stream's earlier ones, in
    /// [0, 1]: 1 for the stream's first, for a record and for anything
    /// unlike earlier anomalies; near 0 for a repeat.
    pub rank: f64,
    /// Stream position of the anomaly that opened it.
    pub first_index: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Open {
    id: u64,
    first_index: u64,
    rank: f64,
    last_new: u64,
    last_time: Option<i64>,
}

/// A stream's incident state (saved with its detector).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Incidents {
    opened: u64,
    open: Option<Open>,
    /// (template, key set) of recent incident openers without numbers.
    templates: VecDeque<(u64, u64)>,
}

impl Incidents {
    /// Tags `a`, an anomaly of an event of template `(context, keyset)`.
    pub fn assign(&mut self, a: &mut Anomaly, template: (u64, u64)) {
        let time = a.timestamp.as_deref().and_then(parse_seconds);
        let record = a.record.is_some();
        let repeats = !record && a.recurs.is_some_and(|r| r.distance < REPEAT_DISTANCE);
        let quiet = |o: &Open| {
            let events = a.index.saturating_sub(o.last_new) > QUIET_EVENTS;
            let seconds = match (time, o.last_time) {
                (Some(t), Some(l)) => t - l > QUIET_SECONDS,
                _ => true,
            };
            events && seconds
        };
        // A change point is the incident its anomalous events opened, found
        // to be sustained.
        let opens = match &self.open {
            None => true,
            Some(o) => a.kind == AnomalyKind::Event && (record || quiet(o)),
        };
        if opens {
            self.opened += 1;
            let rank = self.rank_of(a, record, template);
            self.open = Some(Open {
                id: self.opened,
                first_index: a.index,
                rank,
                last_new: a.index,
                last_time: time,
            });
        } else if !repeats && let Some(o) = self.open.as_mut() {
            o.last_new = o.last_new.max(a.index);
            o.last_time = time.or(o.last_time);
        }
        let o = self.open.as_ref().expect("an incident is open");
        a.incident = Some(IncidentTag {
            id: o.id,
            opens,
            rank: o.rank,
            first_index: o.first_index,
        });
    }

    /// How unlike the stream's earlier anomalies `a` is (see [`IncidentTag::rank`]).
    fn rank_of(&mut self, a: &Anomaly, record: bool, template: (u64, u64)) -> f64 {
        if record {
            return 1.0;
        }
        match a.recurs {
            Some(r) => (1.0 - (-r.distance / RECURRENCE_SCALE).exp()).clamp(0.0, 1.0),
            None => {
                let seen = self.templates.contains(&template);
                if !seen {
                    if self.templates.len() >= REMEMBERED {
                        self.templates.pop_front();
                    }
                    self.templates.push_back(template);
                }
                if seen { TEMPLATE_REPEAT_RANK } else { 1.0 }
            }
        }
    }
}

/// Seconds since the epoch of an RFC 3339 or `YYYY-MM-DD HH:MM:SS` timestamp
/// (no offset: UTC).
pub(crate) fn parse_seconds(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Recurrence;

    fn anomaly(index: u64, recurs: Option<f64>) -> Anomaly {
        Anomaly {
            recurs: recurs.map(|distance| Recurrence { index: 0, distance }),
            ..crate::anomaly::test_anomaly(index)
        }
    }

    fn run(anomalies: &mut [Anomaly]) -> Vec<(u64, bool)> {
        let mut inc = Incidents::default();
        anomalies
            .iter_mut()
            .map(|a| {
                inc.assign(a, (1, 1));
                let t = a.incident.unwrap();
                (t.id, t.opens)
            })
            .collect()
    }

    #[test]
    fn anomalies_within_the_quiet_period_are_one_incident() {
        let mut a = [
            anomaly(100, None),
            anomaly(200, Some(0.5)),
            anomaly(350, Some(0.5)),
            anomaly(501, Some(0.5)),
        ];
        // 350 is 150 after 200 (still open); 501 is 151 after 350.
        assert_eq!(
            run(&mut a),
            vec![(1, true), (1, false), (1, false), (2, true)]
        );
        assert_eq!(a[2].incident.unwrap().first_index, 100);
    }

    #[test]
    fn repeats_join_without_holding_an_incident_open_and_rank_low() {
        let mut a = [
            anomaly(100, None),
            anomaly(200, Some(0.005)),
            anomaly(251, Some(0.4)),
            anomaly(300, Some(0.4)),
            anomaly(600, Some(0.001)),
        ];
        assert_eq!(
            run(&mut a),
            vec![(1, true), (1, false), (2, true), (2, false), (3, true)]
        );
        assert_eq!(a[0].incident.unwrap().rank, 1.0);
        assert!(a[4].incident.unwrap().rank < 0.01);
    }

    #[test]
    fn a_record_opens_an_incident_inside_one() {
        let mut a = [anomaly(100, None), anomaly(120, Some(0.3))];
        a[1].record = Some(crate::Record {
            path: "value".into(),
            value: 9.0,
            min: 0.0,
            max: 1.0,
            count: 500,
            fields: 1,
        });
        assert_eq!(run(&mut a), vec![(1, true), (2, true)]);
        assert_eq!(a[1].incident.unwrap().rank, 1.0);
    }

    #[test]
    fn a_busy_stream_stays_in_one_incident_until_quiet_in_time_too() {
        let ts = |s: u32| Some(format!("2026-01-01T00:{:02}:{:02}Z", s / 60, s % 60));
        let mut a = [anomaly(0, None), anomaly(1_000, None), anomaly(3_000, None)];
        // 1,000 events later but 5 minutes on: the same incident; 3,000
        // events and 15 minutes after that: a new one.
        a[0].timestamp = ts(0);
        a[1].timestamp = ts(300);
        a[2].timestamp = ts(1_200);
        assert_eq!(run(&mut a), vec![(1, true), (1, false), (2, true)]);
    }

    #[test]
    fn a_template_seen_in_an_earlier_incident_ranks_low() {
        let mut inc = Incidents::default();
        let mut a = [anomaly(0, None), anomaly(500, None), anomaly(1_000, None)];
        inc.assign(&mut a[0], (7, 1));
        inc.assign(&mut a[1], (8, 1));
        inc.assign(&mut a[2], (7, 1));
        let ranks: Vec<f64> = a.iter().map(|a| a.incident.unwrap().rank).collect();
        assert_eq!(ranks, vec![1.0, 1.0, TEMPLATE_REPEAT_RANK]);
    }

    #[test]
    fn timestamps_parse_in_both_forms() {
        assert_eq!(parse_seconds("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_seconds("1970-01-01 00:01:00"), Some(60));
        assert_eq!(parse_seconds("1970-01-01T01:01:00+01:00"), Some(60));
        assert_eq!(parse_seconds("yesterday"), None);
    }
}
