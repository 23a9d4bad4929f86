//! `driftlock score --cluster` refuses, before asking any cluster, what it
//! cannot do: non-Parquet inputs (named), no --out, and --fdr. Nothing
//! listens on the URL, so getting past the checks would fail differently.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_driftlock");
const URL: &str = "df://127.0.0.1:1";

fn stderr_of(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn score_on_a_cluster_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, "stream_id,body\n").unwrap();
    let parquet = dir.path().join("events.parquet");
    std::fs::write(&parquet, b"x").unwrap();
    let out = dir.path().join("out.parquet");
    let (csv, parquet, out) = (
        csv.to_str().unwrap(),
        parquet.to_str().unwrap(),
        out.to_str().unwrap(),
    );

    let err = stderr_of(&["score", parquet, csv, "--cluster", URL, "--out", out]);
    assert!(
        err.contains("events.csv") && err.contains("Parquet inputs only"),
        "{err}"
    );
    assert!(!dir.path().join("out.parquet").exists());

    let err = stderr_of(&["score", parquet, "--cluster", URL]);
    assert!(err.contains("--cluster needs --out FILE"), "{err}");

    let err = stderr_of(&[
        "score",
        parquet,
        "--cluster",
        URL,
        "--out",
        out,
        "--fdr",
        "0.01",
    ]);
    assert!(err.contains("cannot be used with"), "{err}");

    let err = stderr_of(&["score", parquet, "--partitions", "4", "--out", out]);
    assert!(err.contains("--cluster"), "{err}");
}
