//! Rate-limit headers on every response, 431 in the spec's JSON and the
//! failed-key throttle per client address.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;

fn has_rate_limit_headers(r: &common::Reply) -> bool {
    [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ]
    .iter()
    .all(|h| r.headers.contains_key(*h))
}

#[tokio::test]
async fn every_response_carries_rate_limit_headers() {
    let t = TestApp::new().await;
    let cases = [
        ("GET", "/healthz", None, 200),
        ("GET", "/v1/openapi.json", None, 200),
        ("GET", "/no/such/route", None, 404),
        ("GET", "/v1/anomalies", None, 401),
        ("GET", "/v1/anomalies", Some("wrong-key-0123456789"), 401),
        ("GET", "/v1/anomalies", Some(t.admin.as_str()), 200),
        ("DELETE", "/healthz", None, 405),
    ];
    for (method, uri, key, status) in cases {
        let r = t.call(method, uri, key, None).await;
        assert_eq!(r.status, status, "{method} {uri}: {}", r.body);
        assert!(
            has_rate_limit_headers(&r),
            "{method} {uri}: {:?}",
            r.headers
        );
        assert!(r.headers.contains_key("x-request-id"), "{method} {uri}");
        if status != 200 {
            assert!(
                r.body["error"]["code"].is_string(),
                "{method} {uri}: {}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_address() {
    let t = TestApp::with(|c| c.anonymous_rate_limit = 2).await;
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let r = t.call("GET", "/healthz", None, None).await;
        assert_eq!(r.status, 200);
        remaining.push(
            r.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["1", "0"]);
    let r = t.call("GET", "/healthz", None, None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "rate_limit_exceeded");
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn too_many_headers_is_a_431_in_the_spec_s_json() {
    let t = TestApp::new().await;
    let mut b = Request::builder().method("GET").uri("/healthz");
    for i in 0..150 {
        b = b.header(format!("x-filler-{i}"), "v");
    }
    let r = t.raw(b.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, 431);
    assert_eq!(r.code(), "request_header_fields_too_large");
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(r.body["error"]["request_id"], id);
    let big = "x".repeat(70 * 1024);
    let req = Request::builder()
        .uri("/healthz")
        .header("x-big", big)
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.raw(req).await.status, 431);
}

#[tokio::test]
async fn an_address_is_throttled_after_n_failed_keys_even_with_a_valid_one() {
    let t = TestApp::with(|c| c.failed_auth_per_minute = 3).await;
    let admin = t.admin.clone();
    assert_eq!(t.get("/v1/streams", &admin).await.status, 200);
    let mut remaining = Vec::new();
    for i in 0..3 {
        let r = t.get("/v1/streams", &format!("guess-{i}-0123456789")).await;
        assert_eq!(r.status, 401, "{}", r.body);
        remaining.push(
            r.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    for key in ["guess-4-0123456789", admin.as_str()] {
        let r = t.get("/v1/streams", key).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.code(), "rate_limit_exceeded");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
}
