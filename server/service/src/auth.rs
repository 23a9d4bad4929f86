//! API keys: generation (256 random bits from the OS), SHA-256 hashing,
//! constant-time verification, the authentication middleware and role checks.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use driftlock_store::ids::random_hex;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;
use driftlock_store::StoreError;
use driftlock_store::keys::{self, KeyRecord, Plan, Role};

/// A new API key: `dlk_` and 256 random bits.
pub fn generate_key() -> String {
    format!("dlk_{}", random_hex(32))
}

pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub stream_id: Option<String>,
    pub plan: Plan,
    pub rate_limit_per_minute: Option<u32>,
}

/// A key that was refused at creation.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a stream id given by a client (also used for the path parameter).
pub fn valid_stream_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Creates a key, returns its record and the plaintext (shown once). With
/// `plaintext`, that key is stored instead of a generated one.
pub fn create_key(
    conn: &Connection,
    new: NewKey,
    plaintext: Option<String>,
) -> Result<(KeyRecord, String), KeyError> {
    match (new.role, &new.stream_id) {
        (Role::Stream, None) => {
            return Err(KeyError::Invalid("a stream key needs a stream_id".into()));
        }
        (Role::Admin, Some(_)) => {
            return Err(KeyError::Invalid(
                "an admin key is not bound to a stream".into(),
            ));
        }
        (_, Some(s)) if !valid_stream_id(s) => {
            return Err(KeyError::Invalid(
                "stream_id: 1-128 characters of letters, digits, '-', '_', '.', ':'".into(),
            ));
        }
        _ => {}
    }
    if new.rate_limit_per_minute == Some(0) {
        return Err(KeyError::Invalid(
            "rate_limit_per_minute must be > 0".into(),
        ));
    }
    let key = plaintext.unwrap_or_else(generate_key);
    let record = KeyRecord {
        id: format!("key_{}", random_hex(8)),
        name: new.name,
        role: new.role,
        stream_id: new.stream_id,
        plan: new.plan,
        rate_limit_per_minute: new.rate_limit_per_minute,
        created_at: driftlock_store::time::now_rfc3339(),
        revoked_at: None,
    };
    keys::insert(conn, &record, &hash_key(&key))?;
    Ok((record, key))
}

/// First start: makes sure an admin key exists. With `env_key`
/// (`DRIFTLOCK_API_KEY`) that key is added as an admin key unless it is already
/// known (revoked keys stay revoked). Returns a generated key to print once.
pub fn bootstrap_admin(
    conn: &Connection,
    env_key: Option<&str>,
) -> Result<Option<String>, KeyError> {
    let admin = NewKey {
        name: "bootstrap admin".into(),
        role: Role::Admin,
        stream_id: None,
        plan: Plan::Enterprise,
        rate_limit_per_minute: None,
    };
    if let Some(k) = env_key.map(str::trim).filter(|k| !k.is_empty()) {
        if k.len() < 16 {
            return Err(KeyError::Invalid(
                "DRIFTLOCK_API_KEY must be at least 16 characters".into(),
            ));
        }
        if keys::find_by_hash(conn, &hash_key(k))?.is_none() {
            create_key(conn, admin, Some(k.to_string()))?;
        }
        return Ok(None);
    }
    if keys::list(conn)?.is_empty() {
        let (_, key) = create_key(conn, admin, None)?;
        return Ok(Some(key));
    }
    Ok(None)
}

/// Looks a presented key up; `None` when unknown or revoked.
pub fn verify(conn: &Connection, presented: &str) -> Result<Option<KeyRecord>, StoreError> {
    let hash = hash_key(presented);
    let Some((record, stored)) = keys::find_by_hash(conn, &hash)? else {
        return Ok(None);
    };
    let same: bool = stored.ct_eq(&hash).into();
    Ok((same && record.revoked_at.is_none()).then_some(record))
}

