//! `/v1/jobs` (admin): backfills of an archive folder or a single file into
//! the server's store, with progress, cancellation and cron schedules. Jobs
//! read server files, so they need an admin key (as `/v1/sql`), and only below
//! the configured archive roots.

use std::path::Path as FsPath;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::NaiveDate;
use driftlock_engine::{DetectorConfig, EngineError};
use serde::de;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::anomalies::{decode_token, next_page};
use super::extract::{ApiJson, ApiQuery};
use super::map_only::MapOnly;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::jobs::spec::{Columns, DEFAULT_BATCH_ROWS, JobSpec, MAX_BATCH_ROWS, Partition};
use crate::jobs::{CancelOutcome, scheduler};
use crate::state::AppState;
use driftlock_store::ids::random_hex;
use driftlock_store::jobs::{self, JobFilter, JobProgress, JobRow, JobStatus};
use driftlock_store::time;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job).delete(cancel_job))
}

/// The only kind of job so far.
pub const BACKFILL: &str = "backfill";

/// A job to run now, or on a schedule.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    /// `backfill` (the default and only kind).
    #[schema(value_type = Option<super::schemas::JobKind>)]
    pub kind: Option<String>,
    /// An archive folder (searched for `.parquet` files; Hive `date=YYYY-MM-DD`
    /// partitions welcome) or one input file (Parquet, Arrow IPC, CSV, NDJSON):
    /// relative to the first archive root, or absolute inside any root.
    pub path: Option<String>,
    /// First `date=` partition to read (YYYY-MM-DD), inclusive.
    #[schema(format = Date)]
    pub since: Option<String>,
    /// Last `date=` partition to read (YYYY-MM-DD), inclusive.
    #[schema(format = Date)]
    pub until: Option<String>,
    /// `all` (default) or `latest`: only the newest partition when a run starts.
    pub partition: Option<Partition>,
    /// Detector configuration (the fields of `config_override`).
    #[serde(default, deserialize_with = "super::integers::config")]
    #[schema(value_type = Option<super::schemas::ConfigOverride>)]
    pub config: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "columns")]
    pub columns: Option<Columns>,
    /// Skip rows that cannot become events instead of failing the job.
    pub skip_bad_rows: Option<bool>,
    /// Rows per read batch (default 8192); cancellation and progress happen
    /// between batches.
    #[serde(default, deserialize_with = "super::integers::optional")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub batch_rows: Option<usize>,
    /// A 5-field cron expression in UTC (e.g. `0 2 * * *`): the job becomes a
    /// schedule that starts a run at each time, instead of running now.
    pub schedule: Option<String>,
}

/// `columns` as an object or null: serde would also read the struct from an
/// array of its fields. Errors keep their path (`columns.bogus`).
fn columns<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Columns>, D::Error> {
    struct Optional;
    impl<'de> de::Visitor<'de> for Optional {
        type Value = Option<Columns>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            Columns::deserialize(MapOnly(d)).map(Some)
        }
    }
    d.deserialize_option(Optional)
}

/// A job, a schedule or a scheduled run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    pub id: String,
    #[schema(value_type = super::schemas::JobKind)]
    pub kind: String,
    /// A schedule stays `queued` (waiting for its next run) until cancelled.
    pub status: JobStatus,
    #[schema(value_type = JobSpec)]
    pub spec: Value,
    pub schedule: Option<String>,
    /// RFC 3339; a schedule's next run.
    pub next_run_at: Option<String>,
    /// The schedule that started this run.
    pub parent_id: Option<String>,
    /// A schedule's most recent run.
    pub last_run_id: Option<String>,
    pub rows_done: u64,
    /// Known when every input records its row count (Parquet).
    pub rows_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub files_done: u64,
    pub files_total: Option<u64>,
    /// Events scored (rows less skipped bad rows).
    pub events: u64,
    /// Anomalies found by the backfill, including earlier runs it resumed.
    pub anomaly_count: u64,
    /// Rows read per second by this run.
    pub rows_per_second: Option<f64>,
    /// Seconds left at this run's pace.
    pub eta_seconds: Option<f64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    pub cancel_requested: bool,
    /// Id of the key that created it.
    pub created_by: Option<String>,
}

