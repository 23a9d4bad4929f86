//! `anomalies` (one row per reported anomaly, with its evidence; bulk exports
//! read it through [`super::flat_rows`]); the schema
//! also creates `feedback` (see [`super::feedback`]).
//! `seq` is monotonic: listings are keyset-paginated on it, newest first.

use driftlock_engine::Metrics;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::Value;

use super::StoreError;
pub use crate::anomaly_filter::AnomalyFilter;
pub use crate::record::{AnomalyRecord, AnomalyStatus};

pub(crate) const SCHEMA: &str = "
CREATE TABLE anomalies (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    stream_id         TEXT NOT NULL,
    position          INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    timestamp         TEXT NOT NULL,
    ts_ms             INTEGER NOT NULL,
    detected_at       TEXT NOT NULL,
    ncd               REAL NOT NULL,
    p_value           REAL NOT NULL,
    confidence        REAL NOT NULL,
    compression_ratio REAL NOT NULL,
    entropy_change    REAL NOT NULL,
    window_p_value    REAL,
    why               TEXT NOT NULL,
    compressor        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'new',
    event             TEXT NOT NULL,
    evidence          TEXT,
    has_evidence      INTEGER NOT NULL,
    batch_id          TEXT NOT NULL
);
CREATE INDEX anomalies_stream ON anomalies (stream_id, seq);
CREATE INDEX anomalies_position ON anomalies (stream_id, position);
CREATE INDEX anomalies_ts ON anomalies (ts_ms);
CREATE TABLE feedback (
    id            TEXT PRIMARY KEY,
    anomaly_id    TEXT NOT NULL REFERENCES anomalies (id),
    feedback_type TEXT NOT NULL,
    reason        TEXT,
    key_id        TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX feedback_anomaly ON feedback (anomaly_id);
";

/// Migration 3: the evidence's encoded form, nearest events and baseline
/// digest get columns of their own, which the flat exports read directly: JSON
/// extraction was most of an export's time. The evidence JSON keeps a `null`
/// in their place (so its key order survives) and reads fill them back in.
pub(crate) const EVIDENCE_COLUMNS: &str = "
ALTER TABLE anomalies ADD COLUMN encoded TEXT;
ALTER TABLE anomalies ADD COLUMN nearest TEXT;
ALTER TABLE anomalies ADD COLUMN baseline_digest TEXT;
UPDATE anomalies SET encoded = evidence ->> '$.encoded',
    evidence = json_replace(evidence, '$.encoded', NULL)
    WHERE json_type(evidence, '$.encoded') = 'text';
UPDATE anomalies SET nearest = evidence -> '$.nearest',
    evidence = json_replace(evidence, '$.nearest', NULL)
    WHERE json_type(evidence, '$.nearest') = 'array';
UPDATE anomalies SET baseline_digest = evidence ->> '$.baseline_digest',
    evidence = json_replace(evidence, '$.baseline_digest', NULL)
    WHERE json_type(evidence, '$.baseline_digest') = 'text';
";

/// Migration 4: the stream position of the event that reported each anomaly
/// (see [`AnomalyRecord::reported_at`]), which re-sent events are matched on,
/// and the index for that lookup in place of the one on `position`. NULL in
/// rows written before it means the same as `position`, except for change
/// points whose evidence names the reporting event (written since change
/// points were attributed to it), which take that.
pub(crate) const REPORTED_AT_COLUMN: &str = "
ALTER TABLE anomalies ADD COLUMN reported_at INTEGER;
UPDATE anomalies SET reported_at = evidence ->> '$.reported_at'
    WHERE kind = 'change_point' AND json_type(evidence, '$.reported_at') = 'integer';
DROP INDEX anomalies_position;
CREATE INDEX anomalies_reported_at ON anomalies (stream_id, COALESCE(reported_at, position));
";

const COLUMNS: &str =
    "seq, id, stream_id, position, kind, timestamp, ts_ms, detected_at, ncd, p_value,
    confidence, compression_ratio, entropy_change, window_p_value, why, compressor, status, event,
    evidence, has_evidence, batch_id, encoded, nearest, baseline_digest,
    COALESCE(reported_at, position)";

/// A row as read: the record and its JSON columns, parsed in [`finish`].
struct RawRow {
    record: AnomalyRecord,
    event: String,
    evidence: Option<String>,
    encoded: Option<String>,
    nearest: Option<String>,
    baseline_digest: Option<String>,
}

/// A text column parsed into its typed enum (a bad value is a conversion error).
fn parsed<T>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    r.get::<_, String>(i)?.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    let record = AnomalyRecord {
        seq: r.get(0)?,
        id: r.get(1)?,
        stream_id: r.get(2)?,
        position: r.get::<_, i64>(3)? as u64,
        kind: parsed(r, 4)?,
        timestamp: r.get(5)?,
        ts_ms: r.get(6)?,
        detected_at: r.get(7)?,
        metrics: Metrics {
            ncd: r.get(8)?,
            p_value: r.get(9)?,
            confidence: r.get(10)?,
            compression_ratio: r.get(11)?,
            entropy_change: r.get(12)?,
        },
        window_p_value: r.get(13)?,
        why: r.get(14)?,
        compressor: r.get(15)?,
        status: parsed(r, 16)?,
        event: Value::Null,
        evidence: None,
        has_evidence: r.get::<_, i64>(19)? != 0,
        batch_id: r.get(20)?,
        reported_at: r.get::<_, i64>(24)? as u64,
    };
    Ok(RawRow {
        record,
        event: r.get(17)?,
        evidence: r.get(18)?,
        encoded: r.get(21)?,
        nearest: r.get(22)?,
        baseline_digest: r.get(23)?,
    })
}

