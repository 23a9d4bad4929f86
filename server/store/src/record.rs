//! A stored anomaly ([`AnomalyRecord`], a row of the `anomalies` table) built
//! from the engine's in one place for the API, the worker and backfills
//! ([`AnomalyRecord::from_anomaly`]), its inverse for the flat formats
//! ([`AnomalyRecord::to_anomaly`]), and the typed status a user sets on it.

use driftlock_engine::{Anomaly, AnomalyKind, DetectorConfig, Event, Metrics, Neighbour};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::StoreError;
use crate::time;

/// What a user has done with an anomaly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AnomalyStatus {
    #[default]
    New,
    Viewed,
    Archived,
}

impl AnomalyStatus {
    pub const ALL: [AnomalyStatus; 3] = [
        AnomalyStatus::New,
        AnomalyStatus::Viewed,
        AnomalyStatus::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyStatus::New => "new",
            AnomalyStatus::Viewed => "viewed",
            AnomalyStatus::Archived => "archived",
        }
    }
}

impl std::str::FromStr for AnomalyStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        AnomalyStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "unknown anomaly status `{s}` (expected new, viewed or archived)"
                ))
            })
    }
}

/// A stored anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyRecord {
    /// Monotonic insertion number (the pagination key).
    #[serde(skip)]
    pub seq: i64,
    pub id: String,
    pub stream_id: String,
    /// Position of the event in its stream; for a change point, where the
    /// change began.
    pub position: u64,
    pub kind: AnomalyKind,
    /// The event's timestamp (RFC 3339), or the detection time when it had none.
    pub timestamp: String,
    /// Milliseconds since the epoch of `timestamp` (the `since`/`until` filter).
    #[serde(skip)]
    pub ts_ms: i64,
    pub detected_at: String,
    pub metrics: Metrics,
    pub window_p_value: Option<f64>,
    pub why: String,
    pub compressor: String,
    pub status: AnomalyStatus,
    /// The event as received: the one that reported the anomaly.
    pub event: Value,
    /// Config, seed, baseline digest, encoded form and nearest baseline events.
    pub evidence: Option<Value>,
    pub has_evidence: bool,
    pub batch_id: String,
    /// Stream position of the event that reported the anomaly: its
    /// `position` for an event anomaly reported with its event (`event`);
    /// for a held flag of a new template, the later event that released it
    /// (`event` is still the flagged one); for a change point, the event
    /// whose arrival completed the window showing the change (`event`).
    /// Re-sent events are matched to their anomalies on it
    /// ([`crate::anomalies::at_positions`]), as their first answer had them.
    pub reported_at: u64,
}

/// Who produced a stored anomaly, and so how it is named and what its
/// evidence adds to the engine's.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// `/v1/detect` or the queue worker: a random id, the request's batch.
    Live {
        batch_id: &'a str,
        events_seen_after_batch: u64,
    },
    /// A backfill: an id derived from (config hash, stream, position, kind), so
    /// a replayed interval inserts nothing new.
    Backfill { config_hash: &'a str },
}

