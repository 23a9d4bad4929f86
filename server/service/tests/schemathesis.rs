//! Schemathesis (PyPI) against a server on loopback: every check (`--checks
//! all`), bounded examples per operation and a time budget for the run, with
//! an admin key. Skips with a printed reason when `schemathesis` is absent.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{TestApp, events, small};
use serde_json::json;

/// Test cases per operation, and the run's budget in seconds.
const MAX_EXAMPLES: &str = "20";
const MAX_TIME_S: &str = "60";

fn installed() -> Option<String> {
    let out = Command::new("schemathesis")
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() {
    let Some(version) = installed() else {
        eprintln!("skipped: schemathesis is not installed (pip install schemathesis)");
        return;
    };
    let help = Command::new("schemathesis")
        .args(["run", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let app = TestApp::with(|c| {
        // The demo's own per-address limit would answer 429 to most cases.
        c.demo.requests_per_minute = 100_000;
    })
    .await;
    // Anomalies to read, so that operations on one are reached with real ids.
    let r = app
        .post(
            "/v1/detect",
            &app.admin.clone(),
            json!({"stream_id": "seeded", "config_override": small(), "events": events(40, &[25, 33])}),
        )
        .await;
    assert_eq!(r.body["anomaly_count"], 2, "{:?}", r.body);
    let me = app.get("/v1/me/keys", &app.admin.clone()).await;
    let own_id = me.body["keys"][0]["id"].as_str().unwrap().to_owned();
    let served = app.serve().await;
    let url = format!("http://{}/v1/openapi.json", served.addr);
    let hooks =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/schemathesis");
    let report = tempfile::tempdir().unwrap();
    // A fixed seed, so that a failure reproduces; another can be tried with
    // DRIFTLOCK_SCHEMATHESIS_SEED.
    let seed = std::env::var("DRIFTLOCK_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20".into());
    let mut cmd = Command::new("schemathesis");
    cmd.args(["run", &url, "--checks", "all"])
        .args(["--header", &format!("X-Api-Key: {}", app.admin)])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed])
        .args(["--request-timeout", "10", "--workers", "1"])
        .env("SCHEMATHESIS_HOOKS", "driftlock_hooks")
        .env("PYTHONPATH", &hooks)
        .env("DRIFTLOCK_OWN_KEY_ID", &own_id)
        .env("NO_COLOR", "1")
        .current_dir(report.path());
    // A hard bound on the run where this version has one.
    if help.contains("--max-time") {
        cmd.args(["--max-time", MAX_TIME_S]);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("schemathesis ran past 180 s")
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    served.stop().await;
    // The run kept its key, so no operation was only ever answered 401.
    assert_eq!(app.get("/v1/me/keys", &app.admin.clone()).await.status, 200);
    assert!(
        out.status.success(),
        "{version} found failures:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "{version}: {}",
        stdout.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
}
