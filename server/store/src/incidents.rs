//! Incidents as the store keeps them: the anomalies the detector tagged (each
//! stored anomaly's evidence carries its `incident`, see
//! `driftlock_engine::incident`), named by the anomaly that opened it, plus
//! what people decided about it (`incident_states`, one row once it is set).

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::anomaly_filter::AnomalyFilter;
use crate::record::AnomalyRecord;

/// Who handles an incident: a person's decision, not the detector's (which
/// closes it after a quiet period whatever its status).
pub const SCHEMA: &str = "
CREATE TABLE incident_states (
    anomaly_id TEXT PRIMARY KEY REFERENCES anomalies(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    note TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX incident_states_status ON incident_states(status);
";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// No one has taken it yet (every incident starts here).
    #[default]
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 3] = [
        IncidentStatus::Open,
        IncidentStatus::Acknowledged,
        IncidentStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

impl std::str::FromStr for IncidentStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        IncidentStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "unknown incident status `{s}` (expected open, acknowledged or resolved)"
                ))
            })
    }
}

/// A person's latest decision on an incident.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentState {
    pub status: IncidentStatus,
    pub note: Option<String>,
    /// RFC 3339; `None` while the status was never set.
    pub updated_at: Option<String>,
}

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
    pub state: IncidentState,
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
    let state = conn
        .query_row(
            "SELECT status, note, updated_at FROM incident_states WHERE anomaly_id = ?1",
            [&opener.id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?
        .map(|(status, note, at)| {
            Ok::<_, StoreError>(IncidentState {
                status: status.parse()?,
                note,
                updated_at: Some(at),
            })
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Some(IncidentRecord {
        number,
        rank,
        anomalies: anomalies.max(1) as u64,
        last_position: last.max(0) as u64,
        opener,
        state,
    }))
}

/// Sets the status of the incident opened by anomaly `id` (and its note:
/// `None` keeps the one it has). False when `id` opened no incident.
pub fn set_status(
    conn: &Connection,
    id: &str,
    status: IncidentStatus,
    note: Option<&str>,
    now: &str,
) -> Result<bool, StoreError> {
    let opens: Option<bool> = conn
        .query_row(
            "SELECT json_extract(evidence, '$.incident.opens') = 1 FROM anomalies WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<bool>>(0),
        )
        .optional()?
        .flatten();
    if opens != Some(true) {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO incident_states (anomaly_id, status, note, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(anomaly_id) DO UPDATE SET status = excluded.status,
             note = COALESCE(excluded.note, incident_states.note),
             updated_at = excluded.updated_at",
        params![id, status.as_str(), note, now],
    )?;
    Ok(true)
}
