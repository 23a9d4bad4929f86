//! A stream's detector in the store: after a batch, the batch's events are
//! appended to the stream's log, or, once the log is as large as the snapshot
//! or holds a baseline's worth of events, a new snapshot replaces both. A
//! batch thus writes about what it brought, not the whole detector, and a
//! load replays at most about a snapshot's worth of events.

use driftlock_engine::Event;
use driftlock_store::streams::{self, Progress, StateSize, StreamRow};
use rusqlite::Connection;

use super::error::{ScoreError, internal};
use super::slots::LoadedStream;
use crate::detectors::{Detector, DetectorFactory};

/// The stream's detector as committed: its snapshot with the log replayed.
pub fn load(
    conn: &Connection,
    factory: &dyn DetectorFactory,
    row: &StreamRow,
) -> Result<Box<dyn Detector>, ScoreError> {
    let mut detector = factory.load(&row.state).map_err(ScoreError::from)?;
    for (position, events) in streams::log(conn, &row.id)? {
        let events: Vec<Event> = serde_json::from_str(&events)
            .map_err(|e| internal(format!("stream log of `{}` at {position}: {e}", row.id)))?;
        // Their anomalies were recorded when they were first scored.
        detector.push(&events).map_err(ScoreError::from)?;
    }
    Ok(detector)
}

/// What a batch writes of the detector.
pub enum Save {
    /// Nothing was pushed: the state is unchanged.
    Unchanged,
    /// The batch's events, as JSON, for the log.
    Log { events: String, count: u64 },
    /// The whole detector.
    Snapshot(String),
}

/// What to write after pushing `fresh` into `loaded`; with `max_bytes`, a
/// state that would hold more is refused (checked on a snapshot before
/// refusing, as the log only adds to it).
pub fn plan(
    loaded: &LoadedStream,
    fresh: &[Event],
    max_bytes: Option<u64>,
) -> Result<Save, ScoreError> {
    if fresh.is_empty() {
        return Ok(Save::Unchanged);
    }
    let size = loaded.size;
    let events = serde_json::to_string(fresh).map_err(internal)?;
    let count = fresh.len() as u64;
    let log_bytes = size.log_bytes + events.len() as u64;
    let compact = log_bytes >= size.snapshot_bytes
        || size.log_events + count >= loaded.config.baseline_size as u64;
    let within = |bytes: u64| max_bytes.is_none_or(|m| bytes <= m);
    if !compact && within(size.snapshot_bytes + log_bytes) {
        return Ok(Save::Log { events, count });
    }
    let state = loaded.detector.save().map_err(internal)?;
    match max_bytes {
        Some(limit) if state.len() as u64 > limit => Err(ScoreError::OverQuota {
            bytes: state.len() as u64,
            limit,
        }),
        _ => Ok(Save::Snapshot(state)),
    }
}

/// Writes `save` in the batch's transaction; the stream's new state size.
pub fn write(
    conn: &Connection,
    stream_id: &str,
    save: &Save,
    first_position: u64,
    before: StateSize,
    progress: &Progress<'_>,
) -> Result<StateSize, ScoreError> {
    Ok(match save {
        Save::Unchanged => {
            streams::set_progress(conn, stream_id, progress, before)?;
            before
        }
        Save::Log { events, count } => streams::append_log(
            conn,
            stream_id,
            first_position,
            events,
            *count,
            before,
            progress,
        )?,
        Save::Snapshot(state) => streams::update_state(conn, stream_id, state, progress)?,
    })
}
