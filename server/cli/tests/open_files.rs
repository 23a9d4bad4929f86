//! Partial requests (slowloris) against a server under a lowered open-file
//! limit: the server fits its connection cap under the limit, closes partial
//! requests after the header timeout and `/healthz` is answered throughout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{BIN, http, launch, serve_args};

/// More partial connections than the server's open-file limit.
const PARTIAL: usize = 300;
const OPEN_FILES: u32 = 256;

#[test]
fn partial_requests_beyond_the_file_limit_are_closed_and_healthz_answers() {
    let dir = tempfile::tempdir().unwrap();
    // `ulimit -n` sets the soft and the hard limit, so the server cannot raise it.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {OPEN_FILES} && exec \"$@\""))
        .arg("sh")
        .arg(BIN)
        .args(serve_args(dir.path(), "scripted"))
        .args(["--header-read-timeout-secs", "1"]);
    let server = launch(command);
    let started = Instant::now();
    let mut partial: Vec<TcpStream> = (0..PARTIAL)
        .map(|_| {
            let mut c = TcpStream::connect(server.addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                .unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c
        })
        .collect();
    let (status, body) = http(server.addr, "GET", "/healthz", None).unwrap();
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let answered = started.elapsed();
    assert!(answered < Duration::from_secs(10), "{answered:?}");
    for c in &mut partial {
        let mut rest = Vec::new();
        // EOF or a reset: closed either way; a read timeout fails the test.
        match c.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a partial request was left open: {e}"),
        }
    }
    let (status, _) = http(server.addr, "GET", "/healthz", None).unwrap();
    assert_eq!(status, 200);
}
