//! Detector parameters: the spec's `config_override` fields plus
//! `permutation_count` and `seed`.

use serde::{Deserialize, Serialize};

use crate::compress::CompressorKind;
use crate::error::{EngineError, Result};

/// Detector parameters. Defaults are the spec's (`driftlock-detect.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Events in the rolling baseline; the stream is `calibrating` until it is
    /// full, or until `min_baseline_size` events when that is set.
    pub baseline_size: usize,
    /// Start scoring from a shorter first baseline of this many events, which
    /// then grows with every event that leaves the window; once the stream has
    /// seen `baseline_size` events the baseline is rebuilt from them, as if it
    /// had waited (see the crate docs). A stream whose history is short is
    /// judged early rather than not at all. 0: `baseline_size` (the baseline
    /// is full before the first score). Left out of the serialised form when 0, so that the
    /// configurations (and backfill checkpoint keys) written before it existed
    /// read and hash the same.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_baseline_size: usize,
    /// Events in the sliding window tested against the baseline.
    pub window_size: usize,
    /// Events between two window tests.
    pub hop_size: usize,
    /// Minimum NCD (event vs its nearest baseline event) to flag an anomaly.
    pub ncd_threshold: f64,
    /// Maximum p-value to flag an anomaly.
    pub p_value_threshold: f64,
    /// Compressor requested; `openzl` runs as zstd.
    pub compressor: CompressorKind,
    /// Permutations per window test.
    pub permutation_count: u32,
    /// Besag–Clifford early stopping: a window test stops at its 16th
    /// exceedance (valid p-values, ~30 permutations for a null window). Off:
    /// every test runs all `permutation_count` permutations, for p-values
    /// resolved down to `1 / (permutation_count + 1)` (exact mode, e.g. for a
    /// false-discovery rate over many windows). Left out of the serialised
    /// form when on, so configurations written before it read and hash the same.
    #[serde(skip_serializing_if = "is_true")]
    pub early_stop: bool,
    /// Seed of the permutation generator; the same input and seed give the same output.
    pub seed: u64,
    /// Mask volatile tokens (ids, hashes, IPs, timestamps). `None`: on for logs,
    /// traces and LLM records, off for metrics.
    pub mask_volatile: Option<bool>,
    /// Metric events: each numeric field is joined by its rolling median and
    /// median absolute deviation over this many newest events, so level and
    /// volatility changes inside the baseline's range show. 0 or 1: off.
    pub metric_context: usize,
    /// Metric events: a numeric field beyond everything its series has had
    /// (its all-time range, kept from the stream's first event) by more than
    /// this share of that range's width is flagged as a record, whatever its
    /// compression score, once the series has had `calibration_size` values
    /// and when the record's own p-value passes (see the crate docs). `None`:
    /// off. Left out of the serialised form when off, so that configurations
    /// written before it existed read and hash the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_margin: Option<f64>,
    /// A template flagged three times within a refresh interval (within
    /// `baseline_size` events when only its words are new) becomes normal
    /// at once (see the crate docs). Off: a flagged event enters the
    /// baseline only as the window moves past it, which a frozen evaluation
    /// needs (HDFS: chunks shorter than the window leave the baseline as it
    /// was). Left out of the serialised form when on, so configurations
    /// written before it read and hash the same.
    #[serde(skip_serializing_if = "is_true")]
    pub learn_recurring: bool,
    /// With `learn_recurring`: a flag whose only news is words (every field
    /// known, no new alarm level such as `ERROR`) is held until its
    /// template has had its chance to recur (`baseline_size` events, or ten
    /// minutes of event time), then reported as it was scored; if the
    /// template became normal meanwhile, it is not reported at all. Like an
    /// alert's pending state: a new normal message costs no alarm, a rare one
    /// is reported late. A new field, alarm level or punctuation is reported
    /// at once. Off: every flag is reported with its event. Left out of the
    /// serialised form when on.
    #[serde(skip_serializing_if = "is_true")]
    pub hold_new_templates: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            baseline_size: 400,
            min_baseline_size: 0,
            window_size: 50,
            hop_size: 10,
            ncd_threshold: 0.30,
            p_value_threshold: 0.05,
            compressor: CompressorKind::Zstd,
            permutation_count: 1000,
            early_stop: true,
            seed: 0,
            mask_volatile: None,
            metric_context: 0,
            record_margin: None,
            learn_recurring: true,
            hold_new_templates: true,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_true(b: &bool) -> bool {
    *b
}

