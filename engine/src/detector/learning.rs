//! How a flagged template becomes the stream's new normal (see
//! [`ADMIT_AFTER`]): a new one that recurs, or a known one whose quantity
//! moved among quiet lines; never a burst or a level shift.

use std::sync::Arc;

use super::{BURST_FLAGS, StreamDetector, WindowEntry};
use crate::Anomaly;
use crate::novelty::{categories, names_an_alarm};
use crate::stored::Stored;

/// A new template (never-seen tokens or members, or known words in a new
/// combination; not a metric series), or a known one whose quantity moved,
/// flagged this many times within a refresh interval (within the baseline's
/// span when only its words are new) stops being an anomaly: its lines
/// enter the baseline and the model is rebuilt at once. A genuinely rare
/// event stays rare, however often it comes back over time; a new normal
/// message, which recurs, costs no alarm (its flags are held, see
/// [`super::pending`]).
pub(super) const ADMIT_AFTER: usize = 3;

impl StreamDetector {
    /// Whether the flagged `e`, just arrived, makes its template normal (see
    /// [`ADMIT_AFTER`]); flags in a burst never do. Decided as each flag
    /// arrives, not when the first leaves the window: every line of the
    /// template in between would be flagged too.
    pub(super) fn becomes_normal(&self, e: &WindowEntry) -> bool {
        if !e.recurs_in || !self.config.learn_recurring {
            return false;
        }
        let ev = &e.ev;
        // A line raising an alarm the stream never raised does not become
        // normal by recurring: three chance flips of one template to
        // `error` would make that level known, and every later error on any
        // template would be missed.
        if self.new_alarm(ev) {
            return false;
        }
        // A changed code or text inside a known template does not become
        // normal; a known template whose quantity moved (see `moved_apart`)
        // may.
        let moved = !ev.novelty.new_template() && !self.new_context(ev);
        if moved && !self.moved_quantity(ev) {
            return false;
        }
        let strong_in_row = self.window.iter().rev().take_while(|w| w.strong).count();
        if e.strong && strong_in_row + 1 >= BURST_FLAGS {
            return false;
        }
        let horizon = if self.new_words_only(ev) {
            self.words_horizon()
        } else {
            self.refresh_every()
        };
        let template = (ev.context, ev.keyset);
        let same = |o: &Stored| (o.context, o.keyset) == template && o.index + horizon >= ev.index;
        let earlier = self.held.iter().filter(|o| same(o)).count()
            + self
                .window
                .iter()
                .filter(|w| w.flagged && !w.admitted && same(&w.ev))
                .count();
        earlier + 1 >= ADMIT_AFTER && (!moved || self.moved_apart(&same))
    }

    /// Whether a known template's moved quantity recurs among quiet lines
    /// (an endpoint now slower, or two endpoints that read alike): at most
    /// half the lines since its earliest flag in the window are flagged.
    /// Most lines moving together are a level shift, an incident to report
    /// throughout, the same majority that makes a change point.
    pub(super) fn moved_apart(&self, same: &dyn Fn(&Stored) -> bool) -> bool {
        let from = self
            .window
            .iter()
            .position(|w| w.flagged && !w.admitted && same(&w.ev))
            .unwrap_or(0);
        let span = self.window.len() - from + 1;
        let flagged = self.window.iter().skip(from).filter(|w| w.flagged).count() + 1;
        flagged * 2 <= span
    }

