//! One stream's detector: the state machine described in the crate docs.

use std::collections::VecDeque;
use std::sync::Arc;

use driftlock_kernels::{CpuBackend, PermutationBackend};
use serde::{Deserialize, Serialize};

pub(crate) mod body_text;
mod calibrate;
mod learning;
mod pending;
mod records;
mod recurrence;
mod report;
mod scoring;
mod short_excursions;
mod state;
mod windows;

use crate::encode::context::{Leaves, Rolling, Runs, series_key};
use crate::encode::numeric_leaves;
use crate::error::Result;
use crate::incident::Incidents;
use crate::memory::Memory;
use crate::model::Model;
use crate::stored::Stored;
use crate::{Anomaly, DetectorConfig, Event, EventKind};
use calibrate::cross_fit;
use pending::{Held, Pending};
use records::Records;
use recurrence::PastAnomalies;
use scoring::Scored;
use short_excursions::ShortExcursions;

/// Besag–Clifford stopping: a window test stops at its 16th exceedance. The
/// p-value stays valid and null windows cost ~30 permutations instead of 1000.
const STOP_AFTER_EXCEEDANCES: u32 = 16;

/// A strong flag (conservative p-value at most `BURST_P`) with at least
/// `BURST_FLAGS - 1` more in a row, or among the `BURST_SPAN` events after it,
/// is part of a burst: kept out of the event p-values' reference as well as
/// out of what the model knows (a new template among other lines is admitted
/// instead, see [`learning::ADMIT_AFTER`]). On a clean stream three such flags within
/// ten events come about once in 10^5 events, so the reference keeps its tail.
const BURST_P: f64 = 0.025;
const BURST_FLAGS: usize = 3;
const BURST_SPAN: u64 = 10;

/// Whether a stream can score yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StreamStatus {
    Calibrating { events_needed: usize },
    Ready,
}

/// A raw event kept for (re)calibration. A saved detector writes it through
/// `state::RawOut`, which must write any new field too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Raw {
    pub index: u64,
    pub timestamp: Option<String>,
    /// The body as compact JSON text, parsed again only when the baseline is
    /// rebuilt from `recent` (see [`body_text`]).
    #[serde(with = "body_text")]
    pub body: String,
    pub mask: bool,
    /// A metric event: its code length ranks as it is (see
    /// [`crate::model::code_level`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metric: bool,
    /// Metric context fields (see [`crate::encode::context`]), empty for
    /// other kinds of event.
    #[serde(default)]
    pub derived: Leaves,
    /// The newest values of each numeric field's series (see
    /// [`crate::shape`]), empty for other kinds of event. Shared with the
    /// scored event: with a metric context they are most of its size.
    #[serde(default, skip_serializing_if = "Runs::is_empty")]
    pub runs: Arc<Runs>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WindowEntry {
    ev: Arc<Stored>,
    flagged: bool,
    /// Flagged with a conservative p-value at most [`BURST_P`].
    #[serde(default)]
    strong: bool,
    /// Not a metric event: its template may become normal by recurring
    /// (see [`learning::ADMIT_AFTER`]).
    #[serde(default)]
    recurs_in: bool,
    /// Already in the baseline: its template became normal while it was in
    /// the window.
    #[serde(default)]
    admitted: bool,
}