/// The evidence of `a` as the store keeps it, then `extra` (what only one
/// origin knows). A record's facts are under `record`.
fn evidence(
    config: &DetectorConfig,
    a: &Anomaly,
    extra: impl IntoIterator<Item = (&'static str, Value)>,
) -> Value {
    let mut e = json!({
        "config": config,
        "seed": config.seed,
        "permutation_count": config.permutation_count,
        "compressor_requested": config.compressor,
        "compressor": a.compressor,
        "baseline_digest": a.baseline_digest,
        "encoded": a.encoded,
        "nearest": a.nearest,
        "window_p_value": a.window_p_value,
        "stream_position": a.index,
        // The stream position of the event whose arrival reported it (see
        // `AnomalyRecord::reported_at`).
        "reported_at": a.reported_at,
    });
    let map = e.as_object_mut().expect("an object");
    if let Some(t) = &a.incident {
        map.insert("incident".into(), json!(t));
    }
    if let Some(r) = &a.record {
        map.insert(
            "record".into(),
            json!({
                "field": r.path,
                "value": r.value,
                "min": r.min,
                "max": r.max,
                "count": r.count,
                "fields_tested": r.fields,
                "p_value": r.p_value(),
            }),
        );
    }
    for (k, v) in extra {
        map.insert(k.into(), v);
    }
    e
}

/// The stored timestamp of `a` and its milliseconds: the anomaly's own, else,
/// for an event anomaly, its event's; a change point never borrows the
/// reporting event's. The detection time (`now`) when none parses.
fn record_timestamp(a: &Anomaly, event: &Event, now: &str) -> (String, i64) {
    let given = match a.kind {
        AnomalyKind::Event => a.timestamp.as_deref().or(event.timestamp.as_deref()),
        AnomalyKind::ChangePoint => a.timestamp.as_deref(),
    };
    match given.and_then(time::parse_ms) {
        Some(ms) => (time::format_ms(ms), ms),
        None => (now.to_string(), time::now_ms()),
    }
}

/// The `batch_id` of a backfill's anomalies.
pub fn backfill_batch_id(config_hash: &str) -> String {
    format!("backfill_{}", &config_hash[..16.min(config_hash.len())])
}

/// The same anomaly of the same backfill always gets the same id.
fn backfill_anomaly_id(
    config_hash: &str,
    stream_id: &str,
    position: u64,
    kind: AnomalyKind,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [config_hash, stream_id, &position.to_string(), kind.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("anom_bf_{}", &hex::encode(h.finalize())[..20])
}

impl AnomalyRecord {
    /// The store row for `a`; `event` is the event that reported it.
    ///
    /// For a change point that event is the one that completed the window
    /// showing the change, not the change's first event (`a.index`), which may
    /// have come in an earlier request. `position` is where the change began
    /// and `timestamp` that event's (the detection time when it had none, never
    /// the reporting event's); `event` is the reporting event, and the
    /// evidence's `reported_at` names its stream position.
    pub fn from_anomaly(
        config: &DetectorConfig,
        a: &Anomaly,
        event: &Event,
        origin: Origin<'_>,
    ) -> AnomalyRecord {
        let now = time::now_rfc3339();
        let (timestamp, ts_ms) = record_timestamp(a, event, &now);
        let (id, batch_id, extra) = match origin {
            Origin::Live {
                batch_id,
                events_seen_after_batch,
            } => (
                format!("anom_{}", crate::ids::random_hex(10)),
                batch_id.to_string(),
                ("events_seen_after_batch", json!(events_seen_after_batch)),
            ),
            Origin::Backfill { config_hash } => (
                backfill_anomaly_id(config_hash, &a.stream_id, a.index, a.kind),
                backfill_batch_id(config_hash),
                ("backfill", json!(config_hash)),
            ),
        };
        AnomalyRecord {
            seq: 0,
            id,
            stream_id: a.stream_id.clone(),
            position: a.index,
            kind: a.kind,
            timestamp,
            ts_ms,
            detected_at: now,
            metrics: a.metrics,
            window_p_value: a.window_p_value,
            why: a.why.clone(),
            compressor: a.compressor.clone(),
            status: AnomalyStatus::New,
            event: serde_json::to_value(event).unwrap_or(Value::Null),
            has_evidence: !a.nearest.is_empty(),
            evidence: Some(evidence(config, a, [extra])),
            batch_id,
            reported_at: a.reported_at,
        }
    }

    /// The engine's view of a stored anomaly (for the flat formats).
    pub fn to_anomaly(&self) -> Anomaly {
        let ev = self.evidence.as_ref();
        let text = |k: &str| {
            ev.and_then(|e| e.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let nearest: Vec<Neighbour> = ev
            .and_then(|e| e.get("nearest"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        Anomaly {
            stream_id: self.stream_id.clone(),
            index: self.position,
            timestamp: Some(self.timestamp.clone()),
            kind: self.kind,
            metrics: self.metrics,
            window_p_value: self.window_p_value,
            why: self.why.clone(),
            compressor: self.compressor.clone(),
            encoded: text("encoded"),
            nearest,
            baseline_digest: text("baseline_digest"),
            reported_at: self.reported_at,
            recurs: None,
            record: None,
            incident: ev
                .and_then(|e| e.get("incident"))
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            held_event: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for s in AnomalyStatus::ALL {
            assert_eq!(s.as_str().parse::<AnomalyStatus>().unwrap(), s);
        }
        assert!("deleted".parse::<AnomalyStatus>().is_err());
    }

    #[test]
    fn backfill_ids_are_stable_and_differ_by_kind() {
        let id = backfill_anomaly_id("h", "s", 1, AnomalyKind::Event);
        assert_eq!(id, backfill_anomaly_id("h", "s", 1, AnomalyKind::Event));
        assert_ne!(
            id,
            backfill_anomaly_id("h", "s", 1, AnomalyKind::ChangePoint)
        );
        assert!(id.starts_with("anom_bf_") && id.len() == 28);
    }
}
