//! The Numenta Anomaly Benchmark: corpus loader and a scorer that follows NAB's
//! published rules (see [`scoring`]).

mod load;
pub mod scoring;

pub use load::{load_corpus, load_file, load_profiles};
pub use scoring::{CostMatrix, FileOutcome, Profile, ProfileResult, ScoredFile, score_corpus};

/// An anomaly window as inclusive row indices of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
}

impl Window {
    pub fn len(&self) -> usize {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, row: usize) -> bool {
        (self.start..=self.end).contains(&row)
    }
}

/// One NAB data file with its labels.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// `category/name.csv`, the key used in NAB's label files.
    pub key: String,
    pub category: String,
    pub name: String,
    /// Unix seconds (NAB timestamps are UTC wall-clock, whole seconds).
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// Windows mapped to rows: every row whose timestamp lies in [start, end].
    pub windows: Vec<Window>,
    /// The window limits as written in `combined_windows.json`.
    pub window_limits: Vec<(String, String)>,
}

impl NabFile {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Pairs this file's windows with a detector's per-row scores for [`score_corpus`].
    pub fn with_scores<'a>(&'a self, scores: &'a [f64]) -> ScoredFile<'a> {
        ScoredFile {
            key: &self.key,
            windows: &self.windows,
            scores,
        }
    }
}
