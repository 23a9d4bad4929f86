//! `streams` (config and persisted detector state of each stream) and
//! `idempotency` (which stream position an idempotency key was scored at).

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

/// A stream's row, detector state included.
#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: String,
    pub config: DetectorConfig,
    /// The detector, serialised as JSON.
    pub state: String,
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
            "SELECT id, config, state, events_seen, status, events_needed, created_at, updated_at
             FROM streams WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )
        .optional()?;
    let Some((id, config, state, seen, status, needed, created_at, updated_at)) = row else {
        return Ok(None);
    };
    Ok(Some(StreamRow {
        id,
        config: serde_json::from_str(&config)?,
        state,
        events_seen: seen as u64,
        status,
        events_needed: needed as u64,
        created_at,
        updated_at,
    }))
}

/// Inserts a new stream unless one with this id exists (then nothing changes).
pub fn insert_if_absent(conn: &Connection, row: &StreamRow) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO streams
         (id, config, state, events_seen, status, events_needed, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            row.id,
            serde_json::to_string(&row.config)?,
            row.state,
            row.events_seen as i64,
            row.status,
            row.events_needed as i64,
            row.created_at,
            row.updated_at
        ],
    )?;
    Ok(n == 1)
}

/// Stores the detector after a batch.
pub fn update_state(
    conn: &Connection,
    id: &str,
    state: &str,
    events_seen: u64,
    status: &str,
    events_needed: u64,
    at: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE streams SET state = ?2, events_seen = ?3, status = ?4, events_needed = ?5, updated_at = ?6
         WHERE id = ?1",
        params![id, state, events_seen as i64, status, events_needed as i64, at],
    )?;
    Ok(())
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
