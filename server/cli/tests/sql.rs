//! SQL: `driftlock sql` over a date-partitioned archive and a Parquet file, and
//! `POST /v1/sql` over the store (read-only, limited, errors as the spec's JSON).

#[path = "../../service/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::{Reply, TestApp, events, small};
use driftlock_datasets::{GeneratorConfig, StreamKind};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_driftlock");

/// `POST /v1/sql` of one query as `key`.
async fn api_sql(t: &TestApp, key: &str, query: &str) -> Reply {
    t.post("/v1/sql", key, json!({ "query": query })).await
}

/// 2 date partitions of 300 events each, 2 streams.
fn archive(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("archive");
    let mut events = GeneratorConfig::new(StreamKind::Logs, 600, 3)
        .with_streams(2)
        .build()
        .unwrap();
    for date in ["2025-01-01", "2025-01-02"] {
        let part = root.join(format!("date={date}"));
        std::fs::create_dir_all(&part).unwrap();
        let chunk: Vec<_> = events.by_ref().take(300).collect();
        driftlock_datasets::write::write_parquet(part.join("part-0.parquet"), chunk, 100).unwrap();
    }
    root
}

fn sql(args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("sql").args(args).output().unwrap()
}

#[test]
fn cli_queries_partitions_and_writes_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());
    let events = root.to_str().unwrap();
    let out = sql(&[
        "--events",
        events,
        "SELECT date, count(*) AS n FROM events GROUP BY date ORDER BY date",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("| 2025-01-01 | 300 |"), "{table}");
    assert!(table.contains("| 2025-01-02 | 300 |"), "{table}");

    let csv = dir.path().join("streams.csv");
    let out = sql(&[
        "--events",
        events,
        "--out",
        csv.to_str().unwrap(),
        "SELECT stream_id, count(*) AS n FROM events GROUP BY stream_id ORDER BY stream_id",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "stream_id,n\nsvc-0,300\nsvc-1,300\n"
    );

    // The Parquet result reads back as a table.
    let pq = dir.path().join("r.parquet");
    assert!(
        sql(&[
            "--events",
            events,
            "--out",
            pq.to_str().unwrap(),
            "SELECT * FROM events WHERE date = '2025-01-02'"
        ])
        .status
        .success()
    );
    let out = sql(&[
        "--anomalies",
        pq.to_str().unwrap(),
        "SELECT count(*) AS n FROM anomalies",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("| 300 |"));

    let bad = sql(&["--events", events, "SELECT * FROM nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
}

#[tokio::test]
async fn api_runs_read_only_queries_with_a_limit() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    let warm = json!({ "stream_id": "s", "events": events(20, &[]), "config_override": small() });
    t.post("/v1/detect", &admin, warm).await;
    let hot = json!({ "stream_id": "s", "events": events(5, &[0, 1, 2, 3, 4]) });
    assert_eq!(
        t.post("/v1/detect", &admin, hot).await.body["anomaly_count"],
        5
    );

    let r = api_sql(
        &t,
        &admin,
        "SELECT stream_id, count(*) AS n FROM anomalies GROUP BY stream_id",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rows"], json!([{"stream_id": "s", "n": 5}]));
    assert_eq!(r.body["columns"][1]["name"], "n");
    assert_eq!(r.body["truncated"], false);

    let r = t
        .post(
            "/v1/sql",
            &admin,
            json!({"query": "SELECT position FROM anomalies ORDER BY position", "limit": 2}),
        )
        .await;
    assert_eq!(r.body["row_count"], 2);
    assert_eq!(r.body["truncated"], true);

    // Each event anomaly was reported by its own event.
    let r = api_sql(
        &t,
        &admin,
        "SELECT count(*) AS n FROM anomalies WHERE reported_at = position",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rows"], json!([{"n": 5}]));

    let r = api_sql(&t, &admin, "SELECT * FROM anomalies WHERE false").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["rows"], json!([]));
    assert!(r.body["columns"].as_array().unwrap().len() > 5);

    for bad in [
        "SELEC 1",
        "SELECT * FROM missing",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO anomalies SELECT * FROM anomalies",
        "COPY anomalies TO '/tmp/driftlock-sql-test.csv'",
        "SET datafusion.execution.batch_size = 1",
        "DROP TABLE anomalies",
    ] {
        let r = api_sql(&t, &admin, bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.code(), "invalid_argument", "{bad}");
        // The spec's error object: a message and the request's id.
        let error = &r.body["error"];
        assert!(!error["message"].as_str().unwrap().is_empty(), "{bad}");
        assert_eq!(
            error["request_id"].as_str().unwrap(),
            r.headers["x-request-id"].to_str().unwrap(),
            "{bad}"
        );
    }
    let r = api_sql(&t, &admin, "SELECT * FROM missing").await;
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{}",
        r.body
    );
    assert!(!Path::new("/tmp/driftlock-sql-test.csv").exists());

    let reader = t.key("stream", Some("s")).await;
    let r = api_sql(&t, &reader, "SELECT 1").await;
    assert_eq!(r.status, 403);
}