fn finish(row: RawRow) -> Result<AnomalyRecord, StoreError> {
    let mut rec = row.record;
    rec.event = serde_json::from_str(&row.event)?;
    rec.evidence = row
        .evidence
        .map(|e| serde_json::from_str::<Value>(&e))
        .transpose()?;
    if let Some(Value::Object(map)) = rec.evidence.as_mut() {
        // `insert` on the placeholder key keeps its position.
        if let Some(e) = row.encoded {
            map.insert("encoded".into(), Value::String(e));
        }
        if let Some(n) = row.nearest {
            map.insert("nearest".into(), serde_json::from_str(&n)?);
        }
        if let Some(d) = row.baseline_digest {
            map.insert("baseline_digest".into(), Value::String(d));
        }
    }
    Ok(rec)
}

/// The stored evidence JSON (with `null` placeholders) and the values moved
/// to their own columns (see [`EVIDENCE_COLUMNS`]).
struct SplitEvidence<'a> {
    rest: Option<String>,
    encoded: Option<&'a str>,
    nearest: Option<String>,
    baseline_digest: Option<&'a str>,
}

fn split_evidence(evidence: Option<&Value>) -> Result<SplitEvidence<'_>, StoreError> {
    let mut split = SplitEvidence {
        rest: None,
        encoded: None,
        nearest: None,
        baseline_digest: None,
    };
    let Some(evidence) = evidence else {
        return Ok(split);
    };
    let Value::Object(map) = evidence else {
        split.rest = Some(serde_json::to_string(evidence)?);
        return Ok(split);
    };
    let mut rest = map.clone();
    split.encoded = map.get("encoded").and_then(Value::as_str);
    split.baseline_digest = map.get("baseline_digest").and_then(Value::as_str);
    split.nearest = map
        .get("nearest")
        .filter(|v| v.is_array())
        .map(serde_json::to_string)
        .transpose()?;
    for (key, moved) in [
        ("encoded", split.encoded.is_some()),
        ("nearest", split.nearest.is_some()),
        ("baseline_digest", split.baseline_digest.is_some()),
    ] {
        if moved {
            rest.insert(key.into(), Value::Null);
        }
    }
    split.rest = Some(serde_json::to_string(&rest)?);
    Ok(split)
}

fn query(conn: &Connection, sql: &str, args: Vec<Sql>) -> Result<Vec<AnomalyRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args), from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(finish(row?)?);
    }
    Ok(out)
}

