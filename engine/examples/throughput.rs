//! Single-stream scoring throughput on generated JSON log events, at the
//! defaults. Wall-clock figures on a shared machine are noisy: run under
//! `/usr/bin/time` and compare CPU time too.
//!
//! `cargo run --release -p driftlock-engine --example throughput -- [EVENTS] [KIND]`

// The binary uses mimalloc too: the engine rebuilds its dictionary every
// window, and glibc returns those large blocks to the kernel each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use driftlock_datasets::{GeneratorConfig, StreamKind};
use driftlock_engine::{DetectorConfig, Event, StreamDetector};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(50_000);
    let kind = match args.next().as_deref() {
        Some("metrics") => StreamKind::Metrics,
        Some("traces") => StreamKind::Traces,
        Some("llm") => StreamKind::Llm,
        _ => StreamKind::Logs,
    };
    let events: Vec<Event> = GeneratorConfig::clean(kind, n, 3)
        .build()
        .unwrap()
        .map(|e| Event::from_json(e.to_json()).unwrap())
        .collect();
    let bytes: usize = events.iter().map(|e| e.body.to_string().len()).sum();
    let mut d = StreamDetector::new("bench", DetectorConfig::default()).unwrap();
    let t = std::time::Instant::now();
    let mut found = 0;
    for chunk in events.chunks(8192) {
        found += d.push(chunk).unwrap().len();
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{kind:?}: {n} events ({:.0} bytes each) in {dt:.2} s: {:.0} events/s, {found} anomalies",
        bytes as f64 / n as f64,
        n as f64 / dt
    );
}
