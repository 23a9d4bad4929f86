//! HDFS block sessions (`normal.txt`, `abnormal.txt`: one session a line, its
//! template ids space-separated, lines may end with a space) and binary
//! classification metrics for session-level evaluation.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::rng::{Rng, mix};

/// All sessions, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HdfsSessions {
    pub normal: Vec<Vec<u32>>,
    pub abnormal: Vec<Vec<u32>>,
}

/// A deterministic split for the protocol "baseline of normal sessions, then
/// score held-apart normal sessions together with abnormal ones".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdfsSplit<'a> {
    pub baseline: Vec<&'a [u32]>,
    /// Test sessions with their label (`true` = abnormal), shuffled.
    pub test: Vec<(&'a [u32], bool)>,
}

/// Loads `root/normal.txt` and `root/abnormal.txt`.
pub fn load(root: impl AsRef<Path>) -> Result<HdfsSessions> {
    let root = root.as_ref();
    if !root.is_dir() {
        return Err(Error::MissingPath(root.to_path_buf()));
    }
    Ok(HdfsSessions {
        normal: load_sessions(&root.join("normal.txt"))?,
        abnormal: load_sessions(&root.join("abnormal.txt"))?,
    })
}

/// Parses one session file; blank lines are skipped.
pub fn load_sessions(path: &Path) -> Result<Vec<Vec<u32>>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let session = line
            .split_ascii_whitespace()
            .map(|t| t.parse::<u32>())
            .collect::<std::result::Result<Vec<u32>, _>>()
            .map_err(|e| Error::parse(path, n + 1, format!("bad template id: {e}")))?;
        out.push(session);
    }
    Ok(out)
}

impl HdfsSessions {
    /// Takes `baseline` normal sessions (chosen by a seeded shuffle) as the
    /// baseline; the remaining normal and all abnormal sessions form the test set.
    pub fn split(&self, baseline: usize, seed: u64) -> HdfsSplit<'_> {
        let mut rng = Rng::new(mix(seed, &[0x4844_4653]));
        let mut idx: Vec<usize> = (0..self.normal.len()).collect();
        rng.shuffle(&mut idx);
        let baseline = baseline.min(idx.len());
        let mut test: Vec<(&[u32], bool)> = idx[baseline..]
            .iter()
            .map(|&i| (self.normal[i].as_slice(), false))
            .chain(self.abnormal.iter().map(|s| (s.as_slice(), true)))
            .collect();
        rng.shuffle(&mut test);
        HdfsSplit {
            baseline: idx[..baseline]
                .iter()
                .map(|&i| self.normal[i].as_slice())
                .collect(),
            test,
        }
    }
}

/// Confusion counts and the derived rates (positive = abnormal). Undefined
/// ratios (0/0) are reported as 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryMetrics {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub fpr: f64,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Metrics of binary flags against labels (`true` = abnormal).
pub fn evaluate_flags(flags: &[bool], labels: &[bool]) -> Result<BinaryMetrics> {
    if flags.len() != labels.len() {
        return Err(Error::Config(format!(
            "{} flags for {} labels",
            flags.len(),
            labels.len()
        )));
    }
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&f, &l) in flags.iter().zip(labels) {
        match (f, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Ok(BinaryMetrics {
        tp,
        fp,
        tn,
        fn_,
        precision,
        recall,
        f1,
        fpr: ratio(fp, fp + tn),
    })
}

/// Metrics with a session flagged when its score is ≥ `threshold`.
pub fn evaluate_scores(scores: &[f64], labels: &[bool], threshold: f64) -> Result<BinaryMetrics> {
    let flags: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
    evaluate_flags(&flags, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_trailing_spaces() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("normal.txt"), "5 5 22 \n22 5 \n\n").unwrap();
        fs::write(dir.path().join("abnormal.txt"), "5 22 7\n").unwrap();
        let s = load(dir.path()).unwrap();
        assert_eq!(s.normal, vec![vec![5, 5, 22], vec![22, 5]]);
        assert_eq!(s.abnormal, vec![vec![5, 22, 7]]);
        fs::write(dir.path().join("abnormal.txt"), "5 x\n").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("abnormal.txt:1"), "{err}");
    }

    #[test]
    fn missing_dir_names_the_path() {
        let err = load("/no/such/hdfs").unwrap_err().to_string();
        assert!(err.contains("/no/such/hdfs"), "{err}");
    }

    #[test]
    fn metrics_by_hand() {
        // tp 2, fp 1, tn 3, fn 1 → P = 2/3, R = 2/3, F1 = 2/3, FPR = 1/4.
        let flags = [true, true, true, false, false, false, false];
        let labels = [true, true, false, true, false, false, false];
        let m = evaluate_flags(&flags, &labels).unwrap();
        assert_eq!((m.tp, m.fp, m.tn, m.fn_), (2, 1, 3, 1));
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.fpr - 0.25).abs() < 1e-12);
        let m = evaluate_scores(&[0.9, 0.2], &[true, false], 0.5).unwrap();
        assert_eq!(m.f1, 1.0);
        assert!(evaluate_flags(&[true], &[]).is_err());
    }

    #[test]
    fn split_is_deterministic_and_complete() {
        let s = HdfsSessions {
            normal: (0..10).map(|i| vec![i]).collect(),
            abnormal: vec![vec![100], vec![101]],
        };
        let a = s.split(4, 1);
        assert_eq!(a, s.split(4, 1));
        assert_eq!(a.baseline.len(), 4);
        assert_eq!(a.test.len(), 8);
        assert_eq!(a.test.iter().filter(|(_, l)| *l).count(), 2);
    }
}
