//! `streams` (config and progress of each stream), its detector state as
//! `stream_snapshots` (the whole detector as of `snapshot_seen` events) plus
//! `stream_log` (the events scored since, one row per batch, replayed on
//! load), and `idempotency` (which stream position an idempotency key was
//! scored at).
//!
//! A batch appends its events to the log instead of rewriting the detector, so
//! its cost does not grow with the stream's baseline; the scorer writes a new
//! snapshot (and clears the log) once the log is as large as the snapshot or
//! holds a baseline's worth of events, which bounds both what a batch writes
//! on average and what a reload replays.

use driftlock_engine::DetectorConfig;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE streams (
    id            TEXT PRIMARY KEY,
    config        TEXT NOT NULL,
    state         TEXT NOT NULL,
    events_seen   INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    events_needed INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE idempotency (
    stream_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (stream_id, key)
) WITHOUT ROWID;
";

/// Migration 6: the detector's snapshot moves out of `streams` (SQLite
/// rewrites a whole row when any of its columns changes), and the log.
pub(crate) const STATE_LOG: &str = "
CREATE TABLE stream_snapshots (
    stream_id     TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    snapshot_seen INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO stream_snapshots (stream_id, state, snapshot_seen)
    SELECT id, state, events_seen FROM streams;
UPDATE streams SET state = '';
ALTER TABLE streams ADD COLUMN snapshot_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN log_events INTEGER NOT NULL DEFAULT 0;
UPDATE streams SET snapshot_bytes =
    (SELECT length(CAST(state AS BLOB)) FROM stream_snapshots WHERE stream_id = streams.id);
CREATE TABLE stream_log (
    stream_id TEXT NOT NULL,
    position  INTEGER NOT NULL,
    events    TEXT NOT NULL,
    PRIMARY KEY (stream_id, position)
) WITHOUT ROWID;
";

/// What the store holds of a stream's detector, in bytes and events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    pub snapshot_bytes: u64,
    pub log_bytes: u64,
    pub log_events: u64,
}

impl StateSize {
    pub fn total_bytes(&self) -> u64 {
        self.snapshot_bytes + self.log_bytes
    }
}

/// A stream's row, detector state included.
#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: String,
    pub config: DetectorConfig,
    /// The detector's snapshot, serialised as JSON.
    pub state: String,
    /// Events the snapshot had seen; the log holds the rest.
    pub snapshot_seen: u64,
    pub size: StateSize,
    pub events_seen: u64,
    /// `calibrating` or `ready`.
    pub status: String,
    pub events_needed: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// A stream's row plus counts, without the detector state.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub id: String,
    pub config: DetectorConfig,
    pub events_seen: u64,
    pub status: String,
    pub events_needed: u64,
    pub anomaly_count: u64,
    pub queue_depth: u64,
    pub created_at: String,
    pub updated_at: String,
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<StreamRow>, StoreError> {
    let row = conn
        .query_row(
            "SELECT s.id, s.config, p.state, s.events_seen, s.status, s.events_needed,
                    s.created_at, s.updated_at, p.snapshot_seen,
                    s.snapshot_bytes, s.log_bytes, s.log_events
             FROM streams s JOIN stream_snapshots p ON p.stream_id = s.id WHERE s.id = ?1",
            [id],
            |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ),
                    (
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                        r.get::<_, i64>(11)?,
                    ),
                ))
            },
        )
        .optional()?;
    let Some((
        (id, config, state, seen, status, needed, created_at, updated_at),
        (snapshot_seen, snapshot_bytes, log_bytes, log_events),
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(StreamRow {
        id,
        config: serde_json::from_str(&config)?,
        state,
        snapshot_seen: snapshot_seen as u64,
        size: StateSize {
            snapshot_bytes: snapshot_bytes as u64,
            log_bytes: log_bytes as u64,
            log_events: log_events as u64,
        },
        events_seen: seen as u64,
        status,
        events_needed: needed as u64,
        created_at,
        updated_at,
    }))
}

/// What the store holds of the stream's detector (none for an unknown stream).
pub fn state_size(conn: &Connection, id: &str) -> Result<Option<StateSize>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT snapshot_bytes, log_bytes, log_events FROM streams WHERE id = ?1",
            [id],
            |r| {
                Ok(StateSize {
                    snapshot_bytes: r.get::<_, i64>(0)? as u64,
                    log_bytes: r.get::<_, i64>(1)? as u64,
                    log_events: r.get::<_, i64>(2)? as u64,
                })
            },
        )
        .optional()?)
}

/// Inserts a new stream unless one with this id exists (then nothing changes).
pub fn insert_if_absent(conn: &Connection, row: &StreamRow) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO streams
         (id, config, state, events_seen, status, events_needed, created_at, updated_at,
          snapshot_bytes, log_bytes, log_events)
         VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, 0, 0)",
        params![
            row.id,
            serde_json::to_string(&row.config)?,
            row.events_seen as i64,
            row.status,
            row.events_needed as i64,
            row.created_at,
            row.updated_at,
            row.state.len() as i64,
        ],
    )?;
    if n == 1 {
        conn.execute(
            "INSERT INTO stream_snapshots (stream_id, state, snapshot_seen) VALUES (?1, ?2, ?3)",
            params![row.id, row.state, row.events_seen as i64],
        )?;
    }
    Ok(n == 1)
}

