//! The filters of `GET /v1/anomalies` and of bulk exports, as a SQL WHERE
//! clause over the `anomalies` table.

use rusqlite::types::Value as Sql;

use crate::incidents::IncidentStatus;
use crate::record::AnomalyStatus;

/// The `GET /v1/anomalies` filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnomalyFilter {
    pub stream_id: Option<String>,
    pub min_ncd: Option<f64>,
    pub max_p_value: Option<f64>,
    pub status: Option<AnomalyStatus>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub has_evidence: Option<bool>,
    /// Only anomalies that opened an incident (`GET /v1/incidents`).
    pub opens_incident: bool,
    /// Only incident openers whose incident has this status.
    pub incident_status: Option<IncidentStatus>,
}

impl AnomalyFilter {
    /// The WHERE clause (empty or starting with a space) and its arguments,
    /// with `seq < before_seq` when given.
    pub(crate) fn sql(&self, before_seq: Option<i64>) -> (String, Vec<Sql>) {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = &self.stream_id {
            clauses.push("stream_id = ?");
            args.push(Sql::Text(s.clone()));
        }
        if let Some(v) = self.min_ncd {
            clauses.push("ncd >= ?");
            args.push(Sql::Real(v));
        }
        if let Some(v) = self.max_p_value {
            clauses.push("p_value <= ?");
            args.push(Sql::Real(v));
        }
        if let Some(s) = self.status {
            clauses.push("status = ?");
            args.push(Sql::Text(s.as_str().to_owned()));
        }
        if let Some(v) = self.since_ms {
            clauses.push("ts_ms >= ?");
            args.push(Sql::Integer(v));
        }
        if let Some(v) = self.until_ms {
            clauses.push("ts_ms <= ?");
            args.push(Sql::Integer(v));
        }
        if let Some(v) = self.has_evidence {
            clauses.push("has_evidence = ?");
            args.push(Sql::Integer(v as i64));
        }
        if self.opens_incident {
            clauses.push("json_extract(evidence, '$.incident.opens') = 1");
        }
        if let Some(s) = self.incident_status {
            clauses.push(
                "COALESCE((SELECT status FROM incident_states WHERE anomaly_id = anomalies.id), 'open') = ?",
            );
            args.push(Sql::Text(s.as_str().to_owned()));
        }
        if let Some(seq) = before_seq {
            clauses.push("seq < ?");
            args.push(Sql::Integer(seq));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }
}
