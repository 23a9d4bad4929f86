//! `jobs`: server-side backfills, their progress, and cron schedules.
//!
//! A job with a `schedule` is a definition: it stays `queued` (waiting for its
//! next run) until cancelled, and each time it fires the scheduler inserts a
//! run, an ordinary job whose `parent_id` names the definition. A running job
//! belongs to the server instance named in `runner`; its writes are
//! conditional on that, so an instance that lost a job (marked interrupted by a
//! newer one on the same database) cannot overwrite the verdict.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::Value;

use super::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    parent_id        TEXT,
    spec             TEXT NOT NULL,
    schedule         TEXT,
    next_run_ms      INTEGER,
    last_run_id      TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    rows_done        INTEGER NOT NULL DEFAULT 0,
    rows_total       INTEGER,
    bytes_done       INTEGER NOT NULL DEFAULT 0,
    bytes_total      INTEGER,
    files_done       INTEGER NOT NULL DEFAULT 0,
    files_total      INTEGER,
    events           INTEGER NOT NULL DEFAULT 0,
    anomaly_count    INTEGER NOT NULL DEFAULT 0,
    rows_per_second  REAL,
    eta_seconds      REAL,
    error            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runner           TEXT
);
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_parent ON jobs (parent_id, seq);
CREATE INDEX jobs_next_run ON jobs (next_run_ms) WHERE next_run_ms IS NOT NULL;
";

/// Where a job stands. A scheduled job stays `queued` between its runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl std::str::FromStr for JobStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        JobStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job status `{s}`")))
    }
}

/// Where a run stands; totals are `None` until the run has listed its input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobProgress {
    pub rows_done: u64,
    /// `None` also when an input format does not record its row count.
    pub rows_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub files_done: u64,
    pub files_total: Option<u64>,
    pub events: u64,
    pub anomaly_count: u64,
    pub rows_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// Insertion number (the pagination key).
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub status: JobStatus,
    /// The scheduled job that started this run.
    pub parent_id: Option<String>,
    /// What to run (`jobs::spec::JobSpec` as JSON).
    pub spec: Value,
    pub schedule: Option<String>,
    pub next_run_ms: Option<i64>,
    pub last_run_id: Option<String>,
    /// The key that created it.
    pub created_by: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub progress: JobProgress,
    pub error: Option<String>,
    pub cancel_requested: bool,
}

impl JobRow {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// The `GET /v1/jobs` filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub parent_id: Option<String>,
}

impl JobFilter {
    fn sql(&self, before_seq: Option<i64>) -> (String, Vec<Sql>) {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = self.status {
            clauses.push("status = ?");
            args.push(Sql::Text(s.as_str().to_owned()));
        }
        if let Some(p) = &self.parent_id {
            clauses.push("parent_id = ?");
            args.push(Sql::Text(p.clone()));
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

const COLUMNS: &str = "seq, id, kind, status, parent_id, spec, schedule, next_run_ms, last_run_id,
    created_by, created_at, started_at, finished_at, rows_done, rows_total, bytes_done, bytes_total,
    files_done, files_total, events, anomaly_count, rows_per_second, eta_seconds, error,
    cancel_requested";

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|n| n.max(0) as u64)
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JobRow, String)> {
    Ok((
        JobRow {
            seq: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            status: r.get::<_, String>(3)?.parse().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            parent_id: r.get(4)?,
            spec: Value::Null,
            schedule: r.get(6)?,
            next_run_ms: r.get(7)?,
            last_run_id: r.get(8)?,
            created_by: r.get(9)?,
            created_at: r.get(10)?,
            started_at: r.get(11)?,
            finished_at: r.get(12)?,
            progress: JobProgress {
                rows_done: r.get::<_, i64>(13)?.max(0) as u64,
                rows_total: opt_u64(r.get(14)?),
                bytes_done: r.get::<_, i64>(15)?.max(0) as u64,
                bytes_total: opt_u64(r.get(16)?),
                files_done: r.get::<_, i64>(17)?.max(0) as u64,
                files_total: opt_u64(r.get(18)?),
                events: r.get::<_, i64>(19)?.max(0) as u64,
                anomaly_count: r.get::<_, i64>(20)?.max(0) as u64,
                rows_per_second: r.get(21)?,
                eta_seconds: r.get(22)?,
            },
            error: r.get(23)?,
            cancel_requested: r.get::<_, i64>(24)? != 0,
        },
        r.get(5)?,
    ))
}

fn query(conn: &Connection, sql: &str, args: Vec<Sql>) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args), from_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut job, spec) = row?;
        job.spec = serde_json::from_str(&spec)?;
        out.push(job);
    }
    Ok(out)
}

pub fn insert(conn: &Connection, j: &JobRow) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO jobs (id, kind, status, parent_id, spec, schedule, next_run_ms, created_by,
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        j.id,
        j.kind,
        j.status.as_str(),
        j.parent_id,
        serde_json::to_string(&j.spec)?,
        j.schedule,
        j.next_run_ms,
        j.created_by,
        j.created_at,
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<JobRow>, StoreError> {
    Ok(query(
        conn,
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?"),
        vec![Sql::Text(id.to_owned())],
    )?
    .pop())
}

/// Up to `limit` jobs matching `filter` with `seq < before_seq`, newest first.
pub fn list(
    conn: &Connection,
    filter: &JobFilter,
    before_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<JobRow>, StoreError> {
    let (clause, mut args) = filter.sql(before_seq);
    args.push(Sql::Integer(limit as i64));
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM jobs{clause} ORDER BY seq DESC LIMIT ?"),
        args,
    )
}

pub fn count(conn: &Connection, filter: &JobFilter) -> Result<u64, StoreError> {
    let (clause, args) = filter.sql(None);
    let mut stmt = conn.prepare_cached(&format!("SELECT COUNT(*) FROM jobs{clause}"))?;
    Ok(stmt.query_row(params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
}

/// The oldest queued runs (not schedule definitions), oldest first.
pub fn queued(conn: &Connection, limit: usize) -> Result<Vec<JobRow>, StoreError> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM jobs WHERE status = 'queued' AND schedule IS NULL
             ORDER BY seq LIMIT ?"
        ),
        vec![Sql::Integer(limit as i64)],
    )
}

