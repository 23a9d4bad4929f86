//! Loaders and scorers against the real datasets in `../shared/datasets` (or
//! `$DRIFTLOCK_DATASETS`). Every test skips with a message when they are absent,
//! so a fresh clone passes.

use std::path::PathBuf;

use driftlock_datasets::hdfs;
use driftlock_datasets::nab::{self, Profile, ScoredFile, scoring};

fn root() -> Option<PathBuf> {
    let p = std::env::var_os("DRIFTLOCK_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            )
            .join("../../shared/datasets")
        });
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: dataset directory {} not found", p.display());
        None
    }
}

#[test]
fn nab_corpus_loads_and_reference_detectors_score_0_and_100() {
    let Some(root) = root() else { return };
    let files = nab::load_corpus(root.join("nab")).unwrap();
    assert!(files.len() >= 50, "{} files", files.len());
    let profiles = nab::load_profiles(root.join("nab")).unwrap();
    assert_eq!(profiles, Profile::nab_defaults());

    let mut windows = 0;
    for f in &files {
        assert_eq!(f.timestamps.len(), f.values.len());
        // Timestamps are not strictly increasing everywhere (DST repeats in a few files).
        assert!(
            f.windows.windows(2).all(|w| w[0].end < w[1].start),
            "{}",
            f.key
        );
        assert_eq!(
            f.windows.len(),
            f.window_limits.len(),
            "{}: a window matched no row",
            f.key
        );
        if f.category == "artificialNoAnomaly" {
            assert!(f.windows.is_empty(), "{}", f.key);
        }
        windows += f.windows.len();
    }
    eprintln!(
        "NAB: {} files, {} rows, {windows} windows",
        files.len(),
        files.iter().map(|f| f.len()).sum::<usize>()
    );

    let null: Vec<Vec<f64>> = files.iter().map(|f| vec![0.0; f.len()]).collect();
    let perfect: Vec<Vec<f64>> = files
        .iter()
        .map(|f| {
            let mut s = vec![0.0; f.len()];
            for w in &f.windows {
                s[w.start] = 1.0;
            }
            s
        })
        .collect();
    fn scored<'a>(files: &'a [nab::NabFile], s: &'a [Vec<f64>]) -> Vec<ScoredFile<'a>> {
        files.iter().zip(s).map(|(f, s)| f.with_scores(s)).collect()
    }
    for r in nab::score_corpus(&scored(&files, &null), &profiles).unwrap() {
        assert!(r.normalized.abs() < 1e-9, "{}: {}", r.profile, r.normalized);
    }
    for r in nab::score_corpus(&scored(&files, &perfect), &profiles).unwrap() {
        assert!(
            (r.normalized - 100.0).abs() < 1e-9,
            "{}: {}",
            r.profile,
            r.normalized
        );
        assert_eq!(r.threshold, 1.0);
    }

    // A detector that fires everywhere after probation: heavily penalised.
    let always: Vec<Vec<f64>> = files.iter().map(|f| vec![1.0; f.len()]).collect();
    let r = nab::score_corpus(&scored(&files, &always), &profiles[..1]).unwrap();
    eprintln!(
        "always-on detector, swept: {:.2} at threshold {}",
        r[0].normalized, r[0].threshold
    );
    let fixed: f64 = files
        .iter()
        .zip(&always)
        .map(|(f, s)| {
            scoring::score_file(&f.with_scores(s), &profiles[0].costs, 0.5)
                .unwrap()
                .raw_score
        })
        .sum();
    assert!(
        fixed < r[0].null_score,
        "firing everywhere must be worse than never firing"
    );
}

#[test]
fn hdfs_sessions_load() {
    let Some(root) = root() else { return };
    let s = hdfs::load(root.join("hdfs-sessions")).unwrap();
    eprintln!(
        "HDFS: {} normal, {} abnormal sessions",
        s.normal.len(),
        s.abnormal.len()
    );
    assert!(s.normal.len() > 1_000 && s.abnormal.len() > 1_000);
    assert!(s.normal.iter().chain(&s.abnormal).all(|x| !x.is_empty()));
    let split = s.split(1_000, 7);
    assert_eq!(split.baseline.len(), 1_000);
    assert_eq!(split.test.len(), s.normal.len() - 1_000 + s.abnormal.len());
}

#[test]
fn missing_paths_are_named() {
    let err = nab::load_corpus("/nonexistent/nab")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/nab"), "{err}");
    let err = hdfs::load("/nonexistent/hdfs").unwrap_err().to_string();
    assert!(err.contains("/nonexistent/hdfs"), "{err}");
}
