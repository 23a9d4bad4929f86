//! `driftlock eval` on tiny hand-made corpora written to a tempdir (the real
//! NAB and HDFS data live outside the repository and tests cannot rely on them).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use driftlock_eval::{self as eval, hdfs::HdfsOptions, nab::NabOptions, nab::ScoreRule};

const ROWS: usize = 2000;

fn ts(i: usize) -> String {
    // 5-minute steps from 2020-01-01 00:00:00.
    let m = i * 5;
    format!(
        "2020-01-{:02} {:02}:{:02}:00",
        1 + m / 1440,
        (m / 60) % 24,
        m % 60
    )
}

/// A NAB-layout folder: two files with a labelled spike / level shift, one without.
fn write_nab(root: &Path) {
    let mut labels = serde_json::Map::new();
    let files: [(&str, &str, Option<usize>); 3] = [
        ("artificialWithAnomaly", "spike.csv", Some(1500)),
        ("realTest", "shift.csv", Some(1400)),
        ("artificialNoAnomaly", "calm.csv", None),
    ];
    for (n, (cat, name, anomaly)) in files.iter().enumerate() {
        let dir = root.join("data").join(cat);
        fs::create_dir_all(&dir).unwrap();
        let mut csv = String::from("timestamp,value\n");
        for i in 0..ROWS {
            let base = 50.0
                + 10.0 * ((i as f64) * 0.05 + n as f64).sin()
                + ((i * 7919 + n) % 13) as f64 * 0.3;
            let v = match anomaly {
                Some(a) if *name == "spike.csv" && (*a..*a + 3).contains(&i) => 400.0,
                Some(a) if *name == "shift.csv" && i >= *a => base + 200.0,
                _ => base,
            };
            writeln!(csv, "{},{v:.3}", ts(i)).unwrap();
        }
        fs::write(dir.join(name), csv).unwrap();
        let windows: Vec<[String; 2]> = anomaly
            .map(|a| {
                vec![[
                    format!("{}.000000", ts(a - 20)),
                    format!("{}.000000", ts(a + 20)),
                ]]
            })
            .unwrap_or_default();
        labels.insert(
            format!("{cat}/{name}"),
            serde_json::to_value(windows).unwrap(),
        );
    }
    fs::create_dir_all(root.join("labels")).unwrap();
    fs::write(
        root.join("labels").join("combined_windows.json"),
        serde_json::to_string_pretty(&labels).unwrap(),
    )
    .unwrap();
}