fn bad(field: &'static str, reason: impl Into<String>) -> EngineError {
    EngineError::Config {
        field,
        reason: reason.into(),
    }
}

impl DetectorConfig {
    /// Events the stream needs before its first score.
    pub fn calibration_size(&self) -> usize {
        if self.min_baseline_size == 0 {
            self.baseline_size
        } else {
            self.min_baseline_size
        }
    }

    /// Checks every range; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if !(20..=100_000).contains(&self.baseline_size) {
            return Err(bad("baseline_size", "must be between 20 and 100000"));
        }
        if self.min_baseline_size != 0
            && !(20..=self.baseline_size).contains(&self.min_baseline_size)
        {
            return Err(bad(
                "min_baseline_size",
                "must be 0 or between 20 and baseline_size",
            ));
        }
        if !(1..=10_000).contains(&self.window_size) {
            return Err(bad("window_size", "must be between 1 and 10000"));
        }
        if self.window_size > self.baseline_size {
            return Err(bad("window_size", "must be at most baseline_size"));
        }
        if self.hop_size == 0 || self.hop_size > self.window_size {
            return Err(bad("hop_size", "must be between 1 and window_size"));
        }
        if !(0.0..=1.0).contains(&self.ncd_threshold) || self.ncd_threshold.is_nan() {
            return Err(bad("ncd_threshold", "must be between 0 and 1"));
        }
        if !(self.p_value_threshold > 0.0 && self.p_value_threshold <= 1.0) {
            return Err(bad("p_value_threshold", "must be in (0, 1]"));
        }
        if self.metric_context > 1_000 {
            return Err(bad("metric_context", "must be between 0 and 1000"));
        }
        if let Some(m) = self.record_margin
            && !(0.0..=10.0).contains(&m)
        {
            return Err(bad("record_margin", "must be between 0 and 10"));
        }
        if !(1..=100_000).contains(&self.permutation_count) {
            return Err(bad("permutation_count", "must be between 1 and 100000"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_never_exceeds_the_baseline() {
        let wide = DetectorConfig {
            baseline_size: 40,
            window_size: 50,
            ..DetectorConfig::default()
        };
        assert!(matches!(
            wide.validate(),
            Err(EngineError::Config {
                field: "window_size",
                ..
            })
        ));
        let equal = DetectorConfig {
            baseline_size: 50,
            ..wide
        };
        equal.validate().unwrap();
    }

    #[test]
    fn a_short_first_baseline_is_optional_and_bounded() {
        let c = DetectorConfig::default();
        assert_eq!(c.calibration_size(), 400);
        // Absent from the serialised form at its default, so older configs
        // hash the same; read back as 0.
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("min_baseline_size").is_none(), "{json}");
        let back: DetectorConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let short = DetectorConfig {
            min_baseline_size: 100,
            ..c.clone()
        };
        short.validate().unwrap();
        assert_eq!(short.calibration_size(), 100);
        for bad in [10, 401] {
            let err = DetectorConfig {
                min_baseline_size: bad,
                ..c.clone()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("min_baseline_size"), "{err}");
        }
    }

    #[test]
    fn records_are_off_unless_asked_and_their_margin_is_bounded() {
        let c = DetectorConfig::default();
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("record_margin").is_none(), "{json}");
        let on: DetectorConfig = serde_json::from_str(r#"{"record_margin": 0.03}"#).unwrap();
        assert_eq!(on.record_margin, Some(0.03));
        on.validate().unwrap();
        for bad in [-0.1, 11.0, f64::NAN] {
            let err = DetectorConfig {
                record_margin: Some(bad),
                ..c.clone()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("record_margin"), "{err}");
        }
    }
}
