//! Logs whose normal changes: a labelled generator for the case where "never
//! seen before" is not "anomalous".
//!
//! A service's log templates appear, recur and retire; a deploy rewords some
//! of them at once; and, rarely, something is wrong. Normal events are every
//! line of an active template, the first line of a new template included:
//! real logs keep producing new normal templates, and a detector that flags
//! each one alarms on the service's own evolution. Anomalies ([`DriftAnomaly`])
//! are single lines, so event-level precision and recall are well defined.

use serde_json::{Value, json};

use crate::rng::{Rng, mix};

/// What is wrong with an anomalous line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriftAnomaly {
    /// A one-off error line of a template never seen, with a stack frame.
    RareError,
    /// A normal request line whose status is a 5xx.
    StatusFlip,
    /// A normal line whose latency is 50 times its template's median.
    LatencySpike,
    /// A normal line with a large field no line has.
    NovelField,
}

impl DriftAnomaly {
    pub const ALL: [DriftAnomaly; 4] = [
        DriftAnomaly::RareError,
        DriftAnomaly::StatusFlip,
        DriftAnomaly::LatencySpike,
        DriftAnomaly::NovelField,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DriftAnomaly::RareError => "rare_error",
            DriftAnomaly::StatusFlip => "status_flip",
            DriftAnomaly::LatencySpike => "latency_spike",
            DriftAnomaly::NovelField => "novel_field",
        }
    }
}

/// One generated line: its event JSON (`timestamp`, `type`, `body`) and label.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftEvent {
    pub event: Value,
    pub label: Option<DriftAnomaly>,
    /// Whether this line is the first of a normal template.
    pub new_template: bool,
}

/// Parameters of a drifting-log stream.
#[derive(Debug, Clone)]
pub struct DriftConfig {
    pub events: u64,
    pub seed: u64,
    /// Templates active at the start.
    pub initial_templates: usize,
    /// Mean events between a new template's appearance.
    pub appear_every: u64,
    /// Mean events between a template's retirement.
    pub retire_every: u64,
    /// Events between deploys; each rewords a third of the active templates.
    pub deploy_every: u64,
    /// Which anomalies to place, one in `anomaly_every` events on average.
    pub anomalies: Vec<DriftAnomaly>,
    pub anomaly_every: u64,
}

impl DriftConfig {
    pub fn new(events: u64, seed: u64) -> Self {
        DriftConfig {
            events,
            seed,
            initial_templates: 8,
            appear_every: 1_500,
            retire_every: 2_500,
            deploy_every: 10_000,
            anomalies: DriftAnomaly::ALL.to_vec(),
            anomaly_every: 400,
        }
    }

    pub fn clean(events: u64, seed: u64) -> Self {
        DriftConfig {
            anomalies: Vec::new(),
            ..Self::new(events, seed)
        }
    }

    /// The lines in order.
    pub fn generate(&self) -> Vec<DriftEvent> {
        let mut rng = Rng::new(mix(self.seed, &[0xd1f7]));
        let mut next_template = 0u64;
        let mut new = |rng: &mut Rng| {
            next_template += 1;
            Template::new(next_template, rng)
        };
        let mut active: Vec<Template> =
            (0..self.initial_templates).map(|_| new(&mut rng)).collect();
        for t in &mut active {
            t.seen = true;
        }
        let start = 1_767_225_600i64; // 2026-01-01T00:00:00Z
        let mut out = Vec::with_capacity(self.events as usize);
        for i in 0..self.events {
            if rng.chance(1.0 / self.appear_every as f64) {
                active.push(new(&mut rng));
            }
            if active.len() > 4 && rng.chance(1.0 / self.retire_every as f64) {
                let k = rng.below(active.len() as u64) as usize;
                active.remove(k);
            }
            if i > 0 && i % self.deploy_every == 0 {
                for t in active.iter_mut() {
                    if rng.chance(1.0 / 3.0) {
                        *t = new(&mut rng);
                    }
                }
            }
            let total: f64 = active.iter().map(|t| t.weight).sum();
            let mut x = rng.uniform(0.0, total);
            let k = active
                .iter()
                .position(|t| {
                    x -= t.weight;
                    x <= 0.0
                })
                .unwrap_or(active.len() - 1);
            let anomaly = (!self.anomalies.is_empty()
                && i > 1_000
                && rng.chance(1.0 / self.anomaly_every as f64))
            .then(|| *rng.pick(&self.anomalies));
            let template = &mut active[k];
            let new_template = !template.seen && anomaly.is_none();
            let mut body = match anomaly {
                Some(DriftAnomaly::RareError) => rare_error(&mut rng),
                _ => {
                    template.seen |= anomaly.is_none();
                    template.line(&mut rng)
                }
            };
            match anomaly {
                Some(DriftAnomaly::StatusFlip) => {
                    body["status"] = json!(*rng.pick(&[500, 502, 503]));
                    body["level"] = json!("error");
                }
                Some(DriftAnomaly::LatencySpike) => {
                    body["latency_ms"] = json!((template.latency * 50.0).round());
                }
                Some(DriftAnomaly::NovelField) => {
                    body["heap_dump"] = json!({"used_mb": rng.int(900, 4000), "gc": "full",
                        "threads": rng.int(200, 900), "note": "allocation failure in young generation"});
                }
                _ => {}
            }
            let ts = crate::time::format_rfc3339_ms((start + i as i64) * 1_000);
            out.push(DriftEvent {
                event: json!({"timestamp": ts, "type": "log", "body": body}),
                label: anomaly,
                new_template,
            });
        }
        out
    }
}

