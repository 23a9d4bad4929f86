//! Per-key quotas: override sizes and event sizes over the key's limits are
//! refused before any work, naming the field and the limit; a batch that
//! would grow a stream's saved state past its quota is refused and nothing of
//! it is kept.

mod common;

use std::sync::Arc;

use common::TestApp;
use driftlock_service::detectors::EngineDetectors;
use serde_json::{Value, json};

fn assert_over(r: &common::Reply, field: &str, limit: u64) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "invalid_argument", "{}", r.body);
    assert_eq!(r.body["error"]["field"], field, "{}", r.body);
    assert_eq!(r.body["error"]["limit"], limit, "{}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&limit.to_string()), "{msg}");
}

#[tokio::test]
async fn override_and_event_sizes_over_the_plan_are_refused() {
    let t = TestApp::new().await;
    let key = t.key("stream", Some("s")).await;
    let free = t.state.config.quotas.free.clone();
    let mut big = json!({ "events": common::events(1, &[]),
        "config_override": { "baseline_size": 100_000, "window_size": 50, "hop_size": 10 } });
    // Queued events are held to the same limits.
    assert_over(
        &t.post("/v1/streams/s/events", &key, big.clone()).await,
        "config_override.baseline_size",
        free.max_baseline_size,
    );
    big["stream_id"] = json!("s");
    assert_over(
        &t.post("/v1/detect", &key, big).await,
        "config_override.baseline_size",
        free.max_baseline_size,
    );
    let wide = json!({ "stream_id": "s", "events": common::events(1, &[]),
        "config_override": { "baseline_size": 1000, "window_size": 800 } });
    assert_over(
        &t.post("/v1/detect", &key, wide).await,
        "config_override.window_size",
        free.max_window_size,
    );
    let mut events = common::events(3, &[]);
    events[2]["body"]["blob"] = json!("x".repeat(free.max_event_bytes as usize));
    assert_over(
        &t.post(
            "/v1/detect",
            &key,
            json!({ "stream_id": "s", "events": events }),
        )
        .await,
        "events[2]",
        free.max_event_bytes,
    );
    // Nothing was created by the refusals.
    let r = t.get("/v1/streams/s", &t.admin.clone()).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // An admin key has the admin quota: the same baseline is fine there.
    let admin_size = json!({ "stream_id": "a", "events": common::events(1, &[]),
        "config_override": { "baseline_size": free.max_baseline_size + 1, "window_size": 50, "hop_size": 10 } });
    let r = t.post("/v1/detect", &t.admin.clone(), admin_size).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Calibrating events with bodies of about 1 KB: the engine keeps each one.
fn fat_events(from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|i| json!({ "type": "log", "body": { "msg": format!("request {i} ok"), "pad": "p".repeat(1000) } }))
        .collect()
}

#[tokio::test]
async fn a_stream_whose_state_would_pass_its_quota_takes_no_more() {
    const LIMIT: u64 = 150_000;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = common::test_config(&dir);
    config.rate_limits.free = 100_000;
    config.quotas.free.max_state_bytes = LIMIT;
    let t = TestApp::open(dir, config, Arc::new(EngineDetectors)).await;
    let key = t.key("stream", Some("fat")).await;
    let admin = t.admin.clone();
    let mut sent = 0;
    let mut refused = None;
    for i in 0..10 {
        let mut body = json!({ "stream_id": "fat", "events": fat_events(sent, 40) });
        if i == 0 {
            body["config_override"] =
                json!({ "baseline_size": 2000, "window_size": 50, "hop_size": 10 });
        }
        let r = t.post("/v1/detect", &key, body).await;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
        sent += 40;
    }
    let r = refused.expect("the state outgrows 150 kB within 400 events of 1 kB");
    assert_over(&r, "state_bytes", LIMIT);
    assert!(sent >= 80, "refused after only {sent} events");
    // The refused batch left nothing behind: the stream has what was accepted.
    let s = t.get("/v1/streams/fat", &admin).await;
    assert_eq!(s.body["events_seen"], sent as u64, "{}", s.body);
    // And its detector is the committed one: the next small batch is scored
    // from there.
    let r = t
        .post(
            "/v1/detect",
            &key,
            json!({ "stream_id": "fat", "events": [{ "type": "log", "body": { "msg": "tiny" } }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["events_seen"], sent as u64 + 1, "{}", r.body);
}

#[tokio::test]
async fn a_stream_key_cannot_add_to_a_stream_already_over_its_quota() {
    const LIMIT: u64 = 60_000;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = common::test_config(&dir);
    config.rate_limits.free = 100_000;
    config.quotas.free.max_state_bytes = LIMIT;
    let t = TestApp::open(dir, config, Arc::new(EngineDetectors)).await;
    let admin = t.admin.clone();
    // The admin quota lets the stream grow past the free plan's.
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "big", "events": fat_events(0, 100),
                "config_override": { "baseline_size": 2000, "window_size": 50, "hop_size": 10 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = t.key("stream", Some("big")).await;
    let one = json!([{ "type": "log", "body": { "msg": "one more" } }]);
    assert_over(
        &t.post(
            "/v1/detect",
            &key,
            json!({ "stream_id": "big", "events": one }),
        )
        .await,
        "state_bytes",
        LIMIT,
    );
    assert_over(
        &t.post("/v1/streams/big/events", &key, json!({ "events": one }))
            .await,
        "state_bytes",
        LIMIT,
    );
    let s = t.get("/v1/streams/big", &admin).await;
    assert_eq!(s.body["events_seen"], 100, "{}", s.body);
    assert_eq!(s.body["queue_depth"], 0, "{}", s.body);
}
