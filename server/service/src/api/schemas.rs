//! Shapes for the OpenAPI document of values the handlers read as JSON maps
//! or engine types (which do not depend on utoipa): the ranges here are
//! `DetectorConfig::validate`'s, and the enums name the engine's serde names;
//! the `mirrors_*` tests fail when either side changes alone.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// `config_override` (and a job's `config`): `DetectorConfig` fields, each
/// optional; unknown fields are refused. Also checked across fields:
/// `window_size` ≤ `baseline_size`, `hop_size` ≤ `window_size`, and
/// `min_baseline_size` 0 or between 20 and `baseline_size`.
///
/// Every field may be left out (its default); only `mask_volatile` and
/// `record_margin` may be null.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigOverride {
    /// Events in the rolling baseline (default 400).
    #[schema(minimum = 20, maximum = 100_000)]
    pub baseline_size: u32,
    /// Score from a shorter first baseline; 0 is off (default).
    #[schema(minimum = 0, maximum = 100_000)]
    pub min_baseline_size: u32,
    /// Events in the tested window (default 50).
    #[schema(minimum = 1, maximum = 10_000)]
    pub window_size: u32,
    /// Events between two window tests (default 10).
    #[schema(minimum = 1, maximum = 10_000)]
    pub hop_size: u32,
    /// Minimum NCD to flag an event (default 0.30).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub ncd_threshold: f64,
    /// Maximum p-value to flag an event (default 0.05), in (0, 1].
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub p_value_threshold: f64,
    pub compressor: Compressor,
    /// Permutations per window test (default 1000).
    #[schema(minimum = 1, maximum = 100_000)]
    pub permutation_count: u32,
    /// Stop a window test at its 16th exceedance (default true).
    pub early_stop: bool,
    /// Seed of the permutation generator (default 0).
    #[schema(minimum = 0)]
    pub seed: u64,
    /// Mask volatile tokens; null: on except for metrics.
    pub mask_volatile: Option<bool>,
    /// Rolling median/MAD context over this many metric events; 0 or 1 is off.
    #[schema(minimum = 0, maximum = 1000)]
    pub metric_context: u32,
    /// Flag new all-time highs/lows beyond this share of the range; null is off.
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub record_margin: Option<f64>,
    /// A template flagged three times within a refresh interval (within
    /// baseline_size events when only its words are new) becomes normal at
    /// once (default true); false: only as the window moves past.
    pub learn_recurring: bool,
    /// A flag whose only news is words (fields and levels known) waits up
    /// to baseline_size events or ten minutes of event time for its template
    /// to recur, and is then reported, by a later event, or dropped if the
    /// template became normal (default true); false: every flag is reported
    /// with its event.
    pub hold_new_templates: bool,
}

/// The documented defaults are `DetectorConfig`'s.
impl Default for ConfigOverride {
    fn default() -> Self {
        let d = driftlock_engine::DetectorConfig::default();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        ConfigOverride {
            baseline_size: n(d.baseline_size),
            min_baseline_size: n(d.min_baseline_size),
            window_size: n(d.window_size),
            hop_size: n(d.hop_size),
            ncd_threshold: d.ncd_threshold,
            p_value_threshold: d.p_value_threshold,
            compressor: match d.compressor {
                driftlock_engine::CompressorKind::Zstd => Compressor::Zstd,
                driftlock_engine::CompressorKind::Lz4 => Compressor::Lz4,
                driftlock_engine::CompressorKind::Gzip => Compressor::Gzip,
                driftlock_engine::CompressorKind::Openzl => Compressor::Openzl,
            },
            permutation_count: d.permutation_count,
            early_stop: d.early_stop,
            seed: d.seed,
            mask_volatile: d.mask_volatile,
            metric_context: n(d.metric_context),
            record_margin: d.record_margin,
            learn_recurring: d.learn_recurring,
            hold_new_templates: d.hold_new_templates,
        }
    }
}

/// The compressor (`openzl` runs as zstd).
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compressor {
    #[default]
    Zstd,
    Lz4,
    Gzip,
    Openzl,
}

/// What kind of signal an event carries.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    #[default]
    Log,
    Metric,
    Trace,
    Llm,
}

pub use driftlock_store::view::{KindDoc as AnomalyKind, MetricsDoc as Metrics};

/// A stream's state: `calibrating` until its baseline is full.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    Calibrating,
    Ready,
}

/// One event of a request body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSchema {
    /// RFC 3339, e.g. `2025-01-01T10:00:00Z`.
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    /// Default `log`; not null.
    #[serde(rename = "type", default)]
    pub kind: EventType,
    /// The payload to evaluate.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// Any JSON value kept with the event.
    #[serde(default)]
    #[schema(value_type = Value)]
    pub attributes: Option<serde_json::Value>,
    /// An event sent again with the same key is not scored twice.
    pub idempotency_key: Option<String>,
    pub sequence: Option<i64>,
}

/// What people said about an anomaly (`anomalies::FEEDBACK_TYPES`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackType {
    Confirmed,
    FalsePositive,
    Dismissed,
}

/// A job's kind (`jobs::BACKFILL`, the only one).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backfill,
}

/// The `code` of an error body (`ApiError::code`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    RequestTimeout,
    RequestHeaderFieldsTooLarge,
    UnsupportedMediaType,
    RateLimitExceeded,
    Unavailable,
    DeadlineExceeded,
    Internal,
}

