//! The one place where events meet a stream's detector: idempotency dedupe,
//! `push`, and a single transaction that records the anomalies, the new
//! detector state and (for queued events) removes them from the queue. Runs on
//! a blocking thread with the stream's lock held.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use driftlock_engine::{Anomaly, AnomalyKind, DetectorConfig, EngineError, Event, StreamStatus};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value, json};

use crate::auth::random_hex;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::scoring::{DetectorFactory, compressor_name};
use crate::state::LoadedStream;
use crate::store::anomalies::{self, AnomalyRecord};
use crate::store::queue;
use crate::store::streams::{self, StreamRow};
use crate::time;

/// `calibrating`/`ready` and the events still needed.
pub fn status_parts(s: StreamStatus) -> (&'static str, u64) {
    match s {
        StreamStatus::Calibrating { events_needed } => ("calibrating", events_needed as u64),
        StreamStatus::Ready => ("ready", 0),
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Config { field, reason } => {
            ApiError::field(format!("config_override.{field}"), reason)
        }
        other => ApiError::internal(format!("detector: {other}")),
    }
}

/// A `config_override` object: DetectorConfig fields, unknown ones refused.
pub fn config_from_override(
    fields: Option<&Map<String, Value>>,
) -> Result<DetectorConfig, ApiError> {
    let config: DetectorConfig = match fields {
        None => DetectorConfig::default(),
        Some(map) => serde_json::from_value(Value::Object(map.clone()))
            .map_err(|e| ApiError::field("config_override", e.to_string()))?,
    };
    config.validate().map_err(engine_error)?;
    Ok(config)
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `config` (serialised) with `k` set to `v`, if that is a valid config.
fn with_field(config: &Value, k: &str, v: &Value) -> Option<DetectorConfig> {
    let mut fields = config.as_object()?.clone();
    fields.insert(k.to_owned(), v.clone());
    serde_json::from_value(Value::Object(fields)).ok()
}

/// 409 when `fields` asks for values that differ from the stream's config.
pub fn check_override(
    stream_id: &str,
    config: &DetectorConfig,
    fields: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let Some(fields) = fields else { return Ok(()) };
    let current = serde_json::to_value(config).map_err(ApiError::internal)?;
    let mut differ = Vec::new();
    for (k, v) in fields {
        match current.get(k) {
            Some(have) if !same_value(have, v) => {
                differ.push(format!("{k} is {have} (requested {v})"));
            }
            Some(_) => {}
            // A field the config leaves out of its serialised form (at its
            // default, so that older configs hash the same) matches when
            // setting it changes nothing.
            None if with_field(&current, k, v).is_some_and(|c| c == *config) => {}
            None => differ.push(format!("{k} is at its default (requested {v})")),
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "stream `{stream_id}` already exists with a different config: {}; use a new stream_id for another config",
            differ.join(", ")
        )))
    }
}

/// The stream's row, created with the override's config if it does not exist.
/// An override that contradicts an existing stream's config is a 409.
pub fn ensure_stream(
    conn: &Connection,
    factory: &dyn DetectorFactory,
    stream_id: &str,
    fields: Option<&Map<String, Value>>,
) -> Result<StreamRow, ApiError> {
    if let Some(row) = streams::get(conn, stream_id)? {
        check_override(stream_id, &row.config, fields)?;
        return Ok(row);
    }
    let config = config_from_override(fields)?;
    let detector = factory.create(stream_id, &config).map_err(engine_error)?;
    let (status, needed) = status_parts(detector.status());
    let now = time::now_rfc3339();
    let row = StreamRow {
        id: stream_id.to_string(),
        config,
        state: detector.save().map_err(ApiError::internal)?,
        events_seen: 0,
        status: status.to_string(),
        events_needed: needed,
        created_at: now.clone(),
        updated_at: now,
    };
    streams::insert_if_absent(conn, &row)?;
    // Another request may have created it first; the stored row is the truth.
    let stored =
        streams::get(conn, stream_id)?.ok_or_else(|| ApiError::internal("stream vanished"))?;
    check_override(stream_id, &stored.config, fields)?;
    Ok(stored)
}

