//! The detector saved as a snapshot plus a log of batches: a stream reloaded
//! (after a restart) with batches in its log gives the answers of a detector
//! that never stopped, and the log is compacted into a snapshot as it grows.

mod common;

use std::sync::Arc;

use common::TestApp;
use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use driftlock_service::detectors::EngineDetectors;
use driftlock_store::streams;
use serde_json::{Value, json};

fn config() -> Value {
    json!({ "baseline_size": 200, "window_size": 20, "hop_size": 5, "permutation_count": 200, "seed": 7 })
}

/// Routine log lines with a rare, very different one.
fn log_events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let body = if i > 220 && i % 41 == 0 {
                json!({ "level": "error", "msg": format!("kernel panic: stack smashing in module {} at 0x{:08x}", i * 7919, i * 104729) })
            } else {
                json!({ "level": "info", "msg": format!("GET /api/items/{} 200 in {}ms", i % 50, 10 + i % 7), "user": format!("u{}", i % 13) })
            };
            json!({ "type": "log", "body": body })
        })
        .collect()
}

/// (stream position, p-value, NCD) of each anomaly.
type Found = Vec<(u64, f64, f64)>;

fn found_in(r: &common::Reply) -> Found {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["stream_index"].as_u64().unwrap(),
                a["metrics"]["p_value"].as_f64().unwrap(),
                a["metrics"]["ncd"].as_f64().unwrap(),
            )
        })
        .collect()
}

async fn engine_app(dir: Arc<tempfile::TempDir>) -> TestApp {
    let config = common::test_config(&dir);
    TestApp::open(dir, config, Arc::new(EngineDetectors)).await
}

#[tokio::test]
async fn a_reload_replays_the_log_to_the_detector_that_never_stopped() {
    const BATCH: usize = 30;
    let all = log_events(600);
    let mut reference = StreamDetector::new(
        "s",
        serde_json::from_value::<DetectorConfig>(config()).unwrap(),
    )
    .unwrap();
    let mut expected = Found::new();
    for chunk in all.chunks(BATCH) {
        let events: Vec<Event> = chunk
            .iter()
            .map(|v| {
                let mut e = Event::from_json(v.clone()).unwrap();
                e.stream_id = "s".into();
                e
            })
            .collect();
        for a in reference.push(&events).unwrap() {
            expected.push((a.index, a.metrics.p_value, a.metrics.ncd));
        }
    }
    assert!(
        expected.len() >= 3,
        "the rare lines are found: {expected:?}"
    );

    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut t = engine_app(dir.clone()).await;
    let admin = t.admin.clone();
    let mut got = Found::new();
    let mut restarts = 0;
    let mut logged_at_restart = Vec::new();
    for (i, chunk) in all.chunks(BATCH).enumerate() {
        let mut body = json!({ "stream_id": "s", "events": chunk });
        if i == 0 {
            body["config_override"] = config();
        }
        got.extend(found_in(&t.post("/v1/detect", &admin, body).await));
        // Restart whenever the log holds batches that a reload must replay.
        let row = t
            .state
            .store
            .with_conn(|c| streams::get(c, "s"))
            .unwrap()
            .unwrap();
        assert_eq!(
            row.snapshot_seen + row.size.log_events,
            row.events_seen,
            "snapshot and log cover every event"
        );
        if row.size.log_events > 0 && i % 4 == 3 {
            logged_at_restart.push(row.size.log_events);
            t = t.restart().await;
            restarts += 1;
        }
    }
    assert!(restarts >= 3, "restarted with a log {restarts} times");
    assert_eq!(
        got, expected,
        "restarts at {logged_at_restart:?} logged events"
    );
    t.state.shutdown().await;
}

#[tokio::test]
async fn the_log_is_compacted_into_a_snapshot_within_a_baseline_of_events() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let t = engine_app(dir).await;
    let admin = t.admin.clone();
    let all = log_events(1000);
    let mut snapshots = 0;
    let mut last_snapshot = 0;
    for (i, chunk) in all.chunks(25).enumerate() {
        let mut body = json!({ "stream_id": "s", "events": chunk });
        if i == 0 {
            body["config_override"] = config();
        }
        assert_eq!(t.post("/v1/detect", &admin, body).await.status, 200);
        let row = t
            .state
            .store
            .with_conn(|c| streams::get(c, "s"))
            .unwrap()
            .unwrap();
        let logged: u64 = t
            .state
            .store
            .with_conn(|c| streams::log(c, "s"))
            .unwrap()
            .iter()
            .map(|(_, e)| serde_json::from_str::<Vec<Value>>(e).unwrap().len() as u64)
            .sum();
        assert_eq!(logged, row.size.log_events);
        assert!(row.size.log_events < 200, "the log stays under a baseline");
        if row.snapshot_seen != last_snapshot {
            snapshots += 1;
            last_snapshot = row.snapshot_seen;
        }
    }
    // 40 batches: a snapshot at most every few, but not after each.
    assert!(
        (3..30).contains(&snapshots),
        "{snapshots} snapshots in 40 batches"
    );
}
