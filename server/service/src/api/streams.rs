//! Streams: `POST /v1/streams/{id}/events` (durable queue for the worker),
//! `GET /v1/streams`, `GET /v1/streams/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use driftlock_engine::DetectorConfig;
use rusqlite::TransactionBehavior;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::event_input::{InputEvent, into_events};
use super::extract::ApiJson;
use crate::auth::{Caller, valid_stream_id};
use crate::error::ApiError;
use crate::request_id;
use crate::scorer;
use crate::state::AppState;
use driftlock_store::queue;
use driftlock_store::streams::{self, StreamSummary};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/streams", get(list_streams))
        .route("/v1/streams/{id}", get(get_stream))
        .route("/v1/streams/{id}/events", post(ingest))
}

/// A stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    pub id: String,
    #[schema(value_type = super::schemas::ConfigOverride)]
    pub config: DetectorConfig,
    #[schema(value_type = super::schemas::StreamState)]
    pub status: String,
    pub events_needed: u64,
    pub events_seen: u64,
    pub anomaly_count: u64,
    /// Events queued and not yet scored.
    pub queue_depth: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StreamSummary> for StreamView {
    fn from(s: StreamSummary) -> Self {
        StreamView {
            id: s.id,
            config: s.config,
            status: s.status,
            events_needed: s.events_needed,
            events_seen: s.events_seen,
            anomaly_count: s.anomaly_count,
            queue_depth: s.queue_depth,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamList {
    pub streams: Vec<StreamView>,
    pub total: usize,
}

/// Events to queue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    #[schema(value_type = Vec<super::schemas::EventSchema>, min_items = 1)]
    pub events: Vec<InputEvent>,
    /// As in `/v1/detect`: the config of a stream created by this call.
    #[serde(default, deserialize_with = "super::integers::config")]
    #[schema(value_type = Option<super::schemas::ConfigOverride>)]
    pub config_override: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub success: bool,
    pub stream_id: String,
    pub accepted: usize,
    /// `queued`.
    pub status: String,
    pub queue_depth: u64,
    pub request_id: String,
}

/// List streams (a stream key sees its own).
#[utoipa::path(get, path = "/v1/streams", tag = "streams", security(("api_key" = [])),
    responses((status = 200, body = StreamList)))]
pub async fn list_streams(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<StreamList>, ApiError> {
    let only = caller.stream_scope().map(str::to_string);
    let rows = state
        .store
        .call(move |c| streams::list(c, only.as_deref()))
        .await?;
    let streams: Vec<StreamView> = rows.into_iter().map(StreamView::from).collect();
    Ok(Json(StreamList {
        total: streams.len(),
        streams,
    }))
}

/// A stream's config, state, counts and queue depth.
#[utoipa::path(get, path = "/v1/streams/{id}", tag = "streams", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = StreamView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn get_stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    caller.check_stream(&id)?;
    let key = id.clone();
    let row = state.store.call(move |c| streams::summary(c, &key)).await?;
    row.map(|s| Json(s.into()))
        .ok_or_else(|| ApiError::not_found(format!("no stream `{id}`")))
}

/// Queue events for asynchronous detection. They are committed before the 202.
#[utoipa::path(post, path = "/v1/streams/{id}/events", tag = "streams", security(("api_key" = [])),
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,128}$")), request_body = IngestRequest,
    responses((status = 202, body = IngestResponse), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<IngestRequest>,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    if !valid_stream_id(&id) {
        return Err(ApiError::field(
            "id",
            "1-128 characters of letters, digits, '-', '_', '.', ':'",
        ));
    }
    caller.check_stream(&id)?;
    super::detect::check_events(&req.events, state.config.max_events_per_request)?;
    let quota = state.config.quotas.for_key(&caller.key).clone();
    crate::quotas::check_request(&quota, req.config_override.as_ref(), &req.events)?;
    let accepted = req.events.len();
    let events = into_events(req.events);
    let st = state.clone();
    let stream_id = id.clone();
    let depth = state
        .store
        .call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Queued events are scored later, without the key: a stream
            // already at its quota takes no more.
            if let Some(size) = driftlock_store::streams::state_size(&tx, &stream_id)? {
                crate::quotas::check_state_bytes(&quota, size.total_bytes())?;
            }
            scorer::ensure_stream(
                &tx,
                st.scorer.factory(),
                &stream_id,
                req.config_override.as_ref(),
            )?;
            queue::enqueue(
                &tx,
                &stream_id,
                &events,
                &driftlock_store::time::now_rfc3339(),
            )?;
            let depth = queue::depth(&tx, &stream_id)?;
            tx.commit()?;
            Ok::<_, ApiError>(depth)
        })
        .await?;
    state.metrics.events_queued.inc_by(accepted as u64);
    state.usage.record_events(&caller.key.id, accepted as u64);
    state.worker.notify(&id);
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestResponse {
            success: true,
            stream_id: id,
            accepted,
            status: "queued".into(),
            queue_depth: depth,
            request_id: request_id::current(),
        }),
    ))
}