/// Takes the stream's detector out of its slot, loading it (or creating the
/// stream) when the slot is empty. The caller puts it back only after a
/// successful batch, so an error or a panic leaves the slot empty and the next
/// call reloads the committed state.
pub fn take_loaded(
    conn: &Connection,
    factory: &dyn DetectorFactory,
    slot: &mut Option<LoadedStream>,
    stream_id: &str,
    fields: Option<&Map<String, Value>>,
) -> Result<LoadedStream, ApiError> {
    if let Some(loaded) = slot.take() {
        if let Err(e) = check_override(stream_id, &loaded.config, fields) {
            *slot = Some(loaded);
            return Err(e);
        }
        return Ok(loaded);
    }
    let row = ensure_stream(conn, factory, stream_id, fields)?;
    let detector = factory.load(&row.state).map_err(engine_error)?;
    Ok(LoadedStream {
        config: row.config,
        detector,
        events_seen: row.events_seen,
    })
}

/// An anomaly and the position of its event in the request.
#[derive(Debug, Clone)]
pub struct ScoredAnomaly {
    pub request_index: usize,
    pub record: AnomalyRecord,
}

/// What a batch did.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    pub anomalies: Vec<ScoredAnomaly>,
    pub status: StreamStatus,
    pub events_seen: u64,
    /// Events pushed (the rest were idempotent re-sends).
    pub scored: usize,
    pub duplicates: usize,
    pub compressor: String,
}

/// The evidence of `a` as the store keeps it (API and backfill alike), then
/// `extra` (what only one of them knows). A record's facts are under `record`.
pub fn evidence(
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
        // The stream position of the stored row's `event` (see `record`).
        "reported_at": a.reported_at,
    });
    let map = e.as_object_mut().expect("an object");
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

/// The store row for `a`; `event` is the request event that reported it.
///
/// For a change point that event is the one that completed the window showing
/// the change, not the change's first event (`a.index`), which may have come
/// in an earlier request. The spec says nothing of change points, so the row
/// keeps the engine's description of the change: `position` is where it began
/// and `timestamp` that event's timestamp (the detection time when it had
/// none, never the reporting event's); `event` is the reporting event, the one
/// the response's `index` points at, and the evidence's `reported_at` names its
/// stream position, so it is not mistaken for the event at `position`.
/// The stored timestamp of `a` (and its milliseconds) as the API and the
/// backfill store it: the anomaly's own, else, for an event anomaly, its
/// event's; a change point never borrows the reporting event's. The
/// detection time (`now`) when none parses.
pub(crate) fn record_timestamp(a: &Anomaly, event: &Event, now: &str) -> (String, i64) {
    let given = match a.kind {
        AnomalyKind::Event => a.timestamp.as_deref().or(event.timestamp.as_deref()),
        AnomalyKind::ChangePoint => a.timestamp.as_deref(),
    };
    match given.and_then(time::parse_ms) {
        Some(ms) => (time::format_ms(ms), ms),
        None => (now.to_string(), time::now_ms()),
    }
}

fn record(
    stream_id: &str,
    config: &DetectorConfig,
    a: &Anomaly,
    event: &Event,
    batch_id: &str,
    events_seen: u64,
) -> AnomalyRecord {
    let now = time::now_rfc3339();
    let (timestamp, ts_ms) = record_timestamp(a, event, &now);
    AnomalyRecord {
        seq: 0,
        id: format!("anom_{}", random_hex(10)),
        stream_id: stream_id.to_string(),
        position: a.index,
        kind: match a.kind {
            AnomalyKind::Event => "event",
            AnomalyKind::ChangePoint => "change_point",
        }
        .to_string(),
        timestamp,
        ts_ms,
        detected_at: now,
        metrics: a.metrics,
        window_p_value: a.window_p_value,
        why: a.why.clone(),
        compressor: a.compressor.clone(),
        status: "new".to_string(),
        event: serde_json::to_value(event).unwrap_or(Value::Null),
        has_evidence: !a.nearest.is_empty(),
        evidence: Some(evidence(
            config,
            a,
            [("events_seen_after_batch", json!(events_seen))],
        )),
        batch_id: batch_id.to_string(),
        reported_at: a.reported_at,
    }
}

