//! `/v1/sql` on its own pool: a query that runs past its deadline is answered
//! 504 close to it and stopped, other streams' `/v1/detect` stays fast while it
//! runs, a full pool answers 503, and DataFusion's memory limit refuses a
//! query that needs more.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestApp;
use serde_json::json;

/// Anomalies in the store: the scripted detector flags every event that
/// mentions ANOMALY once its 20-event baseline is full.
async fn seed_anomalies(t: &TestApp, batches: usize) {
    let admin = t.admin.clone();
    let r = t
        .post(
            "/v1/detect",
            &admin,
            json!({ "stream_id": "seed", "events": common::events(20, &[]), "config_override": common::small() }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all: Vec<usize> = (0..256).collect();
    for _ in 0..batches {
        let r = t
            .post(
                "/v1/detect",
                &admin,
                json!({ "stream_id": "seed", "events": common::events(256, &all) }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// Far more work than any deadline here allows: 10^9 rows through a top-k sort.
const HEAVY: &str = "SELECT a.id, b.id, c.id FROM anomalies a CROSS JOIN anomalies b \
     CROSS JOIN anomalies c ORDER BY a.why || b.id || c.id DESC LIMIT 5";

#[tokio::test]
async fn a_heavy_query_times_out_at_its_deadline_without_stalling_detect() {
    const DEADLINE: Duration = Duration::from_secs(3);
    let t = Arc::new(
        TestApp::with(|c| {
            c.sql.timeout_ms = DEADLINE.as_millis() as u64;
            c.sql.threads = 1;
            c.sql.max_concurrent = 1;
            c.sql.max_queued = 0;
        })
        .await,
    );
    seed_anomalies(&t, 4).await;
    let admin = t.admin.clone();
    let mut running = t.state.sql.running();

    let (t2, key) = (t.clone(), admin.clone());
    let started = Instant::now();
    let sql = tokio::spawn(async move {
        let r = t2.post("/v1/sql", &key, json!({ "query": HEAVY })).await;
        (r, started.elapsed())
    });
    tokio::time::timeout(Duration::from_secs(5), running.wait_for(|n| *n == 1))
        .await
        .expect("the query starts")
        .unwrap();

    // The pool's one place is taken: another query is refused at once.
    let refused = t
        .post("/v1/sql", &admin, json!({ "query": "SELECT 1" }))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.code(), "unavailable");

    // Another stream's detect while the query runs.
    let mut latencies = Vec::new();
    let mut i = 0;
    while !sql.is_finished() && started.elapsed() < DEADLINE {
        let one = Instant::now();
        let body = if i == 0 {
            json!({ "stream_id": "live", "events": common::events(50, &[]), "config_override": common::small() })
        } else {
            json!({ "stream_id": "live", "events": common::events(50, &[]) })
        };
        let r = t.post("/v1/detect", &admin, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        latencies.push(one.elapsed());
        i += 1;
    }
    let (r, took) = sql.await.unwrap();
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.code(), "deadline_exceeded");
    assert!(r.body["error"]["request_id"].is_string(), "{}", r.body);
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_millis(1500),
        "answered after {took:?} for a {DEADLINE:?} deadline"
    );
    assert!(latencies.len() >= 3, "only {} detects ran", latencies.len());
    let worst = latencies.iter().max().unwrap();
    assert!(
        *worst < DEADLINE / 4,
        "a detect took {worst:?} while the query ran: {latencies:?}"
    );
    // The query's task is gone from the SQL runtime, not only given up on.
    tokio::time::timeout(Duration::from_secs(5), running.wait_for(|n| *n == 0))
        .await
        .expect("the query's work stops after its deadline")
        .unwrap();
    // The pool takes queries again.
    let ok = t
        .post(
            "/v1/sql",
            &admin,
            json!({ "query": "SELECT count(*) AS n FROM anomalies" }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body["rows"][0]["n"].as_u64().unwrap() >= 1000,
        "{}",
        ok.body
    );
}

#[tokio::test]
async fn a_query_over_the_memory_limit_is_refused_naming_the_query() {
    let t = TestApp::with(|c| {
        c.sql.memory_limit_bytes = 256 * 1024;
        c.sql.timeout_ms = 60_000;
    })
    .await;
    seed_anomalies(&t, 2).await;
    let admin = t.admin.clone();
    // Every (id, id) pair is a group: far more than 256 KiB of hash table.
    let q = "SELECT a.id AS x, b.id AS y, count(*) AS n FROM anomalies a CROSS JOIN anomalies b \
             GROUP BY a.id, b.id ORDER BY n DESC, x, y";
    let r = t.post("/v1/sql", &admin, json!({ "query": q })).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "query", "{}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("memory"), "{msg}");
    let mut running = t.state.sql.running();
    tokio::time::timeout(Duration::from_secs(5), running.wait_for(|n| *n == 0))
        .await
        .expect("the query ends")
        .unwrap();
    // What the refused query held goes back to the pool (its operators' tasks
    // let go of it as they are dropped, a moment after the answer): a query
    // within the limit runs.
    let ok = t
        .post(
            "/v1/sql",
            &admin,
            json!({ "query": "SELECT kind, count(*) AS n FROM anomalies GROUP BY kind" }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}