/// The authenticated caller of a request (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: KeyRecord,
    /// Requests per minute.
    pub limit: u32,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.key.role == Role::Admin
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs an admin key".into()))
        }
    }

    /// The stream a request addresses: the requested one (checked against the
    /// key's), or the key's own, or `default` for an admin key.
    pub fn resolve_stream(&self, requested: Option<&str>) -> Result<String, ApiError> {
        let id = match (requested, &self.key.stream_id) {
            (Some(r), _) => r.to_string(),
            (None, Some(own)) => own.clone(),
            (None, None) => "default".to_string(),
        };
        if !valid_stream_id(&id) {
            return Err(ApiError::field(
                "stream_id",
                "1-128 characters of letters, digits, '-', '_', '.', ':'",
            ));
        }
        self.check_stream(&id)?;
        Ok(id)
    }

    /// 403 when a stream key addresses another stream.
    pub fn check_stream(&self, id: &str) -> Result<(), ApiError> {
        match (&self.key.role, &self.key.stream_id) {
            (Role::Admin, _) => Ok(()),
            (Role::Stream, Some(own)) if own == id => Ok(()),
            _ => Err(ApiError::Forbidden(format!(
                "this key may not use stream `{id}`"
            ))),
        }
    }

    /// The only stream a stream key may read (`None` for admins).
    pub fn stream_scope(&self) -> Option<&str> {
        match self.key.role {
            Role::Admin => None,
            Role::Stream => Some(self.key.stream_id.as_deref().unwrap_or("")),
        }
    }
}

fn presented_key(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

/// The client's address, as the demo and the failed-key throttle see it.
pub fn client_ip(req: &Request, trusted: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    crate::api::demo::client_ip(peer, req.headers(), trusted)
}

/// Middleware: authenticates `X-Api-Key` (or `Authorization: Bearer`), applies
/// the key's rate limit and sets the rate-limit headers on the response. An
/// address over its failed-key budget is refused before its key is looked at;
/// a 401's headers show that budget.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&req, &state.config.trusted_proxies);
    let budget = state.auth_throttle.check(ip);
    let refuse = |err: ApiError, budget: crate::rate_limit::Decision| {
        let mut resp = err.into_response();
        budget.apply(resp.headers_mut());
        resp
    };
    if !budget.allowed {
        let err = ApiError::RateLimited {
            retry_after_seconds: budget.retry_after,
        };
        return refuse(err, budget);
    }
    let Some(presented) = presented_key(&req).filter(|k| !k.is_empty()) else {
        let err = ApiError::Unauthorized("missing API key (X-Api-Key header)".into());
        return refuse(err, budget);
    };
    let found = state.store.call(move |c| verify(c, &presented)).await;
    let key = match found {
        Ok(Some(k)) => k,
        Ok(None) => {
            let err = ApiError::Unauthorized("invalid or revoked API key".into());
            return refuse(err, state.auth_throttle.fail(ip));
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let limit = key
        .rate_limit_per_minute
        .unwrap_or_else(|| state.config.rate_limits.for_plan(key.plan));
    let decision = state.limiter.check(&key.id, limit);
    state.usage.record_request(&key.id);
    let mut resp = if decision.allowed {
        req.extensions_mut().insert(Caller { key, limit });
        next.run(req).await
    } else {
        ApiError::RateLimited {
            retry_after_seconds: decision.retry_after,
        }
        .into_response()
    };
    decision.apply(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_256_bits_and_verify() {
        let a = generate_key();
        assert_eq!(a.len(), 4 + 64);
        assert_ne!(a, generate_key());
        let dir = tempfile::tempdir().unwrap();
        let store =
            driftlock_store::Store::open(&dir.path().join("db"), Default::default()).unwrap();
        store
            .with_conn(|c| {
                let (rec, key) = create_key(
                    c,
                    NewKey {
                        name: "t".into(),
                        role: Role::Stream,
                        stream_id: Some("s1".into()),
                        plan: Plan::Free,
                        rate_limit_per_minute: None,
                    },
                    None,
                )
                .unwrap();
                assert_eq!(verify(c, &key)?.unwrap().id, rec.id);
                assert!(verify(c, "dlk_wrong")?.is_none());
                keys::revoke(c, &rec.id, "now")?;
                assert!(verify(c, &key)?.is_none());
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn bootstrap_generates_once_or_uses_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            driftlock_store::Store::open(&dir.path().join("db"), Default::default()).unwrap();
        store
            .with_conn(|c| {
                let first = bootstrap_admin(c, None).unwrap();
                assert!(first.is_some());
                assert!(bootstrap_admin(c, None).unwrap().is_none());
                assert!(
                    bootstrap_admin(c, Some("an-env-key-0123456789"))
                        .unwrap()
                        .is_none()
                );
                assert!(verify(c, "an-env-key-0123456789")?.unwrap().role == Role::Admin);
                assert!(bootstrap_admin(c, Some("short")).is_err());
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}
