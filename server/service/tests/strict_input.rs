//! Input the API refuses, naming the field (and an event's index), on every
//! endpoint that takes events, and anomalies returned with the event as sent.

mod common;

use common::{TestApp, events, small};
use serde_json::{Value, json};

/// A 400 `invalid_argument` naming `field`.
fn assert_refused(r: &common::Reply, field: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert_eq!(r.code(), "invalid_argument", "{what}");
    assert_eq!(r.body["error"]["field"], field, "{what}: {}", r.body);
}

fn with_event(second: Value) -> Vec<Value> {
    vec![json!({"type": "log", "body": {"m": "ok"}}), second]
}

#[tokio::test]
async fn bad_events_are_refused_by_index_on_detect_queue_and_demo() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let cases = [
        (
            json!({"body": {"m": 1}, "timestamp": "yesterday at noon"}),
            "events[1].timestamp",
        ),
        (
            json!({"body": {"m": 1}, "timestamp": "2025-13-01T00:00:00Z"}),
            "events[1].timestamp",
        ),
        (json!({"body": null}), "events[1].body"),
        (json!({"body": "a string"}), "events[1].body"),
        (json!({"body": 42}), "events[1].body"),
        (json!({"body": [1, 2]}), "events[1].body"),
        (json!({"body": {}, "stream_id": "x"}), "events[1].stream_id"),
        (json!({"body": {}, "lable": "typo"}), "events[1].lable"),
    ];
    for (event, field) in cases {
        let evs = with_event(event.clone());
        let r = t
            .post(
                "/v1/detect",
                &admin,
                json!({ "stream_id": "s", "events": evs }),
            )
            .await;
        assert_refused(&r, field, &format!("detect {event}"));
        let r = t
            .post("/v1/streams/q/events", &admin, json!({ "events": evs }))
            .await;
        assert_refused(&r, field, &format!("queue {event}"));
        let r = t
            .call(
                "POST",
                "/v1/demo/detect",
                None,
                Some(json!({ "events": evs })),
            )
            .await;
        assert_refused(&r, field, &format!("demo {event}"));
    }
    // Nothing was queued or created by the refusals.
    let r = t.get("/v1/streams", &admin).await;
    assert_eq!(r.body["total"], 0, "{}", r.body);
}

#[tokio::test]
async fn cross_field_limits_and_unknown_override_fields_are_named() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let cases = [
        (
            json!({"baseline_size": 40, "window_size": 50}),
            "config_override.window_size",
        ),
        (json!({"baseline_size": 30}), "config_override.window_size"),
        (
            json!({"baseline_size": 40, "window_size": 10, "hop_size": 20}),
            "config_override.hop_size",
        ),
        (
            json!({"baseline_size": 40, "window_size": 10, "hop_size": 5, "windw": 3}),
            "config_override.windw",
        ),
    ];
    for (ov, field) in cases {
        let body = json!({ "stream_id": "x", "events": events(1, &[]), "config_override": ov });
        let r = t.post("/v1/detect", &admin, body).await;
        assert_refused(&r, field, &format!("{ov}"));
    }
    let ok = json!({ "stream_id": "x", "events": events(1, &[]), "config_override": {"baseline_size": 50, "window_size": 50, "hop_size": 5} });
    assert_eq!(t.post("/v1/detect", &admin, ok).await.status, 200);
}

#[tokio::test]
async fn unknown_query_parameters_are_named() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let r = t.get("/v1/anomalies?stream=x", &admin).await;
    assert_refused(&r, "stream", "anomalies");
    let r = t.get("/v1/anomalies?limit=many", &admin).await;
    assert_refused(&r, "limit", "anomalies limit");
    let r = t.get("/v1/jobs?stat=queued", &admin).await;
    assert_refused(&r, "stat", "jobs");
}

#[tokio::test]
async fn a_body_that_is_an_array_is_refused() {
    // serde would read `[]` as a request with every field left out.
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    for (uri, body) in [
        ("/v1/anomalies/anom_x/export", json!([])),
        ("/v1/anomalies/export", json!([])),
        ("/v1/anomalies/export", json!(["csv"])),
        // An event given as the list of its fields.
        (
            "/v1/detect",
            json!({"stream_id": "arr", "events": [["2025-01-01T00:00:00Z", "log", {"m": 1}]]}),
        ),
    ] {
        let r = t.call("POST", uri, Some(&admin), Some(body)).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
        assert_eq!(r.code(), "invalid_argument", "{uri}");
    }
}

#[tokio::test]
async fn an_anomaly_s_event_is_the_event_as_sent() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let evs = events(40, &[30]);
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "as-sent", "events": evs, "config_override": small() }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let found = r.body["anomalies"].as_array().unwrap();
    let event = found
        .iter()
        .find(|a| a["kind"] == "event")
        .expect("the scripted anomaly")["event"]
        .clone();
    assert_eq!(event, evs[30], "no field added or dropped");
    let id = found[0]["id"].as_str().unwrap();
    let stored = t.get(&format!("/v1/anomalies/{id}"), &admin).await;
    assert!(
        stored.body.pointer("/event/stream_id").is_none(),
        "{}",
        stored.body
    );
}
