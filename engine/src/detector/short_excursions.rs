//! Flags that rest on short excursions alone, confirmed by a neighbour.
//!
//! A number past the excursion tokens' margin but short of the firm bar
//! (see `encode::field::Bar`) comes by chance 1.6e-3 of the time in a
//! template with 16 baseline values, and most of a drifting log stream's
//! false alarms were such values: alone it is no evidence worth an alarm
//! (the scoring stage also judges such a line's NCD without its excursion
//! tokens, which in a short line are most of it). A level shift moves every line by that much at once. So a
//! flag whose only news is such numbers stands when the line before it in
//! the stream had an excursion too; otherwise it waits for the next line,
//! and is reported then if that one has an excursion, or never. Either way
//! its event stays out of the baseline, as every flagged event does: a
//! level shift's lone lines let in would widen the range that its later
//! lines are judged by (the stream's memory keeps it), and each shift would
//! hide more of the next. Two such lines in a row come by chance about once
//! in 10^6, and the decision depends on stream positions only, so batching
//! changes nothing.

use serde::{Deserialize, Serialize};

use super::StreamDetector;
use super::pending::Held;
use super::scoring::Scored;
use crate::Anomaly;

/// What the stream's last line left for the next one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShortExcursions {
    /// The last line scored had an excursion (past the soft bar).
    #[serde(default)]
    last: bool,
    /// The last line's flag, waiting for this line.
    #[serde(default)]
    waiting: Option<Held>,
}

impl ShortExcursions {
    pub fn is_empty(&self) -> bool {
        !self.last && self.waiting.is_none()
    }

    /// The stream position of the waiting flag.
    pub fn waiting_index(&self) -> Option<u64> {
        self.waiting.as_ref().map(|h| h.anomaly.index)
    }

    /// Sets the waiting event's attributes, if it is at `index`.
    pub fn set_attributes(&mut self, index: u64, attributes: &serde_json::Value) {
        if let Some(h) = self.waiting.as_mut().filter(|h| h.anomaly.index == index) {
            h.set_attributes(attributes);
        }
    }
}

impl StreamDetector {
    /// Reports the previous line's waiting flag at `now` if `s` has an
    /// excursion, else drops it.
    pub(super) fn confirm_short(&mut self, s: &Scored, now: u64, out: &mut Vec<Anomaly>) {
        if let Some(held) = self.short.waiting.take()
            && s.stored.excursion >= 1
        {
            self.report_held(held, now, out);
        }
    }

    /// Whether the flag of `s` rests on short excursions alone and has no
    /// neighbour before it to stand on: it waits (see [`Self::wait_short`]).
    /// Notes whether `s` had an excursion, for the next line.
    pub(super) fn waits_short(&mut self, s: &Scored, flagged: bool, record: bool) -> bool {
        let waits = flagged && s.short && !record && !self.short.last;
        self.short.last = s.stored.excursion >= 1;
        waits
    }

    /// Keeps the flag `held` until the next line is scored.
    pub(super) fn wait_short(&mut self, held: Held) {
        self.short.waiting = Some(held);
    }

    /// Forgets the last line: a rebuilt baseline starts the stream afresh.
    pub(super) fn clear_short(&mut self) {
        self.short = ShortExcursions::default();
    }
}
