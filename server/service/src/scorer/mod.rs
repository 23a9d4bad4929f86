//! [`Scorer`]: the one place where events meet a stream's detector, for
//! `/v1/detect` and the queue worker alike: idempotency dedupe, `push`, and a
//! single transaction that records the anomalies, the new detector state and
//! (for queued events) removes them from the queue. A batch runs on a blocking
//! thread with the stream's lock held; failures are [`ScoreError`]s, which the
//! HTTP edge turns into `ApiError`s.

mod error;
mod overrides;
mod persist;
mod slots;

use std::collections::HashMap;
use std::sync::Arc;

use driftlock_engine::{Event, StreamStatus};
use driftlock_store::anomalies::{self, AnomalyRecord};
use driftlock_store::queue;
use driftlock_store::record::Origin;
use driftlock_store::streams::{self, Progress, StateSize, StreamRow};
use driftlock_store::{Store, time};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value};

pub use error::ScoreError;
use error::internal;
pub use overrides::{check_override, config_from_override};
pub use slots::{LoadedStream, Slot, StreamSlots};

use crate::detectors::{DetectorFactory, SharedFactory};
use crate::metrics::Metrics;

/// Where a batch's events come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A request, with its `config_override` (if any) and the most bytes
    /// the stream's saved state may reach.
    Request(Option<&'a Map<String, Value>>, Option<u64>),
    /// The stream's queue, up to and including `through` (removed on commit).
    Queue { through: i64 },
}

/// Scores batches on streams and commits the outcome; cheap to share.
pub struct Scorer {
    store: Store,
    factory: SharedFactory,
    streams: StreamSlots,
    metrics: Arc<Metrics>,
}

impl Scorer {
    pub fn new(store: Store, factory: SharedFactory, metrics: Arc<Metrics>) -> Self {
        Scorer {
            store,
            factory,
            streams: StreamSlots::default(),
            metrics,
        }
    }

    pub fn factory(&self) -> &dyn DetectorFactory {
        self.factory.as_ref()
    }

