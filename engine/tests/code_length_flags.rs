//! A flag whose only news is its code length (every token, member and number
//! known) is reported only when the event is farther from its nearest known
//! events than baseline events are from theirs. Free text, where every line
//! is as far from the rest, is not flagged at α of its lines. Counts that
//! fill quantile bins by themselves keep their bytes as their shares move,
//! so a stream's lines keep matching their own baseline's.

use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use serde_json::{Value, json};

/// splitmix64.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

const WORDS: [&str; 16] = [
    "cache", "miss", "user", "request", "took", "longer", "retry", "queued", "worker", "shard",
    "flushed", "segment", "lease", "renewed", "token", "upstream",
];

fn reported(bodies: Vec<Value>) -> Vec<u64> {
    let events: Vec<Event> = bodies
        .into_iter()
        .map(|body| Event {
            body,
            ..Default::default()
        })
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let mut out = d.push(&events).unwrap();
    out.extend(d.settle());
    out.iter().map(|a| a.index).collect()
}

#[test]
fn free_text_of_known_words_is_not_flagged_at_alpha_of_its_lines() {
    let mut d = Draw(5);
    let lines: Vec<Value> = (0..6_000)
        .map(|_| {
            let n = 4 + d.below(10);
            let text: Vec<&str> = (0..n).map(|_| WORDS[d.below(16) as usize]).collect();
            json!({"level": "info", "message": text.join(" ")})
        })
        .collect();
    let flagged = reported(lines);
    // At α = 0.05 about 280 of the 5,600 scored lines have p ≤ α.
    assert!(
        flagged.len() <= 3,
        "{} lines flagged: {flagged:?}",
        flagged.len()
    );
}

/// Sessions as counts of the events they logged, from three normal shapes.
fn sessions(len: usize) -> Vec<Value> {
    let shapes = [
        [("open", 1), ("read", 3), ("close", 1)],
        [("open", 1), ("write", 2), ("close", 1)],
        [("open", 1), ("read", 1), ("write", 1)],
    ];
    let mut d = Draw(9);
    (0..len)
        .map(|_| {
            let shape = shapes[d.below(3) as usize];
            Value::Object(
                shape
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn counts_that_fill_bins_keep_their_encoding_as_their_shares_move() {
    // `read` is 1 or 3 in equal shares: the baseline's quantile edges are
    // half 1s and half 3s, one more of either as the shares move.
    let flagged = reported(sessions(3_000));
    assert!(
        flagged.len() <= 3,
        "{} sessions flagged: {flagged:?}",
        flagged.len()
    );
}
