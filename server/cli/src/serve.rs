//! `driftlock serve`: the /v1 HTTP API on an embedded SQLite store.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use driftlock_service::detectors::{EngineDetectors, ScriptedDetectors, SharedFactory};
use driftlock_service::server::{self, ConnectionLimits};
use driftlock_service::{AppState, ServeConfig, app, auth};
use driftlock_store::SyncMode;
use driftlock_store::dir_lock::DirLock;
use driftlock_store::keys::Plan;

/// Settings; each also reads its environment variable. Precedence: flag or
/// environment, then the TOML file, then the default.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (keys as in `ServeConfig`: listen, data_dir,
    /// max_body_bytes, max_events_per_request, worker_batch_size, default_plan,
    /// sync, trusted_proxies, archive_roots, max_concurrent_jobs,
    /// header_read_timeout_secs, body_read_timeout_secs, max_connections,
    /// max_in_flight_requests, failed_auth_per_minute, anonymous_rate_limit,
    /// `[rate_limits]`, `[demo]`).
    #[arg(long, env = "DRIFTLOCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite database [default: ./driftlock-data].
    #[arg(long, env = "DRIFTLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<ServeConfig> {
        let mut config = match &self.config {
            Some(path) => ServeConfig::from_toml_file(path)?,
            None => ServeConfig::default(),
        };
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        Ok(config)
    }
}