#[test]
fn nab_eval_scores_and_writes_the_results_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nab");
    write_nab(&root);
    let out = dir.path().join("results");
    for rule in ScoreRule::ALL {
        let opts = NabOptions {
            rule,
            results_out: Some(out.clone()),
            ..Default::default()
        };
        let report = eval::nab::run(&root, &opts, &eval::no_progress).unwrap();
        assert_eq!(report.files.len(), 3);
        assert_eq!(report.rows, 3 * ROWS);
        let names: Vec<&str> = report.profiles.iter().map(|p| p.profile.as_str()).collect();
        assert_eq!(
            names,
            ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
        );
        for p in &report.profiles {
            assert!(
                p.normalized.is_finite() && p.normalized <= 100.0,
                "{rule}: {p:?}"
            );
        }
        // The spike and the shift are obvious: the standard profile beats the null detector.
        let standard = report.normalized("standard").unwrap();
        assert!(
            standard > 0.0,
            "{rule}: standard {standard}\n{}",
            report.render()
        );
        let text = report.render();
        assert!(
            text.contains("artificialWithAnomaly/spike.csv")
                && text.contains("standard")
                && text.contains(&format!("score rule: {rule}")),
            "{text}"
        );
    }
    for (cat, name) in [
        ("artificialWithAnomaly", "spike.csv"),
        ("realTest", "shift.csv"),
        ("artificialNoAnomaly", "calm.csv"),
    ] {
        let path = out
            .join("driftlock")
            .join(cat)
            .join(format!("driftlock_{name}"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,label"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), ROWS);
        assert_eq!(rows[0][0], "2020-01-01 00:00:00");
        for r in &rows {
            let s: f64 = r[2].parse().unwrap();
            assert!((0.0..=1.0).contains(&s), "{name}: score {s}");
            assert!(r[3] == "0" || r[3] == "1");
        }
        let labelled = rows.iter().filter(|r| r[3] == "1").count();
        assert_eq!(labelled, if cat == "artificialNoAnomaly" { 0 } else { 41 });
    }
}

/// Normal sessions: a few block life cycles; abnormal ones carry error templates.
fn write_hdfs(root: &Path) {
    fs::create_dir_all(root).unwrap();
    let patterns: [&str; 4] = [
        "5 5 5 22 11 9 11 9 11 9 26 26 26 23 23 23 21 21 21",
        "22 5 5 5 11 9 11 9 11 9 26 26 26",
        "5 22 5 5 11 9 11 9 26 11 9 26 26 23 23 23 21 21 21",
        "5 5 22 5 11 9 11 9 11 9 26 26 26 4 4 3 2 23 23 23 21 21",
    ];
    let mut normal = String::new();
    for i in 0..400 {
        writeln!(normal, "{} ", patterns[(i * 7) % patterns.len()]).unwrap();
    }
    let mut abnormal = String::new();
    for i in 0..40 {
        let errors = [
            "7 7 7 7 7 7 7 7",
            "13 13 13 13 13 6 6 6 6",
            "28 28 28 28 17 17 17 17 17",
        ][i % 3];
        writeln!(abnormal, "5 5 22 {errors} 20 20 20 20 18 18 18 ").unwrap();
    }
    fs::write(root.join("normal.txt"), normal).unwrap();
    fs::write(root.join("abnormal.txt"), abnormal).unwrap();
}

#[test]
fn hdfs_eval_reports_detection_rates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hdfs");
    write_hdfs(&root);
    let opts = HdfsOptions {
        baseline: 200,
        ..Default::default()
    };
    let report = eval::hdfs::run(&root, &opts, &eval::no_progress).unwrap();
    assert_eq!(report.baseline, 200);
    assert_eq!(report.config.baseline_size, 200);
    assert_eq!((report.test_normal, report.test_abnormal), (200, 40));
    let m = report.metrics;
    assert_eq!(m.tp + m.fn_, 40);
    assert_eq!(m.fp + m.tn, 200);
    for x in [m.precision, m.recall, m.f1, m.fpr] {
        assert!((0.0..=1.0).contains(&x), "{m:?}");
    }
    // Sessions made of templates the baseline never saw are found; repeats of the
    // baseline's life cycles are not flagged.
    assert!(m.recall >= 0.9, "{m:?}");
    assert!(m.fpr <= 0.05, "{m:?}");
    let text = report.render();
    assert!(text.contains("precision") && text.contains("FPR"), "{text}");
    assert!(text.contains("exact lookup"), "{text}");
    assert_eq!(report.lookup.tp + report.lookup.fn_, 40);
    // A baseline that leaves (almost) no normal session to test is refused
    // instead of reporting a false-positive rate of nothing.
    for baseline in [400, 395] {
        let opts = HdfsOptions {
            baseline,
            ..Default::default()
        };
        let err = eval::hdfs::run(&root, &opts, &eval::no_progress).unwrap_err();
        assert!(format!("{err:#}").contains("leaves"), "{err:#}");
    }
}

#[test]
fn missing_paths_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent");
    let err = eval::nab::run(&absent, &NabOptions::default(), &eval::no_progress).unwrap_err();
    assert!(format!("{err:#}").contains("no such directory"), "{err:#}");
    let err = eval::hdfs::run(&absent, &HdfsOptions::default(), &eval::no_progress).unwrap_err();
    assert!(format!("{err:#}").contains("no such directory"), "{err:#}");
}

#[test]
fn drift_eval_reports_every_kind_and_the_clean_stream() {
    let opts = eval::drift::DriftOptions {
        events: 4_000,
        ..Default::default()
    };
    let report = eval::drift::run(&opts).unwrap();
    assert_eq!(report.kinds.len(), 4);
    for k in &report.kinds {
        assert!(k.detector.truth > 0, "{:?}", k.kind);
        assert!(k.detector.hits <= k.detector.truth.min(k.detector.flagged));
    }
    let text = report.render();
    assert!(
        text.contains("rare_error") && text.contains("per 10k"),
        "{text}"
    );
    // Two seeds pool their counts and show each clean stream.
    let two = eval::drift::run(&eval::drift::DriftOptions {
        seeds: 2,
        ..opts.clone()
    })
    .unwrap();
    assert_eq!(
        two.clean.iter().map(|c| c.seed).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        two.clean[0], report.clean[0],
        "seed 1 alone or among others"
    );
    for (k, one) in two.kinds.iter().zip(&report.kinds) {
        assert!(k.detector.truth > one.detector.truth, "{:?} pooled", k.kind);
    }
    assert!(two.render().contains("seeds 1–2, pooled"));
}
