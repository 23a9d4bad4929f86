//! Limits on a request's headers, answered 431 in the spec's error JSON (with
//! `X-Request-ID`). hyper's own limits sit far above these (see
//! [`crate::server`]) because hyper answers a bare 431 with no body.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Headers a request may carry.
pub const MAX_HEADERS: usize = 100;
/// Bytes of header names and values together.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Middleware: 431 when the request's headers are over the limits.
pub async fn middleware(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(format!(
            "{} headers of {bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes",
            headers.len()
        ))
        .into_response();
    }
    next.run(req).await
}