/// The state of one stream. Serialisable so that a server can persist it and
/// resume after a restart with identical answers. What the live detector
/// shares is saved once: the baseline as the part of the model's neighbour
/// pool it shares plus the events added since, a raw event's metric runs
/// only where no kept event has them (states saved before still load). Its
/// `Serialize` and `Deserialize` are written by hand in `state.rs`: a new
/// field must be added there.
#[derive(Debug, Clone)]
pub struct StreamDetector {
    stream_id: String,
    config: DetectorConfig,
    seen: u64,
    /// The last `baseline_size` events, anomalous ones included: the calibration
    /// set while calibrating, and the new baseline after a change point.
    recent: VecDeque<Raw>,
    baseline: VecDeque<Arc<Stored>>,
    /// Flagged events that left the window since the baseline's oldest event.
    /// What the model knows leaves them out, but the event p-values'
    /// reference keeps their ranks: a reference of only the events the
    /// detector passed loses its tail at every refresh, and ever more normal
    /// events fall beyond it.
    held: VecDeque<Arc<Stored>>,
    window: VecDeque<WindowEntry>,
    /// Tokens, members and template exemplars of events that left the baseline.
    memory: Memory,
    /// Recent values of each metric series (see [`crate::encode::context`]).
    rolling: Rolling,
    model: Option<Model>,
    /// Events scored since the model's origin (calibration or change point); the
    /// refresh and window grids count from here, so batching never changes results.
    since_origin: u64,
    last_window_p: Option<f64>,
    /// Window tests run so far: each test's permutations are keyed by its ordinal,
    /// so they do not depend on how events were batched.
    windows_tested: u64,
    /// The newest anomalies, for telling a recurrence from a new incident.
    past: PastAnomalies,
    /// The open incident and the templates of recent ones.
    incidents: Incidents,
    /// Flags of never-seen templates not yet reported (see [`pending`]).
    pending: Pending,
    /// The last line's excursion and waiting flag (see [`short_excursions`]).
    short: ShortExcursions,
    /// The all-time range of each metric series' numbers (kept only when
    /// `record_margin` is set).
    records: Records,
    /// Not saved.
    diagnostics: Option<Diagnostics>,
}

/// Every p-value the detector computed, for calibration checks and evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// (stream position, conformal p-value) of every scored event.
    pub event_p: Vec<(u64, f64)>,
    /// (stream position of the window's newest event, permutation p-value).
    pub window_p: Vec<(u64, f64)>,
}

