//! Keys: admins create, list and revoke (`/v1/keys`); any key sees itself and
//! its usage (`/v1/me/keys`, `/v1/me/usage`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::ApiJson;
use crate::auth::{self, Caller, KeyError, NewKey};
use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::keys::{self, KeyRecord, Plan, Role};
use driftlock_store::usage::UsageDay;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
        .route("/v1/me/keys", get(my_keys))
        .route("/v1/me/usage", get(my_usage))
}

/// Read as one struct; documented as [`super::schemas::CreateKey`], which
/// says which fields go with which role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[serde(default)]
    pub name: Option<String>,
    pub role: Role,
    /// Required for `stream` keys.
    #[serde(default)]
    pub stream_id: Option<String>,
    /// Defaults to the server's `default_plan`.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Overrides the plan's requests per minute.
    #[serde(default, deserialize_with = "super::integers::optional")]
    pub rate_limit_per_minute: Option<u32>,
}

/// A new key; `key` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: KeyRecord,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyRecord>,
}

/// Create a key (admin).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("api_key" = [])),
    request_body = super::schemas::CreateKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody, description = "Not an admin key")))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    caller.require_admin()?;
    let new = NewKey {
        name: req.name.unwrap_or_default(),
        role: req.role,
        stream_id: req.stream_id,
        plan: req.plan.unwrap_or(state.config.default_plan),
        rate_limit_per_minute: req.rate_limit_per_minute,
    };
    let (record, key) = state
        .store
        .call(move |c| {
            auth::create_key(c, new, None).map_err(|e| match e {
                KeyError::Invalid(m) => ApiError::invalid(m),
                KeyError::Store(s) => s.into(),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, record })))
}

/// List keys (admin); hashes are never returned.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("api_key" = [])),
    responses((status = 200, body = KeyList), (status = 403, body = super::ErrorBody, description = "Not an admin key")))]
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<KeyList>, ApiError> {
    caller.require_admin()?;
    let keys = state.store.call(|c| keys::list(c)).await?;
    Ok(Json(KeyList { keys }))
}

/// Revoke a key (admin). The last active admin key cannot be revoked.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = KeyRecord), (status = 403, body = super::ErrorBody, description = "Not an admin key"),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "Already revoked, or the last active admin key")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<KeyRecord>, ApiError> {
    caller.require_admin()?;
    let record = state
        .store
        .call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let key = keys::get(&tx, &id)?
                .ok_or_else(|| ApiError::not_found(format!("no key `{id}`")))?;
            if key.revoked_at.is_some() {
                return Err(ApiError::Conflict(format!("key `{id}` is already revoked")));
            }
            if key.role == Role::Admin && keys::active_admins(&tx)? <= 1 {
                return Err(ApiError::Conflict(
                    "the last active admin key cannot be revoked".into(),
                ));
            }
            keys::revoke(&tx, &id, &driftlock_store::time::now_rfc3339())?;
            let updated = keys::get(&tx, &id)?.ok_or_else(|| ApiError::internal("key vanished"))?;
            tx.commit()?;
            Ok(updated)
        })
        .await?;
    Ok(Json(record))
}

/// The calling key.
#[utoipa::path(get, path = "/v1/me/keys", tag = "keys", security(("api_key" = [])),
    responses((status = 200, body = KeyList)))]
pub async fn my_keys(Extension(caller): Extension<Caller>) -> Json<KeyList> {
    Json(KeyList {
        keys: vec![caller.key],
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub key_id: String,
    pub plan: Plan,
    pub rate_limit_per_minute: u32,
    pub totals: UsageDay,
    /// The last 30 days with use, newest first.
    pub days: Vec<UsageDay>,
}

/// The calling key's usage: requests and events per day.
#[utoipa::path(get, path = "/v1/me/usage", tag = "keys", security(("api_key" = [])),
    responses((status = 200, body = Usage)))]
pub async fn my_usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Usage>, ApiError> {
    let days = state
        .usage
        .for_key(&state.store, &caller.key.id, 30)
        .await?;
    let totals = UsageDay {
        day: "last_30_days".into(),
        requests: days.iter().map(|d| d.requests).sum(),
        events: days.iter().map(|d| d.events).sum(),
    };
    Ok(Json(Usage {
        key_id: caller.key.id.clone(),
        plan: caller.key.plan,
        rate_limit_per_minute: caller.limit,
        totals,
        days,
    }))
}
