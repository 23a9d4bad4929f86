//! POST /v1/detect: detection, state across calls, idempotency, overrides,
//! validation errors and role refusals.

mod common;

use common::{TestApp, events, small};
use serde_json::{Value, json};

#[tokio::test]
async fn calibrates_then_reports_anomalies_with_request_indices() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "s", "events": events(15, &[]), "config_override": small() }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "calibrating");
    assert_eq!(r.body["events_needed"], 5);
    assert_eq!(r.body["total_events"], 15);
    assert!(r.body["batch_id"].as_str().unwrap().starts_with("batch_"));
    assert!(r.body["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(
        r.headers["x-request-id"],
        r.body["request_id"].as_str().unwrap()
    );
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "s", "events": events(10, &[7]) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["events_needed"], 0);
    assert_eq!(r.body["anomaly_count"], 1);
    let a = &r.body["anomalies"][0];
    assert_eq!(a["index"], 7, "index is within the request");
    assert_eq!(a["stream_index"], 22);
    assert_eq!(a["detected"], true);
    assert_eq!(a["event"]["body"]["i"], 7);
    assert!(a["metrics"]["ncd"].as_f64().is_some());
    assert!(a["id"].as_str().unwrap().starts_with("anom_"));
    assert_eq!(r.body["compression_algo"], "zstd");
}

async fn anomaly_positions(t: &TestApp, stream: &str, chunk: usize, all: &[Value]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, c) in all.chunks(chunk).enumerate() {
        let mut body = json!({ "stream_id": stream, "events": c });
        if i == 0 {
            body["config_override"] = small();
        }
        let r = t.post("/v1/detect", &t.admin.clone(), body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for a in r.body["anomalies"].as_array().unwrap() {
            out.push(a["stream_index"].as_u64().unwrap());
        }
    }
    out
}

#[tokio::test]
async fn chunked_calls_match_one_batch() {
    let t = TestApp::new().await;
    let all = events(200, &[3, 25, 60, 61, 150, 199]);
    let one = anomaly_positions(&t, "one", 200, &all).await;
    let tens = anomaly_positions(&t, "tens", 10, &all).await;
    assert_eq!(one, vec![25, 60, 61, 150, 199]);
    assert_eq!(one, tens);
}

#[tokio::test]
async fn idempotent_resends_are_not_scored_twice() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let mut evs = events(30, &[25]);
    for (i, e) in evs.iter_mut().enumerate() {
        e["idempotency_key"] = json!(format!("k{i}"));
    }
    let body = json!({ "stream_id": "s", "events": evs, "config_override": small() });
    let first = t.post("/v1/detect", &admin, body.clone()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["anomaly_count"], 1);
    let again = t.post("/v1/detect", &admin, body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["scored_events"], 0);
    assert_eq!(again.body["duplicate_events"], 30);
    assert_eq!(again.body["events_seen"], 30);
    assert_eq!(
        again.body["anomalies"], first.body["anomalies"],
        "a re-send reports the same anomalies"
    );
    let list = t.get("/v1/anomalies?stream_id=s", &admin).await;
    assert_eq!(list.body["total"], 1, "no duplicate anomaly rows");
    // Duplicates inside one request are scored once.
    let dup = json!({ "stream_id": "s", "events": [
        {"body": {"m": "x"}, "idempotency_key": "z"}, {"body": {"m": "x"}, "idempotency_key": "z"}] });
    let r = t.post("/v1/detect", &admin, dup).await;
    assert_eq!(r.body["scored_events"], 1);
    assert_eq!(r.body["events_seen"], 31);
}

