//! Bounded fuzzing of the readers: the seed corpus in `tests/corpus/readers/`
//! (Parquet, Arrow IPC, CSV, TSV, NDJSON) mutated byte by byte with a fixed
//! seed, each input read to the end with the strict and the lenient options
//! and with text bodies and attributes kept as text. A reader may refuse an
//! input (an error naming the file); it may not panic. A panicking input is
//! written to the temp directory and named in the failure; those found so
//! far are in `tests/corpus/readers/damaged/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use driftlock_datasets::mutate::Mutator;
use driftlock_engine::read::{ReadOptions, open};

/// Mutated inputs per format: 500 × 3 option sets = 1,500 reads a format
/// (3,000 inputs a format also passed once, in about 10 s each).
const RUNS: usize = 500;

fn corpus(name: &str) -> Vec<u8> {
    let path =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/corpus/readers")
            .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn option_sets() -> [ReadOptions; 3] {
    [
        ReadOptions {
            batch_rows: 7,
            ..ReadOptions::default()
        },
        ReadOptions {
            skip_bad_rows: true,
            ..ReadOptions::default()
        },
        ReadOptions {
            defer_attributes: true,
            keep_body_text: true,
            batch_rows: 3,
            ..ReadOptions::default()
        },
    ]
}

/// Reads `path` to the end: `Ok(events)` or `Err(message)`.
fn read(path: &Path, opts: &ReadOptions) -> Result<usize, String> {
    let reader = open(path, opts).map_err(|e| e.to_string())?;
    let mut n = 0;
    for batch in reader {
        n += batch.map_err(|e| e.to_string())?.events.len();
    }
    Ok(n)
}

/// Fuzzes one seed file; returns (inputs refused, inputs read).
fn fuzz(seed_name: &str, seed: u64) -> (usize, usize) {
    let data = corpus(seed_name);
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(seed_name);
    std::fs::write(&path, &data).unwrap();
    for opts in option_sets() {
        let n = read(&path, &opts).unwrap_or_else(|e| panic!("seed {seed_name}: {e}"));
        assert!(n > 0, "seed {seed_name} has no events");
    }
    let mut m = Mutator::new(seed);
    let (mut refused, mut read_ok) = (0, 0);
    for run in 0..RUNS {
        let input = m.bytes(&data);
        std::fs::write(&path, &input).unwrap();
        for (i, opts) in option_sets().iter().enumerate() {
            match catch_unwind(AssertUnwindSafe(|| read(&path, opts))) {
                Ok(Ok(_)) => read_ok += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => {
                    let keep = std::env::temp_dir().join(format!("panic-{run}-{seed_name}"));
                    std::fs::write(&keep, &input).unwrap();
                    panic!(
                        "{seed_name}: run {run}, options {i} panicked; input kept at {}",
                        keep.display()
                    );
                }
            }
        }
    }
    (refused, read_ok)
}

fn check(seed_name: &str, seed: u64) {
    let (refused, read_ok) = fuzz(seed_name, seed);
    // The mutations reach the decoders: some inputs are refused, and the
    // lenient options still read some.
    assert!(refused > 0, "{seed_name}: no mutated input was refused");
    assert!(read_ok > 0, "{seed_name}: every mutated input was refused");
}

#[test]
fn parquet_reader_survives_500_mutated_files() {
    check("events.parquet", 1);
}

#[test]
fn arrow_ipc_reader_survives_500_mutated_files() {
    check("anomalies.arrow", 2);
}

#[test]
fn csv_reader_survives_500_mutated_files() {
    check("events.csv", 3);
}

#[test]
fn tsv_reader_survives_500_mutated_files() {
    check("metrics.tsv", 4);
}

#[test]
fn ndjson_reader_survives_500_mutated_files() {
    check("events.ndjson", 5);
}

/// Inputs that made arrow's or parquet's decoder panic, now refused.
#[test]
fn damaged_files_found_by_fuzzing_are_refused() {
    let dir =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/corpus/readers/damaged");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        for opts in option_sets() {
            let err = read(&path, &opts).expect_err(&path.display().to_string());
            assert!(
                err.contains("damaged") || err.contains("not a readable"),
                "{err}"
            );
        }
        n += 1;
    }
    assert!(n >= 2, "{n} files in {}", dir.display());
}
