//! One-line throughput summary, for quick runs on a GPU machine:
//!
//! ```text
//! cargo run --release -p driftlock-kernels --example permutations -- \
//!     --windows 1000000 --perms 1000 --backend gpu [--layout shared] [--stop H] [--verify 2000] [--repeat 3]
//! ```
//!
//! `--layout`: `sliding` (default) gives every window its own baseline, stride 50;
//! `shared` is an engine batch, windows sliding by 10 against one baseline stored once;
//! `pooled` is that batch with the baseline copied into every window's pool.
//! `--verify N` reruns the first N windows on the CPU and checks the answers are
//! identical.

use std::time::Instant;

use driftlock_kernels::{
    CpuBackend, DeviceChoice, PermutationBackend, PermutationParams, WindowBatch, backend,
};

#[path = "../benches/support/workload.rs"]
mod workload;

fn main() {
    let mut windows = 100_000usize;
    let mut perms = 1000u32;
    let mut choice = DeviceChoice::Cpu;
    let mut stop = None;
    let mut verify = 0usize;
    let mut repeat = 1usize;
    let mut layout = String::from("sliding");
    let mut baseline = workload::BASELINE;
    let mut window = workload::WINDOW;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--windows" => windows = value().parse().expect("--windows"),
            "--perms" => perms = value().parse().expect("--perms"),
            "--backend" => choice = value().parse().expect("--backend"),
            "--stop" => stop = Some(value().parse().expect("--stop")),
            "--verify" => verify = value().parse().expect("--verify"),
            "--repeat" => repeat = value().parse().expect("--repeat"),
            "--layout" => layout = value(),
            "--baseline" => baseline = value().parse().expect("--baseline"),
            "--window" => window = value().parse().expect("--window"),
            other => panic!("unknown flag {other}"),
        }
    }
    let (values, specs) = match layout.as_str() {
        "sliding" => workload::sliding_windows(windows, baseline, window),
        "shared" => workload::engine_batch(windows, baseline, window, true),
        "pooled" => workload::engine_batch(windows, baseline, window, false),
        other => panic!("--layout is sliding, shared or pooled, not {other}"),
    };
    let params = PermutationParams {
        permutations: perms,
        seed: 1,
        first_window: 0,
        stop_after_exceedances: stop,
    };
    let t = Instant::now();
    let be = backend(choice).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "backend {} ready in {:.3} s",
        be.name(),
        t.elapsed().as_secs_f64()
    );
    let batch = WindowBatch {
        values: &values,
        windows: &specs,
    };
    let mut result = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        result = be.window_tests(batch, params).expect("window tests");
        let secs = t.elapsed().as_secs_f64();
        let used: u64 = result.iter().map(|s| s.permutations_used as u64).sum();
        println!(
            "windows={windows} perms={perms} layout={layout} backend={} threads={} seconds={secs:.4} perms_per_s={:.4e} (run {used} perms, {:.4e}/s)",
            be.name(),
            rayon::current_num_threads(),
            windows as f64 * perms as f64 / secs,
            used as f64 / secs,
        );
    }
    if verify > 0 {
        let n = verify.min(windows);
        let sub = WindowBatch {
            values: &values,
            windows: &specs[..n],
        };
        let cpu = CpuBackend::new().window_tests(sub, params).expect("cpu");
        let same = cpu.iter().zip(&result).filter(|(a, b)| a == b).count();
        println!("verify: {same}/{n} windows identical to the CPU backend");
        assert_eq!(same, n, "backends disagree");
    }
}
