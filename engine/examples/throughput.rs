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
    // Generated and pushed 8192 at a time, so 10M events fit in memory; the
    // generation time is excluded from the rate.
    let mut stream = GeneratorConfig::clean(kind, n, 3).build().unwrap();
    let mut d = StreamDetector::new("bench", DetectorConfig::default()).unwrap();
    let (mut scoring, mut found, mut bytes, mut done) = (0f64, 0usize, 0usize, 0u64);
    loop {
        let chunk: Vec<Event> = stream
            .by_ref()
            .take(8192)
            .map(|e| Event::from_json(e.to_json()).unwrap())
            .collect();
        if chunk.is_empty() {
            break;
        }
        bytes += chunk
            .iter()
            .map(|e| e.body.to_string().len())
            .sum::<usize>();
        done += chunk.len() as u64;
        let t = std::time::Instant::now();
        found += d.push(&chunk).unwrap().len();
        scoring += t.elapsed().as_secs_f64();
    }
    println!(
        "{kind:?}: {done} events ({:.0} bytes each) scored in {scoring:.2} s: {:.0} events/s, {:.2} µs/event, {found} anomalies",
        bytes as f64 / done as f64,
        done as f64 / scoring,
        scoring * 1e6 / done as f64
    );
}
