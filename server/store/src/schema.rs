//! Migrations, tracked with `PRAGMA user_version`. Each table family's DDL lives
//! next to its queries; a migration is a list of those statements.

use rusqlite::Connection;

use super::StoreError;

/// Migration `n` (1-based) brings the schema from version `n-1` to `n`.
/// Released migrations never change; new tables come in a new one.
fn migrations() -> Vec<Vec<&'static str>> {
    vec![
        vec![
            super::keys::SCHEMA,
            super::streams::SCHEMA,
            super::anomalies::SCHEMA,
            super::queue::SCHEMA,
            super::usage::SCHEMA,
        ],
        vec![super::jobs::SCHEMA],
        vec![super::anomalies::EVIDENCE_COLUMNS],
        vec![super::anomalies::REPORTED_AT_COLUMN],
        vec![super::incidents::SCHEMA],
        vec![super::streams::STATE_LOG],
    ]
}

/// Applies every migration the database has not seen, each in a transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let all = migrations();
    let supported = all.len() as i64;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (i, statements) in all.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated since the first read.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > i as i64 {
            continue;
        }
        for sql in statements {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Store, anomalies};

    /// Applies the first `version` migrations, as a database of that version.
    fn migrate_to(tx: &rusqlite::Transaction<'_>, version: usize) {
        for statements in &migrations()[..version] {
            for sql in statements {
                tx.execute_batch(sql).unwrap();
            }
        }
        tx.pragma_update(None, "user_version", version as i64)
            .unwrap();
    }

    #[test]
    fn migration_3_moves_evidence_values_to_columns_losslessly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let evidence = json!({
            "config": {"seed": 1},
            "compressor": "zstd",
            "baseline_digest": "ab",
            "encoded": "x \"q\" é\n\u{1}",
            "nearest": [{"index": 3, "ncd": 1e-7, "encoded": "y"}],
            "window_p_value": null,
        });
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            migrate_to(&tx, 2);
            for (id, ev) in [("a1", Some(evidence.to_string())), ("a2", None)] {
                tx.execute(
                    "INSERT INTO anomalies (id, stream_id, position, kind, timestamp, ts_ms,
                     detected_at, ncd, p_value, confidence, compression_ratio, entropy_change, why,
                     compressor, event, evidence, has_evidence, batch_id)
                     VALUES (?1, 's', 1, 'event', 't', 0, 't', 0.5, 0.01, 0.99, 2.0, 0.1, 'w',
                     'zstd', '{}', ?2, 1, 'b')",
                    rusqlite::params![id, ev],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let store = Store::open(&path, Default::default()).unwrap();
        let got = store
            .with_conn(|c| anomalies::get(c, "a1"))
            .unwrap()
            .unwrap();
        // The same values in the same key order.
        assert_eq!(
            serde_json::to_string(&got.evidence).unwrap(),
            serde_json::to_string(&Some(&evidence)).unwrap()
        );
        let (stored, encoded, nearest): (String, String, String) = store
            .with_conn(|c| {
                Ok::<_, StoreError>(c.query_row(
                    "SELECT evidence, encoded, nearest FROM anomalies WHERE id = 'a1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .unwrap();
        assert!(stored.contains("\"encoded\":null"), "{stored}");
        assert!(!stored.contains("1e-7"), "{stored}");
        assert_eq!(encoded, "x \"q\" é\n\u{1}");
        assert_eq!(nearest, r#"[{"index":3,"ncd":1e-7,"encoded":"y"}]"#);
        let bare = store
            .with_conn(|c| anomalies::get(c, "a2"))
            .unwrap()
            .unwrap();
        assert_eq!(bare.evidence, None);
    }

    #[test]
    fn migration_4_gives_change_points_their_reporting_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            migrate_to(&tx, 3);
            // An event anomaly; a change point begun at 100 and reported by
            // event 114 (its evidence says so); one from before the evidence
            // named the reporting event; one without evidence.
            for (id, position, kind, evidence) in [
                (
                    "e",
                    5,
                    "event",
                    Some(json!({"stream_position": 5, "reported_at": 5})),
                ),
                (
                    "c",
                    100,
                    "change_point",
                    Some(json!({"stream_position": 100, "reported_at": 114})),
                ),
                (
                    "old",
                    40,
                    "change_point",
                    Some(json!({"stream_position": 40})),
                ),
                ("bare", 60, "change_point", None),
            ] {
                tx.execute(
                    "INSERT INTO anomalies (id, stream_id, position, kind, timestamp, ts_ms,
                     detected_at, ncd, p_value, confidence, compression_ratio, entropy_change, why,
                     compressor, event, evidence, has_evidence, batch_id)
                     VALUES (?1, 's', ?2, ?3, 't', 0, 't', 0.5, 0.01, 0.99, 2.0, 0.1, 'w',
                     'zstd', '{}', ?4, 1, 'b')",
                    rusqlite::params![id, position, kind, evidence.map(|e| e.to_string())],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let store = Store::open(&path, Default::default()).unwrap();
        let version: i64 = store
            .with_conn(|c| {
                Ok::<_, StoreError>(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(version, migrations().len() as i64, "every migration ran");
        // Only the change point whose reporting event differs from its start
        // gets a value; NULL means "at `position`".
        let column: Vec<(String, Option<i64>)> = store
            .with_conn(|c| {
                let mut stmt = c.prepare("SELECT id, reported_at FROM anomalies ORDER BY seq")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(
            column,
            [
                ("e".to_string(), None),
                ("c".to_string(), Some(114)),
                ("old".to_string(), None),
                ("bare".to_string(), None),
            ]
        );
        for (id, reported_at) in [("e", 5), ("c", 114), ("old", 40), ("bare", 60)] {
            let got = store.with_conn(|c| anomalies::get(c, id)).unwrap().unwrap();
            assert_eq!(got.reported_at, reported_at, "{id}");
        }
        let ids_at = |p: u64| -> Vec<String> {
            store
                .with_conn(|c| anomalies::at_positions(c, "s", &[p]))
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        assert_eq!(ids_at(5), ["e"]);
        assert_eq!(ids_at(114), ["c"]);
        assert!(ids_at(100).is_empty());
        assert_eq!(ids_at(40), ["old"]);
        assert_eq!(ids_at(60), ["bare"]);
    }

    #[test]
    fn migration_6_moves_the_detector_to_a_snapshot_with_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            migrate_to(&tx, 5);
            tx.execute(
                "INSERT INTO streams (id, config, state, events_seen, status, events_needed,
                 created_at, updated_at) VALUES ('s', '{}', '{\"seen\":7}', 7, 'ready', 0, 't', 't')",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path, Default::default()).unwrap();
        let row = store
            .with_conn(|c| crate::streams::get(c, "s"))
            .unwrap()
            .unwrap();
        assert_eq!(row.state, r#"{"seen":7}"#);
        assert_eq!((row.snapshot_seen, row.events_seen), (7, 7));
        assert_eq!(row.size.snapshot_bytes, row.state.len() as u64);
        assert_eq!((row.size.log_bytes, row.size.log_events), (0, 0));
        assert!(
            store
                .with_conn(|c| crate::streams::log(c, "s"))
                .unwrap()
                .is_empty()
        );
    }
}
