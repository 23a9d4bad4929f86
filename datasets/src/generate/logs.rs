//! JSON service logs: ~30 INFO/DEBUG templates with Zipf frequencies, ~1% normal
//! WARN/ERROR from a fixed set, volatile tokens (UUIDs, hex ids, IPs, timestamps).

use serde_json::{Map, Value};

use super::template::{Template, TemplateSpec};
use super::{EventKind, Mode, Model, shifted};
use crate::rng::{Rng, Weighted};

const fn t(
    level: &'static str,
    text: &'static str,
    fields: &'static [(&'static str, &'static str)],
    lat: f64,
) -> TemplateSpec {
    TemplateSpec {
        level,
        text,
        fields,
        lat,
    }
}

const LAT: (&str, &str) = ("latency_ms", "lat");
const REQ: (&str, &str) = ("request_id", "uuid");
const IP: (&str, &str) = ("client_ip", "ip");

/// Normal INFO/DEBUG templates, most frequent first.
const NORMAL: &[TemplateSpec] = &[
    t(
        "INFO",
        "GET /api/orders/{order} 200 in {lat}ms",
        &[LAT, REQ, IP],
        40.0,
    ),
    t(
        "INFO",
        "POST /api/cart/{hex8}/items 201 in {lat}ms",
        &[LAT, REQ, IP],
        55.0,
    ),
    t("DEBUG", "cache hit for key session:{hex16}", &[REQ], 0.0),
    t(
        "INFO",
        "GET /api/products/{order} 200 in {lat}ms bytes={bytes}",
        &[LAT, ("bytes", "bytes"), REQ, IP],
        25.0,
    ),
    t(
        "DEBUG",
        "cache miss for key product:{order}, loading from db",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "user {user} authenticated via oauth from {ip}",
        &[("user_id", "user"), IP],
        0.0,
    ),
    t(
        "INFO",
        "db query orders.select_by_user took {lat}ms rows={rows}",
        &[LAT, ("rows", "rows"), REQ],
        8.0,
    ),
    t(
        "INFO",
        "published event order.created id={uuid} partition={part}",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "consumed message offset={long} partition={part} lag={n}",
        &[("lag", "n")],
        0.0,
    ),
    t(
        "INFO",
        "request {uuid} completed status=200 bytes={bytes}",
        &[REQ, ("bytes", "bytes")],
        0.0,
    ),
    t("INFO", "GET /healthz 200 in {lat}ms", &[LAT], 2.0),
    t(
        "INFO",
        "payment intent pi_{hex16} created amount={amount} currency=EUR",
        &[REQ, ("amount", "amount")],
        0.0,
    ),
    t(
        "INFO",
        "inventory reserved sku={sku} qty={qty} order={order}",
        &[REQ],
        0.0,
    ),
    t(
        "DEBUG",
        "feature flag new_pricing evaluated to false for tenant {hex8}",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "session {hex16} refreshed, expires at {ts}",
        &[IP],
        0.0,
    ),
    t(
        "INFO",
        "PUT /api/users/{user}/preferences 204 in {lat}ms",
        &[LAT, REQ, IP],
        35.0,
    ),
    t(
        "INFO",
        "email queued template=order_confirmation to=user+{n}@example.com",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "scheduled job cleanup_carts finished in {lat}ms removed={n}",
        &[LAT],
        300.0,
    ),
    t(
        "DEBUG",
        "connection pool stats active={n2} idle={n2} waiting=0",
        &[],
        0.0,
    ),
    t(
        "INFO",
        "GET /api/orders?user={user}&page={page} 200 in {lat}ms",
        &[LAT, REQ, IP],
        60.0,
    ),
    t(
        "INFO",
        "grpc inventory.Reserve OK in {lat}ms peer={ip}:{port}",
        &[LAT, REQ],
        12.0,
    ),
    t(
        "INFO",
        "token issued for client {hex8} scope=read:orders ttl=3600",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "s3 put s3://acme-invoices/{hex16}.pdf size={bytes}",
        &[("bytes", "bytes"), REQ],
        0.0,
    ),
    t(
        "DEBUG",
        "rate limiter allowed client {ip} tokens_left={n}",
        &[IP],
        0.0,
    ),
    t(
        "INFO",
        "order {order} state changed PENDING -> PAID",
        &[REQ],
        0.0,
    ),
    t(
        "INFO",
        "DELETE /api/cart/{hex8}/items/{sku} 204 in {lat}ms",
        &[LAT, REQ, IP],
        30.0,
    ),
    t(
        "INFO",
        "webhook delivered to https://hooks.example.com/{hex8} status=200 attempt=1",
        &[LAT],
        120.0,
    ),
    t(
        "INFO",
        "config reloaded from /etc/app/config.yaml version={n}",
        &[],
        0.0,
    ),
    t(
        "DEBUG",
        "trace sampled trace_id={hex32} span_id={hex16}",
        &[],
        0.0,
    ),
    t(
        "INFO",
        "kafka producer flushed {n} records in {lat}ms",
        &[LAT],
        5.0,
    ),
];

