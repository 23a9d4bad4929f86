//! Streams, the queue and its worker, and durability across restarts.

mod common;

use common::{TestApp, events, small};
use serde_json::json;

#[tokio::test]
async fn queued_events_are_scored_in_order_by_the_worker() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let r = t
        .post(
            "/v1/streams/q/events",
            &admin,
            json!({ "events": events(20, &[]), "config_override": small() }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["accepted"], 20);
    assert_eq!(r.body["status"], "queued");
    for chunk in 0..3 {
        let hot = if chunk == 1 { vec![4] } else { vec![] };
        let r = t
            .post(
                "/v1/streams/q/events",
                &admin,
                json!({ "events": events(10, &hot) }),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    t.drained("q").await;
    let s = t.get("/v1/streams/q", &admin).await;
    assert_eq!(s.body["events_seen"], 50);
    assert_eq!(s.body["status"], "ready");
    assert_eq!(s.body["anomaly_count"], 1);
    assert_eq!(s.body["queue_depth"], 0);
    let a = t.get("/v1/anomalies?stream_id=q", &admin).await;
    assert!(
        a.body["anomalies"][0]["event_summary"]["preview"]
            .as_str()
            .unwrap()
            .contains("ANOMALY")
    );
    let d = t
        .get(
            &format!(
                "/v1/anomalies/{}",
                a.body["anomalies"][0]["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(d.body["index"], 34, "20 + 10 + 4");
    // Errors.
    let r = t
        .post("/v1/streams/q/events", &admin, json!({ "events": [] }))
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .post(
            "/v1/streams/q/events",
            &admin,
            json!({ "events": events(1, &[]), "config_override": {"hop_size": 3} }),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = t
        .post(
            "/v1/streams/bad%20id/events",
            &admin,
            json!({ "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 400);
    let k = t.key("stream", Some("other")).await;
    let r = t
        .post(
            "/v1/streams/q/events",
            &k,
            json!({ "events": events(1, &[]) }),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(t.get("/v1/streams/nope", &admin).await.status, 404);
}

#[tokio::test]
async fn streams_list_shows_config_state_and_counts() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    t.post(
        "/v1/detect",
        &admin,
        json!({ "stream_id": "b", "events": events(3, &[]) }),
    )
    .await;
    t.post(
        "/v1/detect",
        &admin,
        json!({ "stream_id": "a", "events": events(25, &[22]), "config_override": small() }),
    )
    .await;
    let r = t.get("/v1/streams", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 2);
    let a = &r.body["streams"][0];
    assert_eq!(a["id"], "a");
    assert_eq!(a["status"], "ready");
    assert_eq!(a["events_seen"], 25);
    assert_eq!(a["anomaly_count"], 1);
    assert_eq!(a["config"]["baseline_size"], 20);
    let b = &r.body["streams"][1];
    assert_eq!(b["status"], "calibrating");
    assert_eq!(b["events_needed"], 397);
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let key = t.key("stream", Some("r")).await;
    let mut evs = events(25, &[21]);
    evs[21]["idempotency_key"] = json!("once");
    let r = t
        .post(
            "/v1/detect",
            &key,
            json!({ "events": evs, "config_override": small() }),
        )
        .await;
    assert_eq!(r.body["anomaly_count"], 1);
    let id = r.body["anomalies"][0]["id"].as_str().unwrap().to_string();
    t.call(
        "PATCH",
        &format!("/v1/anomalies/{id}"),
        Some(&admin),
        Some(json!({"status": "archived"})),
    )
    .await;
    t.post(
        &format!("/v1/anomalies/{id}/feedback"),
        &admin,
        json!({"feedback_type": "false_positive"}),
    )
    .await;
    // Queue events with the worker stopped, so they are still queued at the restart.
    t.state.worker.stop().await;
    let r = t
        .post(
            "/v1/streams/r/events",
            &key,
            json!({ "events": events(5, &[2]) }),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["queue_depth"], 5);

    let t = t.restart().await;
    // The key, the anomaly with its status and feedback, the stream's state.
    let d = t.get(&format!("/v1/anomalies/{id}"), &key).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["status"], "archived");
    assert_eq!(d.body["feedback"][0]["feedback_type"], "false_positive");
    // The queued events are scored after the restart.
    t.drained("r").await;
    let s = t.get("/v1/streams/r", &key).await;
    assert_eq!(s.body["events_seen"], 30);
    assert_eq!(s.body["anomaly_count"], 2);
    // Detector state continued (stream position 32, and still ready), and the
    // idempotency record survived.
    let r = t.post("/v1/detect", &key, json!({ "events": [{"body": {"m": "ANOMALY"}}, {"body": {"m": "ANOMALY"}, "idempotency_key": "once"}] })).await;
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["scored_events"], 1);
    let positions: Vec<u64> = r.body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["stream_index"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, vec![30, 21]);
    t.state.shutdown().await;
}
