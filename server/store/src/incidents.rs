//! Incidents as the store keeps them: not a table of their own, but the
//! anomalies the detector tagged (each stored anomaly's evidence carries its
//! `incident`, see `driftlock_engine::incident`). An incident is named by the
//! anomaly that opened it.

use rusqlite::Connection;

use crate::StoreError;
use crate::anomaly_filter::AnomalyFilter;
use crate::record::AnomalyRecord;

/// One incident: the anomaly that opened it and what joined it since.
#[derive(Debug, Clone)]
pub struct IncidentRecord {
    pub opener: AnomalyRecord,
    /// The stream's incident number.
    pub number: u64,
    pub rank: f64,
    /// Anomalies of the incident, the opener included.
    pub anomalies: u64,
    /// Stream position of its newest anomaly.
    pub last_position: u64,
}

/// The incidents whose opening anomaly matches `filter`, newest first, before
/// `before_seq` (the keyset of the anomalies' list).
pub fn list(
    conn: &Connection,
    filter: &AnomalyFilter,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<IncidentRecord>, StoreError> {
    let openers = AnomalyFilter {
        opens_incident: true,
        ..filter.clone()
    };
    crate::anomalies::list(conn, &openers, before_seq, limit)?
        .into_iter()
        .filter_map(|a| complete(conn, a).transpose())
        .collect()
}

/// How many incidents' opening anomalies match `filter`.
pub fn count(conn: &Connection, filter: &AnomalyFilter) -> Result<u64, StoreError> {
    let openers = AnomalyFilter {
        opens_incident: true,
        ..filter.clone()
    };
    crate::anomalies::count(conn, &openers)
}

/// The incident opened by anomaly `id`, if that anomaly opened one.
pub fn get(conn: &Connection, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
    match crate::anomalies::get(conn, id)? {
        Some(a) => complete(conn, a),
        None => Ok(None),
    }
}

fn complete(
    conn: &Connection,
    opener: AnomalyRecord,
) -> Result<Option<IncidentRecord>, StoreError> {
    let tag = opener.evidence.as_ref().and_then(|e| e.get("incident"));
    let Some((number, rank)) = tag.and_then(|t| {
        let opens = t.get("opens")?.as_bool()?;
        opens.then_some((t.get("id")?.as_u64()?, t.get("rank")?.as_f64()?))
    }) else {
        return Ok(None);
    };
    // Its anomalies: the stream's with the same number from the opener on,
    // up to the stream's next opener.
    let (anomalies, last): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(position), ?3) FROM anomalies
         WHERE stream_id = ?1 AND seq >= ?2
           AND json_extract(evidence, '$.incident.id') = ?4
           AND seq < COALESCE((SELECT MIN(seq) FROM anomalies WHERE stream_id = ?1
               AND seq > ?2 AND json_extract(evidence, '$.incident.id') = ?4
               AND json_extract(evidence, '$.incident.opens') = 1), 9223372036854775807)",
        rusqlite::params![
            opener.stream_id,
            opener.seq,
            opener.position as i64,
            number as i64
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some(IncidentRecord {
        number,
        rank,
        anomalies: anomalies.max(1) as u64,
        last_position: last.max(0) as u64,
        opener,
    }))
}