    /// `ev`'s template is the stream's new normal: `ev` and its template's
    /// earlier flagged lines (held, or still in the window) enter the
    /// baseline, so the next line is judged as known, and its flags still
    /// waiting to be reported are dropped. A line with a number far above
    /// every other of these lines' (see `NumericProfile::far_above`) is an
    /// anomaly among them: it stays out, and if held it is reported now,
    /// into `out`. Returns whether `ev` itself entered.
    pub(super) fn learn(&mut self, ev: &Arc<Stored>, out: &mut Vec<Anomaly>) -> bool {
        let template = (ev.context, ev.keyset);
        let same = |o: &Stored| (o.context, o.keyset) == template;
        let mut group: Vec<Arc<Stored>> = self.held.iter().filter(|o| same(o)).cloned().collect();
        group.extend(
            self.window
                .iter()
                .filter(|w| w.flagged && !w.admitted && same(&w.ev))
                .map(|w| w.ev.clone()),
        );
        group.push(ev.clone());
        let spikes = self.spikes(&group);
        let enters = |o: &Stored| same(o) && !spikes.contains(&o.index);
        let (earlier, rest): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|o| enters(o));
        self.held = rest.into();
        let mut from_window = Vec::new();
        for w in self.window.iter_mut() {
            if w.flagged && !w.admitted && enters(&w.ev) {
                w.admitted = true;
                from_window.push(w.ev.clone());
            }
        }
        let ev_enters = enters(ev);
        let now = ev_enters.then(|| ev.clone());
        for o in earlier.into_iter().chain(from_window).chain(now) {
            self.admit(Arc::new(Stored {
                learned: true,
                ..Stored::clone(&o)
            }));
        }
        for h in self.pending.take(&spikes) {
            self.report_held(h, ev.index, out);
        }
        let dropped = self.pending.drop_template(template);
        self.past.forget(&dropped);
        ev_enters
    }

    /// Positions of the lines of `group` (one template's) with a number far
    /// above the same field's values on all the others.
    fn spikes(&self, group: &[Arc<Stored>]) -> Vec<u64> {
        let profile = &self.model().profile;
        group
            .iter()
            .filter(|o| {
                o.leaves.iter().any(|(path, v)| {
                    let others: Vec<f64> = group
                        .iter()
                        .filter(|g| g.index != o.index)
                        .flat_map(|g| g.leaves.iter().filter(|(p, _)| p == path).map(|l| l.1))
                        .collect();
                    let hi = others.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    !others.is_empty()
                        && profile.far_above((o.context, o.keyset), path, *v, hi, others.len())
                })
            })
            .map(|o| o.index)
            .collect()
    }

    /// Flagged for a quantity outside its range alone: no new token, member,
    /// code or character.
    pub(super) fn moved_quantity(&self, ev: &Stored) -> bool {
        !ev.novelty.any()
            && !ev.novelty.in_text()
            && self
                .model()
                .profile
                .shifts_a_quantity((ev.context, ev.keyset), &ev.leaves)
    }

    /// New words, but every field known, no new category value that raises
    /// an alarm (a new `FATAL`; a new service is words), nothing else new.
    pub(super) fn new_words_only(&self, ev: &Stored) -> bool {
        let n = ev.novelty;
        n.members == 0
            && !n.in_text()
            && (n.tokens > 0 || self.new_context(ev))
            && !self.new_alarm(ev)
    }

    /// Whether a category value of `ev` names an alarm (see
    /// [`names_an_alarm`]) that neither the baseline nor the memory knows.
    pub(super) fn new_alarm(&self, ev: &Stored) -> bool {
        let (vocab, memory) = (&self.model().vocab, &self.memory.vocab);
        categories(&ev.encoded)
            .any(|c| names_an_alarm(c) && !vocab.knows_token(c) && !memory.knows_token(c))
    }

    /// Whether no baseline event, nor any template the memory keeps, has
    /// `ev`'s template context: known words in a new combination.
    pub(super) fn new_context(&self, ev: &Stored) -> bool {
        !self.model().pool.iter().any(|p| p.context == ev.context)
    }

    /// How far back flags of a template of new words count towards making
    /// it normal, and so how long they are held: the baseline's span. Flagged
    /// three times in it, the template is as frequent as templates a baseline
    /// drawn after it appeared would hold; a new field or level must recur
    /// within a refresh interval instead, the denser evidence a change of
    /// shape needs.
    pub(super) fn words_horizon(&self) -> u64 {
        self.config.baseline_size as u64
    }
}
