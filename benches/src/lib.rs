//! Shared inputs for the criterion benchmarks in `benches/benches/`.
//!
//! `cargo bench -p driftlock-benches` runs them. The 1M-vs-10M scaling
//! comparison is the engine's streaming example instead (`cargo run --release
//! -p driftlock-engine --example throughput -- 10000000`): a criterion sample of
//! 10M events would take minutes.

use driftlock_datasets::{GeneratorConfig, LabelledEvent, StreamKind};
use driftlock_engine::Event;

/// An engine event from a generated one.
pub fn to_event(e: &LabelledEvent) -> Event {
    Event::from_json(e.to_json()).expect("generated events are valid events")
}

/// `n` clean JSON log events (~100–150 bytes of body each) of one stream.
pub fn log_events(n: u64, seed: u64) -> Vec<Event> {
    GeneratorConfig::clean(StreamKind::Logs, n, seed)
        .build()
        .expect("a clean config builds")
        .map(|e| to_event(&e))
        .collect()
}
