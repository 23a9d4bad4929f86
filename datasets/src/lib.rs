//! Datasets for Driftlock: seeded synthetic event streams with labelled
//! anomalies, Parquet/NDJSON writers, and loaders plus scorers for the public
//! NAB and HDFS benchmarks.
//!
//! # Synthetic streams
//!
//! [`GeneratorConfig`] describes one or more interleaved streams of one
//! [`StreamKind`] (JSON service logs, host metrics, trace spans, LLM
//! prompt/response records, or a mix). Building it yields an iterator of
//! [`LabelledEvent`]s in the engine's event model (`stream_id`, RFC 3339
//! `timestamp`, `type`, `body`, `attributes`) plus the ground truth `label`.
//! The same seed always gives the same bytes; the crate carries its own PRNG so
//! that stays true across dependency upgrades.
//!
//! ```
//! use driftlock_datasets::{AnomalyCount, AnomalyKind, GeneratorConfig, StreamKind};
//!
//! let cfg = GeneratorConfig::new(StreamKind::Logs, 3_000, 7)
//!     .with_anomalies(&AnomalyKind::ALL, AnomalyCount::Count(6));
//! let events: Vec<_> = cfg.build()?.collect();
//! assert_eq!(events.len(), 3_000);
//! // The warm-up (600 events by default) is always clean…
//! assert!(events[..600].iter().all(|e| e.label.is_none()));
//! // …and each kind appears once; bursts and shifts label every event they span.
//! let kinds: std::collections::BTreeSet<_> = events.iter().filter_map(|e| e.label).collect();
//! assert_eq!(kinds.len(), 6);
//! assert!(events[0].body["level"].is_string());
//! # Ok::<(), driftlock_datasets::Error>(())
//! ```
//!
//! Anomaly kinds (all applicable to every stream kind; see [`AnomalyKind`]):
//! `novel_message`, `novel_field`, `numeric_spike`, `level_shift`,
//! `error_burst`, `format_change`. Clean mode ([`GeneratorConfig::clean`])
//! injects none, and every event is an independent draw from the same
//! distribution.
//!
//! # Files
//!
//! [`write::write_parquet`] and [`write::write_ndjson`] stream events to disk in
//! bounded memory; [`write::read_parquet`] streams them back.
//!
//! # Benchmarks
//!
//! [`nab`] loads the NAB corpus and scores detectors with NAB's rules;
//! [`hdfs`] loads HDFS block sessions and computes precision/recall/F1. Both
//! take the dataset root as an argument and fail with
//! [`Error::MissingPath`] naming it when it is absent.

pub mod drift;
pub mod error;
pub mod generate;
pub mod hdfs;
pub mod mutate;
pub mod nab;
mod rng;
pub mod shapes;
pub mod time;
pub mod write;

pub use error::{Error, Result};
pub use generate::{
    AnomalyCount, AnomalyKind, EventKind, EventStream, GeneratorConfig, LabelledEvent, StreamKind,
};
pub use write::{read_parquet, write_ndjson, write_parquet};