const SERVICES: [&str; 5] = ["api", "billing", "search", "auth", "worker"];
const VERBS: [&str; 8] = [
    "loaded",
    "synced",
    "resolved",
    "indexed",
    "scheduled",
    "rotated",
    "cached",
    "validated",
];
const NOUNS: [&str; 8] = [
    "profile", "invoice", "query", "session", "job", "segment", "token", "manifest",
];
const ROUTES: [&str; 6] = [
    "/api/users",
    "/api/orders",
    "/api/items",
    "/api/search",
    "/api/login",
    "/api/carts",
];

/// A normal line's shape: a request line or a message with slots.
#[derive(Debug, Clone)]
struct Template {
    service: &'static str,
    kind: TemplateKind,
    /// Median latency in ms.
    latency: f64,
    weight: f64,
    seen: bool,
}

#[derive(Debug, Clone)]
enum TemplateKind {
    Request {
        method: &'static str,
        route: &'static str,
    },
    Message {
        words: String,
    },
}

impl Template {
    fn new(n: u64, rng: &mut Rng) -> Self {
        let kind = if rng.chance(0.4) {
            TemplateKind::Request {
                method: rng.pick::<&str>(&["GET", "POST", "PUT"]),
                route: rng.pick::<&str>(&ROUTES),
            }
        } else {
            // The template number makes each message its own template.
            TemplateKind::Message {
                words: format!(
                    "{} {} {} step{}",
                    rng.pick(&NOUNS),
                    rng.pick(&VERBS),
                    rng.pick(&["in", "for", "after", "before"]),
                    n
                ),
            }
        };
        Template {
            service: rng.pick::<&str>(&SERVICES),
            kind,
            latency: rng.lognormal(20.0, 0.8),
            weight: rng.exponential(1.0) + 0.05,
            seen: false,
        }
    }

    fn line(&self, rng: &mut Rng) -> Value {
        let latency = rng.lognormal(self.latency, 0.3).round();
        let mut id = String::new();
        rng.push_hex(&mut id, 16);
        match &self.kind {
            TemplateKind::Request { method, route } => json!({
                "level": "info", "service": self.service,
                "message": format!("{method} {route}/{} {}", rng.int(1, 99_999), 200),
                "status": 200, "latency_ms": latency, "request_id": id,
            }),
            TemplateKind::Message { words } => json!({
                "level": "info", "service": self.service,
                "message": format!("{words} id={}", rng.int(1, 99_999)),
                "latency_ms": latency, "request_id": id,
            }),
        }
    }
}

fn rare_error(rng: &mut Rng) -> Value {
    let what = *rng.pick(&[
        "NullPointerException in OrderMapper.map",
        "deadlock detected while committing ledger batch",
        "certificate verify failed for upstream payments",
        "segfault in libvips resize worker",
        "disk quota exceeded on /var/lib/queue",
    ]);
    json!({
        "level": "error", "service": *rng.pick(&SERVICES),
        "message": format!("{what} (attempt {})", rng.int(1, 3)),
        "stack": format!("at com.acme.core.Handler.run(Handler.java:{})", rng.int(10, 900)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_appear_and_retire_and_anomalies_are_labelled() {
        let lines = DriftConfig::new(20_000, 3).generate();
        assert_eq!(lines.len(), 20_000);
        let new = lines.iter().filter(|l| l.new_template).count();
        assert!((10..60).contains(&new), "{new} new templates");
        let anomalies = lines.iter().filter(|l| l.label.is_some()).count();
        assert!((25..80).contains(&anomalies), "{anomalies} anomalies");
        assert_eq!(
            DriftConfig::new(500, 3).generate(),
            DriftConfig::new(500, 3).generate()
        );
        assert!(
            DriftConfig::clean(5_000, 3)
                .generate()
                .iter()
                .all(|l| l.label.is_none())
        );
    }
}