impl From<JobRow> for Job {
    fn from(j: JobRow) -> Self {
        let JobProgress {
            rows_done,
            rows_total,
            bytes_done,
            bytes_total,
            files_done,
            files_total,
            events,
            anomaly_count,
            rows_per_second,
            eta_seconds,
        } = j.progress;
        Job {
            id: j.id,
            kind: j.kind,
            status: j.status,
            spec: j.spec,
            schedule: j.schedule,
            next_run_at: j.next_run_ms.map(time::format_ms),
            parent_id: j.parent_id,
            last_run_id: j.last_run_id,
            rows_done,
            rows_total,
            bytes_done,
            bytes_total,
            files_done,
            files_total,
            events,
            anomaly_count,
            rows_per_second,
            eta_seconds,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            error: j.error,
            cancel_requested: j.cancel_requested,
            created_by: j.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<Job>,
    pub next_page_token: Option<String>,
    pub total: u64,
}

fn date(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(d) if NaiveDate::parse_from_str(&d, "%Y-%m-%d").is_err() => Err(ApiError::field(
            field,
            format!("expected a YYYY-MM-DD date, got `{d}`"),
        )),
        other => Ok(other),
    }
}

fn detector_config(fields: Option<Map<String, Value>>) -> Result<DetectorConfig, ApiError> {
    let config: DetectorConfig = match fields {
        None => DetectorConfig::default(),
        Some(map) => serde_json::from_value(Value::Object(map))
            .map_err(|e| ApiError::field("config", e.to_string()))?,
    };
    config.validate().map_err(|e| match e {
        EngineError::Config { field, reason } => ApiError::field(format!("config.{field}"), reason),
        other => ApiError::field("config", other.to_string()),
    })?;
    Ok(config)
}

/// Checks everything but the path; returns the spec with `path` unresolved.
fn validate(req: CreateJobRequest) -> Result<(JobSpec, Option<(String, i64)>), ApiError> {
    if let Some(k) = &req.kind
        && k != BACKFILL
    {
        return Err(ApiError::field("kind", "must be `backfill`"));
    }
    let path = req
        .path
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::field("path", "required: an archive folder or file"))?;
    let since = date("since", req.since)?;
    let until = date("until", req.until)?;
    if let (Some(s), Some(u)) = (&since, &until)
        && s > u
    {
        return Err(ApiError::field("until", "is before `since`"));
    }
    let partition = req.partition.unwrap_or_default();
    if partition == Partition::Latest && (since.is_some() || until.is_some()) {
        return Err(ApiError::field(
            "partition",
            "`latest` picks one partition; leave out since and until",
        ));
    }
    let config = detector_config(req.config)?;
    let columns = req.columns.unwrap_or_default();
    columns
        .mapping()
        .map_err(|e| ApiError::field("columns.default_type", e))?;
    let batch_rows = req.batch_rows.unwrap_or(DEFAULT_BATCH_ROWS);
    if !(1..=MAX_BATCH_ROWS).contains(&batch_rows) {
        return Err(ApiError::field(
            "batch_rows",
            format!("must be between 1 and {MAX_BATCH_ROWS}"),
        ));
    }
    let schedule = match req.schedule {
        None => None,
        Some(s) => {
            let cron = scheduler::parse(&s).map_err(|e| ApiError::field("schedule", e))?;
            let next = scheduler::next_after(&cron, chrono::Utc::now())
                .ok_or_else(|| ApiError::field("schedule", "never fires"))?;
            Some((s.trim().to_owned(), next.timestamp_millis()))
        }
    };
    let spec = JobSpec {
        path,
        since,
        until,
        partition,
        config,
        columns,
        skip_bad_rows: req.skip_bad_rows.unwrap_or(false),
        batch_rows,
    };
    Ok((spec, schedule))
}

