//! `POST /v1/anomalies/export` (streaming bulk export) and
//! `POST /v1/anomalies/{id}/export` (one anomaly as JSON or Markdown).

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::anomalies::{Filters, load_visible};
use super::extract::{ApiJson, OptionalJson};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_batch::export;
use driftlock_batch::output::OutputFormat;
use driftlock_store::Store;
use driftlock_store::anomalies::AnomalyFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/anomalies/export", post(export_many))
        .route("/v1/anomalies/{id}/export", post(export_one))
}

/// A bulk export's format.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Ndjson,
    Csv,
    Parquet,
    /// An Arrow IPC file.
    Arrow,
}

impl From<ExportFormat> for OutputFormat {
    fn from(f: ExportFormat) -> OutputFormat {
        match f {
            ExportFormat::Ndjson => OutputFormat::Ndjson,
            ExportFormat::Csv => OutputFormat::Csv,
            ExportFormat::Parquet => OutputFormat::Parquet,
            ExportFormat::Arrow => OutputFormat::ArrowIpc,
        }
    }
}

/// A bulk export: the list's filters and a format.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Default `ndjson`.
    #[serde(default)]
    pub format: Option<ExportFormat>,
    pub stream_id: Option<String>,
    pub min_ncd: Option<f64>,
    pub max_p_value: Option<f64>,
    #[schema(value_type = Option<driftlock_store::record::AnomalyStatus>)]
    pub status: Option<String>,
    /// RFC 3339; anomalies at or after.
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; anomalies at or before.
    #[schema(format = DateTime)]
    pub until: Option<String>,
    pub has_evidence: Option<bool>,
}

/// Export anomalies matching the filters, streamed.
#[utoipa::path(post, path = "/v1/anomalies/export", tag = "anomalies", security(("api_key" = [])),
    request_body = ExportRequest,
    responses((status = 200, description = "The anomalies in the requested format", content(
            (String = "application/x-ndjson"), (String = "text/csv"),
            (String = "application/vnd.apache.parquet"), (String = "application/vnd.apache.arrow.file"))),
        (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "A stream key filtering on another stream")))]
pub async fn export_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<ExportRequest>,
) -> Result<Response, ApiError> {
    let format = OutputFormat::from(req.format.unwrap_or_default());
    let filter = Filters {
        stream_id: req.stream_id,
        min_ncd: req.min_ncd,
        max_p_value: req.max_p_value,
        status: req.status,
        since: req.since,
        until: req.until,
        has_evidence: req.has_evidence,
    }
    .resolve(&caller)?;
    let body = stream(state.store.clone(), filter, format);
    let disposition = format!("attachment; filename=\"anomalies.{}\"", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// One anomaly's export format (`md` is `markdown`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Json,
    Markdown,
    Md,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportOneRequest {
    /// Default `json`.
    #[serde(default)]
    pub format: Option<ReportFormat>,
}

/// Export one anomaly with its evidence, as JSON or a Markdown report.
#[utoipa::path(post, path = "/v1/anomalies/{id}/export", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = Option<ExportOneRequest>,
    responses((status = 200, description = "The anomaly, as JSON or a Markdown report", content(
            (driftlock_store::view::AnomalyDetail = "application/json"), (String = "text/markdown"))),
        (status = 404, body = super::ErrorBody)))]
pub async fn export_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<ExportOneRequest>,
) -> Result<Response, ApiError> {
    let format = req.format.unwrap_or_default();
    let detail = load_visible(&state, &caller, &id).await?;
    if format == ReportFormat::Json {
        return Ok(Json(detail).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.md\""),
            ),
        ],
        driftlock_batch::report::markdown(&detail),
    )
        .into_response())
}

/// Chunks of a streaming body: big enough to amortise the channel hand-off.
const CHUNK: usize = 64 * 1024;

/// A `Write` that sends chunks into the response body's channel.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A streaming response body with every anomaly matching `filter`: a blocking
/// task writes the export into a bounded channel, so a slow client slows it.
pub fn stream(store: Store, filter: AnomalyFilter, format: OutputFormat) -> Body {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = export::write(&store, &filter, format, ChannelWriter::new(tx)) {
            tracing::error!("export failed: {e}");
            let _ = err_tx.blocking_send(Err(io::Error::other("export failed")));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}
