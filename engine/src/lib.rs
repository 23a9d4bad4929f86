//! Driftlock's engine: finds anomalies in event streams with compression
//! distances and calibrated p-values.
//!
//! Data flows one way: [`read`] turns Parquet, Arrow IPC, CSV and NDJSON files
//! into [`Event`]s; [`encode`] turns each event into canonical bytes (sorted keys,
//! volatile tokens masked, numbers as symbols of the baseline's distribution);
//! a [`StreamDetector`] scores each event against a compressor dictionary of its
//! stream's baseline and reports [`Anomaly`]s; window tests run on the
//! permutation kernels of `driftlock-kernels` (CPU or GPU, same answers).
//!
//! ```
//! use driftlock_engine::{DetectorConfig, Event, StreamDetector, StreamStatus};
//! use serde_json::json;
//!
//! let config = DetectorConfig { baseline_size: 40, window_size: 10, hop_size: 5, ..Default::default() };
//! let mut detector = StreamDetector::new("checkout", config).unwrap();
//! let normal = |i: u64| Event {
//!     body: json!({"level": "INFO", "msg": format!("GET /api/orders/{} 200", 1000 + i % 7)}),
//!     ..Default::default()
//! };
//! let events: Vec<Event> = (0..100).map(normal).collect();
//! detector.push(&events[..30]).unwrap();
//! assert_eq!(detector.status(), StreamStatus::Calibrating { events_needed: 10 });
//! detector.push(&events[30..]).unwrap();
//! assert_eq!(detector.status(), StreamStatus::Ready);
//!
//! let odd = Event {
//!     body: json!({"level": "FATAL", "msg": "kernel: Out of memory: Killed process 4242 (postgres)", "oom_score": 998}),
//!     ..Default::default()
//! };
//! let found = detector.push(&[odd]).unwrap();
//! assert_eq!(found[0].index, 100);
//! assert!(found[0].metrics.p_value > 0.0 && found[0].metrics.p_value <= 0.05);
//! println!("{}", found[0].why);
//! ```
//!
//! # Stream semantics
//!
//! These hold exactly, and the tests check them:
//!
//! - **Calibrating.** A stream is `calibrating` until it has seen
//!   `baseline_size` events (`min_baseline_size` when that is set);
//!   [`StreamDetector::status`] says how many are still needed. Calibration
//!   events are not scored. When the first baseline is complete it is
//!   *cross-fitted*: split into 5 interleaved folds (contiguous with metric
//!   context, below), each fold scored against a
//!   dictionary (and numeric profile) of the other four, so that every baseline
//!   event has an out-of-sample score. A first baseline shorter than
//!   `baseline_size` then grows by every event that leaves the window (below),
//!   and when the stream has seen `baseline_size` events the baseline is
//!   rebuilt (cross-fitted) from all of them, flagged ones included, as a
//!   stream with a full first baseline calibrates: the short baseline's extra
//!   flags (which kept events out of the baseline) leave no trace, and from
//!   there on the stream behaves as one that waited for the full baseline.
//! - **Every event is scored**, the newest included, against a dictionary of the
//!   newest 4/5 of the baseline (the same size as the cross-fitting folds, so the
//!   scores of new and baseline events are exchangeable when nothing changed).
//!   The score is the event's code length given the baseline, in bits per byte.
//! - **Nonconformity** ranks structural evidence above the code length,
//!   lexicographically: object members (key, value type) never seen, then word
//!   tokens never seen (both judged against the baseline *and* the stream's
//!   memory, below), then how far a number left the baseline's 1st–99th
//!   percentile range (in baseline spreads, per template, else per set of keys,
//!   else per field), then bits per byte. Baseline events are ranked the same
//!   way out of sample.
//! - **Event p-value**: conformal on that rank,
//!   `(#{reference ranks > r} + u·(1 + #{= r})) / (n + 1)` with `u ∈ (0, 1]`
//!   drawn from (seed, position): uniform under exchangeability, never 0.
//!   Beyond every reference rank, `u` is replaced by `1 / (1 + excess / β)`
//!   from the reference's own top, so the most extreme event gets the
//!   smallest p-value.
//! - **Flagging**: an event is an anomaly when its p-value is at most
//!   `p_value_threshold` — and so is its conservative p-value, ties counted
//!   against it (`u` = 1), so that an event whose evidence ties with baseline
//!   events (a metric value in a quantile bin the baseline has, encoded to the
//!   same bytes) is never flagged by the draw of its tie-breaker — *and* it is
//!   different enough to matter: its NCD to the
//!   nearest known event (the spec's formula on two events, comparable sizes)
//!   is at least `ncd_threshold`, or it has a never-seen member or token, or a
//!   number outside the baseline's range. (A single out-of-range number changes a
//!   200-byte event's NCD by little; the p-value already says it is unlikely.)
//!   Each event is decided once, when it arrives, so an event is reported at
//!   most once although windows overlap.
//! - **Held flags** (`hold_new_templates`, on by default): a flag whose only
//!   news is words (every field known, no new alarm level such as `ERROR`,
//!   no new punctuation or code in the text) is held for up to
//!   `baseline_size` events or ten minutes of event time, then reported as
//!   it was scored (`Anomaly::reported_at` says by which event, and
//!   `Anomaly::held_event` carries the event); if its template became
//!   normal meanwhile (below), or a later line of it entered the baseline
//!   unflagged, it is never reported. [`StreamDetector::settle`]
//!   reports what is held when a finite input ends.
//! - **Short excursions**: a number is encoded as an excursion from half a
//!   spread (plus a sample-size term) past its range, but a template with
//!   few baseline lines passes that by chance once in a thousand values. A
//!   flag whose only news is numbers short of a firm bar (as rare by chance
//!   at every sample size as half a spread is in a large baseline) stands
//!   only beside a line with an excursion: the line before it, or the next
//!   one, which it waits for (reported then, `reported_at` one later). A
//!   level shift moves every line; one slow request in a small template
//!   is not an alarm.
//! - **Metric context** (`metric_context`, off by default): each numeric field
//!   of a metric event is joined by its rolling median and MAD over the newest
//!   `metric_context` events of its series (same keys and short string labels
//!   such as `host`). They count towards
//!   the event's numeric excursion and its `why`, but are not written into the
//!   compressed bytes, so code lengths stay exchangeable for the window test;
//!   a baseline with context is cross-fitted in contiguous folds, as
//!   neighbouring events share most of their context. The field's *run* (its
//!   newest `metric_context` values, at most 64) is compared with the baseline's runs
//!   (KNN-CAD style, see the `shape` module): a run farther from every
//!   baseline run than 1.5× the baseline runs' own largest spacing counts as
//!   an excursion too, so a new shape inside the range (a flat stretch, a
//!   reversed cycle) is found.
//! - **Recurrence**: each event anomaly with numbers names the nearest of the
//!   stream's 64 most recent anomalies (`Anomaly::recurs`: the largest
//!   difference of their numbers over each field's baseline range stretched
//!   to cover both, so two spikes far above it compare by height), and its
//!   `why` says "it resembles anomaly #N" when that is within 5%: a rare but
//!   regular pattern never enters the baseline and is flagged each time it
//!   returns, but it is told apart from a new incident.
//! - **Records** (`record_margin`, off by default): each metric series keeps
//!   the all-time range of its numbers, and a value beyond it by more than
//!   that share of its width is flagged whatever its compression score, with
//!   its own exact p-value (the newest of n + 1 exchangeable values is the
//!   highest or lowest with probability 2/(n + 1)) and `Anomaly::record`; it
//!   catches a new high inside the baseline range's margin, which is wide on
//!   spiky series.
//! - **Memory**: events leaving the baseline leave their tokens, members, the
//!   exact values of few-valued numeric fields (status codes) and one exemplar
//!   per template in a bounded memory, merged at the next model rebuild. A rare
//!   normal message that drops out of the 400-event baseline is therefore not
//!   flagged on its next occurrence (and then kept out of the baseline for ever).
//! - **Windows**: every `hop_size` events (once `window_size` events were scored)
//!   the scores of the newest `window_size` events are tested against the
//!   model's window reference with a permutation test on the difference of
//!   means (+1 correction, Besag–Clifford early stopping at 16 exceedances
//!   unless `early_stop` is off, seeded by position). The reference is the
//!   baseline's oldest fifth, which the dictionary leaves out, and the flagged
//!   events of its span, scored against the current dictionary: both sides are
//!   drawn alike, flagged events included. Its p-value is reported as
//!   `window_p_value`.
//! - **Rolling baseline**: an event enters the baseline when it leaves the
//!   window, unless it was flagged; the model (dictionary, numeric profile,
//!   vocabulary, reference ranks) is rebuilt every
//!   `max(window_size, baseline_size / 4)` scored events. The grid counts
//!   stream positions, so sending events one by one or in one batch gives the
//!   same anomalies. A flagged event stays out of what the model knows but
//!   keeps its rank in the event p-values' reference, so that a clean stream
//!   stays calibrated at any threshold; only a burst (a strong flag with two
//!   more in a row or within ten events) is left out of the reference too. A
//!   new template (never-seen tokens or members, or known words in a new
//!   combination; not a metric) flagged three times within a refresh
//!   interval, or within the baseline's span when only its words are new,
//!   enters the baseline with those lines: logs whose normal changes stop
//!   alarming on their own evolution.
//! - **Incidents**: a stream's anomalies are grouped causally
//!   ([`incident`]), each incident with a rank.
//! - **Change points**: when, at a window test, more than half of the window
//!   is flagged, one `change_point` anomaly is reported and the
//!   baseline is rebuilt (cross-fitted) from the newest `baseline_size` events,
//!   anomalous ones included, so the stream stops flagging its new normal.
//! - **Reproducible**: the same events, configuration and seed give the same
//!   anomalies, whatever the thread count or batch split.

pub mod anomaly;
mod bounded;
pub mod compress;
pub mod config;
pub mod detector;
pub mod encode;
pub mod error;
pub mod event;
mod explain;
pub mod fdr;
pub mod incident;
mod memory;
mod model;
mod novelty;
pub mod pairwise;
pub mod read;
mod shape;
mod stored;
mod streams;

pub use anomaly::{Anomaly, AnomalyKind, Metrics, Neighbour, Record, Recurrence};
pub use compress::CompressorKind;
pub use config::DetectorConfig;
pub use detector::{Diagnostics, StreamDetector, StreamStatus};
pub use error::{EngineError, Result};
pub use event::{Event, EventKind};
pub use incident::IncidentTag;
pub use streams::{StreamFound, StreamSet};