/// A key request for an admin key (not bound to a stream).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyRequest {
    pub name: Option<String>,
    pub role: AdminRole,
    /// Defaults to the server's `default_plan`.
    pub plan: Option<driftlock_store::keys::Plan>,
    /// Overrides the plan's requests per minute.
    #[schema(minimum = 1)]
    pub rate_limit_per_minute: Option<u32>,
}

/// A key request for a key bound to one stream.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamKeyRequest {
    pub name: Option<String>,
    pub role: StreamRole,
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub stream_id: String,
    /// Defaults to the server's `default_plan`.
    pub plan: Option<driftlock_store::keys::Plan>,
    /// Overrides the plan's requests per minute.
    #[schema(minimum = 1)]
    pub rate_limit_per_minute: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    Admin,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamRole {
    Stream,
}

/// `POST /v1/keys`: a stream key names its stream, an admin key none.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreateKey {
    Admin(AdminKeyRequest),
    Stream(StreamKeyRequest),
}

/// Where a stream id is a request parameter: 1-128 letters, digits, `-`, `_`, `.`, `:`.
pub const STREAM_ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,128}$";

#[cfg(test)]
mod tests {
    use super::*;
    use driftlock_engine::{CompressorKind, DetectorConfig, EventKind};

    fn names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn mirrors_the_engine_enums() {
        assert_eq!(
            names(&[
                CompressorKind::Zstd,
                CompressorKind::Lz4,
                CompressorKind::Gzip,
                CompressorKind::Openzl
            ]),
            names(&[
                Compressor::Zstd,
                Compressor::Lz4,
                Compressor::Gzip,
                Compressor::Openzl
            ])
        );
        assert_eq!(
            names(&[
                EventKind::Log,
                EventKind::Metric,
                EventKind::Trace,
                EventKind::Llm
            ]),
            names(&[
                EventType::Log,
                EventType::Metric,
                EventType::Trace,
                EventType::Llm
            ])
        );
        let codes = [
            crate::error::ApiError::invalid(""),
            crate::error::ApiError::Unauthorized(String::new()),
            crate::error::ApiError::Forbidden(String::new()),
            crate::error::ApiError::not_found(""),
            crate::error::ApiError::MethodNotAllowed,
            crate::error::ApiError::Conflict(String::new()),
            crate::error::ApiError::PayloadTooLarge(String::new()),
            crate::error::ApiError::RequestTimeout(String::new()),
            crate::error::ApiError::HeadersTooLarge(String::new()),
            crate::error::ApiError::UnsupportedMediaType(String::new()),
            crate::error::ApiError::RateLimited {
                retry_after_seconds: 1,
            },
            crate::error::ApiError::Unavailable(String::new()),
            crate::error::ApiError::DeadlineExceeded(String::new()),
            crate::error::ApiError::internal(""),
        ]
        .map(|e| e.code().to_owned());
        let doc = serde_json::to_value(<ErrorCode as utoipa::PartialSchema>::schema()).unwrap();
        let documented: Vec<String> = serde_json::from_value(doc["enum"].clone()).unwrap();
        assert_eq!(documented, codes.to_vec());
        assert_eq!(
            names(&[
                driftlock_engine::AnomalyKind::Event,
                driftlock_engine::AnomalyKind::ChangePoint
            ]),
            names(&[AnomalyKind::Event, AnomalyKind::ChangePoint])
        );
    }

    #[test]
    fn mirrors_the_engine_metrics() {
        let m = driftlock_engine::Metrics {
            ncd: 0.5,
            compression_ratio: 1.0,
            entropy_change: 0.0,
            p_value: 0.1,
            confidence: 0.9,
        };
        let mut fields: Vec<String> = serde_json::to_value(m)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let doc = serde_json::to_value(<Metrics as utoipa::PartialSchema>::schema()).unwrap();
        let mut documented: Vec<String> = doc["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        fields.sort();
        documented.sort();
        assert_eq!(fields, documented);
    }

    #[test]
    fn mirrors_every_config_field_and_its_ranges() {
        let doc =
            serde_json::to_value(<ConfigOverride as utoipa::PartialSchema>::schema()).unwrap();
        let mut documented: Vec<String> = doc["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let full = DetectorConfig {
            record_margin: Some(0.1),
            min_baseline_size: 20,
            early_stop: false,
            learn_recurring: false,
            hold_new_templates: false,
            ..DetectorConfig::default()
        };
        let mut fields: Vec<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented.sort();
        fields.sort();
        assert_eq!(documented, fields);
        // Each documented bound is the edge of what validate() accepts.
        for (field, lo, hi) in [
            ("baseline_size", 20, 100_000),
            ("window_size", 1, 10_000),
            ("permutation_count", 1, 100_000),
            ("metric_context", 0, 1000),
        ] {
            let p = &doc["properties"][field];
            assert_eq!(p["minimum"], lo, "{field}");
            assert_eq!(p["maximum"], hi, "{field}");
            let set = |v: i64| {
                let mut c = serde_json::to_value(DetectorConfig {
                    baseline_size: 100_000,
                    window_size: 1,
                    hop_size: 1,
                    ..DetectorConfig::default()
                })
                .unwrap();
                c[field] = v.into();
                serde_json::from_value::<DetectorConfig>(c)
                    .map(|c| c.validate().is_ok())
                    .unwrap_or(false)
            };
            assert!(set(hi), "{field} = {hi}");
            assert!(!set(hi + 1), "{field} = {}", hi + 1);
            assert!(set(lo), "{field} = {lo}");
            assert!(!set(lo - 1), "{field} = {}", lo - 1);
        }
    }
}
