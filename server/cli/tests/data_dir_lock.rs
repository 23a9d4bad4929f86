//! One process per data directory: a second `serve` or a `backfill --store`
//! into a directory a server holds fails at once, naming the holder's PID; the
//! lock goes with the holder, even when it is killed.

use std::process::Command;
use std::time::Duration;

mod common;
use common::{BIN, http, output_within, serve_args, start};

const BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_second_server_on_a_held_data_directory_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), "scripted");
    let pid = first.child.id();
    let mut second = Command::new(BIN);
    second
        .args(serve_args(dir.path(), "scripted"))
        .env("DRIFTLOCK_API_KEY", common::KEY);
    let out = output_within(second, BOUND);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("in use by another driftlock process (PID {pid})")),
        "{stderr}"
    );
    let (status, _) = http(first.addr, "GET", "/healthz", None).unwrap();
    assert_eq!(status, 200, "the holder is untouched");
    // SIGKILL: the OS releases the lock with the process.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let third = start(dir.path(), "scripted");
    let (status, _) = http(third.addr, "GET", "/healthz", None).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_backfill_into_a_served_store_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "scripted");
    let pid = server.child.id();
    let archive = tempfile::tempdir().unwrap();
    let mut backfill = Command::new(BIN);
    backfill
        .arg("backfill")
        .arg(archive.path())
        .arg("--store")
        .arg(dir.path())
        .env("RUST_LOG", "warn");
    let out = output_within(backfill, BOUND);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("(PID {pid})")), "{stderr}");
}
