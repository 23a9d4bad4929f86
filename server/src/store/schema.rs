//! Migrations, tracked with `PRAGMA user_version`. Each table family's DDL lives
//! next to its queries; a migration is a list of those statements.

use rusqlite::Connection;

use super::StoreError;

/// Migration `n` (1-based) brings the schema from version `n-1` to `n`.
fn migrations() -> Vec<Vec<&'static str>> {
    vec![vec![
        super::keys::SCHEMA,
        super::streams::SCHEMA,
        super::anomalies::SCHEMA,
        super::queue::SCHEMA,
        super::usage::SCHEMA,
    ]]
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
