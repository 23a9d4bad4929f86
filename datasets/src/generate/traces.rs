//! Trace spans as an OpenTelemetry collector would export them, one span per
//! event: span names with Zipf frequencies, per-span log-normal durations,
//! ~5% normal error spans (so a 400-event baseline holds a few HTTP 500s).

use serde_json::{Map, Value, json};

use super::{EventKind, Mode, Model, shifted};
use crate::rng::{Rng, Weighted, round_to};

struct SpanKind {
    name: &'static str,
    parent: Option<&'static str>,
    median_ms: f64,
}

const SPANS: &[SpanKind] = &[
    SpanKind {
        name: "db.query",
        parent: Some("http.request"),
        median_ms: 6.0,
    },
    SpanKind {
        name: "http.request",
        parent: None,
        median_ms: 45.0,
    },
    SpanKind {
        name: "cache.get",
        parent: Some("http.request"),
        median_ms: 0.8,
    },
    SpanKind {
        name: "grpc.client",
        parent: Some("http.request"),
        median_ms: 14.0,
    },
    SpanKind {
        name: "queue.publish",
        parent: Some("http.request"),
        median_ms: 3.0,
    },
    SpanKind {
        name: "auth.verify",
        parent: Some("http.request"),
        median_ms: 2.5,
    },
    SpanKind {
        name: "template.render",
        parent: Some("http.request"),
        median_ms: 4.0,
    },
    SpanKind {
        name: "s3.get_object",
        parent: Some("grpc.client"),
        median_ms: 28.0,
    },
];

const ROUTES: &[&str] = &[
    "/api/orders/:id",
    "/api/cart/:id/items",
    "/api/products/:id",
    "/api/users/:id",
    "/healthz",
];
const STATEMENTS: &[&str] = &[
    "SELECT * FROM orders WHERE user_id = $1 LIMIT 20",
    "SELECT id, price FROM products WHERE id = $1",
    "UPDATE carts SET updated_at = now() WHERE id = $1",
    "INSERT INTO order_items (order_id, sku, qty) VALUES ($1, $2, $3)",
];
const TRACE_SERVICES: &[&str] = &["checkout", "catalog", "accounts", "fulfilment"];
const GRPC_METHODS: &[&str] = &["inventory.Reserve", "pricing.Quote", "users.Get"];
const NORMAL_ERRORS: &[&str] = &["context canceled", "404 Not Found", "cache entry expired"];
const BURST_ERRORS: &[&str] = &[
    "ERROR: deadlock detected (SQLSTATE 40P01)",
    "rpc error: code = Unavailable desc = connection closed before server preface received",
    "TLS handshake timeout after 10s to payments.internal:443",
    "circuit breaker is open for upstream pricing",
    "pq: remaining connection slots are reserved for non-replication superuser connections",
];

pub(crate) struct TraceModel {
    weights: Weighted,
    service: &'static str,
}

impl TraceModel {
    pub(crate) fn new(rng: &mut Rng) -> TraceModel {
        TraceModel {
            weights: Weighted::zipf(SPANS.len(), 1.0),
            service: TRACE_SERVICES[rng.below(TRACE_SERVICES.len() as u64) as usize],
        }
    }

