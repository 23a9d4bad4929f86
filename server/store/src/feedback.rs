//! `feedback`: what people said about an anomaly (`confirmed`,
//! `false_positive`, `dismissed`), oldest first. The table is created with
//! `anomalies` (the `anomalies` module's schema).

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;

/// One piece of feedback on an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedbackRecord {
    pub id: String,
    pub anomaly_id: String,
    /// `confirmed`, `false_positive` or `dismissed`.
    pub feedback_type: String,
    pub reason: Option<String>,
    /// The key that gave it.
    pub key_id: Option<String>,
    pub created_at: String,
}

pub fn insert(conn: &Connection, f: &FeedbackRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO feedback (id, anomaly_id, feedback_type, reason, key_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            f.id,
            f.anomaly_id,
            f.feedback_type,
            f.reason,
            f.key_id,
            f.created_at
        ],
    )?;
    Ok(())
}

pub fn for_anomaly(conn: &Connection, anomaly_id: &str) -> Result<Vec<FeedbackRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, anomaly_id, feedback_type, reason, key_id, created_at FROM feedback
         WHERE anomaly_id = ?1 ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([anomaly_id], |r| {
        Ok(FeedbackRecord {
            id: r.get(0)?,
            anomaly_id: r.get(1)?,
            feedback_type: r.get(2)?,
            reason: r.get(3)?,
            key_id: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
