//! Keys, rate limits, the demo, health, metrics, OpenAPI/docs, unknown routes
//! and methods, request ids, panics.

mod common;

use common::{TestApp, events};
use serde_json::{Value, json};

#[tokio::test]
async fn admins_manage_keys_and_others_cannot() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let r = t
        .post(
            "/v1/keys",
            &admin,
            json!({"role": "stream", "stream_id": "prod-logs", "name": "ci", "plan": "pro"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("dlk_") && key.len() == 68);
    assert_eq!(r.body["plan"], "pro");
    let list = t.get("/v1/keys", &admin).await;
    assert_eq!(list.body["keys"].as_array().unwrap().len(), 2);
    assert!(
        !list.bytes.windows(key.len()).any(|w| w == key.as_bytes()),
        "secrets are never listed"
    );
    // A stream key is refused every admin operation.
    assert_eq!(t.get("/v1/keys", &key).await.status, 403);
    assert_eq!(
        t.post("/v1/keys", &key, json!({"role": "admin"}))
            .await
            .status,
        403
    );
    assert_eq!(
        t.call("DELETE", &format!("/v1/keys/{id}"), Some(&key), None)
            .await
            .status,
        403
    );
    assert_eq!(t.get("/metrics", &key).await.status, 403);
    // Me.
    let me = t.get("/v1/me/keys", &key).await;
    assert_eq!(me.body["keys"][0]["id"], id.as_str());
    t.post("/v1/detect", &key, json!({"events": events(3, &[])}))
        .await;
    let usage = t.get("/v1/me/usage", &key).await;
    assert_eq!(usage.status, 200);
    assert_eq!(usage.body["rate_limit_per_minute"], 600, "the pro plan");
    assert_eq!(usage.body["totals"]["events"], 3);
    assert!(usage.body["totals"]["requests"].as_u64().unwrap() >= 3);
    // Bad requests.
    for bad in [
        json!({"role": "stream"}),
        json!({"role": "admin", "stream_id": "x"}),
        json!({"role": "root"}),
        json!({"role": "stream", "stream_id": "x", "extra": true}),
        json!({"role": "stream", "stream_id": "x", "rate_limit_per_minute": 0}),
    ] {
        assert_eq!(
            t.post("/v1/keys", &admin, bad.clone()).await.status,
            400,
            "{bad}"
        );
    }
    // Revoke.
    let r = t
        .call("DELETE", &format!("/v1/keys/{id}"), Some(&admin), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["revoked_at"].is_string());
    assert_eq!(t.get("/v1/me/keys", &key).await.status, 401);
    assert_eq!(
        t.call("DELETE", &format!("/v1/keys/{id}"), Some(&admin), None)
            .await
            .status,
        409
    );
    assert_eq!(
        t.call("DELETE", "/v1/keys/key_nope", Some(&admin), None)
            .await
            .status,
        404
    );
    // The last admin key cannot be revoked.
    let admin_id = t.get("/v1/me/keys", &admin).await.body["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .call(
            "DELETE",
            &format!("/v1/keys/{admin_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers() {
    let t = TestApp::with(|c| c.rate_limits.free = 3).await;
    let r = t
        .post(
            "/v1/keys",
            &t.admin.clone(),
            json!({"role": "stream", "stream_id": "s", "plan": "free"}),
        )
        .await;
    let key = r.body["key"].as_str().unwrap().to_string();
    for left in [2, 1, 0] {
        let r = t.get("/v1/streams", &key).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["x-ratelimit-limit"], "3");
        assert_eq!(
            r.headers["x-ratelimit-remaining"],
            left.to_string().as_str()
        );
        assert!(
            r.headers["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 1_700_000_000
        );
    }
    let r = t.get("/v1/streams", &key).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "rate_limit_exceeded");
    let retry = r.body["error"]["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers["retry-after"], retry.to_string().as_str());
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");
    // Other keys are unaffected; a per-key override wins over the plan.
    assert_eq!(t.get("/v1/streams", &t.admin.clone()).await.status, 200);
    let r = t
        .post(
            "/v1/keys",
            &t.admin.clone(),
            json!({"role": "stream", "stream_id": "s", "rate_limit_per_minute": 1}),
        )
        .await;
    let k2 = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(t.get("/v1/streams", &k2).await.status, 200);
    assert_eq!(t.get("/v1/streams", &k2).await.status, 429);
}

#[tokio::test]
async fn demo_needs_no_key_and_is_capped_and_limited() {
    let t = TestApp::with(|c| {
        c.demo.requests_per_minute = 3;
        c.demo.max_events = 50;
    })
    .await;
    let r = t
        .call(
            "POST",
            "/v1/demo/detect",
            None,
            Some(json!({"events": [{"body": {"cpu": 45}}, {"body": {"cpu": 99}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "calibrating");
    assert_eq!(r.body["events_needed"], 18);
    assert_eq!(r.headers["x-ratelimit-limit"], "3");
    let r = t
        .call(
            "POST",
            "/v1/demo/detect",
            None,
            Some(json!({"events": events(30, &[25])})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["anomaly_count"], 1);
    assert_eq!(r.body["anomalies"][0]["index"], 25);
    let r = t
        .call(
            "POST",
            "/v1/demo/detect",
            None,
            Some(json!({"events": events(51, &[])})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .call(
            "POST",
            "/v1/demo/detect",
            None,
            Some(json!({"events": events(1, &[])})),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
    // Nothing was stored.
    assert_eq!(
        t.get("/v1/streams", &t.admin.clone()).await.body["total"],
        0
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let t = TestApp::new().await;
    let r = t.call("GET", "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    let r = t.call("GET", "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.post(
        "/v1/detect",
        &t.admin.clone(),
        json!({"stream_id": "m", "events": events(25, &[21]), "config_override": common::small()}),
    )
    .await;
    assert_eq!(t.call("GET", "/metrics", None, None).await.status, 401);
    let r = t.get("/metrics", &t.admin.clone()).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.bytes).unwrap();
    for needle in [
        "driftlock_http_requests_total{route=\"/v1/detect\",method=\"POST\",status=\"200\"} 1",
        "driftlock_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/v1/detect\"} 1",
        "driftlock_events_scored_total 25",
        "driftlock_anomalies_found_total 1",
        "driftlock_queue_depth 0",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    t.state.worker.stop().await;
    let r = t.call("GET", "/readyz", None, None).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.code(), "unavailable");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let t = TestApp::new().await;
    let r = t.call("GET", "/v1/nothing-here", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    assert!(r.headers.contains_key("x-request-id"));
    let r = t
        .call("DELETE", "/v1/detect", Some(&t.admin.clone()), None)
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.code(), "method_not_allowed");
    let r = t.call("PUT", "/healthz", None, None).await;
    assert_eq!(r.status, 405);
    assert!(r.body["error"]["request_id"].is_string());
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let t = TestApp::new().await;
    let req = axum::http::Request::builder()
        .uri("/healthz")
        .header("x-request-id", "client-chosen-1")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.headers["x-request-id"], "client-chosen-1");
    let r = t.call("GET", "/healthz", None, None).await;
    assert!(
        r.headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let r = t.call("GET", "/v1/anomalies", None, None).await;
    assert_eq!(
        r.body["error"]["request_id"],
        r.headers["x-request-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let t = TestApp::new().await;
    let r = t.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/v1/detect",
        "/v1/demo/detect",
        "/v1/streams",
        "/v1/streams/{id}",
        "/v1/streams/{id}/events",
        "/v1/anomalies",
        "/v1/anomalies/{id}",
        "/v1/anomalies/{id}/feedback",
        "/v1/anomalies/export",
        "/v1/anomalies/{id}/export",
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/me/keys",
        "/v1/me/usage",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert!(r.body["components"]["securitySchemes"]["api_key"].is_object());
    let r = t.call("GET", "/docs", None, None).await;
    assert_eq!(r.status, 200);
    let html = String::from_utf8(r.bytes).unwrap();
    assert!(html.contains("/v1/openapi.json"));
    assert!(!html.contains("https://"), "no external resources");
}

#[tokio::test]
async fn panics_become_500_json_without_details() {
    // A detector that panics stands in for any bug below a handler.
    struct Panicky;
    impl driftlock_service::detectors::DetectorFactory for Panicky {
        fn create(
            &self,
            _: &str,
            _: &driftlock_engine::DetectorConfig,
        ) -> Result<Box<dyn driftlock_service::detectors::Detector>, driftlock_engine::EngineError>
        {
            panic!("secret internals")
        }
        fn load(
            &self,
            _: &str,
        ) -> Result<Box<dyn driftlock_service::detectors::Detector>, driftlock_engine::EngineError>
        {
            panic!("secret internals")
        }
    }
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let config = common::test_config(&dir);
    let t = TestApp::open(dir, config, std::sync::Arc::new(Panicky)).await;
    let r = t
        .post(
            "/v1/detect",
            &t.admin.clone(),
            json!({"events": events(1, &[])}),
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.code(), "internal");
    assert!(!r.bytes.windows(6).any(|w| w == b"secret"));
    // The server still answers.
    let r: Value = t.call("GET", "/healthz", None, None).await.body;
    assert_eq!(r["status"], "ok");
}
