//! Anomalies: list (filters, keyset pagination), get, status, feedback.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiQuery};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::StoreError;
use driftlock_store::anomalies::{self, AnomalyFilter};
use driftlock_store::feedback::{self, FeedbackRecord};
use driftlock_store::record::AnomalyStatus;
use driftlock_store::view::{AnomalyDetail, AnomalySummary, detail, summary};
use rusqlite::Connection;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/anomalies", get(list_anomalies))
        .route("/v1/anomalies/{id}", get(get_anomaly).patch(patch_anomaly))
        .route("/v1/anomalies/{id}/feedback", post(feedback))
}

pub const FEEDBACK_TYPES: [&str; 3] = ["confirmed", "false_positive", "dismissed"];

fn parse_status(s: &str) -> Result<AnomalyStatus, ApiError> {
    s.parse()
        .map_err(|_| ApiError::field("status", "must be new, viewed or archived"))
}

/// The filters shared by the list and the bulk export.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub stream_id: Option<String>,
    pub min_ncd: Option<f64>,
    pub max_p_value: Option<f64>,
    /// `new`, `viewed` or `archived`.
    pub status: Option<String>,
    /// RFC 3339; anomalies at or after.
    pub since: Option<String>,
    /// RFC 3339; anomalies at or before.
    pub until: Option<String>,
    /// Only anomalies with (or without) saved nearest-baseline evidence.
    pub has_evidence: Option<bool>,
}

impl Filters {
    /// Checks the values and scopes a stream key to its stream.
    pub fn resolve(self, caller: &Caller) -> Result<AnomalyFilter, ApiError> {
        let stream_id = match (caller.stream_scope(), self.stream_id) {
            (Some(own), Some(asked)) if asked != own => {
                return Err(ApiError::Forbidden(format!(
                    "this key may not read stream `{asked}`"
                )));
            }
            (Some(own), _) => Some(own.to_string()),
            (None, asked) => asked,
        };
        for (name, v) in [("min_ncd", self.min_ncd), ("max_p_value", self.max_p_value)] {
            if v.is_some_and(|x| !x.is_finite()) {
                return Err(ApiError::field(name, "must be a finite number"));
            }
        }
        let status = self.status.as_deref().map(parse_status).transpose()?;
        let time = |name: &str, v: Option<String>| -> Result<Option<i64>, ApiError> {
            v.map(|s| {
                driftlock_store::time::parse_ms(&s).ok_or_else(|| {
                    ApiError::field(name, format!("`{s}` is not an RFC 3339 timestamp"))
                })
            })
            .transpose()
        };
        Ok(AnomalyFilter {
            stream_id,
            min_ncd: self.min_ncd,
            max_p_value: self.max_p_value,
            status,
            since_ms: time("since", self.since)?,
            until_ms: time("until", self.until)?,
            has_evidence: self.has_evidence,
            opens_incident: false,
            incident_status: None,
        })
    }
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
    pub stream_id: Option<String>,
    pub min_ncd: Option<f64>,
    pub max_p_value: Option<f64>,
    #[param(value_type = Option<AnomalyStatus>, inline)]
    pub status: Option<String>,
    /// RFC 3339; anomalies at or after.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; anomalies at or before.
    #[param(format = DateTime)]
    pub until: Option<String>,
    pub has_evidence: Option<bool>,
}

/// One page's request, checked: its size, where it starts and its filter.
pub(super) struct Page {
    pub limit: usize,
    pub before: Option<i64>,
    pub filter: AnomalyFilter,
}

impl ListQuery {
    /// The checked page size, token and filters (scoped to `caller`'s stream).
    pub(super) fn page(self, caller: &Caller) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::field("limit", "must be between 1 and 100"));
        }
        let before = self.page_token.as_deref().map(decode_token).transpose()?;
        let filter = self.filters().resolve(caller)?;
        Ok(Page {
            limit: limit as usize,
            before,
            filter,
        })
    }

    // Not `#[serde(flatten)]`: flattening makes query numbers unparseable.
    fn filters(self) -> Filters {
        Filters {
            stream_id: self.stream_id,
            min_ncd: self.min_ncd,
            max_p_value: self.max_p_value,
            status: self.status,
            since: self.since,
            until: self.until,
            has_evidence: self.has_evidence,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyList {
    pub anomalies: Vec<AnomalySummary>,
    pub next_page_token: Option<String>,
    pub total: u64,
}

/// Page tokens are opaque to clients: hex of `v1:<seq>`.
pub fn encode_token(seq: i64) -> String {
    hex::encode(format!("v1:{seq}"))
}

/// Rows of a page after a sequence number (`None`: the newest), at most this many.
type ListRows<R> =
    fn(&Connection, &AnomalyFilter, Option<i64>, usize) -> Result<Vec<R>, StoreError>;

/// A page of `list`'s rows, its next page's token and the `count` of every
/// row the filter matches, read in one transaction.
pub(super) async fn read_page<R: Send + 'static>(
    state: &AppState,
    page: Page,
    list: ListRows<R>,
    count: fn(&Connection, &AnomalyFilter) -> Result<u64, StoreError>,
    seq: fn(&R) -> i64,
) -> Result<(Vec<R>, Option<String>, u64), ApiError> {
    let Page {
        limit,
        before,
        filter,
    } = page;
    let (mut rows, total) = state
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            // One more than a page: whether another page follows.
            let rows = list(&tx, &filter, before, limit + 1)?;
            let total = count(&tx, &filter)?;
            tx.commit()?;
            Ok::<_, ApiError>((rows, total))
        })
        .await?;
    let token = next_page(&mut rows, limit, seq);
    Ok((rows, token, total))
}

