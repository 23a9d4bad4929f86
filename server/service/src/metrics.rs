//! Prometheus metrics in the text exposition format, written by hand: requests
//! by route and status, latency histograms by route, events scored, anomalies
//! found, and (read at scrape time) queue depth and streams.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub events_scored: AtomicU64,
    pub events_queued: AtomicU64,
    pub anomalies_found: AtomicU64,
}

/// The matched route of a response (set by [`route_label`]).
#[derive(Debug, Clone)]
struct RouteLabel(String);

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = lat.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The exposition text; `queue_depth` and `streams` are read by the caller.
    pub fn render(&self, queue_depth: u64, streams: u64) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP driftlock_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE driftlock_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "driftlock_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP driftlock_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE driftlock_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let r = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "driftlock_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "driftlock_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "driftlock_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "driftlock_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        let counters = [
            (
                "driftlock_events_scored_total",
                "Events pushed into detectors.",
                &self.events_scored,
            ),
            (
                "driftlock_events_queued_total",
                "Events accepted for asynchronous detection.",
                &self.events_queued,
            ),
            (
                "driftlock_anomalies_found_total",
                "Anomalies recorded.",
                &self.anomalies_found,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP driftlock_queue_depth Events queued and not yet scored.\n# TYPE driftlock_queue_depth gauge\ndriftlock_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP driftlock_streams Streams in the store.\n# TYPE driftlock_streams gauge\ndriftlock_streams {streams}"
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        m.events_scored.fetch_add(5, Ordering::Relaxed);
        let text = m.render(7, 2);
        assert!(text.contains(
            "driftlock_http_requests_total{route=\"/v1/detect\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "driftlock_http_request_duration_seconds_bucket{route=\"/v1/detect\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "driftlock_http_request_duration_seconds_bucket{route=\"/v1/detect\",le=\"0.001\"} 0"
        ));
        assert!(text.contains("driftlock_events_scored_total 5"));
        assert!(text.contains("driftlock_queue_depth 7"));
    }
}