impl StreamDetector {
    pub fn new(stream_id: impl Into<String>, config: DetectorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            stream_id: stream_id.into(),
            config,
            seen: 0,
            recent: VecDeque::new(),
            baseline: VecDeque::new(),
            held: VecDeque::new(),
            window: VecDeque::new(),
            memory: Memory::default(),
            rolling: Rolling::default(),
            model: None,
            since_origin: 0,
            last_window_p: None,
            windows_tested: 0,
            past: PastAnomalies::default(),
            incidents: Incidents::default(),
            pending: Pending::default(),
            short: ShortExcursions::default(),
            records: Records::default(),
            diagnostics: None,
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    pub fn status(&self) -> StreamStatus {
        if self.model.is_some() {
            StreamStatus::Ready
        } else {
            StreamStatus::Calibrating {
                events_needed: self.config.calibration_size() - self.recent.len(),
            }
        }
    }

    /// Starts recording every p-value (see [`Diagnostics`]).
    pub fn enable_diagnostics(&mut self) {
        self.diagnostics.get_or_insert_with(Diagnostics::default);
    }

    /// The p-values recorded since the last call.
    pub fn take_diagnostics(&mut self) -> Diagnostics {
        self.diagnostics
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Events pushed so far.
    pub fn events_seen(&self) -> u64 {
        self.seen
    }

    /// Hex SHA-256 of the current baseline, if calibrated.
    pub fn baseline_digest(&self) -> Option<&str> {
        self.model.as_ref().map(|m| m.digest())
    }

    /// Scores `events` in order and returns the anomalies among them (and any
    /// change point), using the CPU permutation backend.
    pub fn push(&mut self, events: &[Event]) -> Result<Vec<Anomaly>> {
        self.push_with(events, &CpuBackend::new())
    }

    /// [`push`](Self::push) with a chosen permutation backend.
    pub fn push_with(
        &mut self,
        events: &[Event],
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<Anomaly>> {
        self.push_parsed(events, &[], backend)
    }

    /// [`push_with`](Self::push_with) for events parsed from JSON text:
    /// `bodies[i]`, where given, is the text `events[i].body` was parsed from
    /// (see [`crate::read::ReadOptions::keep_body_text`]). The detector keeps
    /// each event's body as text, and copying it is cheaper than writing the
    /// body out again. `bodies` may be shorter than `events`, empty included.
    /// The answers and the saved state are those of `push_with`.
    pub fn push_parsed(
        &mut self,
        events: &[Event],
        bodies: &[Option<String>],
        backend: &dyn PermutationBackend,
    ) -> Result<Vec<Anomaly>> {
        let mut out = Vec::new();
        let mut i = 0;
        let bodies_from = |i: usize| bodies.get(i..).unwrap_or_default();
        while i < events.len() {
            if self.model.is_none() {
                self.remember(&events[i], bodies.get(i).and_then(Option::as_deref));
                self.seen += 1;
                i += 1;
                if self.recent.len() == self.config.calibration_size() {
                    self.rebase()?;
                }
                continue;
            }
            let refresh = self.refresh_every();
            let mut room = (refresh - self.since_origin % refresh) as usize;
            let full = self.config.baseline_size as u64;
            let grows = self.config.calibration_size() < self.config.baseline_size;
            if grows && self.seen < full {
                room = room.min((full - self.seen) as usize);
            }
            let end = (i + room).min(events.len());
            i += self.process_chunk(&events[i..end], bodies_from(i), backend, &mut out)?;
            if grows && self.seen == full {
                // The short first baseline flagged more than a full one would
                // have, and flagged events never enter the baseline: left as
                // is, that gap would outlive the first baseline. Rebuilding
                // from the first `baseline_size` events, as a stream with a
                // full first baseline calibrates, leaves no trace of it.
                self.rebase()?;
            }
        }
        Ok(out)
    }

    fn keeps_records(&self, kind: EventKind) -> bool {
        kind == EventKind::Metric && self.config.record_margin.is_some()
    }

    fn mask_for(&self, kind: EventKind) -> bool {
        self.config
            .mask_volatile
            .unwrap_or(kind != EventKind::Metric)
    }

    /// Keeps `e` for calibration; `text` is its body's JSON text, if known.
    fn remember(&mut self, e: &Event, text: Option<&str>) {
        if self.keeps_records(e.kind) {
            let ((_, keyset), leaves) = numeric_leaves(&e.body, self.mask_for(e.kind));
            let series = series_key(keyset, &e.body);
            self.records.observe(series, &leaves, None, 0);
        }
        let mut rolling = std::mem::take(&mut self.rolling);
        let (derived, runs) = self
            .derive_context(&mut rolling, std::slice::from_ref(e))
            .pop()
            .unwrap_or_default();
        self.rolling = rolling;
        let raw = Raw {
            index: self.seen,
            timestamp: e.timestamp.clone(),
            body: text.map_or_else(|| body_text::of(&e.body), str::to_owned),
            mask: self.mask_for(e.kind),
            metric: e.kind == EventKind::Metric,
            derived,
            runs: runs.shared(),
        };
        self.remember_raw(raw);
    }

    /// Derived metric context fields and runs of `events` in order (empty for
    /// other kinds), advancing `rolling`.
    fn derive_context(&self, rolling: &mut Rolling, events: &[Event]) -> Vec<(Leaves, Runs)> {
        let n = self.config.metric_context;
        events
            .iter()
            .map(|e| {
                if e.kind != EventKind::Metric || n < 2 {
                    return (Vec::new(), Runs::default());
                }
                let ((_, keyset), leaves) = numeric_leaves(&e.body, self.mask_for(e.kind));
                rolling.derive_with_runs(n, series_key(keyset, &e.body), leaves)
            })
            .collect()
    }

    fn remember_raw(&mut self, raw: Raw) {
        self.recent.push_back(raw);
        if self.recent.len() > self.config.baseline_size {
            self.recent.pop_front();
        }
    }

    /// Builds a fresh baseline and model from `recent` by cross-fitting.
    fn rebase(&mut self) -> Result<()> {
        for ev in self.baseline.drain(..) {
            self.memory.remember(ev);
        }
        self.memory.absorb();
        let raws: Vec<Raw> = self.recent.iter().cloned().collect();
        let gap = self.config.window_size as u64;
        let baseline: Vec<Arc<Stored>> = cross_fit(
            self.config.compressor,
            &raws,
            &self.memory,
            gap,
            self.config.seed,
        )?
        .into_iter()
        .map(Arc::new)
        .collect();
        self.model = Some(Model::build(
            self.config.compressor,
            &baseline,
            &[],
            &self.memory,
            gap,
        )?);
        self.baseline = baseline.into();
        self.held.clear();
        self.window.clear();
        self.clear_short();
        self.since_origin = 0;
        Ok(())
    }

    /// Events between model rebuilds: a window, or a quarter of the baseline
    /// if that is longer (a rebuild prepares a new dictionary, the costliest
    /// step per event; a quarter keeps the model within 100 events of the
    /// baseline at the defaults).
    fn refresh_every(&self) -> u64 {
        self.config
            .window_size
            .max(self.config.baseline_size / 4)
            .max(1) as u64
    }

    fn refresh(&mut self) -> Result<()> {
        let oldest = self.baseline.front().map_or(0, |e| e.index);
        while self.held.front().is_some_and(|e| e.index < oldest)
            || self.held.len() > self.config.baseline_size
        {
            self.held.pop_front();
        }
        let baseline: Vec<Arc<Stored>> = self.baseline.iter().cloned().collect();
        let held: Vec<Arc<Stored>> = self.held.iter().cloned().collect();
        let model = Model::build_absorbing(
            self.config.compressor,
            &baseline,
            &held,
            &mut self.memory,
            self.config.window_size as u64,
        )?;
        // Freeing the old model (its dictionary, maps and pool) is left to the
        // thread pool, beside the next chunk's scoring, instead of holding up
        // this sequential step.
        if let Some(old) = self.model.replace(model) {
            rayon::spawn(move || drop(old));
        }
        Ok(())
    }

    /// Processes events up to the next refresh boundary; returns how many were
    /// consumed (fewer when a change point rebuilt the model midway).
    fn process_chunk(
        &mut self,
        chunk: &[Event],
        bodies: &[Option<String>],
        backend: &dyn PermutationBackend,
        out: &mut Vec<Anomaly>,
    ) -> Result<usize> {
        let mut rolling = self.rolling.clone();
        let derived = self.derive_context(&mut rolling, chunk);
        let before = std::mem::replace(&mut self.rolling, rolling);
        let scored = self.score_chunk(chunk, bodies, derived)?;
        let stats = self.window_tests(&scored, backend)?;
        let (w, hop) = (self.config.window_size as u64, self.config.hop_size as u64);
        let mut tests = stats.into_iter();
        for (j, mut s) in scored.into_iter().enumerate() {
            let now = s.stored.index;
            self.release_due(now, s.stored.timestamp.as_deref(), out);
            self.remember_raw(s.raw.take().expect("each scored event is remembered once"));
            self.seen += 1;
            self.since_origin += 1;
            let record = s.series.and_then(|(series, own)| {
                self.records.observe(
                    series,
                    &s.stored.leaves[..own],
                    self.config.record_margin,
                    self.config.calibration_size() as u64,
                )
            });
            let record = record.filter(|r| r.p_value() <= self.config.p_value_threshold);
            if record.is_some() && s.nearest.is_none() {
                s.nearest = Some(self.nearest(&s.stored)?);
            }
            self.confirm_short(&s, now, out);
            let flagged = self.is_flagged(&s) || record.is_some();
            let waits = self.waits_short(&s, flagged, record.is_some());
            let window_test = (self.since_origin >= w && self.since_origin.is_multiple_of(hop))
                .then(|| tests.next())
                .flatten();
            if let Some(stat) = window_test {
                self.last_window_p = Some(stat);
                self.windows_tested += 1;
            }
            if let Some(d) = self.diagnostics.as_mut() {
                d.event_p.push((s.stored.index, s.p));
                if let Some(p) = window_test {
                    d.window_p.push((s.stored.index, p));
                }
            }
            let template = (s.stored.context, s.stored.keyset);
            if flagged {
                let recurs = self.past.nearest(&s.stored, &self.model().profile);
                let mut a = self.anomaly(&s, recurs, record)?;
                if waits {
                    self.wait_short(Held::new(a, template, chunk[j].clone()));
                } else if self.holds(chunk[j].kind, &s.stored) {
                    self.pending.hold(a, template, chunk[j].clone());
                } else {
                    self.incidents.assign(&mut a, template);
                    out.push(a);
                }
                self.past.remember(&s.stored);
            }
            let strong = flagged && s.p_upper <= BURST_P;
            let mut entry = WindowEntry {
                ev: s.stored,
                flagged,
                strong,
                recurs_in: chunk[j].kind != EventKind::Metric,
                admitted: false,
            };
            let learned = flagged && self.becomes_normal(&entry);
            if learned {
                entry.admitted = self.learn(&entry.ev, out);
            }
            self.window.push_back(entry);
            if self.window.len() as u64 > w {
                let left = self.window.pop_front().expect("window is not empty");
                if left.admitted {
                    // Already in the baseline.
                } else if left.flagged {
                    self.leave_flagged(left);
                } else {
                    self.admit(left.ev);
                }
            }
            if let Some(p) = window_test {
                let flagged_in_window = self.window.iter().filter(|e| e.flagged).count();
                if flagged_in_window * 2 > self.window.len() {
                    // The rebuilt baseline forgets the flags that could
                    // make a held template normal: its flags are reported.
                    for h in self.pending.drain() {
                        self.report_held(h, now, out);
                    }
                    let mut a = self.change_point(p, flagged_in_window)?;
                    let first = self.window.iter().find(|e| e.flagged).map(|e| &e.ev);
                    let template = first.map_or((0, 0), |e| (e.context, e.keyset));
                    self.incidents.assign(&mut a, template);
                    out.push(a);
                    self.rebase()?;
                    // The rest of the chunk is scored again: the context
                    // advances by the consumed events only.
                    let mut rolling = before;
                    self.derive_context(&mut rolling, &chunk[..=j]);
                    self.rolling = rolling;
                    return Ok(j + 1);
                }
            }
            if self.since_origin.is_multiple_of(self.refresh_every()) {
                self.refresh()?;
            } else if learned {
                // A template just became normal: until the model knows it,
                // each of its lines would be flagged again (up to a refresh
                // interval of them). The rest of the chunk is scored against
                // the new model.
                self.refresh()?;
                let mut rolling = before;
                self.derive_context(&mut rolling, &chunk[..=j]);
                self.rolling = rolling;
                return Ok(j + 1);
            }
        }
        Ok(chunk.len())
    }

    /// Adds `ev` to the baseline; the oldest event moves to memory.
    fn admit(&mut self, ev: Arc<Stored>) {
        self.baseline.push_back(ev);
        if self.baseline.len() > self.config.baseline_size {
            let gone = self.baseline.pop_front().expect("baseline is not empty");
            self.memory.remember(gone);
        }
    }

    /// Where a flagged event goes when it leaves the window: out of
    /// everything (a burst), or held (its rank stays in the reference).
    fn leave_flagged(&mut self, left: WindowEntry) {
        // A burst kept in the reference would make its recurrences look
        // ordinary. Other flags keep their ranks there: a clean stream gives
        // them at the rate α, and strong ones close together almost never,
        // whatever α is.
        let i = left.ev.index;
        let in_row = self.window.iter().take_while(|e| e.strong).count();
        let near = self
            .window
            .iter()
            .take_while(|e| e.ev.index <= i + BURST_SPAN)
            .filter(|e| e.strong)
            .count();
        let burst = left.strong && (in_row + 1 >= BURST_FLAGS || near + 1 >= BURST_FLAGS);
        if !burst {
            self.held.push_back(left.ev);
        }
    }

    fn model(&self) -> &Model {
        self.model
            .as_ref()
            .expect("scoring only happens once calibrated")
    }
}
