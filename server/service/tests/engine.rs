//! The service with the real engine detector: state carried across calls and
//! across a restart gives the same anomalies as one batch; change points and
//! records (`record_margin`) reach the API as the engine reports them.

mod common;

use std::sync::Arc;

use common::{Reply, TestApp};
use driftlock_service::detectors::EngineDetectors;
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

/// `POST /v1/detect` with the admin key.
async fn detect(t: &TestApp, body: Value) -> Reply {
    t.post("/v1/detect", &t.admin.clone(), body).await
}

async fn run(t: &TestApp, stream: &str, all: &[Value], chunk: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for (i, c) in all.chunks(chunk).enumerate() {
        let mut body = json!({ "stream_id": stream, "events": c });
        if i == 0 {
            body["config_override"] = config();
        }
        let r = detect(t, body).await;
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
    let r = detect(
        &t,
        json!({ "stream_id": "c", "events": evs, "config_override": config() }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "calibrating");
    assert_eq!(r.body["events_needed"], 20);
    let r = detect(
        &t,
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
        let r = detect(&t, json!({ "stream_id": "restarted", "events": c })).await;
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

/// Events 0..100 routine, 100..200 a sustained change; each with the
/// idempotency key `k{i}`. The changed events that come in the first request
/// (100..FIRST) carry no timestamp, the rest do.
fn change_events() -> Vec<Value> {
    (0..200usize)
        .map(|i| {
            let body = if i < 100 {
                json!({ "level": "INFO", "msg": format!("GET /api/orders/{} 200", i % 13), "latency_ms": 20 + (i * 7919) % 40 })
            } else {
                json!({ "level": "WARN", "msg": format!("retrying upstream payment-gateway attempt {}", i % 3), "backoff_ms": 500 + (i * 31) % 100 })
            };
            let mut e = json!({ "type": "log", "body": body, "idempotency_key": format!("k{i}") });
            if !(100..FIRST).contains(&i) {
                e["timestamp"] = json!(format!("2025-01-01T10:{:02}:{:02}Z", i / 60, i % 60));
            }
            e
        })
        .collect()
}

/// Events in the first request: it ends a few events into the change, so the
/// change point's window starts in it and is completed in the second.
const FIRST: usize = 104;

/// The change point the engine reports on `change_events()` pushed at once
/// (detection does not depend on how events are split into requests).
fn engine_change_point() -> driftlock_engine::Anomaly {
    let config: driftlock_engine::DetectorConfig = serde_json::from_value(config()).unwrap();
    let events: Vec<driftlock_engine::Event> = change_events()
        .into_iter()
        .map(|mut e| {
            e["stream_id"] = json!("cp");
            driftlock_engine::Event::from_json(e).unwrap()
        })
        .collect();
    let mut d = driftlock_engine::StreamDetector::new("cp", config).unwrap();
    let found = d.push(&events).unwrap();
    let cps: Vec<_> = found
        .into_iter()
        .filter(|a| a.kind == driftlock_engine::AnomalyKind::ChangePoint)
        .collect();
    assert_eq!(cps.len(), 1, "{cps:#?}");
    let cp = cps.into_iter().next().unwrap();
    assert!(
        cp.index < FIRST as u64 && cp.reported_at >= FIRST as u64,
        "the scenario needs a change that starts in the first request and is reported in the \
         second: starts at {}, reported at {}",
        cp.index,
        cp.reported_at
    );
    cp
}

/// The second request: a re-send of event 3 first, then events FIRST..200
/// with event FIRST + 2 sent twice, so request positions differ from stream
/// positions by more than the request's base.
fn second_request(all: &[Value]) -> Vec<Value> {
    let mut out = vec![all[3].clone()];
    for (i, e) in all.iter().enumerate().skip(FIRST) {
        out.push(e.clone());
        if i == FIRST + 2 {
            out.push(e.clone());
        }
    }
    out
}

/// The first request's body: events 0..FIRST, creating the stream.
fn first_request(all: &[Value]) -> Value {
    json!({ "stream_id": "cp", "events": all[..FIRST].to_vec(), "config_override": config() })
}

/// Sends both requests on a fresh engine stream; the first's response, the
/// second's response and the second's events.
async fn change_point_calls(t: &TestApp) -> (Value, Value, Vec<Value>) {
    let all = change_events();
    let r = detect(t, first_request(&all)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.body;
    assert!(
        first["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"] == "event"),
        "{}",
        first
    );
    let second = second_request(&all);
    let r = detect(t, json!({ "stream_id": "cp", "events": second })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scored_events"], 200 - FIRST, "{}", r.body);
    assert_eq!(r.body["duplicate_events"], 2, "{}", r.body);
    (first, r.body, second)
}

#[tokio::test]
async fn a_change_point_begun_in_an_earlier_request_belongs_to_the_event_that_reported_it() {
    let cp = engine_change_point();
    let t = engine_app().await;
    let (_, body, second) = change_point_calls(&t).await;
    let anomalies = body["anomalies"].as_array().unwrap();
    // Every anomaly names the event of this request that reported it. Its
    // `event` is that one, but for an event anomaly its own: a new
    // template's held flag is reported by a later event, perhaps of a later
    // request.
    for a in anomalies {
        let i = a["index"].as_u64().unwrap() as usize;
        assert!(i < second.len(), "{a}");
        let own = format!("k{}", a["stream_index"]);
        if a["kind"] == "event" {
            assert_eq!(a["event"]["idempotency_key"], own, "{a}");
            if second[i]["idempotency_key"] != own {
                let sent = change_events()
                    .into_iter()
                    .find(|e| e["idempotency_key"] == own);
                assert_eq!(
                    Some(&a["event"]["body"]),
                    sent.as_ref().map(|e| &e["body"]),
                    "{a}"
                );
                continue;
            }
        }
        assert_eq!(a["event"]["body"], second[i]["body"], "{a}");
    }
    let cps: Vec<&Value> = anomalies
        .iter()
        .filter(|a| a["kind"] == "change_point")
        .collect();
    assert_eq!(cps.len(), 1, "{body}");
    let a = cps[0];
    // The change point keeps where the change began...
    assert_eq!(a["stream_index"], cp.index, "{a}");
    // ...and is attributed to the event of this request whose arrival
    // completed the window: its first (not re-sent, not duplicate) copy.
    let reporter = format!("k{}", cp.reported_at);
    let expected = second
        .iter()
        .position(|e| e["idempotency_key"] == reporter)
        .unwrap();
    assert_eq!(a["index"], expected, "{a}");
    // The stored anomaly says the same, and which event it carries.
    let id = a["id"].as_str().unwrap();
    let d = t
        .get(&format!("/v1/anomalies/{id}"), &t.admin.clone())
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["kind"], "change_point");
    assert_eq!(d.body["index"], cp.index);
    assert_eq!(d.body["event"]["idempotency_key"], reporter, "{}", d.body);
    assert_eq!(d.body["evidence"]["stream_position"], cp.index);
    assert_eq!(d.body["evidence"]["reported_at"], cp.reported_at);
    t.state.shutdown().await;
}

#[tokio::test]
async fn a_change_point_keeps_its_own_timestamp_not_the_reporting_events() {
    let cp = engine_change_point();
    // The change began in the first request, among its events without a
    // timestamp; every event of the second request has one.
    assert!(cp.timestamp.is_none(), "{cp:#?}");
    let t = engine_app().await;
    let (_, body, second) = change_point_calls(&t).await;
    let a = body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "change_point")
        .unwrap_or_else(|| panic!("no change point: {body}"))
        .clone();
    let id = a["id"].as_str().unwrap();
    let d = t
        .get(&format!("/v1/anomalies/{id}"), &t.admin.clone())
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    // Without a timestamp of its own, an anomaly's is its detection time; it
    // must not borrow one from an event of the request that reported it.
    let ts = d.body["timestamp"].as_str().unwrap();
    assert_eq!(ts, d.body["detected_at"].as_str().unwrap(), "{}", d.body);
    assert!(
        second.iter().all(|e| e["timestamp"]
            .as_str()
            .is_none_or(|s| s.starts_with("2025-01-01T10:"))),
        "the second request's timestamps are all within one hour"
    );
    assert!(!ts.starts_with("2025-01-01T10:"), "{}", d.body);
    t.state.shutdown().await;
}

/// The anomalies of a response, each with every field the response gives it.
fn anomalies_of(body: &Value) -> &Vec<Value> {
    body["anomalies"]
        .as_array()
        .unwrap_or_else(|| panic!("no anomalies: {body}"))
}

#[tokio::test]
async fn re_sending_the_request_that_reported_a_change_point_returns_its_original_response() {
    let t = engine_app().await;
    let (_, original, second) = change_point_calls(&t).await;
    // The original response has the change point begun in the first request.
    assert_eq!(
        anomalies_of(&original)
            .iter()
            .filter(|a| a["kind"] == "change_point")
            .count(),
        1,
        "{original}"
    );
    let r = detect(&t, json!({ "stream_id": "cp", "events": second })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing is scored again...
    assert_eq!(r.body["scored_events"], 0, "{}", r.body);
    assert_eq!(r.body["duplicate_events"], second.len(), "{}", r.body);
    assert_eq!(r.body["events_seen"], original["events_seen"], "{}", r.body);
    // ...and the same anomalies come back (ids, kinds, request and stream
    // positions, events, metrics), in the same order.
    assert_eq!(
        anomalies_of(&r.body),
        anomalies_of(&original),
        "re-sent: {}\noriginal: {original}",
        r.body
    );
    assert_eq!(r.body["anomaly_count"], original["anomaly_count"]);
    t.state.shutdown().await;
}

#[tokio::test]
async fn re_sending_the_request_where_a_change_point_began_does_not_return_it() {
    let t = engine_app().await;
    let (first, second_response, _) = change_point_calls(&t).await;
    // The change point (reported by the second request) began at an event of
    // the first, whose response did not have it.
    let cp = anomalies_of(&second_response)
        .iter()
        .find(|a| a["kind"] == "change_point")
        .unwrap_or_else(|| panic!("no change point: {second_response}"));
    assert!(cp["stream_index"].as_u64().unwrap() < FIRST as u64, "{cp}");
    let r = detect(&t, first_request(&change_events())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scored_events"], 0, "{}", r.body);
    assert_eq!(r.body["duplicate_events"], FIRST, "{}", r.body);
    assert!(
        anomalies_of(&r.body)
            .iter()
            .all(|a| a["kind"] != "change_point" && a["id"] != cp["id"]),
        "{}",
        r.body
    );
    assert_eq!(
        anomalies_of(&r.body),
        anomalies_of(&first),
        "re-sent: {}\noriginal: {first}",
        r.body
    );
    t.state.shutdown().await;
}

#[tokio::test]
async fn a_record_is_flagged_when_the_override_asks_for_records() {
    let t = engine_app().await;
    // 11–39 with a spike to 100 every 10 events, then 130: the highest value
    // yet, but no farther out on the baseline's scale than the spikes.
    let metric = |i: usize, v: f64| json!({ "type": "metric", "timestamp": format!("2025-01-01T10:{:02}:{:02}Z", i / 60, i % 60), "body": { "value": v } });
    let mut evs: Vec<Value> = (0..60)
        .map(|i| {
            metric(
                i,
                if i % 10 == 0 {
                    100.0
                } else {
                    10.0 + (i * 7 % 30) as f64
                },
            )
        })
        .collect();
    evs.push(metric(60, 130.0));
    let config = json!({ "baseline_size": 20, "window_size": 10, "hop_size": 5 });
    let mut with_records = config.clone();
    with_records["record_margin"] = json!(0.05);
    let mut found = Vec::new();
    for (stream, config) in [("plain", config), ("records", with_records)] {
        let r = detect(
            &t,
            json!({ "stream_id": stream, "events": evs, "config_override": config }),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        found.push(
            r.body["anomalies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["index"] == 60)
                .cloned(),
        );
    }
    assert!(
        found[0].is_none(),
        "flagged without records: {:?}",
        found[0]
    );
    let a = found[1].as_ref().expect("the record is flagged");
    let why = a["why"].as_str().unwrap();
    assert!(
        why.starts_with(
            "`value` = 130 is above every earlier value of its series (11–100 over 60 events"
        ),
        "{why}"
    );
    // The record's own p-value: 2 / (60 + 1).
    assert!(a["metrics"]["p_value"].as_f64().unwrap() <= 2.0 / 61.0 + 1e-12);
    // The anomaly's evidence has the record's facts, machine-readable.
    let detail = t
        .get(
            &format!("/v1/anomalies/{}", a["id"].as_str().unwrap()),
            &t.admin.clone(),
        )
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    let r = &detail.body["evidence"]["record"];
    assert_eq!(r["field"], "value");
    assert_eq!(
        (r["value"].as_f64(), r["min"].as_f64(), r["max"].as_f64()),
        (Some(130.0), Some(11.0), Some(100.0))
    );
    assert_eq!(
        (r["count"].as_u64(), r["fields_tested"].as_u64()),
        (Some(60), Some(1))
    );
    assert!((r["p_value"].as_f64().unwrap() - 2.0 / 61.0).abs() < 1e-12);
    let s = t.get("/v1/streams/records", &t.admin.clone()).await;
    assert_eq!(s.body["config"]["record_margin"], 0.05);
    t.state.shutdown().await;
}

#[tokio::test]
async fn incidents_group_the_engine_s_anomalies_and_are_listed_and_fetched() {
    let t = engine_app().await;
    let all = log_events(600);
    run(&t, "inc", &all, 200).await;
    let anomalies = t
        .get("/v1/anomalies?stream_id=inc&limit=100", &t.admin.clone())
        .await;
    let found = anomalies.body["total"].as_u64().unwrap();
    assert!(found >= 3, "{}", anomalies.body);
    let list = t.get("/v1/incidents?stream_id=inc", &t.admin.clone()).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let incidents = list.body["incidents"].as_array().unwrap().clone();
    assert!(!incidents.is_empty(), "{}", list.body);
    assert_eq!(list.body["total"].as_u64().unwrap(), incidents.len() as u64);
    // Every anomaly belongs to exactly one listed incident.
    let members: u64 = incidents
        .iter()
        .map(|i| i["anomalies"].as_u64().unwrap())
        .sum();
    assert_eq!(members, found, "{}", list.body);
    let numbers: Vec<u64> = incidents
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    let mut expected: Vec<u64> = (1..=incidents.len() as u64).collect();
    expected.reverse();
    assert_eq!(numbers, expected, "newest first, numbered from 1");
    let first = &incidents[incidents.len() - 1];
    assert_eq!(first["rank"], 1.0);
    let id = first["id"].as_str().unwrap();
    let one = t
        .get(&format!("/v1/incidents/{id}"), &t.admin.clone())
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["first_position"], first["first_position"]);
    // An anomaly that did not open an incident is not one.
    let opener_ids: Vec<&str> = incidents
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let joiner = anomalies.body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .find(|id| !opener_ids.contains(id));
    if let Some(j) = joiner {
        assert_eq!(
            t.get(&format!("/v1/incidents/{j}"), &t.admin.clone())
                .await
                .status,
            404
        );
    }
    assert_eq!(
        t.get("/v1/incidents/nope", &t.admin.clone()).await.status,
        404
    );

    // People set its status; the list filters on it; its anomalies keep theirs.
    assert_eq!(first["status"], "open");
    assert!(first["status_updated_at"].is_null());
    let admin = t.admin.clone();
    let uri = format!("/v1/incidents/{id}");
    let acked = t
        .call(
            "PATCH",
            &uri,
            Some(&admin),
            Some(json!({"status": "acknowledged", "note": "on it"})),
        )
        .await;
    assert_eq!(acked.status, 200, "{}", acked.body);
    assert_eq!(acked.body["status"], "acknowledged");
    assert_eq!(acked.body["note"], "on it");
    assert!(acked.body["status_updated_at"].is_string());
    let resolved = t
        .call(
            "PATCH",
            &uri,
            Some(&admin),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(
        resolved.body["note"], "on it",
        "a change without a note keeps the last one"
    );
    let listed = |status: &'static str| {
        let t = &t;
        let admin = admin.clone();
        async move {
            t.get(
                &format!("/v1/incidents?stream_id=inc&status={status}"),
                &admin,
            )
            .await
            .body["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(listed("resolved").await, 1);
    assert_eq!(listed("open").await, incidents.len() as u64 - 1);
    assert_eq!(listed("acknowledged").await, 0);
    let opener = t.get(&format!("/v1/anomalies/{id}"), &admin).await;
    assert_eq!(opener.body["status"], "new");
    for (body, field) in [
        (json!({"status": "closed"}), "status"),
        (
            json!({"status": "resolved", "note": "x".repeat(2001)}),
            "note",
        ),
    ] {
        let r = t.call("PATCH", &uri, Some(&admin), Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.to_string().contains(field), "{}", r.body);
    }
    let bad = t.get("/v1/incidents?status=new", &admin).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    if let Some(j) = joiner {
        let r = t
            .call(
                "PATCH",
                &format!("/v1/incidents/{j}"),
                Some(&admin),
                Some(json!({"status": "resolved"})),
            )
            .await;
        assert_eq!(r.status, 404, "a joining anomaly names no incident");
    }
    let other = t.key("stream", Some("elsewhere")).await;
    let r = t
        .call("PATCH", &uri, Some(&other), Some(json!({"status": "open"})))
        .await;
    assert_eq!(r.status, 404, "another stream's key sees no such incident");
}

/// A message in the stream's known shape (same fields, known level) with
/// new words is held until its template has had the baseline's span to
/// recur: not in the answer to the request that sent it, but in the answer
/// to the one whose event released it, with its own event.
#[tokio::test]
async fn a_held_flag_is_reported_later_with_its_own_event() {
    const ODD: usize = 130;
    let all: Vec<Value> = (0..260usize)
        .map(|i| {
            let body = if i == ODD {
                json!({ "level": "info", "msg": "cache warmed for region north", "user": "u3" })
            } else {
                json!({ "level": "info", "msg": format!("GET /api/items/{} 200 in {}ms", i % 50, 10 + i % 7), "user": format!("u{}", i % 13) })
            };
            json!({ "type": "log", "body": body, "idempotency_key": format!("k{i}") })
        })
        .collect();
    let t = engine_app().await;
    let first = detect(
        &t,
        json!({ "stream_id": "held", "events": all[..140], "config_override": config() }),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let at_odd = |body: &Value| {
        body["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["stream_index"] == ODD)
            .cloned()
    };
    assert!(at_odd(&first.body).is_none(), "held: {}", first.body);
    let second = detect(&t, json!({ "stream_id": "held", "events": all[140..] })).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let a = at_odd(&second.body).unwrap_or_else(|| panic!("reported later: {}", second.body));
    // Released by the event a baseline's span (60) after it, the 52nd sent.
    let released = ODD + 60 + 1;
    assert_eq!(a["index"], released - 140, "{a}");
    assert_eq!(a["event"]["body"], all[ODD]["body"], "{a}");
    assert!(a["why"].as_str().unwrap().contains("warmed"), "{a}");
    let d = t
        .get(
            &format!("/v1/anomalies/{}", a["id"].as_str().unwrap()),
            &t.admin.clone(),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(
        d.body["event"]["idempotency_key"],
        format!("k{ODD}"),
        "{}",
        d.body
    );
    assert_eq!(d.body["evidence"]["reported_at"], released, "{}", d.body);
    t.state.shutdown().await;
}