/// Start a backfill (or schedule one) (admin).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])),
    request_body = CreateJobRequest,
    responses((status = 202, body = Job, description = "Queued; poll GET /v1/jobs/{id}"),
        (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "Not an admin key, no archive roots configured, or a path outside them")))]
pub async fn create_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateJobRequest>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let jobs = state.jobs.clone();
    if jobs.roots().is_empty() {
        return Err(ApiError::Forbidden(
            "jobs are off: the server has no archive roots (start it with --archive-root DIR)"
                .into(),
        ));
    }
    let (mut spec, schedule) = validate(req)?;
    let roots = jobs.roots().clone();
    let asked = spec.path.clone();
    let resolved = tokio::task::spawn_blocking(move || roots.resolve(FsPath::new(&asked)))
        .await
        .map_err(ApiError::internal)?
        .map_err(|_| {
            ApiError::Forbidden(format!(
                "path `{}` is not an existing file or folder inside an archive root",
                spec.path
            ))
        })?;
    spec.path = resolved.display().to_string();
    let row = JobRow {
        seq: 0,
        id: format!("job_{}", random_hex(8)),
        kind: BACKFILL.to_owned(),
        status: JobStatus::Queued,
        parent_id: None,
        spec: serde_json::to_value(&spec).map_err(ApiError::internal)?,
        next_run_ms: schedule.as_ref().map(|(_, next)| *next),
        schedule: schedule.map(|(s, _)| s),
        last_run_id: None,
        created_by: Some(caller.key.id.clone()),
        created_at: time::now_rfc3339(),
        started_at: None,
        finished_at: None,
        progress: JobProgress::default(),
        error: None,
        cancel_requested: false,
    };
    let stored = jobs.submit(row).await?;
    let location = format!("/v1/jobs/{}", stored.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(Job::from(stored)),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_page_token` of the previous page.
    #[param(pattern = "^76313a(30|3[1-9](3[0-9]){0,17})$")]
    pub page_token: Option<String>,
    #[param(value_type = Option<JobStatus>, inline)]
    pub status: Option<String>,
    /// Only the runs of this schedule.
    pub parent_id: Option<String>,
}

/// List jobs, newest first (admin).
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    let status = q
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::field(
                "status",
                "must be queued, running, succeeded, failed or cancelled",
            )
        })?;
    let before = q.page_token.as_deref().map(decode_token).transpose()?;
    let filter = JobFilter {
        status,
        parent_id: q.parent_id,
    };
    let (mut rows, total) = state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let rows = jobs::list(&tx, &filter, before, limit as usize + 1)?;
            let total = jobs::count(&tx, &filter)?;
            tx.commit()?;
            Ok::<_, ApiError>((rows, total))
        })
        .await?;
    let next_page_token = next_page(&mut rows, limit as usize, |r| r.seq);
    Ok(Json(JobList {
        jobs: rows.into_iter().map(Job::from).collect(),
        next_page_token,
        total,
    }))
}

/// A job's status and progress (admin).
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    caller.require_admin()?;
    let key = id.clone();
    state
        .store
        .call(move |c| jobs::get(c, &key))
        .await?
        .map(|j| Json(Job::from(j)))
        .ok_or_else(|| ApiError::not_found(format!("no job `{id}`")))
}

/// Cancel a job (admin): a queued job or a schedule at once (200), a running
/// job at its next batch boundary (202; it then becomes `cancelled`).
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Job, description = "Cancelled"),
        (status = 202, body = Job, description = "Running; stops at its next batch boundary"),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "Already finished")))]
pub async fn cancel_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    match state.jobs.cancel(&id).await? {
        CancelOutcome::NotFound => Err(ApiError::not_found(format!("no job `{id}`"))),
        CancelOutcome::Finished(j) => Err(ApiError::Conflict(format!(
            "job `{id}` has already ended ({})",
            j.status.as_str()
        ))),
        CancelOutcome::Cancelled(j) => Ok((StatusCode::OK, Json(Job::from(j))).into_response()),
        CancelOutcome::Stopping(j) => {
            Ok((StatusCode::ACCEPTED, Json(Job::from(j))).into_response())
        }
    }
}
