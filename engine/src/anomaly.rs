//! What the detector reports.

use serde::{Deserialize, Serialize};

/// The spec's `metrics` object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// NCD between the event and its nearest baseline event (spec formula).
    pub ncd: f64,
    /// Raw bytes / compressed bytes of the encoded event.
    pub compression_ratio: f64,
    /// Compressed bits per byte of the event given the baseline, minus the
    /// baseline's typical value: how much more information it carries.
    pub entropy_change: f64,
    /// Conformal p-value of the event against the baseline's scores (never 0);
    /// for a [`Record`], the smaller of that and the record's own p-value.
    pub p_value: f64,
    /// `1 - p_value`.
    pub confidence: f64,
}

/// An event anomaly, or a sustained change that became the new baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    Event,
    ChangePoint,
}

impl AnomalyKind {
    /// The name serde gives it: `event` or `change_point`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Event => "event",
            AnomalyKind::ChangePoint => "change_point",
        }
    }
}

impl std::str::FromStr for AnomalyKind {
    type Err = crate::EngineError;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "event" => Ok(AnomalyKind::Event),
            "change_point" => Ok(AnomalyKind::ChangePoint),
            other => Err(crate::EngineError::State(format!(
                "unknown anomaly kind `{other}` (expected event or change_point)"
            ))),
        }
    }
}

/// A baseline event close to the anomaly, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Stream position of the baseline event.
    pub index: u64,
    pub ncd: f64,
    /// The baseline event's encoded (canonical, masked) form.
    pub encoded: String,
}

/// An earlier anomaly of the same stream that a new one resembles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recurrence {
    /// Stream position of the earlier anomaly.
    pub index: u64,
    /// The largest difference over their shared numeric fields, each over
    /// the width of that field's baseline range stretched to cover both
    /// values (0: the same numbers; two spikes far above the range are
    /// compared by their height).
    pub distance: f64,
}

/// A metric value beyond every value its series had before (see the
/// detector's `record_margin`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The field's path.
    pub path: String,
    pub value: f64,
    /// The series' range of the field before this value.
    pub min: f64,
    pub max: f64,
    /// Values of the field the series had before this one.
    pub count: u64,
    /// Numeric fields of the event tested for a record.
    pub fields: usize,
}

impl Record {
    /// The newest of `count + 1` exchangeable values is the highest or the
    /// lowest with probability `2 / (count + 1)`; times the fields tested.
    pub fn p_value(&self) -> f64 {
        (2.0 * self.fields.max(1) as f64 / (self.count + 1) as f64).min(1.0)
    }
}

/// One reported anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub stream_id: String,
    /// Position of the event in its stream (0-based, counting every event pushed).
    pub index: u64,
    /// The event's timestamp as given, if any.
    pub timestamp: Option<String>,
    pub kind: AnomalyKind,
    pub metrics: Metrics,
    /// p-value of the newest window containing the event, if one was tested.
    pub window_p_value: Option<f64>,
    pub why: String,
    /// Compressor that actually ran.
    pub compressor: String,
    /// The event's encoded form (what the compressor saw).
    pub encoded: String,
    pub nearest: Vec<Neighbour>,
    /// Hex SHA-256 of the baseline's encoded events at decision time.
    pub baseline_digest: String,
    /// Position of the event whose arrival reported it: `index` for an event
    /// anomaly; for a change point, the event that completed the window
    /// showing the change (`index` is that window's first anomalous event,
    /// which may have come in an earlier push). Not serialised: it tells a
    /// caller which of the events it pushed an anomaly belongs to.
    #[serde(skip)]
    pub reported_at: u64,
    /// The nearest of the stream's recent anomalies (event anomalies with
    /// numbers only; see the detector's `recurrence`). Not serialised: `why`
    /// names it when it is close.
    #[serde(skip)]
    pub recurs: Option<Recurrence>,
    /// Set when the event was a record of its series. Not serialised: `why`
    /// says so first.
    #[serde(skip)]
    pub record: Option<Record>,
    /// The incident it belongs to (see [`crate::incident`]); `None` only for
    /// anomalies built outside a detector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<crate::IncidentTag>,
    /// The event, set when the anomaly is reported after later
    /// events (a held flag, see `DetectorConfig::hold_new_templates`): the
    /// caller may no longer have it. Not serialised.
    #[serde(skip)]
    pub held_event: Option<Box<crate::Event>>,
}

/// An event anomaly at `index` with plain metrics and no evidence, for unit
/// tests of what is built on anomalies.
#[cfg(test)]
pub(crate) fn test_anomaly(index: u64) -> Anomaly {
    Anomaly {
        stream_id: "s".into(),
        index,
        timestamp: None,
        kind: AnomalyKind::Event,
        metrics: Metrics {
            ncd: 0.5,
            compression_ratio: 1.0,
            entropy_change: 0.0,
            p_value: 0.01,
            confidence: 0.99,
        },
        window_p_value: None,
        why: String::new(),
        compressor: "zstd".into(),
        encoded: String::new(),
        nearest: Vec::new(),
        baseline_digest: String::new(),
        reported_at: index,
        recurs: None,
        record: None,
        incident: None,
        held_event: None,
    }
}
