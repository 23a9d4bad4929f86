//! `queued_events`: events accepted by `POST /v1/streams/{id}/events` and not
//! yet scored. A row is deleted in the same transaction that commits its result.

use driftlock_engine::Event;
use rusqlite::{Connection, params};

use super::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE queued_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id   TEXT NOT NULL,
    event       TEXT NOT NULL,
    enqueued_at TEXT NOT NULL
);
CREATE INDEX queued_events_stream ON queued_events (stream_id, seq);
";

/// Appends events to a stream's queue (call inside a transaction).
pub fn enqueue(
    conn: &Connection,
    stream_id: &str,
    events: &[Event],
    at: &str,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO queued_events (stream_id, event, enqueued_at) VALUES (?1, ?2, ?3)",
    )?;
    for e in events {
        stmt.execute(params![stream_id, serde_json::to_string(e)?, at])?;
    }
    Ok(())
}

/// The oldest `limit` queued events of a stream, with their `seq`.
pub fn peek(
    conn: &Connection,
    stream_id: &str,
    limit: usize,
) -> Result<Vec<(i64, Event)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event FROM queued_events WHERE stream_id = ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![stream_id, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, json) = row?;
        out.push((seq, serde_json::from_str(&json)?));
    }
    Ok(out)
}

/// Removes a stream's queued events up to and including `seq`.
pub fn remove_through(conn: &Connection, stream_id: &str, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM queued_events WHERE stream_id = ?1 AND seq <= ?2")?
        .execute(params![stream_id, seq])?;
    Ok(())
}

pub fn depth(conn: &Connection, stream_id: &str) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM queued_events WHERE stream_id = ?1",
        [stream_id],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

pub fn total_depth(conn: &Connection) -> Result<u64, StoreError> {
    Ok(
        conn.query_row("SELECT COUNT(*) FROM queued_events", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Streams with queued events.
pub fn pending_streams(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT stream_id FROM queued_events")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