/// A stream's progress after a batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub events_seen: u64,
    pub status: &'a str,
    pub events_needed: u64,
    pub at: &'a str,
}

/// Records progress (and the state's size) without writing the state.
pub fn set_progress(
    conn: &Connection,
    id: &str,
    p: &Progress<'_>,
    size: StateSize,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE streams SET events_seen = ?2, status = ?3, events_needed = ?4, updated_at = ?5,
         snapshot_bytes = ?6, log_bytes = ?7, log_events = ?8 WHERE id = ?1",
    )?
    .execute(params![
        id,
        p.events_seen as i64,
        p.status,
        p.events_needed as i64,
        p.at,
        size.snapshot_bytes as i64,
        size.log_bytes as i64,
        size.log_events as i64
    ])?;
    Ok(())
}

/// Stores the whole detector after a batch (a snapshot at `p.events_seen`)
/// and clears the log it replaces.
pub fn update_state(
    conn: &Connection,
    id: &str,
    state: &str,
    p: &Progress<'_>,
) -> Result<StateSize, StoreError> {
    conn.prepare_cached(
        "UPDATE stream_snapshots SET state = ?2, snapshot_seen = ?3 WHERE stream_id = ?1",
    )?
    .execute(params![id, state, p.events_seen as i64])?;
    conn.prepare_cached("DELETE FROM stream_log WHERE stream_id = ?1")?
        .execute([id])?;
    let size = StateSize {
        snapshot_bytes: state.len() as u64,
        ..StateSize::default()
    };
    set_progress(conn, id, p, size)?;
    Ok(size)
}

/// Appends a batch's events (`events`, JSON, the first at stream position
/// `position`, `count` of them) to the stream's log, the snapshot unchanged.
pub fn append_log(
    conn: &Connection,
    id: &str,
    position: u64,
    events: &str,
    count: u64,
    before: StateSize,
    p: &Progress<'_>,
) -> Result<StateSize, StoreError> {
    conn.prepare_cached(
        "INSERT INTO stream_log (stream_id, position, events) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, position as i64, events])?;
    let size = StateSize {
        snapshot_bytes: before.snapshot_bytes,
        log_bytes: before.log_bytes + events.len() as u64,
        log_events: before.log_events + count,
    };
    set_progress(conn, id, p, size)?;
    Ok(size)
}

/// The stream's logged batches since its snapshot, oldest first: (position
/// of the first event, the events as JSON).
pub fn log(conn: &Connection, id: &str) -> Result<Vec<(u64, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT position, events FROM stream_log WHERE stream_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const SUMMARY: &str = "SELECT s.id, s.config, s.events_seen, s.status, s.events_needed,
        (SELECT COUNT(*) FROM anomalies a WHERE a.stream_id = s.id),
        (SELECT COUNT(*) FROM queued_events q WHERE q.stream_id = s.id),
        s.created_at, s.updated_at
    FROM streams s";

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StreamSummary, String)> {
    let config: String = r.get(1)?;
    Ok((
        StreamSummary {
            id: r.get(0)?,
            config: DetectorConfig::default(),
            events_seen: r.get::<_, i64>(2)? as u64,
            status: r.get(3)?,
            events_needed: r.get::<_, i64>(4)? as u64,
            anomaly_count: r.get::<_, i64>(5)? as u64,
            queue_depth: r.get::<_, i64>(6)? as u64,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
        },
        config,
    ))
}

fn finish(pair: (StreamSummary, String)) -> Result<StreamSummary, StoreError> {
    let (mut s, config) = pair;
    s.config = serde_json::from_str(&config)?;
    Ok(s)
}

pub fn summary(conn: &Connection, id: &str) -> Result<Option<StreamSummary>, StoreError> {
    conn.query_row(
        &format!("{SUMMARY} WHERE s.id = ?1"),
        [id],
        summary_from_row,
    )
    .optional()?
    .map(finish)
    .transpose()
}

/// Every stream (or only `only`), by id.
pub fn list(conn: &Connection, only: Option<&str>) -> Result<Vec<StreamSummary>, StoreError> {
    let mut out = Vec::new();
    match only {
        Some(id) => out.extend(summary(conn, id)?),
        None => {
            let mut stmt = conn.prepare(&format!("{SUMMARY} ORDER BY s.id"))?;
            for pair in stmt.query_map([], summary_from_row)? {
                out.push(finish(pair?)?);
            }
        }
    }
    Ok(out)
}

pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM streams", [], |r| r.get::<_, i64>(0))? as u64)
}

/// The stream position an idempotency key was scored at.
pub fn idempotent_position(
    conn: &Connection,
    stream_id: &str,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT position FROM idempotency WHERE stream_id = ?1 AND key = ?2",
            params![stream_id, key],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|p| p as u64))
}

pub fn record_idempotency(
    conn: &Connection,
    stream_id: &str,
    key: &str,
    position: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO idempotency (stream_id, key, position) VALUES (?1, ?2, ?3)",
        params![stream_id, key, position as i64],
    )?;
    Ok(())
}
