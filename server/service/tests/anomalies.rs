//! /v1/anomalies: filters, pagination under concurrent inserts, get, patch,
//! feedback, exports and stream isolation.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{TestApp, events, small};
use serde_json::{Value, json};

/// Detects `n` anomalies on `stream` (timestamps 2025-01-01T10:MM:SS).
async fn seed(t: &TestApp, stream: &str, n: usize) {
    let mut body =
        json!({ "stream_id": stream, "events": events(20, &[]), "config_override": small() });
    t.post("/v1/detect", &t.admin.clone(), body.clone()).await;
    let hot: Vec<usize> = (0..n).collect();
    body = json!({ "stream_id": stream, "events": events(n.max(1), &hot) });
    let r = t.post("/v1/detect", &t.admin.clone(), body).await;
    assert_eq!(r.body["anomaly_count"], n, "{}", r.body);
}

#[tokio::test]
async fn list_filters_and_validation() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    seed(&t, "a", 5).await;
    seed(&t, "b", 3).await;
    let all = t.get("/v1/anomalies", &admin).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["total"], 8);
    assert_eq!(all.body["next_page_token"], Value::Null);
    let first = &all.body["anomalies"][0];
    for k in [
        "id",
        "stream_id",
        "timestamp",
        "metrics",
        "event_summary",
        "why",
        "status",
    ] {
        assert!(!first[k].is_null(), "{k} missing: {first}");
    }
    assert_eq!(first["status"], "new");
    assert_eq!(first["event_summary"]["type"], "log");
    assert_eq!(
        t.get("/v1/anomalies?stream_id=b", &admin).await.body["total"],
        3
    );
    assert_eq!(
        t.get("/v1/anomalies?min_ncd=0.5", &admin).await.body["total"],
        8
    );
    assert_eq!(
        t.get("/v1/anomalies?min_ncd=0.95", &admin).await.body["total"],
        0
    );
    assert_eq!(
        t.get("/v1/anomalies?max_p_value=0.01", &admin).await.body["total"],
        8
    );
    assert_eq!(
        t.get("/v1/anomalies?max_p_value=0.0001", &admin).await.body["total"],
        0
    );
    assert_eq!(
        t.get("/v1/anomalies?has_evidence=true", &admin).await.body["total"],
        8
    );
    assert_eq!(
        t.get("/v1/anomalies?has_evidence=false", &admin).await.body["total"],
        0
    );
    assert_eq!(
        t.get("/v1/anomalies?status=new", &admin).await.body["total"],
        8
    );
    assert_eq!(
        t.get("/v1/anomalies?status=archived", &admin).await.body["total"],
        0
    );
    // Events 0..4 of each batch have timestamps 10:00:00 .. 10:00:04.
    let r = t
        .get(
            "/v1/anomalies?since=2025-01-01T10:00:02Z&until=2025-01-01T10:00:03Z",
            &admin,
        )
        .await;
    assert_eq!(r.body["total"], 3, "{}", r.body);
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "since=yesterday",
        "until=2025-13-01",
        "status=old",
        "min_ncd=abc",
        "has_evidence=maybe",
        "page_token=zzz",
    ] {
        let r = t.get(&format!("/v1/anomalies?{bad}"), &admin).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.code(), "invalid_argument");
    }
}

