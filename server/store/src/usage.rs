//! `usage`: requests and scored events per key and UTC day.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE usage (
    key_id   TEXT NOT NULL,
    day      TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    events   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
";

/// One key's use on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsageDay {
    pub day: String,
    pub requests: u64,
    pub events: u64,
}

/// Adds to a key's counters for a day.
pub fn add(
    conn: &Connection,
    key_id: &str,
    day: &str,
    requests: u64,
    events: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO usage (key_id, day, requests, events) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + ?3, events = events + ?4",
    )?
    .execute(params![key_id, day, requests as i64, events as i64])?;
    Ok(())
}

/// A key's days, newest first, at most `days`.
pub fn for_key(conn: &Connection, key_id: &str, days: usize) -> Result<Vec<UsageDay>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, requests, events FROM usage WHERE key_id = ?1 ORDER BY day DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![key_id, days as i64], |r| {
        Ok(UsageDay {
            day: r.get(0)?,
            requests: r.get::<_, i64>(1)? as u64,
            events: r.get::<_, i64>(2)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