/// Moves a queued job to `running` under `runner`; false when it is no longer
/// queued (cancelled meanwhile).
pub fn claim(conn: &Connection, id: &str, runner: &str, at: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE jobs SET status = 'running', runner = ?2, started_at = ?3, finished_at = NULL,
         error = NULL WHERE id = ?1 AND status = 'queued' AND schedule IS NULL",
        params![id, runner, at],
    )? == 1)
}

fn progress_args(p: &JobProgress) -> [Sql; 10] {
    let int = |v: u64| Sql::Integer(v.min(i64::MAX as u64) as i64);
    let opt = |v: Option<u64>| v.map_or(Sql::Null, int);
    let real = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(Sql::Null, Sql::Real);
    [
        int(p.rows_done),
        opt(p.rows_total),
        int(p.bytes_done),
        opt(p.bytes_total),
        int(p.files_done),
        opt(p.files_total),
        int(p.events),
        int(p.anomaly_count),
        real(p.rows_per_second),
        real(p.eta_seconds),
    ]
}

const SET_PROGRESS: &str = "rows_done = ?, rows_total = ?, bytes_done = ?, bytes_total = ?,
    files_done = ?, files_total = ?, events = ?, anomaly_count = ?, rows_per_second = ?,
    eta_seconds = ?";

/// Records a running job's progress; false when `runner` no longer owns it.
pub fn save_progress(
    conn: &Connection,
    id: &str,
    runner: &str,
    p: &JobProgress,
) -> Result<bool, StoreError> {
    let mut args = progress_args(p).to_vec();
    args.extend([Sql::Text(id.to_owned()), Sql::Text(runner.to_owned())]);
    let sql = format!(
        "UPDATE jobs SET {SET_PROGRESS} WHERE id = ? AND runner = ? AND status = 'running'"
    );
    Ok(conn.prepare_cached(&sql)?.execute(params_from_iter(args))? == 1)
}

/// Ends a run: `succeeded`, `failed` or `cancelled`, or back to `queued` (a
/// graceful shutdown; it resumes from its checkpoint on the next start).
pub fn finish(
    conn: &Connection,
    id: &str,
    runner: &str,
    status: JobStatus,
    at: &str,
    p: &JobProgress,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    let requeue = status == JobStatus::Queued;
    let mut args = progress_args(p).to_vec();
    args.extend([
        Sql::Text(status.as_str().to_owned()),
        if requeue {
            Sql::Null
        } else {
            Sql::Text(at.to_owned())
        },
        error.map_or(Sql::Null, |e| Sql::Text(e.to_owned())),
        Sql::Text(id.to_owned()),
        Sql::Text(runner.to_owned()),
    ]);
    let sql = format!(
        "UPDATE jobs SET {SET_PROGRESS}, status = ?, finished_at = ?, error = ?, runner = NULL
         {} WHERE id = ? AND runner = ? AND status = 'running'",
        if requeue { ", started_at = NULL" } else { "" }
    );
    Ok(conn.prepare_cached(&sql)?.execute(params_from_iter(args))? == 1)
}

/// Cancels a queued job or schedule; false when it is not queued.
pub fn cancel_queued(conn: &Connection, id: &str, at: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?2, next_run_ms = NULL,
         cancel_requested = 1 WHERE id = ?1 AND status = 'queued'",
        params![id, at],
    )? == 1)
}

/// Flags a running job for cancellation; false when it is not running.
pub fn request_cancel(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'",
        [id],
    )? == 1)
}

/// Start-up: jobs still `running` belonged to a process that is gone.
pub fn fail_interrupted(conn: &Connection, at: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE jobs SET status = 'failed', finished_at = ?1, runner = NULL, eta_seconds = NULL,
         error = 'interrupted by restart; submit the job again to resume from its checkpoint'
         WHERE status = 'running'",
        [at],
    )?)
}

/// Schedules due at `now_ms`.
pub fn due(conn: &Connection, now_ms: i64) -> Result<Vec<JobRow>, StoreError> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM jobs WHERE status = 'queued' AND schedule IS NOT NULL
             AND next_run_ms <= ? ORDER BY next_run_ms, seq"
        ),
        vec![Sql::Integer(now_ms)],
    )
}

/// After a schedule fired: its next time and the run it started.
pub fn set_next_run(
    conn: &Connection,
    id: &str,
    next_run_ms: Option<i64>,
    last_run_id: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE jobs SET next_run_ms = ?2, last_run_id = ?3 WHERE id = ?1",
        params![id, next_run_ms, last_run_id],
    )?;
    Ok(())
}

/// The earliest time an active schedule fires.
pub fn earliest_next_run(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT MIN(next_run_ms) FROM jobs WHERE status = 'queued' AND next_run_ms IS NOT NULL",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}
