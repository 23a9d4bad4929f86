//! `POST /v1/detect`: synchronous detection on a stream whose state persists
//! across calls.

use std::time::Instant;

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use driftlock_engine::{AnomalyKind, Metrics};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::event_input::{InputEvent, into_events};
use super::extract::ApiJson;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::scorer::{self, BatchOutcome};
use crate::state::AppState;
use crate::{quotas, request_id};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/detect", post(detect))
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    /// Stream to use; defaults to the key's stream (or `default` for an admin key).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub stream_id: Option<String>,
    /// 1 to the server's `max_events_per_request` events.
    #[schema(value_type = Vec<super::schemas::EventSchema>, min_items = 1)]
    pub events: Vec<InputEvent>,
    /// DetectorConfig fields (`baseline_size`, `min_baseline_size`, `window_size`, `hop_size`,
    /// `ncd_threshold`, `p_value_threshold`, `compressor`, `permutation_count`,
    /// `seed`, `mask_volatile`, `metric_context`, `record_margin`). Creates the stream with this config; on an
    /// existing stream, values that differ from its config are a 409.
    #[serde(default, deserialize_with = "super::integers::config")]
    #[schema(value_type = Option<super::schemas::ConfigOverride>)]
    pub config_override: Option<Map<String, Value>>,
}

/// One anomaly in a detect response.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectedAnomaly {
    pub id: String,
    /// Position of the event within this request's `events`; for a change
    /// point, the event whose arrival completed the window showing the change.
    pub index: usize,
    /// Position of the event within its stream; for a change point, where the
    /// change began (the window's first anomalous event, which may have come
    /// in an earlier request).
    pub stream_index: u64,
    #[schema(value_type = super::schemas::AnomalyKind)]
    pub kind: AnomalyKind,
    #[schema(value_type = super::schemas::Metrics)]
    pub metrics: Metrics,
    pub window_p_value: Option<f64>,
    /// The event as sent; for a change point, the event that reported it.
    #[schema(value_type = Object)]
    pub event: Value,
    pub why: String,
    pub detected: bool,
}

/// The response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectResponse {
    pub success: bool,
    pub batch_id: String,
    pub stream_id: String,
    pub total_events: usize,
    /// Events scored now (the rest were idempotent re-sends).
    pub scored_events: usize,
    pub duplicate_events: usize,
    pub anomaly_count: usize,
    pub processing_time: String,
    pub compression_algo: String,
    pub anomalies: Vec<DetectedAnomaly>,
    #[schema(value_type = super::schemas::StreamState)]
    pub status: String,
    /// Events still needed before the stream scores (0 when ready).
    pub events_needed: u64,
    /// Events the stream has seen.
    pub events_seen: u64,
    pub request_id: String,
}

/// Checks the events count and the override before any work.
pub(crate) fn check_events<T>(events: &[T], max: usize) -> Result<(), ApiError> {
    if events.is_empty() {
        return Err(ApiError::field(
            "events",
            format!("must contain 1-{max} events"),
        ));
    }
    if events.len() > max {
        return Err(ApiError::field(
            "events",
            format!("{} events; at most {max} per request", events.len()),
        ));
    }
    Ok(())
}

/// Scores events on a stream now, in the stream's turn.
pub(crate) fn response(
    outcome: BatchOutcome,
    stream_id: String,
    batch_id: String,
    total_events: usize,
    started: Instant,
) -> DetectResponse {
    let (status, events_needed) = scorer::status_parts(outcome.status);
    let anomalies: Vec<DetectedAnomaly> = outcome
        .anomalies
        .into_iter()
        .map(|a| DetectedAnomaly {
            id: a.record.id,
            index: a.request_index,
            stream_index: a.record.position,
            kind: a.record.kind,
            metrics: a.record.metrics,
            window_p_value: a.record.window_p_value,
            event: a.record.event,
            why: a.record.why,
            detected: true,
        })
        .collect();
    DetectResponse {
        success: true,
        batch_id,
        stream_id,
        total_events,
        scored_events: outcome.scored,
        duplicate_events: outcome.duplicates,
        anomaly_count: anomalies.len(),
        processing_time: format!("{}ms", started.elapsed().as_millis()),
        compression_algo: outcome.compressor,
        anomalies,
        status: status.to_string(),
        events_needed,
        events_seen: outcome.events_seen,
        request_id: request_id::current(),
    }
}

/// Run synchronous anomaly detection on a batch of events.
#[utoipa::path(post, path = "/v1/detect", tag = "detection", request_body = DetectRequest,
    security(("api_key" = [])),
    responses((status = 200, body = DetectResponse), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "A stream key naming another stream"),
        (status = 409, body = super::ErrorBody, description = "The stream exists with another config")))]
pub async fn detect(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<DetectRequest>,
) -> Result<Json<DetectResponse>, ApiError> {
    let started = Instant::now();
    let stream_id = caller.resolve_stream(req.stream_id.as_deref())?;
    check_events(&req.events, state.config.max_events_per_request)?;
    let quota = state.config.quotas.for_key(&caller.key);
    quotas::check_request(quota, req.config_override.as_ref(), &req.events)?;
    if req.config_override.is_some() {
        scorer::config_from_override(req.config_override.as_ref())?;
    }
    let total = req.events.len();
    let batch_id = format!("batch_{}", driftlock_store::ids::random_hex(8));
    let outcome = state
        .scorer
        .score(
            &stream_id,
            into_events(req.events),
            req.config_override,
            batch_id.clone(),
            Some(quota.max_state_bytes),
        )
        .await?;
    state
        .usage
        .record_events(&caller.key.id, outcome.scored as u64);
    Ok(Json(response(outcome, stream_id, batch_id, total, started)))
}
