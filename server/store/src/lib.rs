//! Driftlock's embedded store: SQLite in WAL mode behind [`Store`], a small pool
//! of connections whose every call runs on a blocking thread ([`Store::call`]) so
//! the async runtime never waits on disk.
//!
//! One file per table family ([`anomalies`], with its [`anomaly_filter`],
//! [`feedback`], [`jobs`], [`keys`], [`queue`], [`streams`], [`usage`]);
//! [`schema`] applies migrations; [`dir_lock`] keeps one writing process per
//! data directory. A stored
//! anomaly is built in one place, [`record`], for the API, the worker and
//! backfills alike; [`view`] is how users read it back and [`flat_row`] its
//! flat-schema row. [`ids`] and [`time`] sit at the bottom of the graph.

pub mod anomalies;
pub mod anomaly_filter;
pub mod dir_lock;
pub mod feedback;
pub mod flat_row;
pub mod flat_rows;
pub mod ids;
pub mod incidents;
pub mod jobs;
pub mod keys;
pub mod queue;
pub mod record;
pub mod schema;
pub mod streams;
pub mod time;
pub mod usage;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// How SQLite syncs commits (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync on every commit: a 202 survives power loss.
    #[default]
    Full,
    /// WAL-safe against process crashes; a power loss may drop the last commits.
    Normal,
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
    #[error("database schema version {found} is newer than this binary's {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("{0}")]
    Corrupt(String),
    #[error("data directory {dir} is in use by another driftlock process ({}); stop it or use another directory", holder_text(.holder))]
    Locked { dir: String, holder: Option<u32> },
}

fn holder_text(pid: &Option<u32>) -> String {
    pid.map_or_else(|| "PID unknown".to_string(), |p| format!("PID {p}"))
}

const IDLE_CONNECTIONS: usize = 8;

struct Inner {
    path: PathBuf,
    sync: SyncMode,
    idle: Mutex<Vec<Connection>>,
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, sync: SyncMode) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                sync,
                idle: Mutex::new(Vec::new()),
            }),
        };
        store.with_conn::<_, StoreError>(schema::migrate)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open(&self.inner.path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match self.inner.sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection on the current thread (blocking).
    pub fn with_conn<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let pooled = self
            .inner
            .idle
            .lock()
            .map_err(|_| E::from(poisoned()))?
            .pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().map_err(E::from)?,
        };
        let out = f(&mut conn);
        // A connection left inside a transaction (a panic in `f` aside, which
        // drops it) is not returned to the pool.
        if conn.is_autocommit() {
            let mut idle = self.inner.idle.lock().map_err(|_| E::from(poisoned()))?;
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
        out
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with_conn(f))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// `SELECT 1`: whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(|c| Ok::<_, StoreError>(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }
}

fn poisoned() -> StoreError {
    StoreError::Task("connection pool lock poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_mode_and_pools() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/db.sqlite"), SyncMode::Normal).unwrap();
        let mode: String = store
            .with_conn(|c| {
                Ok::<_, StoreError>(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        // Reopening applies no migration twice.
        drop(store);
        Store::open(&dir.path().join("sub/db.sqlite"), SyncMode::Normal).unwrap();
    }
}