fn parse_sync(s: &str) -> Result<SyncMode, String> {
    match s {
        "full" => Ok(SyncMode::Full),
        "normal" => Ok(SyncMode::Normal),
        _ => Err("expected full or normal".into()),
    }
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    Plan::parse(s).ok_or_else(|| "expected free, standard, pro or enterprise".into())
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Environment: DRIFTLOCK_API_KEY (at least 16 characters) is added as an admin key at \
start-up; without it, the first start creates an admin key and prints it once. RUST_LOG sets the log filter \
(default: info)."
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "DRIFTLOCK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Request body limit in bytes [default: 10485760].
    #[arg(long, env = "DRIFTLOCK_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Events per request [default: 256].
    #[arg(long, env = "DRIFTLOCK_MAX_EVENTS")]
    pub max_events_per_request: Option<usize>,
    /// Peers whose X-Forwarded-For is trusted (comma-separated).
    #[arg(
        long = "trusted-proxy",
        env = "DRIFTLOCK_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per minute of `free` keys [default: 60].
    #[arg(long, env = "DRIFTLOCK_RATE_LIMIT_FREE")]
    pub rate_limit_free: Option<u32>,
    /// Requests per minute of `standard` keys [default: 300].
    #[arg(long, env = "DRIFTLOCK_RATE_LIMIT_STANDARD")]
    pub rate_limit_standard: Option<u32>,
    /// Requests per minute of `pro` keys [default: 600].
    #[arg(long, env = "DRIFTLOCK_RATE_LIMIT_PRO")]
    pub rate_limit_pro: Option<u32>,
    /// Requests per minute of `enterprise` keys [default: 1000].
    #[arg(long, env = "DRIFTLOCK_RATE_LIMIT_ENTERPRISE")]
    pub rate_limit_enterprise: Option<u32>,
    /// Plan of keys created without one [default: free].
    #[arg(long, env = "DRIFTLOCK_DEFAULT_PLAN", value_parser = parse_plan)]
    pub default_plan: Option<Plan>,
    /// Demo requests per minute per client address [default: 10].
    #[arg(long, env = "DRIFTLOCK_DEMO_RATE_LIMIT")]
    pub demo_rate_limit: Option<u32>,
    /// Turn off the unauthenticated /v1/demo/detect.
    #[arg(long, env = "DRIFTLOCK_NO_DEMO")]
    pub no_demo: bool,
    /// SQLite commit durability: `full` (fsync each commit) or `normal` [default: full].
    #[arg(long, env = "DRIFTLOCK_SYNC", value_parser = parse_sync)]
    pub sync: Option<SyncMode>,
    /// Folder that /v1/jobs may read archives from (repeatable); without one,
    /// jobs are refused.
    #[arg(
        long = "archive-root",
        env = "DRIFTLOCK_ARCHIVE_ROOTS",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub archive_roots: Vec<PathBuf>,
    /// Jobs that run at the same time [default: 1].
    #[arg(long, env = "DRIFTLOCK_MAX_CONCURRENT_JOBS")]
    pub max_concurrent_jobs: Option<usize>,
    /// Seconds to send a request's head, from the connection's start or the
    /// previous response (also closes idle keep-alive connections) [default: 10].
    #[arg(long, env = "DRIFTLOCK_HEADER_READ_TIMEOUT")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds for a request's whole body to arrive [default: 30].
    #[arg(long, env = "DRIFTLOCK_BODY_READ_TIMEOUT")]
    pub body_read_timeout_secs: Option<u64>,
    /// Open client connections, lowered to fit the open-file limit [default: 4096].
    #[arg(long, env = "DRIFTLOCK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Requests handled at once; more are answered 503 [default: 512].
    #[arg(long, env = "DRIFTLOCK_MAX_IN_FLIGHT")]
    pub max_in_flight_requests: Option<usize>,
    /// Detector implementation (`scripted` is a deterministic stand-in for tests).
    #[arg(
        long,
        env = "DRIFTLOCK_DETECTOR",
        default_value = "engine",
        hide = true
    )]
    pub detector: String,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<ServeConfig> {
        let mut c = self.common.load()?;
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.max_body_bytes {
            c.max_body_bytes = v;
        }
        if let Some(v) = self.max_events_per_request {
            c.max_events_per_request = v;
        }
        if !self.trusted_proxies.is_empty() {
            c.trusted_proxies = self.trusted_proxies.clone();
        }
        let limits = [
            (self.rate_limit_free, &mut c.rate_limits.free),
            (self.rate_limit_standard, &mut c.rate_limits.standard),
            (self.rate_limit_pro, &mut c.rate_limits.pro),
            (self.rate_limit_enterprise, &mut c.rate_limits.enterprise),
        ];
        for (v, slot) in limits {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if let Some(v) = self.default_plan {
            c.default_plan = v;
        }
        if let Some(v) = self.demo_rate_limit {
            c.demo.requests_per_minute = v;
        }
        if self.no_demo {
            c.demo.enabled = false;
        }
        if let Some(v) = self.sync {
            c.sync = v;
        }
        if !self.archive_roots.is_empty() {
            c.archive_roots = self.archive_roots.clone();
        }
        if let Some(v) = self.max_concurrent_jobs {
            c.max_concurrent_jobs = v;
        }
        if let Some(v) = self.header_read_timeout_secs {
            c.header_read_timeout_secs = v;
        }
        if let Some(v) = self.body_read_timeout_secs {
            c.body_read_timeout_secs = v;
        }
        if let Some(v) = self.max_connections {
            c.max_connections = v;
        }
        if let Some(v) = self.max_in_flight_requests {
            c.max_in_flight_requests = v;
        }
        c.bootstrap_api_key = std::env::var("DRIFTLOCK_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        c.validate()?;
        Ok(c)
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.config()?;
    let factory: SharedFactory = match args.detector.as_str() {
        "engine" => Arc::new(EngineDetectors),
        "scripted" => Arc::new(ScriptedDetectors),
        other => anyhow::bail!("unknown detector `{other}` (engine or scripted)"),
    };
    crate::logging::init_tracing();
    // Held for the process's life: two servers on one store lose data.
    let _lock = DirLock::acquire(&config.data_dir)?;
    let open_files = crate::file_limit::raise_open_file_limit();
    let fits = crate::file_limit::connections_within(open_files, config.max_connections);
    if fits < config.max_connections {
        tracing::warn!(
            "max_connections lowered from {} to {fits} to fit the open-file limit ({}); raise LimitNOFILE",
            config.max_connections,
            open_files.unwrap_or_default()
        );
        config.max_connections = fits;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, factory))
}

async fn serve(config: ServeConfig, factory: SharedFactory) -> anyhow::Result<()> {
    let listen = config.listen;
    let env_key = config.bootstrap_api_key.clone();
    let state = AppState::open(config, factory).with_context(|| "opening the data directory")?;
    let generated = state
        .store
        .with_conn(|c| auth::bootstrap_admin(c, env_key.as_deref()))
        .context("creating the admin key")?;
    if let Some(key) = generated {
        println!("Created the admin API key (shown once, store it now): {key}");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "driftlock listening on http://{addr} (data in {})",
        state.store.path().display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let router = app(state.clone());
    let limits = ConnectionLimits::from_config(&state.config);
    server::serve(listener, router, limits, shutdown_signal())
        .await
        .context("serving")?;
    state.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