pub fn next_page<T>(rows: &mut Vec<T>, limit: usize, seq: impl Fn(&T) -> i64) -> Option<String> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    if !more {
        return None;
    }
    rows.last().map(|r| encode_token(seq(r)))
}

/// The pattern of [`encode_token`]'s tokens, for the OpenAPI document.
pub const PAGE_TOKEN_PATTERN: &str = "^76313a(30|3[1-9](3[0-9]){0,17})$";

/// Only what [`encode_token`] writes: other spellings of the same number
/// (upper-case hex, leading zeros) are refused, as the document's pattern does.
pub fn decode_token(token: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::field("page_token", "not a token from a previous page");
    let raw = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let seq: i64 = text
        .strip_prefix("v1:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if seq < 0 || encode_token(seq) != token {
        return Err(bad());
    }
    Ok(seq)
}

/// List anomalies, newest first.
#[utoipa::path(get, path = "/v1/anomalies", tag = "anomalies", security(("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = AnomalyList), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "A stream key filtering on another stream")))]
pub async fn list_anomalies(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AnomalyList>, ApiError> {
    let (rows, next_page_token, total) = read_page(
        &state,
        q.page(&caller)?,
        anomalies::list_summaries,
        anomalies::count,
        |r| r.seq,
    )
    .await?;
    Ok(Json(AnomalyList {
        anomalies: rows.iter().map(summary).collect(),
        next_page_token,
        total,
    }))
}

/// The anomaly, if the caller may see it (another stream's is a 404).
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AnomalyDetail, ApiError> {
    let key = id.to_string();
    let found = state
        .store
        .call(move |c| {
            let Some(a) = anomalies::get(c, &key)? else {
                return Ok::<_, ApiError>(None);
            };
            let fb = feedback::for_anomaly(c, &key)?;
            Ok(Some((a, fb)))
        })
        .await?;
    match found {
        Some((a, fb)) if caller.check_stream(&a.stream_id).is_ok() => Ok(detail(a, fb)),
        _ => Err(ApiError::not_found(format!("no anomaly `{id}`"))),
    }
}

/// An anomaly with its evidence.
#[utoipa::path(get, path = "/v1/anomalies/{id}", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AnomalyDetail), (status = 404, body = super::ErrorBody)))]
pub async fn get_anomaly(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AnomalyDetail>, ApiError> {
    load_visible(&state, &caller, &id).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAnomaly {
    #[schema(value_type = AnomalyStatus)]
    pub status: String,
}

/// Set an anomaly's status.
#[utoipa::path(patch, path = "/v1/anomalies/{id}", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = PatchAnomaly,
    responses((status = 200, body = AnomalyDetail), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn patch_anomaly(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchAnomaly>,
) -> Result<Json<AnomalyDetail>, ApiError> {
    let status = parse_status(&body.status)?;
    load_visible(&state, &caller, &id).await?;
    let key = id.clone();
    state
        .store
        .call(move |c| anomalies::set_status(c, &key, status))
        .await?;
    load_visible(&state, &caller, &id).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    #[schema(value_type = super::schemas::FeedbackType)]
    pub feedback_type: String,
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub reason: Option<String>,
}

/// Record feedback on an anomaly.
#[utoipa::path(post, path = "/v1/anomalies/{id}/feedback", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = FeedbackRequest,
    responses((status = 201, body = FeedbackRecord), (status = 400, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub async fn feedback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackRecord>), ApiError> {
    if !FEEDBACK_TYPES.contains(&body.feedback_type.as_str()) {
        return Err(ApiError::field(
            "feedback_type",
            "must be confirmed, false_positive or dismissed",
        ));
    }
    // Characters, as the document's maxLength counts them.
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 4096)
    {
        return Err(ApiError::field("reason", "at most 4096 characters"));
    }
    load_visible(&state, &caller, &id).await?;
    let record = FeedbackRecord {
        id: format!("fb_{}", driftlock_store::ids::random_hex(8)),
        anomaly_id: id,
        feedback_type: body.feedback_type,
        reason: body.reason,
        key_id: Some(caller.key.id.clone()),
        created_at: driftlock_store::time::now_rfc3339(),
    };
    let r = record.clone();
    state.store.call(move |c| feedback::insert(c, &r)).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token(42)).unwrap(), 42);
        assert!(decode_token("zz").is_err());
        assert!(decode_token(&hex::encode("v2:1")).is_err());
        // Other spellings of a valid token are refused, as the pattern does.
        assert!(decode_token(&encode_token(42).to_uppercase()).is_err());
        assert!(decode_token(&hex::encode("v1:042")).is_err());
        assert!(decode_token(&hex::encode("v1:-1")).is_err());
        let pattern = PAGE_TOKEN_PATTERN
            .trim_start_matches('^')
            .trim_end_matches('$');
        assert!(pattern.starts_with(&encode_token(0)[..6]));
    }
}