/// Scores `events` on a loaded stream and commits the outcome. On error the
/// caller must drop the slot's detector (it may be ahead of the store).
pub fn process_batch(
    conn: &mut Connection,
    loaded: &mut LoadedStream,
    stream_id: &str,
    events: &[Event],
    batch_id: &str,
    queue_through: Option<i64>,
    metrics: &Metrics,
) -> Result<BatchOutcome, ApiError> {
    let base = loaded.events_seen;
    // Position of every request event; new ones are pushed, the rest are re-sends.
    let mut positions = Vec::with_capacity(events.len());
    let mut fresh: Vec<Event> = Vec::new();
    let mut fresh_index = Vec::new();
    let mut in_batch: HashMap<&str, u64> = HashMap::new();
    let mut resent = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(k) = e.idempotency_key.as_deref() {
            if in_batch.contains_key(k) {
                positions.push(None);
                continue;
            }
            if let Some(p) = streams::idempotent_position(conn, stream_id, k)? {
                in_batch.insert(k, p);
                positions.push(Some(p));
                resent.push((i, p));
                continue;
            }
            in_batch.insert(k, base + fresh.len() as u64);
        }
        positions.push(Some(base + fresh.len() as u64));
        fresh_index.push(i);
        let mut ev = e.clone();
        ev.stream_id = stream_id.to_string();
        fresh.push(ev);
    }
    let found = if fresh.is_empty() {
        Vec::new()
    } else {
        loaded.detector.push(&fresh).map_err(engine_error)?
    };
    let events_seen = base + fresh.len() as u64;
    let mut out = Vec::new();
    for a in &found {
        // The fresh event whose arrival reported the anomaly: for a change
        // point `a.index` (where the change began) may be in an earlier request.
        let j = a.reported_at.saturating_sub(base) as usize;
        let request_index = fresh_index
            .get(j)
            .or(fresh_index.last())
            .copied()
            .unwrap_or(0);
        let rec = record(
            stream_id,
            &loaded.config,
            a,
            &events[request_index],
            batch_id,
            events_seen,
        );
        out.push(ScoredAnomaly {
            request_index,
            record: rec,
        });
    }
    let status = loaded.detector.status();
    let (status_name, needed) = status_parts(status);
    let state = loaded.detector.save().map_err(ApiError::internal)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for a in &mut out {
        a.record.seq = anomalies::insert(&tx, &a.record)?;
    }
    for (j, &i) in fresh_index.iter().enumerate() {
        if let Some(k) = events[i].idempotency_key.as_deref() {
            streams::record_idempotency(&tx, stream_id, k, base + j as u64)?;
        }
    }
    streams::update_state(
        &tx,
        stream_id,
        &state,
        events_seen,
        status_name,
        needed,
        &time::now_rfc3339(),
    )?;
    if let Some(seq) = queue_through {
        queue::remove_through(&tx, stream_id, seq)?;
    }
    tx.commit()?;
    loaded.events_seen = events_seen;
    metrics
        .events_scored
        .fetch_add(fresh.len() as u64, Ordering::Relaxed);
    metrics
        .anomalies_found
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    // Re-sent events report the anomalies recorded when they were first scored.
    for (i, p) in &resent {
        for rec in anomalies::at_positions(conn, stream_id, &[*p])? {
            out.push(ScoredAnomaly {
                request_index: *i,
                record: rec,
            });
        }
    }
    out.sort_by_key(|a| (a.request_index, a.record.position, a.record.seq));
    Ok(BatchOutcome {
        anomalies: out,
        status,
        events_seen,
        scored: fresh.len(),
        duplicates: events.len() - fresh.len(),
        compressor: compressor_name(loaded.config.compressor).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_conflict_only_when_they_differ() {
        let c = DetectorConfig::default();
        let same: Map<String, Value> = serde_json::from_str(
            r#"{"ncd_threshold": 0.3, "compressor": "zstd", "baseline_size": 400.0, "min_baseline_size": 0}"#,
        )
        .unwrap();
        check_override("s", &c, Some(&same)).unwrap();
        let other: Map<String, Value> = serde_json::from_str(r#"{"ncd_threshold": 0.35}"#).unwrap();
        assert!(matches!(
            check_override("s", &c, Some(&other)),
            Err(ApiError::Conflict(_))
        ));
        let grow: Map<String, Value> =
            serde_json::from_str(r#"{"min_baseline_size": 100}"#).unwrap();
        assert!(matches!(
            check_override("s", &c, Some(&grow)),
            Err(ApiError::Conflict(_))
        ));
    }

    #[test]
    fn override_errors_name_the_field() {
        let bad: Map<String, Value> = serde_json::from_str(r#"{"ncd_threshold": 2}"#).unwrap();
        match config_from_override(Some(&bad)) {
            Err(ApiError::InvalidField { field, .. }) => {
                assert_eq!(field, "config_override.ncd_threshold")
            }
            other => panic!("{other:?}"),
        }
        let unknown: Map<String, Value> = serde_json::from_str(r#"{"nope": 1}"#).unwrap();
        assert!(matches!(
            config_from_override(Some(&unknown)),
            Err(ApiError::InvalidField { .. })
        ));
    }
}
