//! `ServeConfig`: the service's settings. Sources, later ones winning: built-in
//! defaults, an optional TOML file, environment variables and flags (the last
//! two are merged by the CLI in `cli/serve.rs`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use driftlock_store::keys::Plan;

/// Requests per minute for each plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanLimits {
    pub free: u32,
    pub standard: u32,
    pub pro: u32,
    pub enterprise: u32,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            free: 60,
            standard: 300,
            pro: 600,
            enterprise: 1000,
        }
    }
}

impl PlanLimits {
    pub fn for_plan(&self, plan: Plan) -> u32 {
        match plan {
            Plan::Free => self.free,
            Plan::Standard => self.standard,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
        }
    }
}

/// Caps of the unauthenticated `/v1/demo/detect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    pub enabled: bool,
    /// Events per demo request.
    pub max_events: usize,
    /// Upper bound on `permutation_count`.
    pub max_permutations: u32,
    /// Requests per minute per client address.
    pub requests_per_minute: u32,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_events: 100,
            max_permutations: 200,
            requests_per_minute: 10,
        }
    }
}

pub use crate::quotas::{Quota, Quotas};
pub use crate::sql_pool::SqlConfig;
pub use driftlock_store::SyncMode;

/// Everything `driftlock serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the SQLite database (`driftlock.db`).
    pub data_dir: PathBuf,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
    /// Events per `/v1/detect` or `/v1/streams/{id}/events` request.
    pub max_events_per_request: usize,
    /// Events the worker scores per transaction.
    pub worker_batch_size: usize,
    /// Plan of keys created without one.
    pub default_plan: Plan,
    pub rate_limits: PlanLimits,
    pub demo: DemoConfig,
    /// Peers whose `X-Forwarded-For` is believed (the demo's per-address limit).
    pub trusted_proxies: Vec<IpAddr>,
    pub sync: SyncMode,
    /// Key used as the admin key on first start instead of a generated one.
    #[serde(skip_serializing)]
    pub bootstrap_api_key: Option<String>,
    /// Folders `/v1/jobs` may read archives from; none means jobs are refused.
    pub archive_roots: Vec<PathBuf>,
    /// Jobs that run at the same time (each on a blocking thread).
    pub max_concurrent_jobs: usize,
    /// Fire cron schedules from a background timer. Off only where something
    /// else drives `Scheduler::tick` (tests choose the time they tick at).
    pub run_schedules: bool,
    /// Seconds a client has to send a request's head, counted from the
    /// connection's start or the end of the previous response: a partial
    /// request and an idle keep-alive connection are both closed after it.
    pub header_read_timeout_secs: u64,
    /// Seconds a request's whole body may take to arrive (408 after).
    pub body_read_timeout_secs: u64,
    /// Open client connections; more wait in the listen backlog. `serve`
    /// lowers it to fit the open-file limit.
    pub max_connections: usize,
    /// Requests handled at once; more are answered 503 at once.
    pub max_in_flight_requests: usize,
    /// Failed authentications a minute per client address; then 429 until
    /// the minute is over.
    pub failed_auth_per_minute: u32,
    /// Requests a minute per client address to what needs no key (`/healthz`,
    /// `/v1/openapi.json`, unknown routes).
    pub anonymous_rate_limit: u32,
    /// `/v1/sql`'s pool: threads, queries at once and waiting, deadline, memory.
    pub sql: SqlConfig,
    /// What a key's requests may make the server hold, by role and plan.
    pub quotas: Quotas,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("driftlock-data"),
            max_body_bytes: 10 * 1024 * 1024,
            max_events_per_request: 256,
            worker_batch_size: 256,
            default_plan: Plan::Free,
            rate_limits: PlanLimits::default(),
            demo: DemoConfig::default(),
            trusted_proxies: Vec::new(),
            sync: SyncMode::Full,
            bootstrap_api_key: None,
            archive_roots: Vec::new(),
            max_concurrent_jobs: 1,
            run_schedules: true,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 4096,
            max_in_flight_requests: 512,
            failed_auth_per_minute: 10,
            anonymous_rate_limit: 600,
            sql: SqlConfig::default(),
            quotas: Quotas::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Reads a TOML file; missing keys keep their defaults, unknown keys are errors.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Checks the values that would make the service misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_events_per_request == 0 {
            return Err(ConfigError::Invalid(
                "max_events_per_request must be > 0".into(),
            ));
        }
        if self.worker_batch_size == 0 {
            return Err(ConfigError::Invalid("worker_batch_size must be > 0".into()));
        }
        if self.max_concurrent_jobs == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_jobs must be > 0".into(),
            ));
        }
        let positive = [
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs as usize,
            ),
            (
                "body_read_timeout_secs",
                self.body_read_timeout_secs as usize,
            ),
            ("max_connections", self.max_connections),
            ("max_in_flight_requests", self.max_in_flight_requests),
            ("sql.threads", self.sql.threads),
            ("sql.max_concurrent", self.sql.max_concurrent),
            ("sql.timeout_ms", self.sql.timeout_ms as usize),
            ("sql.memory_limit_bytes", self.sql.memory_limit_bytes),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Invalid(format!("{name} must be > 0")));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("driftlock.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_s() {
        let c = ServeConfig::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(c.rate_limits.for_plan(Plan::Pro), 600);
        c.validate().unwrap();
    }

    #[test]
    fn toml_overrides_and_rejects_unknown_keys() {
        let c: ServeConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\n[rate_limits]\nfree = 5\n[demo]\nmax_events = 3\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.rate_limits.free, 5);
        assert_eq!(c.rate_limits.standard, 300);
        assert_eq!(c.demo.max_events, 3);
        assert!(toml::from_str::<ServeConfig>("nope = 1").is_err());
    }
}
