//! News that a stream's clean lines bring as often as α (a new username on
//! many lines) is no evidence at α; the same stream's first new field still is.

use driftlock_datasets::shapes::Shape;
use driftlock_engine::{DetectorConfig, Event, StreamDetector};
use serde_json::{Value, json};

fn reported(bodies: Vec<Value>) -> Vec<u64> {
    let events: Vec<Event> = bodies
        .into_iter()
        .map(|body| Event {
            body,
            ..Default::default()
        })
        .collect();
    let mut d = StreamDetector::new("s", DetectorConfig::default()).unwrap();
    let mut out = Vec::new();
    for batch in events.chunks(1_000) {
        out.extend(d.push(batch).unwrap());
    }
    out.extend(d.settle());
    out.iter().map(|a| a.index).collect()
}

#[test]
fn new_usernames_are_routine_and_a_new_field_is_news() {
    let mut lines = Shape::Users.bodies(6_000, 1);
    lines[4_000]["error"] = json!("connection reset by peer");
    let flagged = reported(lines);
    assert!(flagged.contains(&4_000), "the new field was missed");
    // Many lines bring a username never seen before.
    assert!(
        flagged.len() <= 10,
        "{} lines flagged: {flagged:?}",
        flagged.len()
    );
}
