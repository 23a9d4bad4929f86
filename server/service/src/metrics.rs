//! Prometheus metrics, exposed with the Prometheus project's `prometheus-client`
//! (OpenMetrics text): requests by route and status, latency histograms by
//! route, events scored and queued, anomalies found, and (read at scrape time)
//! queue depth and streams.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The service's metrics, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    pub events_scored: Counter,
    pub events_queued: Counter,
    pub anomalies_found: Counter,
    queue_depth: Gauge,
    streams: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The matched route of a response (set by [`route_label`]).
#[derive(Debug, Clone)]
struct RouteLabel(String);

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "driftlock_http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency: Latency = Family::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "driftlock_http_request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let events_scored = counter(
            &mut registry,
            "driftlock_events_scored",
            "Events pushed into detectors",
        );
        let events_queued = counter(
            &mut registry,
            "driftlock_events_queued",
            "Events accepted for asynchronous detection",
        );
        let anomalies_found = counter(
            &mut registry,
            "driftlock_anomalies_found",
            "Anomalies recorded",
        );
        let queue_depth = Gauge::default();
        registry.register(
            "driftlock_queue_depth",
            "Events queued and not yet scored",
            queue_depth.clone(),
        );
        let streams = Gauge::default();
        registry.register("driftlock_streams", "Streams in the store", streams.clone());
        Metrics {
            registry,
            requests,
            latency,
            events_scored,
            events_queued,
            anomalies_found,
            queue_depth,
            streams,
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// The exposition text; `queue_depth` and `streams` are read by the caller.
    pub fn render(&self, queue_depth: u64, streams: u64) -> String {
        self.queue_depth.set(queue_depth as i64);
        self.streams.set(streams as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Route-level middleware: records the matched route template on the response.
pub async fn route_label(req: Request, next: Next) -> Response {
    let label = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut resp = next.run(req).await;
    if let Some(l) = label {
        resp.extensions_mut().insert(RouteLabel(l));
    }
    resp
}

/// Outer middleware: counts every response and its latency.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map(|l| l.0.clone())
        .unwrap_or_else(|| "unmatched".to_string());
    metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.observe("/v1/detect", "POST", 200, 0.003);
        m.events_scored.inc_by(5);
        let text = m.render(7, 2);
        assert!(text.contains(
            "driftlock_http_requests_total{route=\"/v1/detect\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "driftlock_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/v1/detect\"} 1"
        ), "{text}");
        assert!(text.contains(
            "driftlock_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/v1/detect\"} 0"
        ));
        assert!(text.contains("driftlock_events_scored_total 5"));
        assert!(text.contains("driftlock_queue_depth 7"));
        assert!(text.ends_with("# EOF\n"));
    }
}
