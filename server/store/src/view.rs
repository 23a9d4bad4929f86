//! A stored anomaly as users read it: the summary in a list and the detail
//! with its evidence. The API, NDJSON bulk exports and reports all show these.

use driftlock_engine::{AnomalyKind, Metrics};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::anomalies::AnomalyRecord;
use crate::feedback::FeedbackRecord;
use crate::record::AnomalyStatus;

/// For the OpenAPI document, the engine's `AnomalyKind` (the engine does not
/// depend on utoipa; the service's `api::schemas` tests that they match).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AnomalyKind)]
pub enum KindDoc {
    Event,
    ChangePoint,
}

/// For the OpenAPI document, the engine's `Metrics`: an anomaly's scores.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Metrics)]
pub struct MetricsDoc {
    /// NCD between the event and its nearest baseline event.
    pub ncd: f64,
    pub compression_ratio: f64,
    pub entropy_change: f64,
    /// Conformal p-value, in (0, 1].
    pub p_value: f64,
    /// `1 - p_value`.
    pub confidence: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSummary {
    #[serde(rename = "type")]
    pub kind: String,
    /// The body, as compact JSON, cut at 200 characters.
    pub preview: String,
}

/// An anomaly in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalySummary {
    pub id: String,
    pub stream_id: String,
    pub timestamp: String,
    pub detected_at: String,
    #[schema(value_type = KindDoc)]
    pub kind: AnomalyKind,
    #[schema(value_type = MetricsDoc)]
    pub metrics: Metrics,
    pub event_summary: EventSummary,
    pub why: String,
    pub status: AnomalyStatus,
    pub has_evidence: bool,
}

/// An anomaly with everything needed to reproduce the decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyDetail {
    #[serde(flatten)]
    pub summary: AnomalySummary,
    /// Position of the event in its stream.
    pub index: u64,
    #[schema(value_type = Object)]
    pub event: Value,
    pub window_p_value: Option<f64>,
    pub compressor: String,
    /// Config, seed, permutation count, compressor, baseline digest, the
    /// event's encoded form and the nearest baseline events.
    #[schema(value_type = Object)]
    pub evidence: Option<Value>,
    pub batch_id: String,
    pub feedback: Vec<FeedbackRecord>,
}

pub fn summary(a: &AnomalyRecord) -> AnomalySummary {
    let kind = a
        .event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("log")
        .to_string();
    let body = a
        .event
        .get("body")
        .map(Value::to_string)
        .unwrap_or_default();
    let preview: String = body.chars().take(200).collect();
    AnomalySummary {
        id: a.id.clone(),
        stream_id: a.stream_id.clone(),
        timestamp: a.timestamp.clone(),
        detected_at: a.detected_at.clone(),
        kind: a.kind,
        metrics: a.metrics,
        event_summary: EventSummary { kind, preview },
        why: a.why.clone(),
        status: a.status,
        has_evidence: a.has_evidence,
    }
}

pub fn detail(a: AnomalyRecord, feedback: Vec<FeedbackRecord>) -> AnomalyDetail {
    AnomalyDetail {
        summary: summary(&a),
        index: a.position,
        window_p_value: a.window_p_value,
        compressor: a.compressor,
        evidence: a.evidence,
        batch_id: a.batch_id,
        event: a.event,
        feedback,
    }
}
