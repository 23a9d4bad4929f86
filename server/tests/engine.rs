//! The service with the real engine detector: state carried across calls and
//! across a restart gives the same anomalies as one batch.

mod common;

use std::sync::Arc;

use common::TestApp;
use driftlock_server::scoring::EngineDetectors;
use serde_json::{Value, json};

async fn engine_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = common::test_config(&dir);
    config.rate_limits.enterprise = 100_000;
    TestApp::open(dir, config, Arc::new(EngineDetectors)).await
}

fn config() -> Value {
    json!({ "baseline_size": 60, "window_size": 20, "hop_size": 5, "permutation_count": 200, "seed": 42 })
}

/// Ordinary log lines with a few very different ones.
fn log_events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let body = if i > 100 && i % 37 == 0 {
                json!({ "level": "error", "msg": format!("kernel panic: stack smashing detected in module {} at 0x{:08x}; dumping core", i * 7919, i * 104729) })
            } else {
                json!({ "level": "info", "msg": format!("GET /api/items/{} 200 in {}ms", i % 50, 10 + i % 7), "user": format!("u{}", i % 13) })
            };
            json!({ "type": "log", "timestamp": format!("2025-01-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60), "body": body })
        })
        .collect()
}

async fn run(t: &TestApp, stream: &str, all: &[Value], chunk: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for (i, c) in all.chunks(chunk).enumerate() {
        let mut body = json!({ "stream_id": stream, "events": c });
        if i == 0 {
            body["config_override"] = config();
        }
        let r = t.post("/v1/detect", &t.admin.clone(), body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for a in r.body["anomalies"].as_array().unwrap() {
            out.push((
                a["stream_index"].as_u64().unwrap(),
                a["metrics"].to_string(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn engine_calibrates_then_detects() {
    let t = engine_app().await;
    let evs = log_events(40);
    let r = t
        .post(
            "/v1/detect",
            &t.admin.clone(),
            json!({ "stream_id": "c", "events": evs, "config_override": config() }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "calibrating");
    assert_eq!(r.body["events_needed"], 20);
    let r = t
        .post(
            "/v1/detect",
            &t.admin.clone(),
            json!({ "stream_id": "c", "events": log_events(200)[40..].to_vec() }),
        )
        .await;
    assert_eq!(r.body["status"], "ready", "{}", r.body);
    assert!(r.body["anomaly_count"].as_u64().unwrap() >= 1, "{}", r.body);
    let id = r.body["anomalies"][0]["id"].as_str().unwrap();
    let d = t
        .get(&format!("/v1/anomalies/{id}"), &t.admin.clone())
        .await;
    assert_eq!(d.body["evidence"]["seed"], 42);
    assert_eq!(
        d.body["evidence"]["baseline_digest"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[tokio::test]
async fn chunked_calls_and_a_restart_match_one_batch() {
    let all = log_events(250);
    let t = engine_app().await;
    let whole = run(&t, "whole", &all[..250], 250).await;
    let tens = run(&t, "tens", &all, 10).await;
    assert!(!whole.is_empty(), "the injected errors are found");
    assert_eq!(whole, tens);
    // Half, restart, the other half.
    let first = run(&t, "restarted", &all[..120], 40).await;
    let t = t.restart().await;
    let mut rest = Vec::new();
    for c in all[120..].chunks(40) {
        let r = t
            .post(
                "/v1/detect",
                &t.admin.clone(),
                json!({ "stream_id": "restarted", "events": c }),
            )
            .await;
        for a in r.body["anomalies"].as_array().unwrap() {
            rest.push((
                a["stream_index"].as_u64().unwrap(),
                a["metrics"].to_string(),
            ));
        }
    }
    let mut both = first;
    both.extend(rest);
    assert_eq!(both, whole);
    t.state.shutdown().await;
}
