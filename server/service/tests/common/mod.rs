//! Shared helpers: an app on a temporary database with the scripted detector,
//! and a one-shot request helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use driftlock_service::detectors::{ScriptedDetectors, SharedFactory};
use driftlock_service::server::{ConnectionLimits, serve};
use driftlock_service::{AppState, ServeConfig, app, auth};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub dir: Arc<TempDir>,
    pub admin: String,
}

/// The app served on a loopback port by the real accept loop.
pub struct Served {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Stops accepting and waits for the loop to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub fn test_config(dir: &TempDir) -> ServeConfig {
    ServeConfig {
        data_dir: dir.path().to_path_buf(),
        sync: driftlock_store::SyncMode::Normal,
        ..ServeConfig::default()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = test_config(&dir);
        config.rate_limits.free = 100_000;
        config.rate_limits.enterprise = 100_000;
        config.failed_auth_per_minute = 100_000;
        config.anonymous_rate_limit = 100_000;
        tweak(&mut config);
        Self::open(dir, config, Arc::new(ScriptedDetectors)).await
    }

    pub async fn open(dir: Arc<TempDir>, config: ServeConfig, factory: SharedFactory) -> Self {
        let state = AppState::open(config, factory).unwrap();
        let admin = "test-admin-key-0123456789abcdef".to_string();
        let k = admin.clone();
        state
            .store
            .with_conn(|c| auth::bootstrap_admin(c, Some(&k)))
            .unwrap();
        TestApp {
            app: app(state.clone()),
            state,
            dir,
            admin,
        }
    }

    /// Serves the app on 127.0.0.1 with an ephemeral port.
    pub async fn serve(&self) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = ConnectionLimits::from_config(&self.state.config);
        let task = tokio::spawn(serve(listener, self.app.clone(), limits, async {
            let _ = stopped.await;
        }));
        Served { addr, stop, task }
    }

    /// Stops the worker and reopens the same database (a restart).
    pub async fn restart(self) -> Self {
        self.state.shutdown().await;
        let config = (*self.state.config).clone();
        let factory = self.state.scorer.shared_factory();
        let dir = self.dir.clone();
        drop(self);
        Self::open(dir, config, factory).await
    }

    pub async fn raw(&self, req: Request<Body>) -> Reply {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        if let Some(k) = key {
            b = b.header("x-api-key", k);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&v).unwrap()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.raw(req).await
    }

    pub async fn get(&self, uri: &str, key: &str) -> Reply {
        self.call("GET", uri, Some(key), None).await
    }

    pub async fn post(&self, uri: &str, key: &str, body: Value) -> Reply {
        self.call("POST", uri, Some(key), Some(body)).await
    }

    /// A new key via the API.
    pub async fn key(&self, role: &str, stream: Option<&str>) -> String {
        let mut body = json!({ "role": role, "name": "test" });
        if let Some(s) = stream {
            body["stream_id"] = json!(s);
        }
        let r = self.post("/v1/keys", &self.admin.clone(), body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["key"].as_str().unwrap().to_string()
    }

    /// Polls until `f` holds (bounded).
    pub async fn wait_for<F, Fut>(&self, what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..1000 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Waits for a stream's queue to drain.
    pub async fn drained(&self, stream: &str) {
        let key = self.admin.clone();
        self.wait_for("the worker", || {
            let key = key.clone();
            async move {
                let r = self.get(&format!("/v1/streams/{stream}"), &key).await;
                r.status == 200 && r.body["queue_depth"] == 0
            }
        })
        .await;
    }
}

/// `n` events; those at the given positions carry `ANOMALY`.
pub fn events(n: usize, anomalous: &[usize]) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let msg = if anomalous.contains(&i) { "ANOMALY spike" } else { "ok" };
            json!({ "type": "log", "timestamp": format!("2025-01-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60), "body": { "message": msg, "i": i } })
        })
        .collect()
}

/// A small-baseline config for the scripted detector.
pub fn small() -> Value {
    json!({ "baseline_size": 20, "window_size": 10, "hop_size": 5 })
}
