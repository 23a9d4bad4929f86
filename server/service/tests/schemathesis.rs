//! Schemathesis (PyPI) against a server on loopback: every check (`--checks
//! all`), bounded examples per operation and a time budget for the run, with
//! an admin key. Skips with a printed reason when `schemathesis` is absent.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::TestApp;

/// Test cases per operation, and the run's budget in seconds.
const MAX_EXAMPLES: &str = "20";
const MAX_TIME_S: &str = "60";

fn installed() -> Option<String> {
    let out = Command::new("schemathesis").arg("--version").output().ok()?;
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
    let served = app.serve().await;
    let url = format!("http://{}/v1/openapi.json", served.addr);
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let report = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("schemathesis");
    cmd.args(["run", &url, "--checks", "all"])
        .args(["--header", &format!("X-Api-Key: {}", app.admin)])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "20"])
        .args(["--request-timeout", "10", "--workers", "1"])
        .env("SCHEMATHESIS_HOOKS", "driftlock_hooks")
        .env("PYTHONPATH", &hooks)
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
    assert!(
        out.status.success(),
        "{version} found failures:\n{stdout}\n{stderr}"
    );
    eprintln!("{version}: {}", stdout.lines().rev().take(12).collect::<Vec<_>>().join("\n"));
}
