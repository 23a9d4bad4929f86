//! Seeded generators of synthetic event streams with labelled anomalies.
//!
//! Every event is drawn from its own PRNG seeded by (seed, stream, index), so
//! normal events are independent draws from one distribution (what p-value
//! calibration needs in clean mode), and a run with anomalies shares every
//! normal event with the clean run of the same seed.

pub(crate) mod anomaly;
mod llm;
mod logs;
mod metrics;
mod placement;
mod stream;
mod template;
mod traces;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use anomaly::AnomalyKind;
pub use stream::EventStream;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// The engine's event types (`type` field of an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Log,
    Metric,
    Trace,
    Llm,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Log => "log",
            EventKind::Metric => "metric",
            EventKind::Trace => "trace",
            EventKind::Llm => "llm",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "log" | "logs" => Some(EventKind::Log),
            "metric" | "metrics" => Some(EventKind::Metric),
            "trace" | "traces" | "span" => Some(EventKind::Trace),
            "llm" => Some(EventKind::Llm),
            _ => None,
        }
    }
}

/// Which generator a stream uses. `Mixed` cycles logs, metrics, traces, llm over
/// the streams of one config (stream i gets kind i mod 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    // Explicit discriminants: they are mixed into seeds, so they pin the output.
    Logs = 0,
    Metrics = 1,
    Traces = 2,
    Llm = 3,
    Mixed = 4,
}

impl StreamKind {
    pub const SINGLE: [StreamKind; 4] = [
        StreamKind::Logs,
        StreamKind::Metrics,
        StreamKind::Traces,
        StreamKind::Llm,
    ];

    pub fn parse(s: &str) -> Option<StreamKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logs" | "log" => Some(StreamKind::Logs),
            "metrics" | "metric" => Some(StreamKind::Metrics),
            "traces" | "trace" => Some(StreamKind::Traces),
            "llm" => Some(StreamKind::Llm),
            "mixed" => Some(StreamKind::Mixed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Logs => "logs",
            StreamKind::Metrics => "metrics",
            StreamKind::Traces => "traces",
            StreamKind::Llm => "llm",
            StreamKind::Mixed => "mixed",
        }
    }

    /// The concrete kind of stream number `index` of a config.
    pub(crate) fn for_stream(self, index: usize) -> StreamKind {
        match self {
            StreamKind::Mixed => StreamKind::SINGLE[index % 4],
            k => k,
        }
    }
}

/// How many anomalies to inject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnomalyCount {
    /// Exactly this many in total (split evenly over the streams); building fails
    /// when they do not fit after the warm-up with `min_gap` between them.
    Count(u64),
    /// About `rate × events` per stream, reduced to what fits.
    Rate(f64),
    /// As many as fit.
    Max,
}

/// Configuration of a (possibly multi-stream) synthetic dataset.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub stream_kind: StreamKind,
    /// Total events over all streams.
    pub events: u64,
    pub seed: u64,
    /// Kinds to inject, cycled in shuffled rounds; empty means clean mode.
    pub anomalies: Vec<AnomalyKind>,
    pub anomaly_count: AnomalyCount,
    /// Leading events of each stream that are always normal.
    pub warmup: u64,
    /// Minimum number of normal events between two anomalies of a stream.
    pub min_gap: u64,
    /// Stream ids are `{stream_id}-{i}` for i in 0..streams.
    pub stream_id: String,
    pub streams: usize,
    /// Timestamp of the first event (Unix ms); 2024-03-01T00:00:00Z by default.
    pub start_ms: i64,
    /// Mean gap between two events of one stream (exponential inter-arrivals).
    pub mean_interval_ms: f64,
}

impl GeneratorConfig {
    /// All six anomaly kinds at a rate of 1 per 500 events, one stream `svc-0`.
    pub fn new(stream_kind: StreamKind, events: u64, seed: u64) -> Self {
        GeneratorConfig {
            stream_kind,
            events,
            seed,
            anomalies: AnomalyKind::ALL.to_vec(),
            anomaly_count: AnomalyCount::Rate(0.002),
            warmup: 600,
            min_gap: 150,
            stream_id: "svc".to_string(),
            streams: 1,
            start_ms: 1_709_251_200_000,
            mean_interval_ms: 250.0,
        }
    }

