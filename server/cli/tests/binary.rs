//! The built `driftlock` binary: SIGKILL while queueing loses no acknowledged
//! event, `driftlock keys` works on the same database, and the Python examples
//! of the API documentation run unchanged against `driftlock serve`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

mod common;
use common::{BIN, KEY, http, start, wait_until};

#[test]
fn sigkill_while_queueing_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), "scripted");
    let addr = server.addr;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let keys: Vec<String> = (0..5).map(|j| format!("e{n}-{j}")).collect();
                let events: Vec<Value> = keys
                    .iter()
                    .map(|k| json!({"type": "log", "body": {"k": k}, "idempotency_key": k}))
                    .collect();
                n += 1;
                match http(
                    addr,
                    "POST",
                    "/v1/streams/k/events",
                    Some(&json!({"events": events})),
                ) {
                    Ok((202, _)) => acked.lock().unwrap().extend(keys),
                    Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    Err(_) => break, // the server is gone
                }
            }
        })
    };
    wait_until("some acknowledged batches", || {
        acked.lock().unwrap().len() >= 200
    });
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    drop(server);

    let server = start(dir.path(), "scripted");
    wait_until(
        "the queue to drain",
        || matches!(http(server.addr, "GET", "/v1/streams/k", None), Ok((200, b)) if b["queue_depth"] == 0),
    );
    let (_, stream) = http(server.addr, "GET", "/v1/streams/k", None).unwrap();
    drop(server);
    let conn = rusqlite::Connection::open(dir.path().join("driftlock.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT 1 FROM idempotency WHERE stream_id = 'k' AND key = ?1")
        .unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|k| !stmt.exists([k.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let distinct: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM idempotency WHERE stream_id = 'k'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stream["events_seen"].as_i64().unwrap(),
        distinct,
        "every event scored exactly once"
    );
    assert!(distinct as usize >= acked.len());
}

#[test]
fn keys_cli_operates_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let admin = run(&["keys", "create", "--role", "admin", "--name", "ops"]);
    assert!(admin.trim().starts_with("dlk_"));
    let key = run(&[
        "keys",
        "create",
        "--role",
        "stream",
        "--stream",
        "prod-logs",
    ]);
    let list: Value = serde_json::from_str(&run(&["keys", "list", "--json"])).unwrap();
    let keys = list.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        !run(&["keys", "list"]).contains(key.trim()),
        "secrets are never listed"
    );
    let stream_key = keys.iter().find(|k| k["role"] == "stream").unwrap();
    assert_eq!(stream_key["stream_id"], "prod-logs");
    run(&["keys", "revoke", stream_key["id"].as_str().unwrap()]);
    let list: Value = serde_json::from_str(&run(&["keys", "list", "--json"])).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|k| k["revoked_at"].is_string())
    );
    let out = Command::new(BIN)
        .args(["keys", "create", "--role", "stream"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a stream key needs --stream");
}

#[test]
fn export_cli_writes_the_store_s_anomalies() {
    use driftlock_store::anomalies::{self, AnomalyRecord};
    let dir = tempfile::tempdir().unwrap();
    let store =
        driftlock_store::Store::open(&dir.path().join("driftlock.db"), Default::default()).unwrap();
    for (i, stream) in ["a", "a", "b"].into_iter().enumerate() {
        let record = AnomalyRecord {
            seq: 0,
            id: format!("anom_{i}"),
            stream_id: stream.into(),
            position: i as u64,
            kind: driftlock_engine::AnomalyKind::Event,
            timestamp: "2025-01-01T00:00:00.000Z".into(),
            ts_ms: 1_735_689_600_000,
            detected_at: "2025-01-01T00:00:00.000Z".into(),
            metrics: driftlock_engine::Metrics {
                ncd: 0.5,
                p_value: 0.01,
                confidence: 0.99,
                compression_ratio: 2.0,
                entropy_change: 0.1,
            },
            window_p_value: None,
            why: "new token".into(),
            compressor: "zstd".into(),
            status: driftlock_store::record::AnomalyStatus::New,
            event: json!({"body": {"i": i}}),
            evidence: Some(json!({"encoded": "x", "nearest": [], "baseline_digest": "d"})),
            has_evidence: false,
            batch_id: "b".into(),
            reported_at: i as u64,
        };
        store.with_conn(|c| anomalies::insert(c, &record)).unwrap();
    }
    let export = |args: &[&str]| {
        Command::new(BIN)
            .arg("export")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let pq = dir.path().join("a.parquet");
    let out = export(&["--stream-id", "a", "--out", pq.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 2 anomalies as parquet"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 2);

    let out = export(&["--format", "csv"]);
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("stream_id,index,"));

    let out = export(&["--since", "yesterday"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    let out = Command::new(BIN)
        .args(["export", "--data-dir"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no driftlock database"));
}

#[test]
fn first_start_prints_a_generated_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = || {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("DRIFTLOCK_API_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut printed = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("driftlock listening on");
            printed.push(line);
            if done {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        printed.join("\n")
    };
    let first = spawn();
    assert!(first.contains("admin API key"), "{first}");
    assert!(first.contains("dlk_"));
    let second = spawn();
    assert!(!second.contains("dlk_"), "shown once: {second}");
}

#[test]
fn python_examples_run_unchanged() {
    let python_ok = Command::new("python3")
        .args(["-c", "import requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !python_ok {
        println!(
            "SKIPPED python_examples_run_unchanged: python3 with `requests` is not installed (pip install requests)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "engine");
    let script =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/python/examples.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("DRIFTLOCK_API_URL", format!("http://{}/v1", server.addr))
        .env("DRIFTLOCK_API_KEY", KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Anomalies: 0"), "{stdout}");
    assert!(stdout.contains("Total anomalies: 0"), "{stdout}");
    assert!(stdout.contains("ALL EXAMPLES OK"), "{stdout}");
}
