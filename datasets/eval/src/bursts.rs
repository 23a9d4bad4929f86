//! Which flagged events open an incident, and how new each one is: the part of
//! `eval nab`'s row score ([`ScoreRule::First`](super::nab::ScoreRule::First))
//! that turns the detector's flags into one detection per incident.
//!
//! NAB counts every detection outside a labelled window as its own false
//! positive, so a run of flags from one incident must score as one. A flag
//! opens a burst when no burst is open; the burst stays open for
//! [`SUPPRESS_ROWS`] rows after its last flag that showed something new. A
//! flag that repeats an earlier anomaly (recurrence distance below
//! [`REPEAT_DISTANCE`]) does not keep it open: a regular pattern flagged each
//! time it comes back (a daily drop, a periodic spike) is not an incident going
//! on, and holding a burst open for it hides the next real change.

use std::collections::HashMap;

use driftlock_engine::{Anomaly, AnomalyKind};

/// Rows after a burst's last new flag during which further flags are the same
/// incident.
pub const SUPPRESS_ROWS: u64 = 150;

/// Scale of the recurrence distance in a first flag's rank (only the order
/// matters to NAB's threshold sweep: a first flag nearer an earlier anomaly
/// ranks lower).
pub const RECURRENCE_SCALE: f64 = 0.1;

/// A flag within this recurrence distance of an earlier anomaly repeats it
/// (1% of the fields' stretched ranges) and does not keep a burst open (the
/// default of [`first_flags`]' `repeat_distance`).
pub const REPEAT_DISTANCE: f64 = 0.01;

/// What the burst rule needs of one flagged event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag {
    pub index: u64,
    /// A value beyond everything its series had (the detector's `record_margin`).
    pub record: bool,
    /// Distance to the nearest earlier anomaly of the stream; `None` for the
    /// stream's first.
    pub recurrence: Option<f64>,
}

impl Flag {
    /// The event anomalies of `anomalies` as flags, in stream order.
    pub fn from_anomalies(anomalies: &[Anomaly]) -> Vec<Flag> {
        let mut flags: Vec<Flag> = anomalies
            .iter()
            .filter(|a| a.kind == AnomalyKind::Event)
            .map(|a| Flag {
                index: a.index,
                record: a.record.is_some(),
                recurrence: a.recurs.map(|r| r.distance),
            })
            .collect();
        flags.sort_by_key(|f| f.index);
        flags
    }

    /// How unlike the stream's earlier anomalies this flag is, in [0, 1]: 1 for
    /// a record (beyond everything its series had, it repeats nothing) and for
    /// the stream's first anomaly, else `1 − e^(−d/RECURRENCE_SCALE)`.
    pub fn novelty(&self) -> f64 {
        match (self.record, self.recurrence) {
            (true, _) | (false, None) => 1.0,
            (false, Some(d)) => (1.0 - (-d / RECURRENCE_SCALE).exp()).clamp(0.0, 1.0),
        }
    }

    fn repeats(&self, repeat_distance: f64) -> bool {
        !self.record && self.recurrence.is_some_and(|d| d < repeat_distance)
    }
}

/// The flags that open a burst, each with its [`Flag::novelty`]. `flags` must
/// be in stream order. A flag within `repeat_distance` of an earlier anomaly
/// does not keep a burst open (0: every flag does). A record opens a new burst
/// even inside one: an incident that climbs past every earlier value has
/// changed.
pub fn first_flags(flags: &[Flag], repeat_distance: f64) -> HashMap<u64, f64> {
    let mut first = HashMap::new();
    // Index of the open burst's last flag that was not a repeat.
    let mut open: Option<u64> = None;
    for f in flags {
        let opens = f.record || open.is_none_or(|l| f.index - l > SUPPRESS_ROWS);
        if opens {
            first.insert(f.index, f.novelty());
            open = Some(f.index);
        } else if !f.repeats(repeat_distance) {
            open = Some(f.index);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(index: u64, recurrence: Option<f64>) -> Flag {
        Flag {
            index,
            record: false,
            recurrence,
        }
    }

    fn opened_with(flags: &[Flag], repeat_distance: f64) -> Vec<u64> {
        let mut v: Vec<u64> = first_flags(flags, repeat_distance).into_keys().collect();
        v.sort_unstable();
        v
    }

    fn opened(flags: &[Flag]) -> Vec<u64> {
        opened_with(flags, REPEAT_DISTANCE)
    }

    #[test]
    fn flags_within_the_suppression_are_one_burst() {
        let flags = [
            flag(100, None),
            flag(200, Some(0.5)),
            flag(350, Some(0.5)),
            flag(501, Some(0.5)),
        ];
        // 350 is 150 after 200 (still open); 501 is 151 after 350.
        assert_eq!(opened(&flags), vec![100, 501]);
    }

    #[test]
    fn repeats_do_not_keep_a_burst_open() {
        let flags = [
            flag(100, None),
            flag(200, Some(0.005)),
            flag(251, Some(0.4)),
            flag(300, Some(0.4)),
        ];
        // 200 repeats an earlier anomaly, so the burst closed 150 rows after
        // 100; 251 opens the next, and 300 belongs to it.
        assert_eq!(opened(&flags), vec![100, 251]);
        // The same flag a little farther from what it resembles keeps it open.
        let kept = [flag(100, None), flag(200, Some(0.02)), flag(251, Some(0.4))];
        assert_eq!(opened(&kept), vec![100]);
        // And with no repeat distance every flag does (the earlier rule).
        assert_eq!(opened_with(&flags, 0.0), vec![100]);
    }

    #[test]
    fn a_repeat_can_open_a_burst_and_ranks_low() {
        let flags = [
            flag(100, None),
            flag(400, Some(0.001)),
            flag(450, Some(0.9)),
        ];
        let first = first_flags(&flags, REPEAT_DISTANCE);
        assert_eq!(opened(&flags), vec![100, 400]);
        assert!(first[&400] < 0.01, "{}", first[&400]);
        assert_eq!(first[&100], 1.0);
    }

    #[test]
    fn a_record_opens_a_burst_inside_one_and_ranks_first() {
        let mut flags = [flag(100, None), flag(120, Some(0.3)), flag(130, Some(0.0))];
        flags[2].record = true;
        let first = first_flags(&flags, REPEAT_DISTANCE);
        assert_eq!(opened(&flags), vec![100, 130]);
        assert_eq!(first[&130], 1.0);
        assert!((flag(0, Some(0.1)).novelty() - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
    }
}
