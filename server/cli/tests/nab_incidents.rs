//! `eval nab` scores what the product emits: the incidents `driftlock score`
//! writes for a NAB file, with `eval nab`'s configuration, are the rows the
//! evaluation ranks, with the same ranks.

use std::fmt::Write as _;
use std::process::Command;

use driftlock_eval::nab::{NabOptions, score_file};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_driftlock");

#[test]
fn score_writes_the_incidents_eval_nab_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spiky.csv");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..3_000u64 {
        let base = 50.0 + 10.0 * (i as f64 * 0.05).sin() + ((i * 7919) % 13) as f64 * 0.3;
        let v = match i {
            1_500..=1_502 => 400.0,
            2_200.. => base + 200.0,
            _ => base,
        };
        let t =
            driftlock_datasets::time::format_rfc3339_ms((1_600_000_000 + 300 * i as i64) * 1_000);
        writeln!(csv, "{},{v:.3}", t[..19].replace('T', " ")).unwrap();
    }
    std::fs::write(&path, csv).unwrap();

    let file = driftlock_datasets::nab::load_file(&path, "test/spiky.csv", Vec::new()).unwrap();
    let opts = NabOptions::default();
    let (scores, _) = score_file(&file, &opts).unwrap();
    let from_eval: Vec<(u64, f64)> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= 0.5)
        .map(|(i, s)| (i as u64, (s - 0.5) * 2.0))
        .collect();
    assert!(!from_eval.is_empty());

    let c = &opts.config;
    let out = dir.path().join("anomalies.ndjson");
    let run = Command::new(BIN)
        .arg("score")
        .arg(&path)
        .args([
            "--default-type",
            "metric",
            "--device",
            "cpu",
            "--no-progress",
        ])
        .args(["--baseline-size", &c.baseline_size.to_string()])
        .args(["--min-baseline-size", &c.min_baseline_size.to_string()])
        .args(["--window-size", &c.window_size.to_string()])
        .args(["--hop-size", &c.hop_size.to_string()])
        .args(["--metric-context", &c.metric_context.to_string()])
        .args(["--record-margin", &c.record_margin.unwrap().to_string()])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let from_score: Vec<(u64, f64)> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["incident"]["opens"] == true && a["kind"] == "event")
        .map(|a| {
            let rank = a["incident"]["rank"].as_f64().unwrap();
            (a["index"].as_u64().unwrap(), rank)
        })
        .collect();
    assert_eq!(
        from_score.len(),
        from_eval.len(),
        "{from_score:?} vs {from_eval:?}"
    );
    for ((i, a), (j, b)) in from_score.iter().zip(&from_eval) {
        assert_eq!(i, j);
        assert!((a - b).abs() < 1e-12, "row {i}: {a} vs {b}");
    }
}