#[tokio::test]
async fn config_override_creates_and_conflicts() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let ov = json!({ "ncd_threshold": 0.35, "p_value_threshold": 0.02, "compressor": "lz4", "baseline_size": 20, "window_size": 10, "hop_size": 5 });
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "o", "events": events(1, &[]), "config_override": ov }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["compression_algo"], "lz4");
    // The same override again is fine; none at all is fine.
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "o", "events": events(1, &[]), "config_override": ov }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "o", "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 200);
    let s = t.get("/v1/streams/o", &admin).await;
    assert_eq!(s.body["config"]["compressor"], "lz4");
    assert_eq!(s.body["config"]["ncd_threshold"], 0.35);
    // A different value is a conflict.
    let r = t
        .post("/v1/detect", &admin, json!({ "stream_id": "o", "events": events(1, &[]), "config_override": {"ncd_threshold": 0.5} }))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "conflict");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ncd_threshold")
    );
    // permutation_count and seed are accepted.
    let r = t
        .post("/v1/detect", &admin, json!({ "stream_id": "p", "events": events(1, &[]), "config_override": {"permutation_count": 99, "seed": 7} }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn validation_errors_are_spec_json() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let cases = [
        (json!({ "events": [] }), "events"),
        (json!({ "events": events(257, &[]) }), "events"),
        (json!({ "stream_id": "x" }), ""),
        (json!({ "events": "nope" }), "events"),
        (json!({ "events": [{"type": "log"}] }), ""),
        (
            json!({ "events": [{"type": "bogus", "body": {}}] }),
            "events[0].type",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"unknown_knob": 1} }),
            "config_override",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"ncd_threshold": 1.5} }),
            "config_override.ncd_threshold",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"p_value_threshold": 0} }),
            "config_override.p_value_threshold",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"baseline_size": "big"} }),
            "config_override",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"compressor": "brotli"} }),
            "config_override",
        ),
        (
            json!({ "events": events(1, &[]), "config_override": {"record_margin": -1} }),
            "config_override.record_margin",
        ),
        (
            json!({ "stream_id": "bad stream!", "events": events(1, &[]) }),
            "stream_id",
        ),
    ];
    for (body, field) in cases {
        let r = t.post("/v1/detect", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.code(), "invalid_argument");
        assert!(
            r.body["error"]["request_id"]
                .as_str()
                .unwrap()
                .starts_with("req_")
        );
        if !field.is_empty() {
            assert!(
                r.body["error"]["field"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(field),
                "{body}: {}",
                r.body
            );
        }
    }
    // A misspelt top-level field is refused, not ignored (the events would go
    // to the default stream).
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "strem_id": "x", "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("strem_id"), "{}", r.body);
    // Malformed JSON.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/detect")
        .header("x-api-key", &admin)
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"events\": ["))
        .unwrap();
    let r = t.raw(req).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let t = TestApp::with(|c| c.max_body_bytes = 4096).await;
    let big = "x".repeat(5000);
    let r = t
        .post(
            "/v1/detect",
            &t.admin.clone(),
            json!({ "events": [{"body": {"m": big}}] }),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "payload_too_large");
}

#[tokio::test]
async fn keys_and_roles_are_enforced() {
    let t = TestApp::new().await;
    let r = t
        .call(
            "POST",
            "/v1/detect",
            None,
            Some(json!({ "events": events(1, &[]) })),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "unauthorized");
    let r = t
        .post(
            "/v1/detect",
            "dlk_not_a_key",
            json!({ "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 401);
    let k = t.key("stream", Some("mine")).await;
    // Omitted stream_id means the key's stream.
    let r = t
        .post("/v1/detect", &k, json!({ "events": events(1, &[]) }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["stream_id"], "mine");
    let r = t
        .post(
            "/v1/detect",
            &k,
            json!({ "stream_id": "theirs", "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "forbidden");
    // Bearer works too.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/detect")
        .header("authorization", format!("Bearer {k}"))
        .body(axum::body::Body::from(
            json!({ "events": events(1, &[]) }).to_string(),
        ))
        .unwrap();
    assert_eq!(t.raw(req).await.status, 200);
}

#[tokio::test]
async fn concurrent_calls_on_one_stream_lose_nothing() {
    let t = std::sync::Arc::new(TestApp::new().await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let r = t
                .post(
                    "/v1/detect",
                    &t.admin.clone(),
                    json!({ "stream_id": "c", "events": events(10, &[]) }),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["events_seen"].as_u64().unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=8).map(|i| i * 10).collect::<Vec<u64>>(),
        "each call saw the previous ones"
    );
}
