//! A backfill on a scheduler and two executors started in this process on
//! loopback gives the anomalies a local backfill gives, row for row; `score`
//! on them gives local `score`'s, each stream's in the same order.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use driftlock_batch::backfill::{self, BackfillConfig, DateRange, Output};
use driftlock_batch::output::{create_file_sink, for_each_row};
use driftlock_batch::score::{self, ScoreConfig};
use driftlock_cluster::backfill::{ClusterBackfill, run};
use driftlock_datasets::{GeneratorConfig, StreamKind};
use driftlock_engine::DetectorConfig;
use driftlock_engine::read::{ColumnMapping, ReadOptions};
use driftlock_kernels::CpuBackend;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// 3 date partitions x 2 files of 2,000 events over 4 streams, with
/// labelled anomalies injected (the labels are ignored).
fn archive(dir: &Path) -> PathBuf {
    let root = dir.join("archive");
    let mut events = GeneratorConfig::new(StreamKind::Mixed, 12_000, 7)
        .with_streams(4)
        .build()
        .unwrap();
    for date in ["2025-01-01", "2025-01-02", "2025-01-03"] {
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

fn detector() -> DetectorConfig {
    DetectorConfig {
        baseline_size: 100,
        window_size: 20,
        hop_size: 5,
        permutation_count: 200,
        ..DetectorConfig::default()
    }
}

fn read() -> ReadOptions {
    ReadOptions {
        mapping: ColumnMapping::default()
            .with_ignored("label")
            .with_ignored("anomaly_kind"),
        batch_rows: 250,
        ..ReadOptions::default()
    }
}

/// Every row of every part file in `dir`, printed whole, sorted.
fn rows(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            for_each_row(&batch.unwrap(), |r| {
                out.push(format!("{r:?}"));
                Ok(())
            })
            .unwrap();
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_executors_give_a_local_backfills_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());

    let local = dir.path().join("local");
    let cfg = BackfillConfig {
        archive: root.clone(),
        range: DateRange::default(),
        detector: detector(),
        read: read(),
        output: Output::Parts(local.clone()),
        checkpoint_every: backfill::CHECKPOINT_EVERY,
        buffer_events: backfill::BUFFER_EVENTS,
        checkpoint: None,
    };
    backfill::run(&cfg, &CpuBackend, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let expected = rows(&local);
    let streams: std::collections::BTreeSet<_> = expected
        .iter()
        .map(|r| r.split(',').next().unwrap().to_owned())
        .collect();
    assert!(expected.len() > 10 && streams.len() > 1, "{expected:?}");

    let cluster_at = driftlock_cluster::in_process::start(2, 2).await.unwrap();
    let cluster = dir.path().join("cluster");
    let job = ClusterBackfill {
        url: cluster_at.url,
        files: backfill::archive::list(&root, &DateRange::default()).unwrap(),
        read: read(),
        detector: detector(),
        out: cluster.clone(),
        // More parts than executors' slots and than files' divisors, so
        // streams and files are split unevenly among tasks.
        partitions: 5,
        progress: Some(cluster_at.progress),
        poll: Duration::from_millis(50),
    };
    let mut seen = Vec::new();
    let summary = tokio::time::timeout(Duration::from_secs(120), run(&job, &mut |p| seen.push(*p)))
        .await
        .expect("the cluster backfill finishes")
        .unwrap();
    assert_eq!(summary.files, 6);
    assert_eq!(summary.events, 12_000);
    // Four streams over five partitions: at most four parts.
    assert_eq!(summary.retried_parts, 0);
    assert!((1..=4).contains(&summary.parts), "{summary:?}");
    let left: Vec<_> = std::fs::read_dir(&cluster)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("part-"))
        .collect();
    assert!(left.is_empty(), "only parts are left: {left:?}");
    assert_same(&rows(&cluster), &expected);
    // The bar's counts: the scheduler's tasks (scan, shuffle, score: some
    // per stage), never past the total, and all done at the end.
    let tasks = seen.iter().map(|p| p.tasks).max().unwrap_or(0);
    assert!(tasks >= 5, "{seen:?}");
    assert!(seen.iter().all(|p| p.tasks_done <= p.tasks), "{seen:?}");
    assert!(
        seen.iter()
            .any(|p| p.tasks_done > 0 && p.tasks_done < p.tasks),
        "{seen:?}"
    );
    let last = seen.last().unwrap();
    assert_eq!(
        (last.tasks_done, last.anomalies),
        (last.tasks, summary.anomalies)
    );
}

/// Equal row sets, or a short account of how they differ (rows are long).
fn assert_same(got: &[String], expected: &[String]) {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|r| !b.contains(r))
            .take(3)
            .map(|r| r.chars().take(400).collect())
            .collect()
    };
    assert!(
        got == expected,
        "{} rows against {} expected; only in the cluster's: {:#?}; only in the local: {:#?}",
        got.len(),
        expected.len(),
        only(got, expected),
        only(expected, got)
    );
}