/// Inserts an anomaly and returns its `seq`.
pub fn insert(conn: &Connection, a: &AnomalyRecord) -> Result<i64, StoreError> {
    write(conn, a, "INSERT")?;
    Ok(conn.last_insert_rowid())
}

/// Inserts an anomaly unless one with its id exists (replayed backfills); returns
/// whether a row was added.
pub fn insert_or_ignore(conn: &Connection, a: &AnomalyRecord) -> Result<bool, StoreError> {
    Ok(write(conn, a, "INSERT OR IGNORE")? == 1)
}

fn write(conn: &Connection, a: &AnomalyRecord, verb: &str) -> Result<usize, StoreError> {
    let evidence = split_evidence(a.evidence.as_ref())?;
    conn.prepare_cached(&format!(
        "{verb} INTO anomalies (id, stream_id, position, kind, timestamp, ts_ms, detected_at, ncd,
         p_value, confidence, compression_ratio, entropy_change, window_p_value, why, compressor,
         status, event, evidence, has_evidence, batch_id, encoded, nearest, baseline_digest,
         reported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
         ?19, ?20, ?21, ?22, ?23, ?24)"
    ))?
    .execute(params![
        a.id,
        a.stream_id,
        a.position as i64,
        a.kind.as_str(),
        a.timestamp,
        a.ts_ms,
        a.detected_at,
        a.metrics.ncd,
        a.metrics.p_value,
        a.metrics.confidence,
        a.metrics.compression_ratio,
        a.metrics.entropy_change,
        a.window_p_value,
        a.why,
        a.compressor,
        a.status.as_str(),
        serde_json::to_string(&a.event)?,
        evidence.rest,
        a.has_evidence as i64,
        a.batch_id,
        evidence.encoded,
        evidence.nearest,
        evidence.baseline_digest,
        a.reported_at as i64,
    ])
    .map_err(StoreError::from)
}

/// Up to `limit` anomalies matching `filter` with `seq < before_seq`, newest first.
pub fn list(
    conn: &Connection,
    filter: &AnomalyFilter,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<AnomalyRecord>, StoreError> {
    list_columns(conn, COLUMNS, filter, before_seq, limit)
}

/// As [`list`], without reading the evidence (`evidence` is `None`).
pub fn list_summaries(
    conn: &Connection,
    filter: &AnomalyFilter,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<AnomalyRecord>, StoreError> {
    let columns = COLUMNS.replace(" evidence, has_evidence", " NULL, has_evidence");
    debug_assert_ne!(columns, COLUMNS);
    list_columns(conn, &columns, filter, before_seq, limit)
}

fn list_columns(
    conn: &Connection,
    columns: &str,
    filter: &AnomalyFilter,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<AnomalyRecord>, StoreError> {
    let (clause, mut args) = filter.sql(before_seq);
    args.push(Sql::Integer(limit as i64));
    query(
        conn,
        &format!("SELECT {columns} FROM anomalies{clause} ORDER BY seq DESC LIMIT ?"),
        args,
    )
}

/// How many anomalies match `filter`.
pub fn count(conn: &Connection, filter: &AnomalyFilter) -> Result<u64, StoreError> {
    let (clause, args) = filter.sql(None);
    let mut stmt = conn.prepare_cached(&format!("SELECT COUNT(*) FROM anomalies{clause}"))?;
    Ok(stmt.query_row(params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
}

/// Every anomaly ever recorded (the `anomalies_found` metric after a restart).
pub fn max_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM anomalies", [], |r| {
            r.get(0)
        })?,
    )
}

/// The oldest stored anomaly's `seq` (1 when there is none).
pub fn min_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MIN(seq), 1) FROM anomalies", [], |r| {
            r.get(0)
        })?,
    )
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<AnomalyRecord>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM anomalies WHERE id = ?1"))?;
    stmt.query_row([id], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

/// [`at_positions`]' condition: the expression of the `anomalies_reported_at`
/// index, so that the lookup uses it.
const AT_POSITION: &str = "stream_id = ? AND COALESCE(reported_at, position) = ?";

/// The anomalies reported by the events at these stream positions (what
/// their scoring returned): a change point is found by the event that
/// reported it, not the one where it began.
pub fn at_positions(
    conn: &Connection,
    stream_id: &str,
    positions: &[u64],
) -> Result<Vec<AnomalyRecord>, StoreError> {
    let mut out = Vec::new();
    for &p in positions {
        out.extend(query(
            conn,
            &format!("SELECT {COLUMNS} FROM anomalies WHERE {AT_POSITION} ORDER BY seq"),
            vec![Sql::Text(stream_id.to_string()), Sql::Integer(p as i64)],
        )?);
    }
    Ok(out)
}

/// Sets the status; false when there is no such anomaly.
pub fn set_status(conn: &Connection, id: &str, status: AnomalyStatus) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE anomalies SET status = ?2 WHERE id = ?1",
        params![id, status.as_str()],
    )? == 1)
}