    fn attrs(&self, rng: &mut Rng, span: &SpanKind, error: Option<&str>) -> Value {
        let mut a = Map::with_capacity(8);
        a.insert("service.name".into(), Value::String(self.service.into()));
        match span.name {
            "http.request" => {
                a.insert(
                    "http.method".into(),
                    Value::String(rng.pick(&["GET", "GET", "POST", "PUT"]).to_string()),
                );
                a.insert(
                    "http.route".into(),
                    Value::String(rng.pick(ROUTES).to_string()),
                );
                let code = if error.is_some() { 500 } else { 200 };
                a.insert("http.status_code".into(), Value::from(code));
            }
            "db.query" => {
                a.insert("db.system".into(), Value::String("postgresql".into()));
                a.insert(
                    "db.statement".into(),
                    Value::String(rng.pick(STATEMENTS).to_string()),
                );
                a.insert("db.rows".into(), Value::from(rng.below(50)));
            }
            "cache.get" => {
                let mut k = String::from("session:");
                rng.push_hex(&mut k, 16);
                a.insert("cache.key".into(), Value::String(k));
                a.insert("cache.hit".into(), Value::Bool(rng.chance(0.85)));
            }
            "grpc.client" => {
                a.insert(
                    "rpc.method".into(),
                    Value::String(rng.pick(GRPC_METHODS).to_string()),
                );
                let mut peer = String::new();
                rng.push_ip(&mut peer);
                a.insert("net.peer.ip".into(), Value::String(peer));
            }
            "s3.get_object" => {
                let mut key = String::from("invoices/");
                rng.push_hex(&mut key, 16);
                key.push_str(".pdf");
                a.insert(
                    "aws.s3.bucket".into(),
                    Value::String("acme-invoices".into()),
                );
                a.insert("aws.s3.key".into(), Value::String(key));
            }
            "queue.publish" => {
                a.insert(
                    "messaging.destination".into(),
                    Value::String("order.created".into()),
                );
                a.insert("messaging.partition".into(), Value::from(rng.below(32)));
            }
            _ => {}
        }
        if let Some(e) = error {
            a.insert("error.message".into(), Value::String(e.to_string()));
        }
        Value::Object(a)
    }

    fn span(
        &self,
        rng: &mut Rng,
        span: &SpanKind,
        duration: f64,
        error: Option<&str>,
    ) -> Map<String, Value> {
        let mut m = Map::with_capacity(8);
        let mut trace_id = String::with_capacity(32);
        rng.push_hex(&mut trace_id, 32);
        let mut span_id = String::with_capacity(16);
        rng.push_hex(&mut span_id, 16);
        m.insert("trace_id".into(), Value::String(trace_id));
        m.insert("span_id".into(), Value::String(span_id));
        m.insert("span".into(), Value::String(span.name.into()));
        m.insert(
            "parent".into(),
            span.parent.map_or(Value::Null, |p| Value::String(p.into())),
        );
        m.insert("duration_ms".into(), Value::from(round_to(duration, 2)));
        m.insert(
            "status".into(),
            Value::String(if error.is_some() { "error" } else { "ok" }.into()),
        );
        let attrs = self.attrs(rng, span, error);
        m.insert("attrs".into(), attrs);
        m
    }
}

impl Model for TraceModel {
    fn kind(&self) -> EventKind {
        EventKind::Trace
    }

    fn source(&self) -> &str {
        self.service
    }

    fn sample(&self, rng: &mut Rng, mode: Mode, _ts_ms: i64) -> Map<String, Value> {
        let span = &SPANS[self.weights.sample(rng)];
        match mode {
            Mode::Normal | Mode::Numeric => {
                let error = if rng.chance(0.05) {
                    Some(*rng.pick(NORMAL_ERRORS))
                } else {
                    None
                };
                let d = rng.lognormal(span.median_ms, 0.5);
                self.span(rng, span, d, error)
            }
            Mode::Spike(f) => self.span(rng, span, span.median_ms * f, None),
            Mode::Shift(f) => {
                let d = shifted(rng, span.median_ms, f);
                self.span(rng, span, d, None)
            }
            Mode::Error(v) => {
                let e = BURST_ERRORS[v as usize % BURST_ERRORS.len()];
                let d = rng.lognormal(span.median_ms, 0.5);
                self.span(rng, span, d, Some(e))
            }
            Mode::Novel(v) => {
                let (name, parent, attrs) = match v % 3 {
                    0 => (
                        "ldap.bind",
                        "auth.verify",
                        json!({"ldap.server": "ldap://dc1.corp.local", "ldap.user": "cn=svc-checkout,ou=services"}),
                    ),
                    1 => (
                        "legacy.soap_call",
                        "http.request",
                        json!({"soap.action": "urn:InventoryService#SyncAll", "soap.envelope_bytes": 48213}),
                    ),
                    _ => (
                        "fs.fsync",
                        "queue.publish",
                        json!({"fs.path": "/var/lib/kafka/data/order.created-7/00000000000012345678.log", "fs.bytes": 1048576}),
                    ),
                };
                let d = rng.lognormal(20.0, 0.5);
                let mut m = self.span(rng, span, d, None);
                m.insert("span".into(), Value::String(name.into()));
                m.insert("parent".into(), Value::String(parent.into()));
                m.insert("attrs".into(), attrs);
                m
            }
        }
    }
}
