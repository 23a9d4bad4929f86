//! Everything the engine decides, written to one file, so that two builds can
//! be compared byte for byte (`cmp`) after a change meant to keep results
//! identical: every anomaly, every event and window p-value and the final
//! serialised detector state, for each stream kind with injected anomalies,
//! under the defaults, metric context, lz4, and gzip with a 200-event
//! baseline; events are pushed in uneven batches with state round trips
//! midway.
//!
//! `cargo run --release -p driftlock-engine --example fingerprint -- FILE`
//!
//! The binary uses mimalloc like the `driftlock` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;

use driftlock_datasets::{GeneratorConfig, StreamKind};
use driftlock_engine::{CompressorKind, DetectorConfig, Event, StreamDetector};

fn main() {
    let out_path = std::env::args().nth(1).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(out_path).unwrap());
    let kinds = [
        StreamKind::Logs,
        StreamKind::Metrics,
        StreamKind::Traces,
        StreamKind::Llm,
    ];
    for (k, kind) in kinds.into_iter().enumerate() {
        for variant in 0..4 {
            let mut config = DetectorConfig::default();
            match variant {
                1 => config.metric_context = 10,
                2 => config.compressor = CompressorKind::Lz4,
                3 => {
                    config.compressor = CompressorKind::Gzip;
                    config.baseline_size = 200;
                }
                _ => {}
            }
            let n = if variant == 0 { 12_000 } else { 6_000 };
            let events: Vec<Event> = GeneratorConfig::new(kind, n, 7 + k as u64)
                .build()
                .unwrap()
                .map(|e| Event::from_json(e.to_json()).unwrap())
                .collect();
            let mut d = StreamDetector::new("s", config).unwrap();
            d.enable_diagnostics();
            let mut found = Vec::new();
            let (mut event_p, mut window_p) = (Vec::new(), Vec::new());
            // Uneven batches, and a state round trip midway.
            let mut i = 0;
            let mut step = 1;
            while i < events.len() {
                let end = (i + step).min(events.len());
                found.extend(d.push(&events[i..end]).unwrap());
                i = end;
                step = step * 7 % 1500 + 1;
                if i > n as usize / 2 && i < n as usize / 2 + 1600 {
                    let dd = d.take_diagnostics();
                    event_p.extend(dd.event_p);
                    window_p.extend(dd.window_p);
                    let state = serde_json::to_string(&d).unwrap();
                    d = serde_json::from_str(&state).unwrap();
                    d.enable_diagnostics();
                }
            }
            writeln!(
                out,
                "== {kind:?} variant {variant}: {} anomalies",
                found.len()
            )
            .unwrap();
            for a in &found {
                writeln!(out, "{}", serde_json::to_string(a).unwrap()).unwrap();
            }
            let dd = d.take_diagnostics();
            event_p.extend(dd.event_p);
            window_p.extend(dd.window_p);
            for (i, p) in &event_p {
                writeln!(out, "e {i} {p:?}").unwrap();
            }
            for (i, p) in &window_p {
                writeln!(out, "w {i} {p:?}").unwrap();
            }
            writeln!(out, "state {}", serde_json::to_string(&d).unwrap()).unwrap();
        }
    }
}
