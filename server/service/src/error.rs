//! The API's error type: every failure a client can see, rendered as the spec's
//! JSON (`{"error":{"code","message","request_id"}}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::request_id;
use driftlock_batch::BatchError;
use driftlock_store::StoreError;

use crate::scorer::ScoreError;
use crate::sql_pool::SqlPoolError;

/// Everything a handler can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_argument`.
    #[error("{0}")]
    InvalidArgument(String),
    /// 400 `invalid_argument` naming the offending field.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// 401 `unauthorized`.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 413 `payload_too_large`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 408 `request_timeout`: the body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 431 `request_header_fields_too_large`.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 `rate_limit_exceeded`.
    #[error("rate limit exceeded")]
    RateLimited { retry_after_seconds: u64 },
    /// 503 `unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// 504 `deadline_exceeded`: the work did not finish in its time and was
    /// stopped.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// 400 `invalid_argument`: a value over the caller's quota, naming the
    /// field and the limit.
    #[error("{field}: {value} is over the limit of {limit} for this key")]
    OverQuota {
        field: String,
        value: u64,
        limit: u64,
    },
    /// 500 `internal`; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        ApiError::InvalidArgument(msg.into())
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidArgument(_)
            | ApiError::InvalidField { .. }
            | ApiError::OverQuota { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument(_)
            | ApiError::InvalidField { .. }
            | ApiError::OverQuota { .. } => "invalid_argument",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::HeadersTooLarge(_) => "request_header_fields_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::DeadlineExceeded(_) => "deadline_exceeded",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("sqlite: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = request_id::current();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id = %request_id, "internal error: {detail}");
                "internal server error".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(request_id = %request_id, "unavailable: {detail}");
                detail.clone()
            }
            other => other.to_string(),
        };
        let mut error = json!({
            "code": self.code(),
            "message": message,
            "request_id": request_id,
        });
        if let ApiError::InvalidField { field, .. } = &self {
            error["field"] = json!(field);
        }
        if let ApiError::OverQuota { field, limit, .. } = &self {
            error["field"] = json!(field);
            error["limit"] = json!(limit);
        }
        if let ApiError::RateLimited {
            retry_after_seconds,
        } = &self
        {
            error["retry_after_seconds"] = json!(retry_after_seconds);
        }
        let mut resp = (self.status(), axum::Json(json!({ "error": error }))).into_response();
        if let ApiError::RateLimited {
            retry_after_seconds,
        } = &self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        resp
    }
}

/// Fallback for unknown routes: 404 JSON.
pub async fn route_not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Fallback for a known route with the wrong method: 405 JSON.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Query(m) | BatchError::Invalid(m) => ApiError::invalid(m),
            e @ BatchError::Timeout(_) => ApiError::DeadlineExceeded(e.to_string()),
            e @ BatchError::MemoryLimit(_) => ApiError::field("query", e.to_string()),
            e @ BatchError::UnknownFormat(_) => ApiError::invalid(e.to_string()),
            BatchError::Store(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<SqlPoolError> for ApiError {
    fn from(e: SqlPoolError) -> Self {
        match e {
            e @ SqlPoolError::Full { .. } => ApiError::Unavailable(e.to_string()),
            e @ SqlPoolError::Deadline(_) => ApiError::DeadlineExceeded(e.to_string()),
            SqlPoolError::Query(e) => e.into(),
            SqlPoolError::Task(e) => ApiError::internal(e),
        }
    }
}

impl From<ScoreError> for ApiError {
    fn from(e: ScoreError) -> Self {
        match e {
            ScoreError::InvalidOverride { field, reason } => ApiError::field(field, reason),
            ScoreError::Conflict(m) => ApiError::Conflict(m),
            ScoreError::OverQuota { bytes, limit } => ApiError::OverQuota {
                field: "state_bytes".into(),
                value: bytes,
                limit,
            },
            ScoreError::Store(e) => e.into(),
            e @ (ScoreError::Engine(_) | ScoreError::Internal(_)) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec_table() {
        let cases = [
            (ApiError::invalid("x"), 400, "invalid_argument"),
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (ApiError::not_found("x"), 404, "not_found"),
            (ApiError::Conflict("x".into()), 409, "conflict"),
            (
                ApiError::RateLimited {
                    retry_after_seconds: 3,
                },
                429,
                "rate_limit_exceeded",
            ),
            (ApiError::internal("x"), 500, "internal"),
            (
                ApiError::DeadlineExceeded("x".into()),
                504,
                "deadline_exceeded",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn internal_details_are_not_returned() {
        let resp = ApiError::internal("secret path /etc/x").into_response();
        assert_eq!(resp.status(), 500);
        assert!(resp.headers().get(header::RETRY_AFTER).is_none());
    }
}
