//! Host metrics samples, as a node exporter / agent would ship them: mostly the
//! host record, some disk and network records, rare normal scrape failures.

use serde_json::{Map, Value};

use super::{EventKind, Mode, Model, shifted};
use crate::rng::{Rng, Weighted, round_to};

const LATENCY_MEDIAN: f64 = 35.0;

/// Unseen record families for `novel_message`.
const NOVEL: usize = 3;
/// Scrape errors never seen in normal mode.
const BURST_ERRORS: &[&str] = &[
    "scrape failed: Get \"http://HOST:9100/metrics\": context deadline exceeded",
    "scrape failed: server returned HTTP status 503 Service Unavailable",
    "agent crashed: SIGSEGV in collector diskstats, restarting (backoff 30s)",
    "scrape failed: dial tcp HOST:9100: connect: no route to host",
    "exporter out of file descriptors: too many open files",
];
/// Scrape errors that happen now and then in normal operation (2%).
const NORMAL_ERRORS: &[&str] = &[
    "scrape failed: connection reset by peer",
    "scrape skipped: previous scrape still running",
];

pub(crate) struct MetricModel {
    hosts: Vec<String>,
    /// Per-host baseline so hosts differ but each is stationary.
    cpu_base: Vec<f64>,
    mem_base: Vec<f64>,
    families: Weighted,
    source: String,
}

impl MetricModel {
    pub(crate) fn new(rng: &mut Rng) -> MetricModel {
        let prefix = *rng.pick(&["web", "api", "db", "worker", "cache"]);
        let n = rng.int(4, 8) as usize;
        MetricModel {
            hosts: (0..n).map(|i| format!("{prefix}-{i}")).collect(),
            cpu_base: (0..n).map(|_| rng.uniform(0.25, 0.55)).collect(),
            mem_base: (0..n).map(|_| rng.uniform(1200.0, 2600.0)).collect(),
            families: Weighted::new(&[0.7, 0.18, 0.12]),
            source: format!("node-exporter/{prefix}"),
        }
    }

    fn host_record(&self, rng: &mut Rng, h: usize, latency: f64) -> Map<String, Value> {
        let mut m = Map::with_capacity(8);
        m.insert("host".into(), Value::String(self.hosts[h].clone()));
        let cpu = (self.cpu_base[h] + 0.07 * rng.normal()).clamp(0.01, 0.99);
        m.insert("cpu".into(), Value::from(round_to(cpu, 2)));
        let mem = self.mem_base[h] + 90.0 * rng.normal();
        m.insert("mem_mb".into(), Value::from(mem.round().max(1.0) as u64));
        m.insert("latency_ms".into(), Value::from(round_to(latency, 1)));
        m.insert(
            "req_rate".into(),
            Value::from(round_to(rng.lognormal(220.0, 0.25), 1)),
        );
        m
    }
}

impl Model for MetricModel {
    fn kind(&self) -> EventKind {
        EventKind::Metric
    }

    fn source(&self) -> &str {
        &self.source
    }

    fn sample(&self, rng: &mut Rng, mode: Mode, _ts_ms: i64) -> Map<String, Value> {
        let h = rng.below(self.hosts.len() as u64) as usize;
        let host = Value::String(self.hosts[h].clone());
        match mode {
            Mode::Normal => {
                if rng.chance(0.02) {
                    let mut m = Map::with_capacity(8);
                    m.insert("host".into(), host);
                    m.insert("up".into(), Value::from(0));
                    m.insert(
                        "error".into(),
                        Value::String(rng.pick(NORMAL_ERRORS).to_string()),
                    );
                    return m;
                }
                match self.families.sample(rng) {
                    0 => {
                        let lat = rng.lognormal(LATENCY_MEDIAN, 0.3);
                        self.host_record(rng, h, lat)
                    }
                    1 => {
                        let mut m = Map::with_capacity(8);
                        m.insert("host".into(), host);
                        m.insert(
                            "disk".into(),
                            Value::String(rng.pick(&["nvme0n1", "nvme1n1"]).to_string()),
                        );
                        m.insert(
                            "read_iops".into(),
                            Value::from(rng.lognormal(850.0, 0.35).round() as u64),
                        );
                        m.insert(
                            "write_iops".into(),
                            Value::from(rng.lognormal(420.0, 0.35).round() as u64),
                        );
                        m.insert(
                            "util".into(),
                            Value::from(round_to(rng.uniform(0.05, 0.45), 2)),
                        );
                        m
                    }
                    _ => {
                        let mut m = Map::with_capacity(8);
                        m.insert("host".into(), host);
                        m.insert("iface".into(), Value::String("eth0".into()));
                        m.insert(
                            "rx_kbps".into(),
                            Value::from(round_to(rng.lognormal(5200.0, 0.4), 1)),
                        );
                        m.insert(
                            "tx_kbps".into(),
                            Value::from(round_to(rng.lognormal(3100.0, 0.4), 1)),
                        );
                        m.insert("drops".into(), Value::from(rng.below(3)));
                        m
                    }
                }
            }
            Mode::Numeric => {
                let lat = rng.lognormal(LATENCY_MEDIAN, 0.3);
                self.host_record(rng, h, lat)
            }
            Mode::Spike(f) => self.host_record(rng, h, LATENCY_MEDIAN * f),
            Mode::Shift(f) => {
                let lat = shifted(rng, LATENCY_MEDIAN, f);
                self.host_record(rng, h, lat)
            }
            Mode::Novel(v) => {
                let mut m = Map::with_capacity(8);
                m.insert("host".into(), host);
                match v as usize % NOVEL {
                    0 => {
                        m.insert(
                            "gc_pause_ms".into(),
                            Value::from(round_to(rng.uniform(300.0, 900.0), 1)),
                        );
                        m.insert("heap_used_mb".into(), Value::from(rng.int(3000, 3900)));
                        m.insert(
                            "gc_cause".into(),
                            Value::String("G1 Evacuation Pause (to-space exhausted)".into()),
                        );
                    }
                    1 => {
                        m.insert("fs".into(), Value::String("/var/lib/docker".into()));
                        m.insert(
                            "inodes_free_pct".into(),
                            Value::from(round_to(rng.uniform(0.1, 2.0), 2)),
                        );
                        m.insert(
                            "mount_state".into(),
                            Value::String("read-only remount after ext4 error".into()),
                        );
                    }
                    _ => {
                        m.insert("thermal_zone".into(), Value::String("x86_pkg_temp".into()));
                        m.insert("temp_c".into(), Value::from(rng.int(96, 104)));
                        m.insert("throttled".into(), Value::Bool(true));
                    }
                }
                m
            }
            Mode::Error(v) => {
                let msg =
                    BURST_ERRORS[v as usize % BURST_ERRORS.len()].replace("HOST", &self.hosts[h]);
                let mut m = Map::with_capacity(8);
                m.insert("host".into(), host);
                m.insert("up".into(), Value::from(0));
                m.insert("error".into(), Value::String(msg));
                m
            }
        }
    }
}