#[tokio::test]
async fn pagination_neither_skips_nor_repeats_during_inserts() {
    let t = Arc::new(TestApp::new().await);
    seed(&t, "p", 0).await;
    let mut body =
        json!({ "stream_id": "p", "events": events(100, &(0..100).collect::<Vec<_>>()) });
    let r = t.post("/v1/detect", &t.admin.clone(), body.clone()).await;
    assert_eq!(r.body["anomaly_count"], 100);
    let before: HashSet<String> = {
        let mut ids = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let uri = match &token {
                Some(tk) => format!("/v1/anomalies?limit=100&page_token={tk}"),
                None => "/v1/anomalies?limit=100".into(),
            };
            let page = t.get(&uri, &t.admin.clone()).await;
            for a in page.body["anomalies"].as_array().unwrap() {
                ids.insert(a["id"].as_str().unwrap().to_string());
            }
            match page.body["next_page_token"].as_str() {
                Some(tk) => token = Some(tk.to_string()),
                None => break,
            }
        }
        ids
    };
    assert_eq!(before.len(), 100);
    // Page through 7 at a time while another task keeps inserting.
    let writer = {
        let t = t.clone();
        body["stream_id"] = json!("p");
        tokio::spawn(async move {
            for _ in 0..5 {
                let evs = events(10, &(0..10).collect::<Vec<_>>());
                t.post(
                    "/v1/detect",
                    &t.admin.clone(),
                    json!({ "stream_id": "p", "events": evs }),
                )
                .await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let uri = match &token {
            Some(tk) => format!("/v1/anomalies?limit=7&page_token={tk}"),
            None => "/v1/anomalies?limit=7".into(),
        };
        let page = t.get(&uri, &t.admin.clone()).await;
        assert_eq!(page.status, 200);
        for a in page.body["anomalies"].as_array().unwrap() {
            seen.push(a["id"].as_str().unwrap().to_string());
        }
        match page.body["next_page_token"].as_str() {
            Some(tk) => token = Some(tk.to_string()),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no anomaly repeated");
    assert!(
        before.is_subset(&unique),
        "every anomaly present at the start was listed"
    );
    assert_eq!(
        t.get("/v1/anomalies", &t.admin.clone()).await.body["total"],
        150
    );
}

#[tokio::test]
async fn get_patch_and_feedback() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    seed(&t, "g", 1).await;
    let list = t.get("/v1/anomalies", &admin).await;
    let id = list.body["anomalies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = t.get(&format!("/v1/anomalies/{id}"), &admin).await;
    assert_eq!(d.status, 200);
    let ev = &d.body["evidence"];
    for k in [
        "config",
        "seed",
        "permutation_count",
        "compressor",
        "baseline_digest",
        "encoded",
        "nearest",
    ] {
        assert!(!ev[k].is_null(), "evidence.{k} missing: {ev}");
    }
    assert_eq!(d.body["index"], 20);
    assert_eq!(d.body["event"]["body"]["message"], "ANOMALY spike");
    let r = t
        .call(
            "PATCH",
            &format!("/v1/anomalies/{id}"),
            Some(&admin),
            Some(json!({"status": "viewed"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "viewed");
    assert_eq!(
        t.get("/v1/anomalies?status=viewed", &admin).await.body["total"],
        1
    );
    for bad in [
        json!({"status": "gone"}),
        json!({"status": "new", "extra": 1}),
        json!({}),
    ] {
        let r = t
            .call(
                "PATCH",
                &format!("/v1/anomalies/{id}"),
                Some(&admin),
                Some(bad),
            )
            .await;
        assert_eq!(r.status, 400);
    }
    let r = t
        .call(
            "PATCH",
            "/v1/anomalies/anom_missing",
            Some(&admin),
            Some(json!({"status": "viewed"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    let fb = json!({"feedback_type": "confirmed", "reason": "Clear production incident"});
    let r = t
        .post(&format!("/v1/anomalies/{id}/feedback"), &admin, fb)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["feedback_type"], "confirmed");
    let r = t
        .post(
            &format!("/v1/anomalies/{id}/feedback"),
            &admin,
            json!({"feedback_type": "meh"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .post(
            "/v1/anomalies/anom_missing/feedback",
            &admin,
            json!({"feedback_type": "dismissed"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let d = t.get(&format!("/v1/anomalies/{id}"), &admin).await;
    assert_eq!(d.body["feedback"][0]["reason"], "Clear production incident");
}

#[tokio::test]
async fn stream_keys_see_only_their_stream() {
    let t = TestApp::new().await;
    seed(&t, "mine", 2).await;
    seed(&t, "theirs", 3).await;
    let k = t.key("stream", Some("mine")).await;
    let r = t.get("/v1/anomalies", &k).await;
    assert_eq!(r.body["total"], 2);
    assert!(
        r.body["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["stream_id"] == "mine")
    );
    let r = t.get("/v1/anomalies?stream_id=theirs", &k).await;
    assert_eq!(r.status, 403);
    let theirs = t
        .get("/v1/anomalies?stream_id=theirs", &t.admin.clone())
        .await;
    let other_id = theirs.body["anomalies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another stream's anomaly is invisible (404, not 403: its existence is not disclosed).
    for (m, uri, body) in [
        ("GET", format!("/v1/anomalies/{other_id}"), None),
        (
            "PATCH",
            format!("/v1/anomalies/{other_id}"),
            Some(json!({"status": "archived"})),
        ),
        (
            "POST",
            format!("/v1/anomalies/{other_id}/feedback"),
            Some(json!({"feedback_type": "dismissed"})),
        ),
        (
            "POST",
            format!("/v1/anomalies/{other_id}/export"),
            Some(json!({})),
        ),
    ] {
        let r = t.call(m, &uri, Some(&k), body).await;
        assert_eq!(r.status, 404, "{m} {uri}");
    }
    let r = t
        .post("/v1/anomalies/export", &k, json!({"stream_id": "theirs"}))
        .await;
    assert_eq!(r.status, 403);
    let r = t.post("/v1/anomalies/export", &k, json!({})).await;
    let text = String::from_utf8(r.bytes).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("\"theirs\""));
    assert_eq!(t.get("/v1/streams/theirs", &k).await.status, 403);
    let s = t.get("/v1/streams", &k).await;
    assert_eq!(s.body["total"], 1);
}

#[tokio::test]
async fn bulk_exports_in_every_format() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    seed(&t, "e", 4).await;
    seed(&t, "f", 1).await;
    let r = t
        .post(
            "/v1/anomalies/export",
            &admin,
            json!({"format": "ndjson", "stream_id": "e"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let rows: Vec<Value> = String::from_utf8(r.bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[0]["id"].as_str().unwrap().starts_with("anom_"));
    assert!(!rows[0]["evidence"]["baseline_digest"].is_null());
    let r = t
        .post("/v1/anomalies/export", &admin, json!({"format": "csv"}))
        .await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.bytes).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(rdr.records().count(), 5);
    let r = t
        .post("/v1/anomalies/export", &admin, json!({"format": "parquet"}))
        .await;
    assert_eq!(r.status, 200);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        axum::body::Bytes::from(r.bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 5);
    let r = t
        .post("/v1/anomalies/export", &admin, json!({"format": "arrow"}))
        .await;
    assert_eq!(r.status, 200);
    let reader =
        arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(r.bytes), None).unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 5);
    let r = t
        .post("/v1/anomalies/export", &admin, json!({"format": "xlsx"}))
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .post("/v1/anomalies/export", &admin, json!({"bogus": 1}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn single_export_as_json_and_markdown() {
    let t = TestApp::new().await;
    let admin = t.admin.clone();
    seed(&t, "m", 1).await;
    let id = t.get("/v1/anomalies", &admin).await.body["anomalies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .call(
            "POST",
            &format!("/v1/anomalies/{id}/export"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    let r = t
        .post(
            &format!("/v1/anomalies/{id}/export"),
            &admin,
            json!({"format": "markdown"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = String::from_utf8(r.bytes).unwrap();
    assert!(md.starts_with(&format!("# Anomaly {id}")));
    assert!(md.contains("Baseline digest"));
    assert!(md.contains("Nearest baseline events"));
    let r = t
        .post(
            &format!("/v1/anomalies/{id}/export"),
            &admin,
            json!({"format": "pdf"}),
        )
        .await;
    assert_eq!(r.status, 400);
}
