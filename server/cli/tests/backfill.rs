//! `driftlock backfill` as a process: SIGKILLed midway and restarted, it ends
//! with the same anomalies as an uninterrupted run and none twice; re-run after
//! finishing, it changes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{Array, Float64Array, StringArray, UInt64Array};
use driftlock_datasets::{GeneratorConfig, StreamKind};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const BIN: &str = env!("CARGO_BIN_EXE_driftlock");
const DATES: [&str; 3] = ["2025-01-01", "2025-01-02", "2025-01-03"];

/// 3 date partitions x 2 files, 4 streams, labelled anomalies injected.
fn archive(dir: &Path) -> PathBuf {
    let root = dir.join("archive");
    let mut events = GeneratorConfig::new(StreamKind::Mixed, 12_000, 7)
        .with_streams(4)
        .build()
        .unwrap();
    for date in DATES {
        let part = root.join(format!("date={date}"));
        std::fs::create_dir_all(&part).unwrap();
        for i in 0..2 {
            let chunk: Vec<_> = events.by_ref().take(2_000).collect();
            driftlock_datasets::write::write_parquet(
                part.join(format!("part-{i}.parquet")),
                chunk,
                500,
            )
            .unwrap();
        }
    }
    root
}

/// Detector and reader options shared by `backfill` and `score`.
const OPTIONS: [&str; 16] = [
    "--baseline-size",
    "100",
    "--window-size",
    "20",
    "--hop-size",
    "5",
    "--permutations",
    "200",
    "--device",
    "cpu",
    "--batch-rows",
    "250",
    "--ignore-column",
    "label",
    "--ignore-column",
    "anomaly_kind",
];

fn command(archive: &Path, output: &[&str], extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("backfill")
        .arg(archive)
        .args(output)
        .args(OPTIONS)
        .args(["--checkpoint-every", "2"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn finish(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts a backfill and SIGKILLs it once its checkpoint shows two files done
/// and the run unfinished (polling the checkpoint the process itself writes).
fn kill_midway(mut c: Command, checkpoint: &Path) {
    let mut child = c.spawn().unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("backfill ended ({status}) before it could be killed midway");
        }
        if let Ok(bytes) = std::fs::read(checkpoint) {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).expect("checkpoint is never torn");
            if v["files_done"].as_array().unwrap().len() >= 2 && v["finished"] == false {
                child.kill().unwrap(); // SIGKILL on Unix
                child.wait().unwrap();
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(checkpoint).unwrap()).unwrap();
                assert_eq!(v["finished"], false, "killed after the end");
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2)); // poll interval, not synchronisation
    }
}

/// (stream_id, index, kind, ncd bits, p_value bits, reported_at) of an anomaly.
type Row = (String, u64, String, u64, u64, u64);

/// Every row of every part, in file order.
fn parts(dir: &Path) -> Vec<Row> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    names.sort();
    let mut rows = Vec::new();
    for path in names {
        let file = std::fs::File::open(&path).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let b = batch.unwrap();
            let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
            let (s, i, k, n, p, at) = (
                col("stream_id"),
                col("index"),
                col("kind"),
                col("ncd"),
                col("p_value"),
                col("reported_at"),
            );
            let s = s.as_any().downcast_ref::<StringArray>().unwrap();
            let i = i.as_any().downcast_ref::<UInt64Array>().unwrap();
            let k = k.as_any().downcast_ref::<StringArray>().unwrap();
            let n = n.as_any().downcast_ref::<Float64Array>().unwrap();
            let p = p.as_any().downcast_ref::<Float64Array>().unwrap();
            let at = at.as_any().downcast_ref::<UInt64Array>().unwrap();
            for r in 0..b.num_rows() {
                rows.push((
                    s.value(r).into(),
                    i.value(r),
                    k.value(r).into(),
                    n.value(r).to_bits(),
                    p.value(r).to_bits(),
                    at.value(r),
                ));
            }
        }
    }
    rows
}

/// The store's anomalies as [`Row`]s, sorted.
fn stored(data_dir: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(data_dir.join("driftlock.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT stream_id, position, kind, ncd, p_value, reported_at FROM anomalies ORDER BY stream_id, position, kind")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get(2)?,
            r.get::<_, f64>(3)?.to_bits(),
            r.get::<_, f64>(4)?.to_bits(),
            r.get::<_, i64>(5)? as u64,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn assert_no_duplicates(rows: &[Row]) {
    let keys: BTreeSet<_> = rows.iter().map(|(s, i, k, ..)| (s, i, k)).collect();
    assert_eq!(keys.len(), rows.len(), "an anomaly was written twice");
}

#[test]
fn killed_backfill_resumes_to_the_same_anomalies_into_parquet_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());

    let whole = dir.path().join("whole");
    finish(command(&root, &["--out", whole.to_str().unwrap()], &[]));
    let expected = parts(&whole);
    assert!(
        expected.len() >= 5,
        "too few anomalies to compare: {}",
        expected.len()
    );
    assert_no_duplicates(&expected);
    // An event anomaly is reported by its own event or, a new template's
    // held flag, by a later one; a change point by the later one that
    // completed its window.
    for (_, index, kind, .., at) in &expected {
        assert!(at >= index, "{kind} at {index} reported at {at}");
    }
    assert!(
        expected
            .iter()
            .any(|(_, index, kind, .., at)| kind == "event" && at == index),
        "no event anomaly reported with its event"
    );
    assert!(
        expected.iter().any(|(_, index, .., at)| at > index),
        "no change point reported after its first event"
    );

    // Scored in pushes of one read batch rather than one checkpoint interval:
    // the same anomalies in the same order.
    let resumed = dir.path().join("resumed");
    let out = ["--out", resumed.to_str().unwrap()];
    let small = ["--buffer-events", "100"];
    kill_midway(
        command(&root, &out, &small),
        &resumed.join("_checkpoint.json"),
    );
    let second = finish(command(&root, &out, &small));
    assert!(String::from_utf8_lossy(&second.stderr).contains("(resumed)"));
    let got = parts(&resumed);
    assert_no_duplicates(&got);
    assert_eq!(
        got, expected,
        "a resumed run differs from an uninterrupted one"
    );

    // The same through the SQLite store, whose checkpoint sits in the data dir.
    let data = dir.path().join("data");
    let store = ["--store", data.to_str().unwrap()];
    let checkpoint = data.join("bf.checkpoint.json");
    let ck = ["--checkpoint", checkpoint.to_str().unwrap()];
    kill_midway(command(&root, &store, &ck), &checkpoint);
    finish(command(&root, &store, &ck));
    let rows = stored(&data);
    assert_no_duplicates(&rows);
    assert_eq!(rows, sorted(expected));
}