    /// The factory itself, to open another service on the same detectors.
    pub fn shared_factory(&self) -> SharedFactory {
        self.factory.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Scores `events` on `stream_id` (created with `fields`' config if new);
    /// a batch that would make the stream's saved state larger than
    /// `max_state_bytes` is refused, nothing committed.
    pub async fn score(
        self: &Arc<Self>,
        stream_id: &str,
        events: Vec<Event>,
        fields: Option<Map<String, Value>>,
        batch_id: String,
        max_state_bytes: Option<u64>,
    ) -> Result<BatchOutcome, ScoreError> {
        self.with_stream(stream_id, move |me, conn, slot, id| {
            me.commit(
                conn,
                slot,
                id,
                &events,
                &batch_id,
                Source::Request(fields.as_ref(), max_state_bytes),
            )
        })
        .await
    }

    /// Scores up to `limit` of the stream's queued events (oldest first) and
    /// removes them from the queue in the same transaction; the number taken
    /// (0 when the queue is empty).
    pub async fn score_queued(
        self: &Arc<Self>,
        stream_id: &str,
        limit: usize,
    ) -> Result<usize, ScoreError> {
        self.with_stream(stream_id, move |me, conn, slot, id| {
            let batch = queue::peek(conn, id, limit)?;
            let Some(&(last, _)) = batch.last() else {
                return Ok(0);
            };
            let events: Vec<_> = batch.into_iter().map(|(_, e)| e).collect();
            let batch_id = format!("batch_{}", driftlock_store::ids::random_hex(8));
            let source = Source::Queue { through: last };
            let outcome = me.commit(conn, slot, id, &events, &batch_id, source)?;
            Ok(outcome.scored + outcome.duplicates)
        })
        .await
    }

    /// Runs `f` on a blocking thread with the stream's turn and a connection.
    async fn with_stream<T: Send + 'static>(
        self: &Arc<Self>,
        stream_id: &str,
        f: impl FnOnce(
            &Scorer,
            &mut Connection,
            &mut Option<LoadedStream>,
            &str,
        ) -> Result<T, ScoreError>
        + Send
        + 'static,
    ) -> Result<T, ScoreError> {
        let mut slot = self.streams.lock(stream_id).await;
        let (me, id) = (self.clone(), stream_id.to_string());
        tokio::task::spawn_blocking(move || me.store.with_conn(|conn| f(&me, conn, &mut slot, &id)))
            .await
            .map_err(|e| internal(format!("scoring task failed: {e}")))?
    }

    /// One batch through the stream's detector, committed; the detector goes
    /// back in its slot only after a successful commit.
    fn commit(
        &self,
        conn: &mut Connection,
        slot: &mut Option<LoadedStream>,
        stream_id: &str,
        events: &[Event],
        batch_id: &str,
        source: Source<'_>,
    ) -> Result<BatchOutcome, ScoreError> {
        let (fields, origin) = match source {
            Source::Request(fields, max) => (
                fields,
                BatchOrigin {
                    queue_through: None,
                    max_state_bytes: max,
                },
            ),
            Source::Queue { through } => (
                None,
                BatchOrigin {
                    queue_through: Some(through),
                    max_state_bytes: None,
                },
            ),
        };
        let mut loaded = take_loaded(conn, self.factory(), slot, stream_id, fields)?;
        let outcome = process_batch(
            conn,
            &mut loaded,
            stream_id,
            events,
            batch_id,
            origin,
            &self.metrics,
        )?;
        *slot = Some(loaded);
        Ok(outcome)
    }
}

/// `calibrating`/`ready` and the events still needed.
pub fn status_parts(s: StreamStatus) -> (&'static str, u64) {
    match s {
        StreamStatus::Calibrating { events_needed } => ("calibrating", events_needed as u64),
        StreamStatus::Ready => ("ready", 0),
    }
}

/// The stream's row, created with the override's config if it does not exist.
/// An override that contradicts an existing stream's config is a 409.
pub fn ensure_stream(
    conn: &Connection,
    factory: &dyn DetectorFactory,
    stream_id: &str,
    fields: Option<&Map<String, Value>>,
) -> Result<StreamRow, ScoreError> {
    if let Some(row) = streams::get(conn, stream_id)? {
        check_override(stream_id, &row.config, fields)?;
        return Ok(row);
    }
    let config = config_from_override(fields)?;
    let detector = factory
        .create(stream_id, &config)
        .map_err(ScoreError::from)?;
    let (status, needed) = status_parts(detector.status());
    let now = time::now_rfc3339();
    let row = StreamRow {
        id: stream_id.to_string(),
        config,
        state: detector.save().map_err(internal)?,
        snapshot_seen: 0,
        size: StateSize::default(),
        events_seen: 0,
        status: status.to_string(),
        events_needed: needed,
        created_at: now.clone(),
        updated_at: now,
    };
    streams::insert_if_absent(conn, &row)?;
    // Another request may have created it first; the stored row is the truth.
    let stored = streams::get(conn, stream_id)?.ok_or_else(|| internal("stream vanished"))?;
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
) -> Result<LoadedStream, ScoreError> {
    if let Some(loaded) = slot.take() {
        if let Err(e) = check_override(stream_id, &loaded.config, fields) {
            *slot = Some(loaded);
            return Err(e);
        }
        return Ok(loaded);
    }
    let row = ensure_stream(conn, factory, stream_id, fields)?;
    let detector = persist::load(conn, factory, &row)?;
    Ok(LoadedStream {
        config: row.config,
        detector,
        events_seen: row.events_seen,
        size: row.size,
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

/// What a batch's commit needs to know of where it came from.
#[derive(Debug, Clone, Copy)]
pub struct BatchOrigin {
    /// The queue row a queued batch drains up to.
    pub queue_through: Option<i64>,
    /// A request's cap on the saved state.
    pub max_state_bytes: Option<u64>,
}

/// Scores `events` on a loaded stream and commits the outcome. On error the
/// caller must drop the slot's detector (it may be ahead of the store).
pub fn process_batch(
    conn: &mut Connection,
    loaded: &mut LoadedStream,
    stream_id: &str,
    events: &[Event],
    batch_id: &str,
    origin: BatchOrigin,
    metrics: &Metrics,
) -> Result<BatchOutcome, ScoreError> {
    let BatchOrigin {
        queue_through,
        max_state_bytes,
    } = origin;
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
        loaded.detector.push(&fresh).map_err(ScoreError::from)?
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
        let origin = Origin::Live {
            batch_id,
            events_seen_after_batch: events_seen,
        };
        // A held flag is reported after later events: its own event is the
        // one it carries, which may have come in an earlier request.
        let held = a.held_event.as_deref().cloned().map(|mut e| {
            e.stream_id = events[request_index].stream_id.clone();
            e
        });
        let event = held.as_ref().unwrap_or(&events[request_index]);
        let rec = AnomalyRecord::from_anomaly(&loaded.config, a, event, origin);
        out.push(ScoredAnomaly {
            request_index,
            record: rec,
        });
    }
    let status = loaded.detector.status();
    let (status_name, needed) = status_parts(status);
    let save = persist::plan(loaded, &fresh, max_state_bytes)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for a in &mut out {
        a.record.seq = anomalies::insert(&tx, &a.record)?;
    }
    for (j, &i) in fresh_index.iter().enumerate() {
        if let Some(k) = events[i].idempotency_key.as_deref() {
            streams::record_idempotency(&tx, stream_id, k, base + j as u64)?;
        }
    }
    let now = time::now_rfc3339();
    let progress = Progress {
        events_seen,
        status: status_name,
        events_needed: needed,
        at: &now,
    };
    let size = persist::write(&tx, stream_id, &save, base, loaded.size, &progress)?;
    if let Some(seq) = queue_through {
        queue::remove_through(&tx, stream_id, seq)?;
    }
    tx.commit()?;
    loaded.events_seen = events_seen;
    loaded.size = size;
    metrics.events_scored.inc_by(fresh.len() as u64);
    metrics.anomalies_found.inc_by(out.len() as u64);
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
        compressor: loaded.config.compressor.effective().as_str().to_string(),
    })
}
