//! Incidents: a stream's anomalies grouped by the detector (see
//! `driftlock_engine::incident`), listed with the anomalies' filters and
//! cursor, each named by the anomaly that opened it, with the status people
//! give it (`open`, `acknowledged`, `resolved`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::anomalies::{ListQuery, Page, read_page};
use super::extract::{ApiJson, ApiQuery};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::incidents::{self, IncidentRecord, IncidentStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/incidents", get(list_incidents))
        .route(
            "/v1/incidents/{id}",
            get(get_incident).patch(patch_incident),
        )
}

fn parse_status(s: &str) -> Result<IncidentStatus, ApiError> {
    s.parse()
        .map_err(|_| ApiError::field("status", "must be open, acknowledged or resolved"))
}

/// The anomalies' list filters, but `status` is the incident's.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Page size, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_page_token` of the previous page.
    #[param(pattern = "^76313a(30|3[1-9](3[0-9]){0,17})$")]
    pub page_token: Option<String>,
    pub stream_id: Option<String>,
    /// The opening anomaly's NCD at least this.
    pub min_ncd: Option<f64>,
    /// The opening anomaly's p-value at most this.
    pub max_p_value: Option<f64>,
    #[param(value_type = Option<IncidentStatus>, inline)]
    pub status: Option<String>,
    /// RFC 3339; opened at or after.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; opened at or before.
    #[param(format = DateTime)]
    pub until: Option<String>,
    pub has_evidence: Option<bool>,
}

impl IncidentQuery {
    fn page(self, caller: &Caller) -> Result<Page, ApiError> {
        let status = self.status.as_deref().map(parse_status).transpose()?;
        let mut page = ListQuery {
            limit: self.limit,
            page_token: self.page_token,
            stream_id: self.stream_id,
            min_ncd: self.min_ncd,
            max_p_value: self.max_p_value,
            status: None,
            since: self.since,
            until: self.until,
            has_evidence: self.has_evidence,
        }
        .page(caller)?;
        page.filter.incident_status = status;
        Ok(page)
    }
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
    /// Set by people (`PATCH`); every incident starts `open`.
    pub status: IncidentStatus,
    /// The note given with the latest status change.
    pub note: Option<String>,
    /// RFC 3339, when the status was last set (absent while never set).
    pub status_updated_at: Option<String>,
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
        status: r.state.status,
        note: r.state.note,
        status_updated_at: r.state.updated_at,
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
    params(IncidentQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "A stream key filtering on another stream")))]
pub async fn list_incidents(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let (rows, next_page_token, total) = read_page(
        &state,
        q.page(&caller)?,
        incidents::list,
        incidents::count,
        |r| r.opener.seq,
    )
    .await?;
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
    load_visible(&state, &caller, &id).await.map(Json)
}

async fn load_visible(state: &AppState, caller: &Caller, id: &str) -> Result<Incident, ApiError> {
    let key = id.to_owned();
    let found = state.store.call(move |c| incidents::get(c, &key)).await?;
    match found {
        Some(r) if caller.check_stream(&r.opener.stream_id).is_ok() => Ok(view(r)),
        _ => Err(ApiError::not_found(format!("no incident `{id}`"))),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIncident {
    #[schema(value_type = IncidentStatus)]
    pub status: String,
    /// Why (kept until a later change gives another).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// The longest note kept with a status change.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Set an incident's status (its anomalies keep theirs).
#[utoipa::path(patch, path = "/v1/incidents/{id}", tag = "incidents", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = PatchIncident,
    responses((status = 200, body = Incident), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn patch_incident(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchIncident>,
) -> Result<Json<Incident>, ApiError> {
    let status = parse_status(&body.status)?;
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::field(
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    load_visible(&state, &caller, &id).await?;
    let key = id.clone();
    let now = driftlock_store::time::now_rfc3339();
    state
        .store
        .call(move |c| incidents::set_status(c, &key, status, body.note.as_deref(), &now))
        .await?;
    load_visible(&state, &caller, &id).await.map(Json)
}