/// One Parquet output's rows in file order: (stream, reported_at, the row printed whole).
fn rows_in_order(path: &Path) -> Vec<(String, u64, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
    {
        for_each_row(&batch.unwrap(), |r| {
            out.push((r.stream_id.to_owned(), r.reported_at, format!("{r:?}")));
            Ok(())
        })
        .unwrap();
    }
    out
}

fn score_locally(inputs: &[PathBuf], out: &Path) {
    let cfg = ScoreConfig {
        inputs: inputs.to_vec(),
        read: read(),
        detector: detector(),
        buffer_events: backfill::BUFFER_EVENTS,
        fdr: None,
    };
    let sink = create_file_sink(Some(out)).unwrap();
    score::run(&cfg, &CpuBackend, sink, &mut |_| {}).unwrap();
}

/// `score --cluster` over six files of four streams writes local `score`'s
/// anomalies: streams in id order, each stream's rows exactly as local
/// `score` wrote them (Parquet and NDJSON, whose incidents are rebuilt from
/// the flat rows); the staging folder is gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn score_on_two_executors_writes_local_scores_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let root = archive(dir.path());
    let inputs: Vec<PathBuf> = backfill::archive::list(&root, &DateRange::default())
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(inputs.len(), 6);

    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    score_locally(&inputs, &local.join("a.parquet"));
    score_locally(&inputs, &local.join("a.ndjson"));
    let local_rows = rows_in_order(&local.join("a.parquet"));
    let streams: std::collections::BTreeSet<_> = local_rows.iter().map(|r| &r.0).collect();
    assert!(local_rows.len() > 10 && streams.len() > 1, "{local_rows:?}");
    // Local order interleaves streams, so the cluster's order is not it.
    let mut order: Vec<usize> = (0..local_rows.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&local_rows[a], &local_rows[b]);
        (&x.0, x.1).cmp(&(&y.0, y.1))
    });
    assert_ne!(order, (0..local_rows.len()).collect::<Vec<_>>());
    let expected: Vec<String> = order.iter().map(|&i| local_rows[i].2.clone()).collect();
    let local_lines: Vec<String> = std::fs::read_to_string(local.join("a.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(local_lines.len(), local_rows.len());
    let expected_lines: Vec<String> = order.iter().map(|&i| local_lines[i].clone()).collect();

    let cluster_at = driftlock_cluster::in_process::start(2, 2).await.unwrap();
    let out_dir = dir.path().join("cluster");
    for name in ["a.parquet", "a.ndjson"] {
        let job = ClusterBackfill {
            url: cluster_at.url.clone(),
            files: backfill::archive::files(&inputs).unwrap(),
            read: read(),
            detector: detector(),
            out: out_dir.join(name),
            partitions: 3,
            progress: Some(cluster_at.progress),
            poll: Duration::from_millis(50),
        };
        let summary = tokio::time::timeout(
            Duration::from_secs(120),
            driftlock_cluster::score::run(&job, &mut |_| {}),
        )
        .await
        .expect("the cluster score finishes")
        .unwrap();
        assert_eq!((summary.files, summary.events), (6, 12_000));
        assert_eq!(summary.anomalies, local_rows.len() as u64);
    }
    let got: Vec<String> = rows_in_order(&out_dir.join("a.parquet"))
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert!(
        got == expected,
        "{} rows against {} expected",
        got.len(),
        expected.len()
    );
    let got_lines: Vec<String> = std::fs::read_to_string(out_dir.join("a.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(got_lines, expected_lines);
    let mut left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["a.ndjson", "a.parquet"],
        "the staging folders are gone"
    );
}
