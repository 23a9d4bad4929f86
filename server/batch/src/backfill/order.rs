//! The order a backfill scores a stream's events in: by timestamp, ties (and
//! events without a readable timestamp, which come first) broken by file
//! (the archive's sorted list) and row. The cluster's plan sorts by the same
//! key ([`crate::plan`]), so one machine and a cluster give the same answers.
//!
//! Reading the files in order gives that order when every stream's
//! timestamps never go back, which most archives written as time passes
//! satisfy. [`StreamClocks`] checks it event by event; the first event that
//! goes back ends the streamed pass and the backfill is scored again from a
//! sort of the whole archive ([`super::sorted`]).

use std::collections::BTreeMap;

use driftlock_engine::Event;
use driftlock_engine::read::EventBatch;

/// An RFC 3339 timestamp as nanoseconds since the epoch.
pub fn epoch_nanos(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()?
        .timestamp_nanos_opt()
}

/// An event's sort key within its stream: its time, or before every time
/// when it has none (as the plan's `NULLS FIRST`).
pub fn time_key(e: &Event) -> i64 {
    e.timestamp
        .as_deref()
        .and_then(epoch_nanos)
        .unwrap_or(i64::MIN)
}

/// The first event found earlier than its stream's previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WentBack {
    pub stream: String,
    /// The file (archive-relative) and the event's row in it.
    pub file: String,
    pub row: u64,
    pub timestamp: Option<String>,
}

impl std::fmt::Display for WentBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} row {}: stream `{}` goes back in time (timestamp {})",
            self.file,
            self.row,
            self.stream,
            self.timestamp.as_deref().unwrap_or("missing")
        )
    }
}

/// Each stream's latest time key so far, kept in the checkpoint so a
/// resumed run checks against what came before it.
pub type StreamClocks = BTreeMap<String, i64>;

/// Advances `clocks` over `batch` (events of `file` in file order), or
/// names the first event that goes back. Equal times are in order: ties
/// are broken by file and row, which is the reading order.
pub fn advance(clocks: &mut StreamClocks, file: &str, batch: &EventBatch) -> Result<(), WentBack> {
    for (i, e) in batch.events.iter().enumerate() {
        let key = time_key(e);
        let last = match clocks.get_mut(&e.stream_id) {
            Some(last) => last,
            None => clocks.entry(e.stream_id.clone()).or_insert(i64::MIN),
        };
        if key < *last {
            return Err(WentBack {
                stream: e.stream_id.clone(),
                file: file.to_owned(),
                row: batch.first_row + i as u64,
                timestamp: e.timestamp.clone(),
            });
        }
        *last = key;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn batch(events: &[(&str, Option<&str>)]) -> EventBatch {
        EventBatch {
            events: events
                .iter()
                .map(|(s, ts)| {
                    let mut v = json!({"stream_id": s, "body": "x"});
                    if let Some(ts) = ts {
                        v["timestamp"] = json!(ts);
                    }
                    Event::from_json(v).unwrap()
                })
                .collect(),
            first_row: 10,
            skipped_rows: 0,
            attributes_text: Vec::new(),
            body_text: Vec::new(),
        }
    }

    #[test]
    fn each_stream_keeps_its_own_clock() {
        let mut clocks = StreamClocks::new();
        let b = batch(&[
            ("a", Some("2025-01-01T00:00:02Z")),
            ("b", Some("2025-01-01T00:00:01Z")),
            ("a", Some("2025-01-01T00:00:02Z")),
            ("b", Some("2025-01-01T00:00:03+01:00")),
        ]);
        // b's second time is earlier in UTC, not in its text.
        let err = advance(&mut clocks, "f.parquet", &b).unwrap_err();
        assert_eq!((err.stream.as_str(), err.row), ("b", 13));
    }

    #[test]
    fn events_without_a_time_come_first() {
        let mut clocks = StreamClocks::new();
        advance(
            &mut clocks,
            "f",
            &batch(&[("a", None), ("a", Some("2025-01-01T00:00:00Z"))]),
        )
        .unwrap();
        let err = advance(&mut clocks, "g", &batch(&[("a", Some("not a time"))])).unwrap_err();
        assert_eq!(err.file, "g");
        assert!(err.to_string().contains("goes back in time"), "{err}");
    }
}
