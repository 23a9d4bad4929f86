//! The edge on a real loopback server: header-read and idle timeouts, the body
//! deadline and load shedding.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::TestApp;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Longest any single wait below may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection (EOF or reset); panics after `BOUND`.
async fn read_until_closed(conn: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(BOUND, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server left the connection open past {BOUND:?}"),
        }
    }
}

/// Reads one response whose head names a Content-Length.
async fn read_response(conn: &mut TcpStream) -> (String, Value) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = timeout(BOUND, conn.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if got.len() >= end + 4 + len {
                let body = serde_json::from_slice(&got[end + 4..end + 4 + len]).unwrap();
                return (head, body);
            }
        }
    }
}

async fn get(addr: SocketAddr, path: &str) -> (String, Value) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    read_response(&mut conn).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_requests_are_closed_after_the_header_timeout_and_healthz_answers() {
    let app = TestApp::with(|c| c.header_read_timeout_secs = 1).await;
    let served = app.serve().await;
    let started = Instant::now();
    let mut partial = Vec::new();
    for _ in 0..300 {
        let mut c = TcpStream::connect(served.addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n")
            .await
            .unwrap();
        partial.push(c);
    }
    let (head, body) = get(served.addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body["status"], "ok");
    for c in &mut partial {
        let rest = read_until_closed(c).await;
        assert!(rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    let (head, _) = get(served.addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    served.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::with(|c| c.header_read_timeout_secs = 1).await;
    let served = app.serve().await;
    let mut conn = TcpStream::connect(served.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("connection: close"));
    let idle = Instant::now();
    assert!(read_until_closed(&mut conn).await.is_empty());
    let took = idle.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    served.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408() {
    let app = TestApp::with(|c| c.body_read_timeout_secs = 1).await;
    let served = app.serve().await;
    let mut conn = TcpStream::connect(served.addr).await.unwrap();
    let head = format!(
        "POST /v1/detect HTTP/1.1\r\nHost: t\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"events\":",
        app.admin
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let (head, body) = read_response(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(sent.elapsed() >= Duration::from_millis(900));
    assert_eq!(body["error"]["code"], "request_timeout");
    assert!(head.to_ascii_lowercase().contains("x-request-id: req_"));
    served.stop().await;
}

#[tokio::test]
async fn requests_over_the_in_flight_cap_are_shed_with_503_but_healthz_answers() {
    let app = TestApp::with(|c| c.max_in_flight_requests = 1).await;
    let created = app
        .post(
            "/v1/keys",
            &app.admin.clone(),
            json!({ "role": "admin", "name": "holder" }),
        )
        .await;
    let (key, key_id) = (
        created.body["key"].as_str().unwrap().to_string(),
        created.body["id"].as_str().unwrap().to_string(),
    );
    let served = app.serve().await;
    // A request waiting for its body holds the only slot.
    let body = r#"{"events":[{"type":"log","body":{"m":"ok"}}]}"#;
    let mut holder = TcpStream::connect(served.addr).await.unwrap();
    let head = format!(
        "POST /v1/detect HTTP/1.1\r\nHost: t\r\nX-Api-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..1]
    );
    holder.write_all(head.as_bytes()).await.unwrap();
    // Authentication counts the request once it holds the slot.
    app.wait_for("the holder's request in flight", || async {
        let days = app
            .state
            .usage
            .for_key(&app.state.store, &key_id, 1)
            .await
            .unwrap();
        days.first().is_some_and(|d| d.requests == 1)
    })
    .await;
    let (head, refused) = get(served.addr, "/readyz").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert_eq!(refused["error"]["code"], "unavailable");
    assert!(head.to_ascii_lowercase().contains("x-request-id: req_"));
    let (head, _) = get(served.addr, "/healthz").await;
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "liveness is never shed: {head}"
    );
    holder.write_all(&body.as_bytes()[1..]).await.unwrap();
    let (head, _) = read_response(&mut holder).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = get(served.addr, "/readyz").await;
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the slot is free again: {head}"
    );
    served.stop().await;
}
