//! Extractors whose rejections are the spec's JSON errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: malformed JSON, wrong types and unknown fields are 400
/// `invalid_argument` naming the path; bodies over the limit are 413.
pub struct ApiJson<T>(pub T);

/// Whether reading the body failed because its deadline passed.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        next = e.source();
    }
    false
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("request body is larger than the limit".into())
        } else if timed_out(&rej) {
            ApiError::RequestTimeout("the request body did not arrive in time".into())
        } else {
            ApiError::invalid(format!("could not read the body: {rej}"))
        }
    })
}

/// The whole body of `req`, at most `limit` bytes (for handlers that read it
/// themselves); failures as in [`ApiJson`].
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            if timed_out(&e) {
                ApiError::RequestTimeout("the request body did not arrive in time".into())
            } else {
                ApiError::PayloadTooLarge("request body is larger than the limit".into())
            }
        })
}

/// Parses JSON, reporting where it went wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::invalid(format!("malformed JSON: {inner}"))
            }
            _ if path.is_empty() || path == "." => ApiError::invalid(inner.to_string()),
            _ => ApiError::field(path, inner.to_string()),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Every request body is an object, but serde reads a struct from an array
/// of its fields too (`[]` would be a request with every field left out).
fn not_an_array(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Err(ApiError::invalid(
            "the body must be a JSON object, not an array",
        )),
        _ => Ok(()),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        not_an_array(&bytes)?;
        Ok(ApiJson(parse_json(&bytes)?))
    }
}

/// A JSON body that may be empty or `null` (then `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        not_an_array(&bytes)?;
        Ok(OptionalJson(
            parse_json::<Option<T>>(&bytes)?.unwrap_or_default(),
        ))
    }
}

/// Query parameters; a value of the wrong type or an unknown parameter is
/// 400 `invalid_argument` naming it.
pub struct ApiQuery<T>(pub T);

/// Parses a query string, naming the parameter that went wrong.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        match path.as_str() {
            "" | "." => ApiError::invalid(inner),
            p => ApiError::field(p, inner),
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        inner: Option<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: f64,
    }

    #[test]
    fn errors_name_the_path() {
        assert!(
            matches!(parse_json::<T>(b"{"), Err(ApiError::InvalidArgument(m)) if m.starts_with("malformed JSON"))
        );
        match parse_json::<T>(br#"{"a": 1, "inner": {"b": "x"}}"#) {
            Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, "inner.b"),
            other => panic!("{other:?}"),
        }
        match parse_json::<T>(br#"{"a": 1, "inner": {"c": 1}}"#) {
            Err(ApiError::InvalidField { field, message }) => {
                assert_eq!(field, "inner.c");
                assert!(message.contains("unknown field"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_json::<T>(br#"{"a": 1} x"#).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(parse_query::<Q>("limit=5").unwrap().limit, Some(5));
        for (q, name) in [("limit=x", "limit"), ("limt=5", "limt")] {
            match parse_query::<Q>(q) {
                Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, name, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
