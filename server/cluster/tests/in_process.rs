//! A backfill on a scheduler and two executors started in this process on
//! loopback gives the anomalies a local backfill gives, row for row.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use driftlock_batch::backfill::{self, BackfillConfig, DateRange, Output};
use driftlock_batch::output::for_each_row;
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
        archive: root,
        range: DateRange::default(),
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
