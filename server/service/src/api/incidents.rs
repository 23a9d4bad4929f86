//! Incidents: a stream's anomalies grouped by the detector (see
//! `driftlock_engine::incident`), listed with the anomalies' filters and
//! cursor, each named by the anomaly that opened it.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::anomalies::{ListQuery, Page, next_page};
use super::extract::ApiQuery;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::incidents::{self, IncidentRecord};
use driftlock_store::record::AnomalyStatus;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/incidents", get(list_incidents))
        .route("/v1/incidents/{id}", get(get_incident))
}

/// An incident as users read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Incident {
    /// The id of the anomaly that opened it (`GET /v1/anomalies/{id}`).
    pub id: String,
    pub stream_id: String,
    /// The stream's incident number, from 1.
    pub number: u64,
    /// How unlike the stream's earlier incidents it is, in [0, 1].
    pub rank: f64,
    /// The opening anomaly's timestamp.
    pub opened_at: String,
    pub first_position: u64,
    pub last_position: u64,
    /// Anomalies that belong to it, the opener included.
    pub anomalies: u64,
    /// The opening anomaly's status.
    pub status: AnomalyStatus,
    /// The opening anomaly's `why`.
    pub why: String,
}

fn view(r: IncidentRecord) -> Incident {
    Incident {
        id: r.opener.id,
        stream_id: r.opener.stream_id,
        number: r.number,
        rank: r.rank,
        opened_at: r.opener.timestamp,
        first_position: r.opener.position,
        last_position: r.last_position,
        anomalies: r.anomalies,
        status: r.opener.status,
        why: r.opener.why,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
    pub next_page_token: Option<String>,
    pub total: u64,
}

/// List incidents, newest first; the filters apply to each incident's
/// opening anomaly.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", security(("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let Page {
        limit,
        before,
        filter,
    } = q.page(&caller)?;
    let (mut rows, total) = state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let rows = incidents::list(&tx, &filter, before, limit + 1)?;
            let total = incidents::count(&tx, &filter)?;
            tx.commit()?;
            Ok::<_, ApiError>((rows, total))
        })
        .await?;
    let next_page_token = next_page(&mut rows, limit, |r| r.opener.seq);
    Ok(Json(IncidentList {
        incidents: rows.into_iter().map(view).collect(),
        next_page_token,
        total,
    }))
}

/// One incident, by the id of the anomaly that opened it.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Incident), (status = 404, body = super::ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    let key = id.clone();
    let found = state.store.call(move |c| incidents::get(c, &key)).await?;
    match found {
        Some(r) if caller.check_stream(&r.opener.stream_id).is_ok() => Ok(Json(view(r))),
        _ => Err(ApiError::not_found(format!("no incident `{id}`"))),
    }
}