    /// No anomalies: every event an independent draw from the normal generator.
    pub fn clean(stream_kind: StreamKind, events: u64, seed: u64) -> Self {
        GeneratorConfig {
            anomalies: Vec::new(),
            anomaly_count: AnomalyCount::Count(0),
            ..Self::new(stream_kind, events, seed)
        }
    }

    pub fn with_anomalies(mut self, kinds: &[AnomalyKind], count: AnomalyCount) -> Self {
        self.anomalies = kinds.to_vec();
        self.anomaly_count = count;
        self
    }

    pub fn with_streams(mut self, streams: usize) -> Self {
        self.streams = streams;
        self
    }

    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty() || self.anomaly_count == AnomalyCount::Count(0)
    }

    /// Builds the stream; fails on an inconsistent config (zero streams, a count
    /// that does not fit, a non-positive interval).
    pub fn build(&self) -> Result<EventStream> {
        EventStream::new(self)
    }
}

/// One generated event with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledEvent {
    pub stream_id: String,
    /// RFC 3339, UTC, millisecond precision.
    pub timestamp: String,
    /// The same instant as Unix milliseconds (for merging and windowing).
    pub timestamp_ms: i64,
    pub kind: EventKind,
    /// A JSON object.
    pub body: Value,
    /// A JSON object, constant within a stream.
    pub attributes: Value,
    /// `Some` for every event that belongs to an injected anomaly.
    pub label: Option<AnomalyKind>,
}

impl LabelledEvent {
    pub fn is_anomaly(&self) -> bool {
        self.label.is_some()
    }

    /// The event as the engine's JSON event (`stream_id`, `timestamp`, `type`,
    /// `body`, `attributes`) plus `label` and `anomaly_kind`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("stream_id".into(), Value::String(self.stream_id.clone()));
        m.insert("timestamp".into(), Value::String(self.timestamp.clone()));
        m.insert("type".into(), Value::String(self.kind.as_str().into()));
        m.insert("body".into(), self.body.clone());
        m.insert("attributes".into(), self.attributes.clone());
        m.insert("label".into(), Value::Bool(self.label.is_some()));
        m.insert(
            "anomaly_kind".into(),
            self.label
                .map_or(Value::Null, |k| Value::String(k.name().into())),
        );
        Value::Object(m)
    }
}

/// What a model is asked to produce for one event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Normal,
    /// A normal event that carries the model's main numeric field (so a format
    /// change or a shift has something to act on).
    Numeric,
    /// Main numeric field = its median × factor.
    Spike(f64),
    /// Main numeric field = median × factor × small noise.
    Shift(f64),
    /// A record never produced normally; the variant picks which.
    Novel(u32),
    /// An error event with a message from the never-normal set.
    Error(u32),
}

/// A stream kind's generator of bodies. Implementations are immutable after
/// construction; all randomness comes from the per-event `rng`.
pub(crate) trait Model: Send + Sync {
    fn kind(&self) -> EventKind;
    /// Who emits the stream (goes into `attributes.source`).
    fn source(&self) -> &str;
    fn sample(&self, rng: &mut Rng, mode: Mode, ts_ms: i64) -> Map<String, Value>;
}

pub(crate) fn model_for(kind: StreamKind, rng: &mut Rng) -> Result<Box<dyn Model>> {
    Ok(match kind {
        StreamKind::Logs => Box::new(logs::LogModel::new(rng)),
        StreamKind::Metrics => Box::new(metrics::MetricModel::new(rng)),
        StreamKind::Traces => Box::new(traces::TraceModel::new(rng)),
        StreamKind::Llm => Box::new(llm::LlmModel::new(rng)),
        StreamKind::Mixed => return Err(Error::Config("Mixed is resolved per stream".into())),
    })
}

/// Shifted value helper shared by the models: far above any normal draw, with a
/// little noise so a shifted segment is not a constant.
pub(crate) fn shifted(rng: &mut Rng, median: f64, factor: f64) -> f64 {
    median * factor * rng.lognormal(1.0, 0.1)
}