/// Deletes every anomaly of one batch (`batch_id`), with its feedback and
/// incident state: a backfill that starts over in another order removes
/// what its first pass wrote. Returns how many anomalies went.
pub fn delete_batch(conn: &Connection, batch_id: &str) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM feedback WHERE anomaly_id IN (SELECT id FROM anomalies WHERE batch_id = ?1)",
        params![batch_id],
    )?;
    Ok(conn.execute(
        "DELETE FROM anomalies WHERE batch_id = ?1",
        params![batch_id],
    )?)
}

#[cfg(test)]
mod tests {
    use driftlock_engine::AnomalyKind;

    use super::*;
    use crate::Store;

    #[test]
    fn the_reporting_position_lookup_uses_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), Default::default()).unwrap();
        let plan: Vec<String> = store
            .with_conn(|c| {
                let mut stmt = c.prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM anomalies WHERE {AT_POSITION} \
                     ORDER BY seq"
                ))?;
                let rows = stmt.query_map(params!["s", 1], |r| r.get::<_, String>(3))?;
                Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        // One search of the index on both its columns, in `seq` order (no
        // sort step).
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(
            plan[0].starts_with("SEARCH anomalies USING INDEX anomalies_reported_at (")
                && plan[0].contains("stream_id=? AND <expr>=?"),
            "{plan:?}"
        );
    }

    #[test]
    fn insert_writes_the_reporting_position() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), Default::default()).unwrap();
        let record = AnomalyRecord {
            seq: 0,
            id: "anom_cp".into(),
            stream_id: "s".into(),
            position: 100,
            kind: AnomalyKind::ChangePoint,
            timestamp: "2025-01-01T00:00:00.000Z".into(),
            ts_ms: 0,
            detected_at: "2025-01-01T00:00:00.000Z".into(),
            metrics: Metrics {
                ncd: 0.5,
                p_value: 0.01,
                confidence: 0.99,
                compression_ratio: 2.0,
                entropy_change: 0.1,
            },
            window_p_value: Some(0.01),
            why: "w".into(),
            compressor: "zstd".into(),
            status: AnomalyStatus::New,
            event: serde_json::json!({"body": {}}),
            evidence: None,
            has_evidence: false,
            batch_id: "b".into(),
            reported_at: 114,
        };
        let (stored, got): (Option<i64>, _) = store
            .with_conn(|c| {
                let seq = insert(c, &record)?;
                let stored = c.query_row(
                    "SELECT reported_at FROM anomalies WHERE seq = ?1",
                    [seq],
                    |r| r.get(0),
                )?;
                Ok::<_, StoreError>((stored, get(c, "anom_cp")?.unwrap()))
            })
            .unwrap();
        assert_eq!(stored, Some(114));
        assert_eq!(
            got,
            AnomalyRecord {
                seq: got.seq,
                ..record
            }
        );
        let ids = |p: u64| -> Vec<String> {
            store
                .with_conn(|c| at_positions(c, "s", &[p]))
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        assert_eq!(ids(114), ["anom_cp"]);
        assert!(ids(100).is_empty());
    }
}
