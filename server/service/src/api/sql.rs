//! `POST /v1/sql` (admin): a read-only DataFusion query over the store's
//! anomalies, answered as JSON rows, with a row limit, run on the SQL pool
//! (its own runtime, memory pool and deadline; see [`crate::sql_pool`]).

use axum::routing::post;
use axum::{Extension, Json, Router, extract::State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::extract::ApiJson;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_batch::sql::tables::{AnomalySource, Tables, session_within};
use driftlock_batch::sql::{output, query_limited};

/// Rows returned when the request names no limit, and the most it may name.
pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/sql", post(run_sql))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlRequest {
    /// One read-only statement over the table `anomalies`.
    #[schema(
        pattern = "\\S",
        example = "SELECT stream_id, count(*) AS n FROM anomalies GROUP BY stream_id"
    )]
    pub query: String,
    /// Most rows returned (default 1000).
    #[serde(default, deserialize_with = "super::integers::optional")]
    #[schema(minimum = 1, maximum = 10_000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SqlResponse {
    pub columns: Vec<Column>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
    pub row_count: usize,
    /// More rows matched than `limit`.
    pub truncated: bool,
}

/// Run a read-only SQL query over the stored anomalies (admin).
#[utoipa::path(post, path = "/v1/sql", tag = "sql", security(("api_key" = [])),
    request_body = SqlRequest,
    responses((status = 200, body = SqlResponse),
        (status = 400, body = super::ErrorBody, description = "Not one read-only statement, an unknown table or column, or a limit out of range"),
        (status = 403, body = super::ErrorBody, description = "Not an admin key"),
        (status = 503, body = super::ErrorBody, description = "Every SQL slot and queue place is taken"),
        (status = 504, body = super::ErrorBody, description = "The query ran past its deadline and was stopped")))]
pub async fn run_sql(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SqlRequest>,
) -> Result<Json<SqlResponse>, ApiError> {
    caller.require_admin()?;
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if req.query.trim().is_empty() {
        return Err(ApiError::field("query", "must not be empty"));
    }
    let tables = Tables {
        events: None,
        anomalies: Some(AnomalySource::Store(state.store.clone())),
    };
    // The pool's own deadline answers first; this one only stops a query
    // that a caller outside the pool would run.
    let timeout = state.sql.config().timeout();
    let query = req.query.clone();
    let (schema, batches, truncated) = state
        .sql
        .run(move |limits| async move {
            let ctx = session_within(&tables, &limits).await?;
            let (batches, truncated) = query_limited(&ctx, &query, limit, timeout).await?;
            let schema = match batches.first() {
                Some(b) => b.schema(),
                // No rows: plan again for the column names (cheap, nothing runs).
                None => {
                    let df =
                        driftlock_batch::sql::plan(&ctx, &query, driftlock_batch::sql::read_only())
                            .await?;
                    std::sync::Arc::new(df.schema().as_arrow().clone())
                }
            };
            Ok((schema, batches, truncated))
        })
        .await?;
    let columns = schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect();
    let rows = output::json_rows(&batches)?;
    Ok(Json(SqlResponse {
        row_count: rows.len(),
        columns,
        rows,
        truncated,
    }))
}
