//! Exact mode's kernel calls are large enough for `--device auto` to look for a GPU,
//! and a default run's are not. A stream's window tests go to the backend a model
//! refresh at a time at most (10 windows at the defaults), one window when events
//! arrive one by one.

use std::sync::Mutex;

use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use driftlock_kernels::{
    GPU_PROBE_MIN_WORK, KernelError, PermutationBackend, PermutationParams, WindowBatch, WindowStat,
};
use serde_json::json;

/// Records each call's windows × permutations and answers every window with p = 1.
#[derive(Default)]
struct Recording(Mutex<Vec<u64>>);

impl PermutationBackend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn window_tests(
        &self,
        batch: WindowBatch<'_>,
        params: PermutationParams,
    ) -> Result<Vec<WindowStat>, KernelError> {
        let work = batch.windows.len() as u64 * params.permutations as u64;
        self.0.lock().unwrap().push(work);
        Ok(batch
            .windows
            .iter()
            .map(|_| WindowStat {
                observed: 0.0,
                exceedances: params.permutations,
                permutations_used: params.permutations,
                p_value: 1.0,
            })
            .collect())
    }
}

fn events() -> Vec<Event> {
    (0..3_000)
        .map(|i| Event {
            body: json!({ "message": "GET /api/users ok", "latency_ms": 100 + i % 7 }),
            ..Default::default()
        })
        .collect()
}

/// Each kernel call's windows × permutations, for the stream pushed whole and
/// pushed an event at a time (as the live API may).
fn calls(config: &DetectorConfig) -> Vec<u64> {
    let events = events();
    let backend = Recording::default();
    let mut whole = StreamDetector::new("s", config.clone()).unwrap();
    whole.push_with(&events, &backend).unwrap();
    let mut single = StreamDetector::new("s", config.clone()).unwrap();
    for e in &events {
        single.push_with(std::slice::from_ref(e), &backend).unwrap();
    }
    let calls = backend.0.into_inner().unwrap();
    assert!(!calls.is_empty(), "no window was tested");
    calls
}

#[test]
fn exact_mode_calls_reach_the_gpu_floor_and_default_calls_do_not() {
    let exact = DetectorConfig {
        permutation_count: 100_000,
        early_stop: false,
        ..DetectorConfig::default()
    };
    let smallest = *calls(&exact).iter().min().unwrap();
    assert!(
        smallest >= GPU_PROBE_MIN_WORK,
        "an exact-mode call has {smallest} windows × permutations, under the {GPU_PROBE_MIN_WORK} from which auto looks for a GPU"
    );
    let largest = *calls(&DetectorConfig::default()).iter().max().unwrap();
    assert!(
        largest < GPU_PROBE_MIN_WORK,
        "a default call has {largest} windows × permutations: auto would look for a GPU on a default run"
    );
}
