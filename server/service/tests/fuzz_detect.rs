//! Bounded fuzzing of the `/v1/detect` request decoder: the bodies in
//! `tests/corpus/detect/` mutated as JSON trees and as bytes, decoded as the
//! handler decodes them, and a share sent through the whole app. A bad body
//! is a 400 in the spec's error shape naming what is wrong; nothing panics
//! and nothing answers 5xx.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::TestApp;
use driftlock_datasets::mutate::Mutator;
use driftlock_service::api::detect::DetectRequest;
use driftlock_service::api::extract::parse_json;
use driftlock_service::error::ApiError;
use serde_json::Value;

/// Mutated bodies decoded per seed body, and sent to the app (20,000 and
/// 2,000 a seed also passed once, in about 8 s).
const DECODE_RUNS: usize = 5000;
const REQUEST_RUNS: usize = 500;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/corpus/detect");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "corpus in {}", dir.display());
    out
}

/// The `n`th mutated body of a seed: even runs as a tree, odd ones as bytes.
fn mutated(m: &mut Mutator, tree: &Value, bytes: &[u8], n: usize) -> Vec<u8> {
    if n.is_multiple_of(2) {
        serde_json::to_vec(&m.json(tree)).unwrap()
    } else {
        m.bytes(bytes)
    }
}

#[test]
fn detect_decoder_survives_5000_mutated_bodies_each() {
    for (i, (name, bytes)) in seeds().into_iter().enumerate() {
        assert!(parse_json::<DetectRequest>(&bytes).is_ok(), "seed {name}");
        let tree: Value = serde_json::from_slice(&bytes).unwrap();
        let mut m = Mutator::new(200 + i as u64);
        let (mut refused, mut decoded) = (0, 0);
        for run in 0..DECODE_RUNS {
            let body = mutated(&mut m, &tree, &bytes, run);
            match catch_unwind(AssertUnwindSafe(|| parse_json::<DetectRequest>(&body))) {
                Ok(Ok(_)) => decoded += 1,
                Ok(Err(ApiError::InvalidArgument(_) | ApiError::InvalidField { .. })) => {
                    refused += 1
                }
                Ok(Err(other)) => panic!("{name} run {run}: {other:?}"),
                Err(_) => panic!(
                    "{name} run {run} panicked on {}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
        assert!(
            refused > 0 && decoded > 0,
            "{name}: {refused} refused, {decoded} decoded"
        );
    }
}

#[tokio::test]
async fn detect_endpoint_answers_500_mutated_bodies_each_without_a_5xx() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    for (i, (name, bytes)) in seeds().into_iter().enumerate() {
        let tree: Value = serde_json::from_slice(&bytes).unwrap();
        let mut m = Mutator::new(300 + i as u64);
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for run in 0..REQUEST_RUNS {
            let body = mutated(&mut m, &tree, &bytes, run);
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/v1/detect")
                .header("x-api-key", &admin)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let r = app.raw(req).await;
            let code = r.status.as_u16();
            *statuses.entry(code).or_default() += 1;
            assert!(
                code < 500,
                "{name} run {run}: {code} {:?} for {}",
                r.body,
                String::from_utf8_lossy(&body)
            );
            if code != 200 {
                assert!(
                    r.body["error"]["code"].is_string()
                        && r.body["error"]["request_id"].is_string(),
                    "{name} run {run}: {code} without the error shape: {:?}",
                    r.bytes
                );
            }
        }
        // Both outcomes happen: the mutations reach past the decoder.
        assert!(
            statuses.contains_key(&200) && statuses.contains_key(&400),
            "{name}: {statuses:?}"
        );
    }
}