/// Normal, rare (1%) warnings and errors: errors exist in normal mode, so only
/// unseen error messages in a burst are anomalous.
const NORMAL_WARN: &[TemplateSpec] = &[
    t(
        "WARN",
        "slow query detected on orders.select_by_user: {lat}ms",
        &[LAT, REQ],
        400.0,
    ),
    t(
        "WARN",
        "retrying call to payments-api attempt={attempt} after {lat}ms",
        &[REQ, LAT],
        100.0,
    ),
    t(
        "WARN",
        "connection pool near capacity active={n}/64",
        &[],
        0.0,
    ),
    t(
        "ERROR",
        "upstream timeout calling inventory after 5000ms request_id={uuid}",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "validation failed for order {order}: missing field shipping_address",
        &[REQ],
        0.0,
    ),
    t(
        "WARN",
        "deprecated header X-Client-Version used by {ip}",
        &[IP],
        0.0,
    ),
];

const NOVEL: &[TemplateSpec] = &[
    t(
        "INFO",
        "kernel: nf_conntrack: table full, dropping packet from {ip}",
        &[IP],
        0.0,
    ),
    t(
        "INFO",
        "schema migration 2024_03_add_index_orders_user_id started by {user}",
        &[REQ],
        0.0,
    ),
    t(
        "WARN",
        "certificate for api.internal.acme.io expires in 3 days (serial {hex16})",
        &[],
        0.0,
    ),
    t(
        "INFO",
        "admin {user} exported 48213 customer records to /tmp/export_{hex8}.csv",
        &[IP],
        0.0,
    ),
    t(
        "INFO",
        "leader election won by node {hex8}, term={long}",
        &[],
        0.0,
    ),
    t(
        "WARN",
        "clock skew of 4213ms detected against ntp server {ip}",
        &[],
        0.0,
    ),
    t(
        "INFO",
        "GraphQL introspection query from {ip} user-agent=sqlmap/1.7.2",
        &[IP, REQ],
        0.0,
    ),
    t(
        "INFO",
        "SIGHUP received, rotating logs under /var/log/app and reopening sinks",
        &[],
        0.0,
    ),
];

const BURST_ERRORS: &[TemplateSpec] = &[
    t(
        "ERROR",
        "database connection refused: dial tcp {ip}:5432: connect: connection refused",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "panic: runtime error: index out of range [7] with length 7 in handler {hex8}",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "TLS handshake with payments-gateway failed: x509: certificate has expired",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "OOMKilled: container exceeded memory limit 512Mi (pid {n})",
        &[],
        0.0,
    ),
    t(
        "ERROR",
        "cannot write /var/lib/app/wal/{hex16}.log: no space left on device",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "circuit breaker OPEN for inventory-svc after {n} consecutive failures",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "failed to acquire lock orders:{order} within 30s: deadlock detected",
        &[REQ],
        0.0,
    ),
    t(
        "ERROR",
        "redis MOVED 3999 {ip}:6379 during resharding, request {uuid} aborted",
        &[REQ],
        0.0,
    ),
];

const SERVICES: &[&str] = &[
    "checkout",
    "payments",
    "inventory",
    "auth",
    "search",
    "catalog",
    "shipping",
    "notifications",
];

const NORMAL_WARN_RATE: f64 = 0.04;
/// Normal WARN/ERROR templates actually drawn in normal mode: few enough that each
/// (~1.3% of events) is in every baseline; the rest of `NORMAL_WARN` stays unused
/// by normal mode.
const NORMAL_WARN_USED: usize = 3;
const TEMPLATE_WEIGHT_FLOOR: f64 = 0.08;

