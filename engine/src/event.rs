//! The event model shared by readers, the detector and the API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of signal an event carries; it chooses encoding defaults
/// (volatile-token masking is on for logs, numeric context for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    #[default]
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

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "log" | "logs" => Some(EventKind::Log),
            "metric" | "metrics" => Some(EventKind::Metric),
            "trace" | "traces" | "span" => Some(EventKind::Trace),
            "llm" => Some(EventKind::Llm),
            _ => None,
        }
    }
}

/// One event, as in the `/v1/detect` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    /// Empty for an event sent to the API (its stream is the request's), and
    /// then not written, so a stored event is the one that was sent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: EventKind,
    /// A JSON object; scalars are accepted and wrapped as `{"value": ...}` by the encoder.
    pub body: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub attributes: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
}

impl Event {
    /// An event from its `/v1/detect` JSON form; fields the event model does not
    /// know (a dataset's `label`, say) are ignored.
    pub fn from_json(value: Value) -> Result<Event, serde_json::Error> {
        serde_json::from_value(value)
    }
}
