//! The HTTP API: one router per resource, assembled by [`app`].

pub mod anomalies;
pub mod demo;
pub mod detect;
pub mod event_input;
pub mod export;
pub mod extract;
pub mod health;
pub mod incidents;
pub mod integers;
pub mod jobs;
pub mod keys;
pub mod map_only;
pub mod openapi;
pub mod schemas;
pub mod sql;
pub mod streams;

use std::any::Any;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::{DeadlineBody, RequestBodyDeadlineLayer};
use utoipa::ToSchema;

use crate::error::{ApiError, method_not_allowed, route_not_found};
use crate::state::AppState;
use crate::{auth, header_limits, metrics, rate_limit, request_id};

/// The error body every failure answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = schemas::ErrorCode)]
    pub code: String,
    pub message: String,
    pub request_id: String,
    /// The offending field, for `invalid_argument`.
    pub field: Option<String>,
    /// The quota the field's value is over, for `invalid_argument`.
    pub limit: Option<u64>,
    /// For `rate_limit_exceeded`.
    pub retry_after_seconds: Option<u64>,
}

fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

/// Refused by the load shedder: every request slot is taken.
async fn overloaded(err: BoxError) -> ApiError {
    if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Unavailable("the server is overloaded; retry shortly".into())
    } else {
        ApiError::internal(err)
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let authed = Router::new()
        .merge(detect::router())
        .merge(streams::router())
        .merge(export::router())
        .merge(anomalies::router())
        .merge(incidents::router())
        .merge(keys::router())
        .merge(sql::router())
        .merge(jobs::router())
        .merge(health::authed_router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    // One semaphore for every route (a plain concurrency limit would be one per
    // route); a request finding no slot is shed at once, not queued.
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(
            state.config.max_in_flight_requests,
        ))
        .layer(RequestBodyDeadlineLayer::new(
            state.config.body_read_timeout(),
        ))
        .map_request(|req: Request<DeadlineBody<Body>>| req.map(Body::new));
    let shed_routes = Router::new()
        .merge(authed)
        .merge(demo::router())
        .merge(openapi::router())
        .merge(health::readiness_router())
        .layer(shed);
    Router::new()
        .merge(shed_routes)
        .merge(health::liveness_router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn(metrics::route_label))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn(header_limits::middleware))
        .layer(from_fn_with_state(state.clone(), rate_limit::anonymous))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(from_fn(request_id::middleware))
        .with_state(state)
}