#[test]
fn rerunning_a_finished_backfill_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());
    let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().contains("driftlock.db")) // SQLite's WAL files move on reads
            .filter(|p| !p.ends_with("driftlock.lock")) // its holder's PID, not data
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };

    let out_dir = dir.path().join("out");
    let out = ["--out", out_dir.to_str().unwrap()];
    finish(command(&root, &out, &[]));
    let before = snapshot(&out_dir);
    let again = finish(command(&root, &out, &[]));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already complete"));
    assert_eq!(snapshot(&out_dir), before);

    let data = dir.path().join("data");
    let store = ["--store", data.to_str().unwrap()];
    finish(command(&root, &store, &[]));
    let conn = rusqlite::Connection::open(data.join("driftlock.db")).unwrap();
    let all = |c: &rusqlite::Connection| -> Vec<(String, String)> {
        let mut s = c
            .prepare("SELECT id, detected_at FROM anomalies ORDER BY seq")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let rows = all(&conn);
    let files = snapshot(&data);
    assert!(!rows.is_empty());
    let again = finish(command(&root, &store, &[]));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already complete"));
    assert_eq!(all(&conn), rows);
    assert_eq!(snapshot(&data), files);

    // A different configuration is refused, not mixed into the same output.
    let other = command(&root, &out, &["--seed", "9"]).output().unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("another configuration"));

    // Partition filters pick dates: one day has a third of the rows.
    let day = dir.path().join("day");
    let one = finish(command(
        &root,
        &["--out", day.to_str().unwrap()],
        &["--since", "2025-01-02", "--until", "2025-01-02"],
    ));
    assert!(
        String::from_utf8_lossy(&one.stderr).contains("4000 events"),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
}

/// `score` is a backfill without checkpoints: given the archive's files in the
/// backfill's order, it writes the same anomalies in the same order, whatever
/// its buffer.
#[test]
fn score_writes_what_a_backfill_writes_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());
    let out_dir = dir.path().join("out");
    finish(command(&root, &["--out", out_dir.to_str().unwrap()], &[]));
    let expected = parts(&out_dir);
    let streams: BTreeSet<_> = expected.iter().map(|r| r.0.clone()).collect();
    assert!(expected.len() > 10 && streams.len() > 1, "{expected:?}");
    let files: Vec<PathBuf> = DATES
        .iter()
        .flat_map(|d| (0..2).map(move |i| format!("date={d}/part-{i}.parquet")))
        .map(|rel| root.join(rel))
        .collect();
    for buffer in ["64", "1000000"] {
        let scored = dir.path().join(format!("score-{buffer}"));
        std::fs::create_dir_all(&scored).unwrap();
        let mut c = Command::new(BIN);
        c.arg("score")
            .args(&files)
            .arg("--out")
            .arg(scored.join("anomalies.parquet"))
            .args(OPTIONS)
            .args(["--buffer-events", buffer])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        finish(c);
        assert_eq!(parts(&scored), expected, "buffer {buffer}");
    }
    // With a false-discovery rate, a subset: the event anomalies that pass
    // Benjamini–Hochberg over all 12,000 events, and every change point.
    let fdr = dir.path().join("score-fdr");
    std::fs::create_dir_all(&fdr).unwrap();
    let mut c = Command::new(BIN);
    c.arg("score")
        .args(&files)
        .arg("--out")
        .arg(fdr.join("anomalies.parquet"))
        .args(OPTIONS)
        .args(["--fdr", "0.05"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(c);
    let kept = parts(&fdr);
    assert!(kept.iter().all(|r| expected.contains(r)));
    let events = |rows: &[Row]| rows.iter().filter(|r| r.2 == "event").count();
    assert!(
        events(&kept) < events(&expected),
        "{} of {}",
        events(&kept),
        events(&expected)
    );
    let mut ps: Vec<f64> = kept
        .iter()
        .filter(|r| r.2 == "event")
        .map(|r| f64::from_bits(r.4))
        .collect();
    ps.sort_by(|a, b| a.total_cmp(b));
    if let Some(last) = ps.last() {
        assert!(*last <= ps.len() as f64 * 0.05 / 12_000.0, "{ps:?}");
    }
    let changes = |rows: &[Row]| rows.iter().filter(|r| r.2 != "event").count();
    assert_eq!(changes(&kept), changes(&expected));
}