/// Spikes and shifts hit the HTTP request templates (latency medians 25–60 ms)
/// and are scaled from this common reference, so a spiked value lies above the
/// normal range of every such template, not only of its own.
const HTTP_LAT_REFERENCE: f64 = 50.0;

pub(crate) struct LogModel {
    service: &'static str,
    normal: Vec<Template>,
    normal_weights: Weighted,
    /// Indices of normal templates with a latency field (format changes).
    with_lat: Vec<usize>,
    with_lat_weights: Weighted,
    /// Indices of the HTTP request templates (spikes, shifts).
    http: Vec<usize>,
    warn: Vec<Template>,
    novel: Vec<Template>,
    errors: Vec<Template>,
}

impl LogModel {
    pub(crate) fn new(rng: &mut Rng) -> LogModel {
        let normal: Vec<Template> = NORMAL.iter().map(Template::parse).collect();
        // Zipf with a floor: every normal template is common enough (≥ ~1.8%) that a
        // 400-event baseline has seen it. A rarer "normal" template would be novel
        // to any baseline of that size, and flagging it is the detector doing its job.
        let floored: Vec<f64> = (0..normal.len())
            .map(|r| (1.0 / ((r + 1) as f64).powf(1.1)).max(TEMPLATE_WEIGHT_FLOOR))
            .collect();
        let zipf = Weighted::new(&floored);
        let with_lat: Vec<usize> = (0..normal.len())
            .filter(|&i| normal[i].has_latency())
            .collect();
        let lat_w: Vec<f64> = with_lat
            .iter()
            .map(|&i| 1.0 / ((i + 1) as f64).powf(1.1))
            .collect();
        let http: Vec<usize> = with_lat
            .iter()
            .copied()
            .filter(|&i| (25.0..=60.0).contains(&normal[i].lat_median()))
            .collect();
        LogModel {
            service: SERVICES[rng.below(SERVICES.len() as u64) as usize],
            normal,
            normal_weights: zipf,
            with_lat,
            with_lat_weights: Weighted::new(&lat_w),
            http,
            warn: NORMAL_WARN[..NORMAL_WARN_USED]
                .iter()
                .map(Template::parse)
                .collect(),
            novel: NOVEL.iter().map(Template::parse).collect(),
            errors: BURST_ERRORS.iter().map(Template::parse).collect(),
        }
    }

    fn http_event(&self, rng: &mut Rng, lat: f64, ts_ms: i64) -> Map<String, Value> {
        let tpl = &self.normal[*rng.pick(&self.http)];
        self.emit(tpl, tpl.level, rng, Some(lat), ts_ms)
    }

    fn emit(
        &self,
        tpl: &Template,
        level: &str,
        rng: &mut Rng,
        lat: Option<f64>,
        ts_ms: i64,
    ) -> Map<String, Value> {
        let mut m = Map::with_capacity(8);
        m.insert("level".into(), Value::String(level.into()));
        m.insert("service".into(), Value::String(self.service.into()));
        tpl.render_into(&mut m, "msg", rng, lat, ts_ms);
        m
    }
}

impl Model for LogModel {
    fn kind(&self) -> EventKind {
        EventKind::Log
    }

    fn source(&self) -> &str {
        self.service
    }

    fn sample(&self, rng: &mut Rng, mode: Mode, ts_ms: i64) -> Map<String, Value> {
        match mode {
            Mode::Normal => {
                let tpl = if rng.chance(NORMAL_WARN_RATE) {
                    rng.pick(&self.warn)
                } else {
                    &self.normal[self.normal_weights.sample(rng)]
                };
                self.emit(tpl, tpl.level, rng, None, ts_ms)
            }
            Mode::Numeric => {
                let tpl = &self.normal[self.with_lat[self.with_lat_weights.sample(rng)]];
                self.emit(tpl, tpl.level, rng, None, ts_ms)
            }
            Mode::Spike(f) => self.http_event(rng, HTTP_LAT_REFERENCE * f, ts_ms),
            Mode::Shift(f) => {
                let lat = shifted(rng, HTTP_LAT_REFERENCE, f);
                self.http_event(rng, lat, ts_ms)
            }
            Mode::Novel(v) => {
                let tpl = &self.novel[v as usize % self.novel.len()];
                self.emit(tpl, tpl.level, rng, None, ts_ms)
            }
            Mode::Error(v) => {
                let tpl = &self.errors[v as usize % self.errors.len()];
                self.emit(tpl, "ERROR", rng, None, ts_ms)
            }
        }
    }
}
