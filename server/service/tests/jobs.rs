//! `/v1/jobs`: backfills run to `succeeded` with their anomalies in the store,
//! cancellation at a batch boundary, schedules that survive a restart and fire
//! on `Scheduler::tick`, jobs interrupted by a crash, archive-root checks and
//! field-naming validation. Waits are on the jobs' change notifications (and
//! the batch gate), bounded, never on a clock.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestApp;
use driftlock_datasets::{GeneratorConfig, StreamKind};
use driftlock_service::ServeConfig;
use serde_json::{Value, json};
use tempfile::TempDir;

const DATES: [&str; 2] = ["2025-01-01", "2025-01-02"];
const ROWS_PER_DATE: usize = 1000;

/// An archive root holding `archive/date=.../part-0.parquet` (2 streams,
/// labelled anomalies injected) and a file outside it.
struct Archive {
    dir: TempDir,
}

impl Archive {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let mut events =
            GeneratorConfig::new(StreamKind::Logs, (ROWS_PER_DATE * DATES.len()) as u64, 11)
                .with_streams(2)
                .build()
                .unwrap();
        for date in DATES {
            let part = root.join(format!("archive/date={date}"));
            std::fs::create_dir_all(&part).unwrap();
            let chunk: Vec<_> = events.by_ref().take(ROWS_PER_DATE).collect();
            driftlock_datasets::write::write_parquet(part.join("part-0.parquet"), chunk, 250)
                .unwrap();
        }
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::copy(
            root.join("archive/date=2025-01-01/part-0.parquet"),
            outside.join("secret.parquet"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        Archive { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    async fn app(&self) -> TestApp {
        let root = self.root();
        TestApp::with(move |c| with_root(c, root)).await
    }
}

fn with_root(c: &mut ServeConfig, root: PathBuf) {
    c.archive_roots = vec![root];
    // The tests drive the scheduler with `tick` at the times they choose.
    c.run_schedules = false;
}

/// A small detector, and the generator's label columns left out of the body.
fn job(path: &str) -> Value {
    json!({
        "path": path,
        "config": { "baseline_size": 100, "window_size": 20, "hop_size": 5, "permutation_count": 200 },
        "columns": { "ignore": ["label", "anomaly_kind"] },
        "batch_rows": 100,
    })
}

async fn submit(t: &TestApp, body: Value) -> Value {
    let r = t.post("/v1/jobs", &t.admin, body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.headers["location"],
        format!("/v1/jobs/{}", r.body["id"].as_str().unwrap())
    );
    r.body
}

/// Re-reads the job after every change notification until `done` holds.
async fn wait_job(t: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut changes = t.state.jobs.subscribe();
    for _ in 0..100_000 {
        let r = t.get(&format!("/v1/jobs/{id}"), &t.admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if done(&r.body) {
            return r.body;
        }
        tokio::time::timeout(Duration::from_secs(300), changes.changed())
            .await
            .expect("no job changed for 300 s")
            .unwrap();
    }
    panic!("job {id} never reached the expected state");
}

fn ended(j: &Value) -> bool {
    ["succeeded", "failed", "cancelled"].contains(&j["status"].as_str().unwrap())
}

fn assert_error(r: &common::Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
    let e = &r.body["error"];
    assert!(!e["message"].as_str().unwrap().is_empty());
    assert!(e["request_id"].as_str().unwrap().starts_with("req_"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_job_succeeds_and_its_anomalies_are_listed() {
    let archive = Archive::new();
    let t = archive.app().await;
    let created = submit(&t, job("archive")).await;
    assert_eq!(created["status"], "queued");
    assert_eq!(created["kind"], "backfill");
    let path = created["spec"]["path"].as_str().unwrap();
    assert!(
        Path::new(path).is_absolute() && path.ends_with("archive"),
        "{path}"
    );
    assert_eq!(created["spec"]["config"]["baseline_size"], 100);
    assert_eq!(created["spec"]["config"]["p_value_threshold"], 0.05); // defaults filled

    let id = created["id"].as_str().unwrap().to_owned();
    let done = wait_job(&t, &id, ended).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let total = (ROWS_PER_DATE * DATES.len()) as u64;
    assert_eq!(done["rows_done"], total);
    assert_eq!(done["rows_total"], total);
    assert_eq!(done["files_done"], 2);
    assert_eq!(done["files_total"], 2);
    assert_eq!(done["bytes_done"], done["bytes_total"]);
    assert!(done["bytes_total"].as_u64().unwrap() > 0);
    assert!(done["rows_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(done["eta_seconds"], 0.0);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    assert!(done["error"].is_null());
    let found = done["anomaly_count"].as_u64().unwrap();
    assert!(found >= 3, "too few anomalies to check: {found}");

    // The anomalies are the store's, seen through the API.
    let list = t.get("/v1/anomalies?limit=100", &t.admin).await;
    assert_eq!(list.body["total"], found, "{}", list.body);
    let first = &list.body["anomalies"][0];
    assert!(first["id"].as_str().unwrap().starts_with("anom_bf_"));
    assert!(["svc-0", "svc-1"].contains(&first["stream_id"].as_str().unwrap()));

    // The same job again finds its finished checkpoint: nothing is added.
    let again = submit(&t, job("archive")).await;
    let again = wait_job(&t, again["id"].as_str().unwrap(), ended).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["anomaly_count"], found);
    let list = t.get("/v1/anomalies?limit=1", &t.admin).await;
    assert_eq!(list.body["total"], found);

    // The list shows both, newest first.
    let jobs = t.get("/v1/jobs?status=succeeded", &t.admin).await;
    assert_eq!(jobs.body["total"], 2);
    assert_eq!(jobs.body["jobs"][1]["id"], id.as_str());

    // Jobs are for admins only.
    let reader = t.key("stream", Some("svc-0")).await;
    assert_error(
        &t.post("/v1/jobs", &reader, job("archive")).await,
        403,
        "forbidden",
    );
    assert_error(&t.get("/v1/jobs", &reader).await, 403, "forbidden");
    let r = t.get(&format!("/v1/jobs/{id}"), &reader).await;
    assert_error(&r, 403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_running_job_and_a_queued_one_never_starts() {
    let archive = Archive::new();
    let t = archive.app().await;
    let gate = t.state.jobs.gate();
    gate.close();
    let running = submit(&t, job("archive")).await;
    let running_id = running["id"].as_str().unwrap().to_owned();
    gate.arrivals(1).await; // it has read its first batch and waits at the gate
    let waiting = submit(&t, job("archive/date=2025-01-02")).await;
    let waiting_id = waiting["id"].as_str().unwrap().to_owned();

    // One job at a time (the default): the second stays queued; cancelled, it never starts.
    let r = t.get(&format!("/v1/jobs/{waiting_id}"), &t.admin).await;
    assert_eq!(r.body["status"], "queued");
    let r = t
        .call(
            "DELETE",
            &format!("/v1/jobs/{waiting_id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");

    let r = t.get(&format!("/v1/jobs/{running_id}"), &t.admin).await;
    assert_eq!(r.body["status"], "running");
    let r = t
        .call(
            "DELETE",
            &format!("/v1/jobs/{running_id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["cancel_requested"], true);
    gate.open();

    let stopped = wait_job(&t, &running_id, ended).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    let rows = stopped["rows_done"].as_u64().unwrap();
    assert!(
        rows > 0 && rows < (ROWS_PER_DATE * DATES.len()) as u64,
        "{stopped}"
    );
    assert!(stopped["finished_at"].is_string());

    let never = t.get(&format!("/v1/jobs/{waiting_id}"), &t.admin).await;
    assert_eq!(never.body["status"], "cancelled");
    assert!(never.body["started_at"].is_null(), "{}", never.body);
    assert_eq!(never.body["rows_done"], 0);

    // Ended jobs cannot be cancelled; unknown ones are not found.
    let r = t
        .call(
            "DELETE",
            &format!("/v1/jobs/{running_id}"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_error(&r, 409, "conflict");
    let r = t
        .call("DELETE", "/v1/jobs/job_nope", Some(&t.admin), None)
        .await;
    assert_error(&r, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_survive_a_restart_and_fire_on_tick() {
    let archive = Archive::new();
    let t = archive.app().await;
    let mut body = job("archive");
    body["schedule"] = json!("0 2 * * *");
    body["partition"] = json!("latest");
    let created = submit(&t, body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "queued");
    assert_eq!(created["schedule"], "0 2 * * *");
    let next = created["next_run_at"].as_str().unwrap().to_owned();
    assert!(next.ends_with("T02:00:00.000Z"), "{next}");

    let t = t.restart().await;
    let r = t.get(&format!("/v1/jobs/{id}"), &t.admin).await;
    assert_eq!(r.body["schedule"], "0 2 * * *");
    assert_eq!(r.body["next_run_at"], next.as_str());
    assert_eq!(r.body["spec"]["partition"], "latest");

    // Just before its time nothing fires; at its time one run starts.
    let at: chrono::DateTime<chrono::Utc> = next.parse().unwrap();
    let scheduler = t.state.jobs.scheduler();
    let early = scheduler
        .tick(at - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert!(early.is_empty());
    let runs = scheduler.tick(at).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert!(scheduler.tick(at).await.unwrap().is_empty(), "fired twice");

    let listed = t.get(&format!("/v1/jobs?parent_id={id}"), &t.admin).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["jobs"][0]["id"], runs[0].as_str());
    let run = wait_job(&t, &runs[0], ended).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["parent_id"], id.as_str());
    // `latest`: only the newest partition.
    assert_eq!(run["rows_total"], ROWS_PER_DATE as u64);
    assert_eq!(run["files_total"], 1);

    let schedule = t.get(&format!("/v1/jobs/{id}"), &t.admin).await.body;
    assert_eq!(schedule["status"], "queued");
    assert_eq!(schedule["last_run_id"], runs[0].as_str());
    let moved: chrono::DateTime<chrono::Utc> =
        schedule["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(moved - at, chrono::Duration::days(1));

    // A cancelled schedule never fires again.
    let r = t
        .call("DELETE", &format!("/v1/jobs/{id}"), Some(&t.admin), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["next_run_at"].is_null());
    let later = scheduler
        .tick(at + chrono::Duration::days(30))
        .await
        .unwrap();
    assert!(later.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_when_the_process_dies_is_failed_on_restart() {
    let archive = Archive::new();
    let t = archive.app().await;
    t.state.jobs.gate().close();
    let created = submit(&t, job("archive")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    t.state.jobs.gate().arrivals(1).await;

    // A second server on the same data directory, as after a crash.
    let config = (*t.state.config).clone();
    let after = TestApp::open(t.dir.clone(), config, t.state.scorer.shared_factory()).await;
    let r = after.get(&format!("/v1/jobs/{id}"), &after.admin).await;
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("interrupted by restart")
    );

    // The old process's job, released, cannot overwrite the verdict.
    t.state.shutdown().await;
    let r = after.get(&format!("/v1/jobs/{id}"), &after.admin).await;
    assert_eq!(r.body["status"], "failed");

    // Submitted again, it runs to the end (resuming from its checkpoint).
    let again = submit(&after, job("archive")).await;
    let again = wait_job(&after, again["id"].as_str().unwrap(), ended).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["rows_done"], (ROWS_PER_DATE * DATES.len()) as u64);
    assert!(again["anomaly_count"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn paths_outside_the_archive_roots_are_refused() {
    // No roots: jobs are off.
    let t = TestApp::new().await;
    let r = t.post("/v1/jobs", &t.admin, job("archive")).await;
    assert_error(&r, 403, "forbidden");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--archive-root")
    );

    let archive = Archive::new();
    let t = archive.app().await;
    let outside = archive.outside().join("secret.parquet");
    for path in [
        "../outside/secret.parquet".to_owned(),
        "archive/../../outside".to_owned(),
        outside.display().to_string(),
        "escape/secret.parquet".to_owned(), // a symlink out of the root
        "/etc/passwd".to_owned(),
        "archive/date=2030-01-01".to_owned(), // inside, but missing
    ] {
        let r = t.post("/v1/jobs", &t.admin, job(&path)).await;
        assert_error(&r, 403, "forbidden");
    }
    let listed = t.get("/v1/jobs", &t.admin).await;
    assert_eq!(listed.body["total"], 0);
    // Absolute paths inside a root are fine, as is one file.
    let file = archive
        .root()
        .join("archive/date=2025-01-01/part-0.parquet");
    let one = submit(&t, job(&file.display().to_string())).await;
    let one = wait_job(&t, one["id"].as_str().unwrap(), ended).await;
    assert_eq!(one["status"], "succeeded", "{one}");
    assert_eq!(one["rows_total"], ROWS_PER_DATE as u64);
}

#[tokio::test]
async fn invalid_bodies_name_the_field() {
    let archive = Archive::new();
    let t = archive.app().await;
    let with = |field: &str, value: Value| {
        let mut b = job("archive");
        b[field] = value;
        b
    };
    let cases = [
        (with("schedule", json!("61 * * * *")), "schedule"),
        (with("schedule", json!("0 2 * *")), "schedule"),
        (with("schedule", json!("0 0 2 * * *")), "schedule"),
        (with("schedule", json!("0 0 30 2 *")), "schedule"),
        (with("schedule", json!(5)), "schedule"),
        (with("since", json!("2025-13-01")), "since"),
        (with("partition", json!("newest")), "partition"),
        (
            {
                let mut b = with("partition", json!("latest"));
                b["until"] = json!("2025-01-02");
                b
            },
            "partition",
        ),
        (
            {
                let mut b = with("since", json!("2025-02-01"));
                b["until"] = json!("2025-01-01");
                b
            },
            "until",
        ),
        (
            with("config", json!({"baseline_size": 1})),
            "config.baseline_size",
        ),
        (with("config", json!({"nope": 1})), "config"),
        (with("columns", json!({"bogus": "x"})), "columns.bogus"),
        (with("columns", json!([])), "columns"),
        (with("columns", json!(["a", "b"])), "columns"),
        (
            with("columns", json!({"default_type": "weather"})),
            "columns.default_type",
        ),
        (with("batch_rows", json!(0)), "batch_rows"),
        (with("kind", json!("train")), "kind"),
        (with("path", json!("")), "path"),
        (with("extra", json!(1)), "extra"),
        (json!({"schedule": "0 2 * * *"}), "path"),
    ];
    for (body, field) in cases {
        let r = t.post("/v1/jobs", &t.admin, body.clone()).await;
        assert_error(&r, 400, "invalid_argument");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let r = t.get("/v1/jobs?status=done", &t.admin).await;
    assert_error(&r, 400, "invalid_argument");
    assert_eq!(r.body["error"]["field"], "status");
    let r = t.get("/v1/jobs?limit=0", &t.admin).await;
    assert_eq!(r.body["error"]["field"], "limit");
    let r = t.get("/v1/jobs/job_nope", &t.admin).await;
    assert_error(&r, 404, "not_found");
    assert_eq!(t.get("/v1/jobs", &t.admin).await.body["total"], 0);
}

#[tokio::test]
async fn jobs_are_listed_newest_first_in_pages() {
    let archive = Archive::new();
    let t = archive.app().await;
    let mut ids = Vec::new();
    for hour in 1..=3 {
        let mut body = job("archive");
        body["schedule"] = json!(format!("0 {hour} * * *"));
        ids.push(submit(&t, body).await["id"].as_str().unwrap().to_owned());
    }
    let first = t.get("/v1/jobs?limit=2", &t.admin).await.body;
    assert_eq!(first["total"], 3);
    assert_eq!(first["jobs"][0]["id"], ids[2].as_str());
    assert_eq!(first["jobs"][1]["id"], ids[1].as_str());
    let token = first["next_page_token"].as_str().unwrap();
    let second = t
        .get(&format!("/v1/jobs?limit=2&page_token={token}"), &t.admin)
        .await
        .body;
    assert_eq!(second["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(second["jobs"][0]["id"], ids[0].as_str());
    assert!(second["next_page_token"].is_null());
    let r = t.get("/v1/jobs?page_token=zz", &t.admin).await;
    assert_eq!(r.body["error"]["field"], "page_token");
    // The OpenAPI document describes the endpoints.
    let doc = t.get("/v1/openapi.json", &t.admin).await.body;
    assert!(doc["paths"]["/v1/jobs"]["post"].is_object());
    assert!(doc["paths"]["/v1/jobs/{id}"]["delete"].is_object());
}
