//! `/healthz` (liveness), `/readyz` (database and worker), `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::{queue, streams};

/// Liveness stays outside the load shedder: an overloaded process is alive.
pub fn liveness_router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

pub fn readiness_router() -> Router<AppState> {
    Router::new().route("/readyz", get(readyz))
}

pub fn authed_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the database answers and the worker is running.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, body = super::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
    if !state.worker.alive() {
        return Err(ApiError::Unavailable("worker is not running".into()));
    }
    Ok(Json(
        json!({ "status": "ready", "database": "ok", "worker": "ok" }),
    ))
}

/// Prometheus metrics (admin key, as `X-Api-Key` or `Authorization: Bearer`).
#[utoipa::path(get, path = "/metrics", tag = "health", security(("api_key" = [])),
    responses((status = 200, description = "OpenMetrics text exposition", content_type = "application/openmetrics-text", body = String),
        (status = 403, body = super::ErrorBody, description = "Not an admin key")))]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let (depth, count) = state
        .store
        .call(|c| Ok::<_, ApiError>((queue::total_depth(c)?, streams::count(c)?)))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(depth, count),
    ))
}
