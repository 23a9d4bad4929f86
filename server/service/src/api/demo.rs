//! `POST /v1/demo/detect`: no key; a fresh, unpersisted detector per call with
//! small caps, limited per client address (the socket's, or `X-Forwarded-For`
//! when the peer is a configured trusted proxy).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use driftlock_engine::DetectorConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::detect::DetectedAnomaly;
use super::extract::parse_json;
use crate::error::ApiError;
use crate::scorer::status_parts;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/demo/detect", post(demo_detect))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {
    #[schema(value_type = Vec<super::schemas::EventSchema>, min_items = 1)]
    pub events: Vec<super::event_input::InputEvent>,
    #[serde(default, deserialize_with = "super::integers::config")]
    #[schema(value_type = Option<super::schemas::ConfigOverride>)]
    pub config_override: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DemoResponse {
    pub success: bool,
    pub demo: bool,
    pub total_events: usize,
    pub anomaly_count: usize,
    pub processing_time: String,
    pub compression_algo: String,
    pub anomalies: Vec<DetectedAnomaly>,
    pub status: String,
    pub events_needed: u64,
    pub request_id: String,
}

/// The client's address: the socket peer, or the right-most untrusted address
/// of `X-Forwarded-For` when the peer is a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

/// The demo detector's small defaults (also the document's).
pub(crate) fn demo_defaults(max_permutations: u32) -> DetectorConfig {
    DetectorConfig {
        baseline_size: 20,
        window_size: 10,
        hop_size: 5,
        permutation_count: max_permutations,
        ..DetectorConfig::default()
    }
}

/// The demo detector's config: small defaults, the override on top, capped.
fn demo_config(
    fields: Option<&Map<String, Value>>,
    max_permutations: u32,
) -> Result<DetectorConfig, ApiError> {
    let base = demo_defaults(max_permutations);
    let mut merged = serde_json::to_value(&base).map_err(ApiError::internal)?;
    if let (Some(obj), Some(fields)) = (merged.as_object_mut(), fields) {
        for (k, v) in fields {
            obj.insert(k.clone(), v.clone());
        }
    }
    let config: DetectorConfig = serde_json::from_value(merged)
        .map_err(|e| ApiError::field("config_override", e.to_string()))?;
    if config.permutation_count > max_permutations {
        return Err(ApiError::field(
            "config_override.permutation_count",
            format!("the demo allows at most {max_permutations}"),
        ));
    }
    config.validate().map_err(|e| match e {
        driftlock_engine::EngineError::Config { field, reason } => {
            ApiError::field(format!("config_override.{field}"), reason)
        }
        other => ApiError::internal(other),
    })?;
    Ok(config)
}

/// Try detection without a key (small caps, per-address limit).
#[utoipa::path(post, path = "/v1/demo/detect", tag = "detection", request_body = DemoRequest,
    responses((status = 200, body = DemoResponse), (status = 400, body = super::ErrorBody),
        (status = 429, body = super::ErrorBody)))]
pub async fn demo_detect(State(state): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(peer, req.headers(), &state.config.trusted_proxies);
    let client = ip
        .map(|i| format!("demo:{i}"))
        .unwrap_or_else(|| "demo:unknown".into());
    let decision = state
        .demo_limiter
        .check(&client, state.config.demo.requests_per_minute);
    let mut resp = if !state.config.demo.enabled {
        ApiError::not_found("the demo endpoint is disabled").into_response()
    } else if !decision.allowed {
        ApiError::RateLimited {
            retry_after_seconds: decision.retry_after,
        }
        .into_response()
    } else {
        match run(&state, req).await {
            Ok(r) => Json(r).into_response(),
            Err(e) => e.into_response(),
        }
    };
    decision.apply(resp.headers_mut());
    resp
}

async fn run(state: &AppState, req: Request) -> Result<DemoResponse, ApiError> {
    let started = Instant::now();
    let bytes = super::extract::read_body(req, state.config.max_body_bytes).await?;
    let body: DemoRequest = parse_json(&bytes)?;
    let max = state.config.demo.max_events;
    super::detect::check_events(&body.events, max)?;
    let config = demo_config(
        body.config_override.as_ref(),
        state.config.demo.max_permutations,
    )?;
    let algo = config.compressor.effective().as_str().to_string();
    let scorer = state.scorer.clone();
    let events = super::event_input::into_events(body.events);
    let total = events.len();
    let (found, status, events) = tokio::task::spawn_blocking(move || {
        let mut d = scorer.factory().create("demo", &config)?;
        let found = d.push(&events)?;
        Ok::<_, driftlock_engine::EngineError>((found, d.status(), events))
    })
    .await
    .map_err(|e| ApiError::internal(format!("demo task: {e}")))?
    .map_err(|e| ApiError::internal(format!("demo detector: {e}")))?;
    let (status, events_needed) = status_parts(status);
    let anomalies: Vec<DetectedAnomaly> = found
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let index = (a.index as usize).min(total - 1);
            DetectedAnomaly {
                id: format!("demo_{i}"),
                index,
                stream_index: a.index,
                kind: a.kind,
                metrics: a.metrics,
                window_p_value: a.window_p_value,
                event: serde_json::to_value(&events[index]).unwrap_or(Value::Null),
                why: a.why.clone(),
                detected: true,
            }
        })
        .collect();
    Ok(DemoResponse {
        success: true,
        demo: true,
        total_events: total,
        anomaly_count: anomalies.len(),
        processing_time: format!("{}ms", started.elapsed().as_millis()),
        compression_algo: found.first().map(|a| a.compressor.clone()).unwrap_or(algo),
        anomalies,
        status: status.to_string(),
        events_needed,
        request_id: crate::request_id::current(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        assert_eq!(client_ip(Some(proxy), &h, &[]), Some(proxy));
        assert_eq!(
            client_ip(Some(proxy), &h, &[proxy]),
            Some("5.6.7.8".parse().unwrap())
        );
        assert_eq!(client_ip(None, &h, &[proxy]), None);
    }

    #[test]
    fn demo_caps_permutations() {
        assert_eq!(demo_config(None, 200).unwrap().permutation_count, 200);
        let big: Map<String, Value> =
            serde_json::from_str(r#"{"permutation_count": 5000}"#).unwrap();
        assert!(demo_config(Some(&big), 200).is_err());
        let bad: Map<String, Value> = serde_json::from_str(r#"{"bogus": 1}"#).unwrap();
        assert!(demo_config(Some(&bad), 200).is_err());
    }
}
