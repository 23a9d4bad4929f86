//! A field that rises with arrival (a timestamp in milliseconds, a sequence
//! number) is past its baseline's range on every new line: that alone is no
//! anomaly, but a clock that goes back, and a spike beside it, still are.

mod common;

use common::reported;
use driftlock_engine::Event;
use serde_json::json;

/// zap-style lines: epoch seconds with milliseconds, a sequence number and a
/// latency cycling through 20–33 ms; `edit` changes a line's body.
fn stream(len: u64, edit: impl Fn(u64, &mut serde_json::Value)) -> Vec<Event> {
    (0..len)
        .map(|i| {
            let mut body = json!({
                "level": "info",
                "ts": 1_733_650_000.0 + i as f64 * 0.037 + (i % 5) as f64 * 0.003,
                "seq": 500_000 + i,
                "msg": "request served",
                "latency_ms": 20 + (i * 7) % 14,
            });
            edit(i, &mut body);
            Event {
                body,
                ..Default::default()
            }
        })
        .collect()
}

#[test]
fn rising_fields_are_not_anomalies_but_a_clock_going_back_and_a_spike_are() {
    let clean = reported(&stream(3_000, |_, _| {}), 700);
    assert!(clean.is_empty(), "clean lines reported: {clean:?}");

    let edited = stream(3_000, |i, body| match i {
        // A line stamped an hour early (a replayed or misrouted event).
        1_500 => body["ts"] = json!(1_733_650_000.0 + 1_500.0 * 0.037 - 3_600.0),
        2_200 => body["latency_ms"] = json!(900),
        _ => {}
    });
    let edited = reported(&edited, 700);
    assert!(
        edited.contains(&1_500),
        "the clock going back was missed: {edited:?}"
    );
    assert!(edited.contains(&2_200), "the spike was missed: {edited:?}");
    assert!(
        edited.len() <= 3,
        "more than the two edits reported: {edited:?}"
    );
}
