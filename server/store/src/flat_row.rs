//! One row of the flat output schema (CSV, Parquet, Arrow IPC), borrowed: the
//! writers take it from an engine [`Anomaly`] or, in bulk exports, straight from
//! SQLite's row buffers ([`crate::flat_rows`]) without building an `Anomaly`.

use driftlock_engine::Anomaly;

/// The column names of flat outputs, in order.
pub const COLUMNS: [&str; 19] = [
    "stream_id",
    "index",
    "timestamp",
    "kind",
    "ncd",
    "compression_ratio",
    "entropy_change",
    "p_value",
    "confidence",
    "window_p_value",
    "why",
    "compressor",
    "encoded",
    "nearest",
    "baseline_digest",
    "reported_at",
    "incident_id",
    "incident_opens",
    "incident_rank",
];

/// One row of the flat formats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatRow<'a> {
    pub stream_id: &'a str,
    pub index: u64,
    pub timestamp: Option<&'a str>,
    /// `event` or `change_point`.
    pub kind: &'a str,
    pub ncd: f64,
    pub compression_ratio: f64,
    pub entropy_change: f64,
    pub p_value: f64,
    pub confidence: f64,
    pub window_p_value: Option<f64>,
    pub why: &'a str,
    pub compressor: &'a str,
    pub encoded: &'a str,
    /// The neighbours as a JSON array (see [`nearest_json`]).
    pub nearest: &'a str,
    pub baseline_digest: &'a str,
    pub reported_at: u64,
    /// The stream's incident number (see `driftlock_engine::incident`).
    pub incident_id: Option<u64>,
    /// Whether this anomaly opened its incident: the one to alert on.
    pub incident_opens: Option<bool>,
    /// How new the incident is against the stream's earlier ones, in [0, 1].
    pub incident_rank: Option<f64>,
}

impl<'a> FlatRow<'a> {
    /// `anomaly`'s row; `nearest` is `nearest_json(anomaly)`.
    pub fn of(anomaly: &'a Anomaly, nearest: &'a str) -> Self {
        let m = &anomaly.metrics;
        FlatRow {
            stream_id: &anomaly.stream_id,
            index: anomaly.index,
            timestamp: anomaly.timestamp.as_deref(),
            kind: anomaly.kind.as_str(),
            ncd: m.ncd,
            compression_ratio: m.compression_ratio,
            entropy_change: m.entropy_change,
            p_value: m.p_value,
            confidence: m.confidence,
            window_p_value: anomaly.window_p_value,
            why: &anomaly.why,
            compressor: &anomaly.compressor,
            encoded: &anomaly.encoded,
            nearest,
            baseline_digest: &anomaly.baseline_digest,
            reported_at: anomaly.reported_at,
            incident_id: anomaly.incident.map(|t| t.id),
            incident_opens: anomaly.incident.map(|t| t.opens),
            incident_rank: anomaly.incident.map(|t| t.rank),
        }
    }
}

/// The `nearest` column's text: the neighbours as a JSON array.
pub fn nearest_json(anomaly: &Anomaly) -> String {
    serde_json::to_string(&anomaly.nearest).unwrap_or_else(|_| "[]".to_owned())
}
