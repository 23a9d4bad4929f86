//! Clean streams of many shapes, hand-written and i.i.d. (so exchangeable by
//! construction): what a detector should stay quiet on. Each is a small
//! thing real logs do that a template-and-latency generator does not: free
//! text, identifiers of every length, clocks and counters, codes spread over
//! hundreds of templates, counts that fill quantile bins, heavy tails.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

/// One kind of clean stream (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Three request lines and a lognormal latency.
    Lognormal,
    /// Identifiers of every length, masked or not.
    Ids,
    /// Free text from a small vocabulary.
    Text,
    /// Nested objects with numbers at several depths.
    Nested,
    /// Sixty templates with Zipf-like frequencies.
    Templates,
    /// Pareto latencies (tail index 1.5).
    Pareto,
    /// Cache hits and misses: a latency with two modes.
    Bimodal,
    /// A sequence number beside a gauge.
    Counter,
    /// Small Poisson counts.
    SmallInts,
    /// Five categorical fields, 840 combinations, a status code among them.
    Enums,
    /// Long free text with a number inside.
    Prose,
    /// zap-style epoch milliseconds.
    Epoch,
    /// A Kafka offset read by four consumers.
    Offset,
    /// Usernames from a pool of 5,000, Zipf-like.
    Users,
    /// Sessions as counts of the events they logged, three shapes.
    Sessions,
}

impl Shape {
    pub const ALL: [Shape; 15] = [
        Shape::Lognormal,
        Shape::Ids,
        Shape::Text,
        Shape::Nested,
        Shape::Templates,
        Shape::Pareto,
        Shape::Bimodal,
        Shape::Counter,
        Shape::SmallInts,
        Shape::Enums,
        Shape::Prose,
        Shape::Epoch,
        Shape::Offset,
        Shape::Users,
        Shape::Sessions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Lognormal => "lognormal",
            Shape::Ids => "ids",
            Shape::Text => "text",
            Shape::Nested => "nested",
            Shape::Templates => "templates",
            Shape::Pareto => "pareto",
            Shape::Bimodal => "bimodal",
            Shape::Counter => "counter",
            Shape::SmallInts => "small_ints",
            Shape::Enums => "enums",
            Shape::Prose => "prose",
            Shape::Epoch => "epoch",
            Shape::Offset => "offset",
            Shape::Users => "users",
            Shape::Sessions => "sessions",
        }
    }

    /// `n` event bodies (JSON objects) of this shape, from `seed`.
    pub fn bodies(self, n: usize, seed: u64) -> Vec<Value> {
        let mut d = Draw(seed);
        (0..n as u64).map(|i| self.body(i, &mut d)).collect()
    }

    fn body(self, i: u64, d: &mut Draw) -> Value {
        match self {
            Shape::Lognormal => {
                let msg = [
                    "GET /api/users 200",
                    "POST /api/orders 201",
                    "GET /health 200",
                ][d.below(3) as usize];
                json!({"message": msg, "latency_ms": (3.0 + 0.6 * d.normal()).exp()})
            }
            Shape::Ids => {
                let len = 4 + d.below(37) as usize;
                json!({"message": "session opened", "user": format!("u{}", d.hex(len)),
                       "request_id": d.hex(32), "attempt": d.below(4)})
            }
            Shape::Text => {
                let words = 4 + d.below(10);
                let text: Vec<&str> = (0..words).map(|_| WORDS[d.below(24) as usize]).collect();
                json!({"level": "info", "message": text.join(" ")})
            }
            Shape::Nested => {
                let method = ["GET", "PUT", "DELETE"][d.below(3) as usize];
                let ua = ["curl", "go-http", "python"][d.below(3) as usize];
                let status = [200, 200, 200, 204, 404][d.below(5) as usize];
                json!({"req": {"method": method, "path": format!("/v1/items/{}", d.below(100_000)),
                                "headers": {"ua": ua}},
                       "resp": {"status": status,
                                "bytes": (7.0 + d.normal()).exp().round()}})
            }
            Shape::Templates => {
                let t = ((d.f64().powi(3)) * 60.0) as u64;
                json!({"message": format!("component{t} step {} done", t % 7),
                       "duration_ms": (2.0 + 0.5 * d.normal() + t as f64 / 30.0).exp()})
            }
            Shape::Pareto => {
                json!({"message": "rpc done", "latency_ms": 5.0 / d.f64().powf(1.0 / 1.5)})
            }
            Shape::Bimodal => {
                let centre = if d.below(10) < 8 { 0.5 } else { 4.0 };
                json!({"message": "lookup", "ms": (centre + 0.3 * d.normal()).exp()})
            }
            Shape::Counter => json!({"message": "tick", "seq": i, "queue": d.below(50)}),
            Shape::SmallInts => {
                let (mut k, mut p) = (0, d.f64());
                while p > 0.13 {
                    p *= d.f64();
                    k += 1;
                }
                json!({"message": "batch flushed", "items": k})
            }
            Shape::Enums => {
                let region = ["eu", "us", "ap", "sa"][d.below(4) as usize];
                let tier = ["free", "pro", "team", "ent", "edu"][d.below(5) as usize];
                let op = ["read", "write", "list", "delete", "head", "copy"][d.below(6) as usize];
                let code = [200, 200, 200, 201, 204, 304, 400, 404][d.below(8) as usize];
                json!({"region": region, "tier": tier, "op": op, "code": code,
                       "az": format!("az{}", d.below(7))})
            }
            Shape::Prose => {
                let words = 20 + d.below(30);
                let mut text: Vec<String> = (0..words)
                    .map(|_| WORDS[d.below(24) as usize].to_string())
                    .collect();
                text.insert(d.below(words) as usize, d.below(1000).to_string());
                json!({"level": "info", "message": text.join(" ")})
            }
            Shape::Epoch => json!({"message": "request served",
                                   "ts": 1_733_650_000_123u64 + i * 37 + d.below(30), "status": 200}),
            Shape::Offset => json!({"message": "consumed", "partition": d.below(4),
                                    "offset": 900_000 + i / 4}),
            Shape::Users => {
                let k = (d.f64().powi(2) * 5000.0) as u64;
                let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let name: String = (0..3)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        SYLLABLES[((x >> 33) % 12) as usize]
                    })
                    .collect();
                let suffix = ["", ".dev", "_adm"][(k % 3) as usize];
                json!({"message": "login ok", "user": format!("{name}{suffix}"), "ms": 20 + d.below(30)})
            }
            Shape::Sessions => {
                let shapes = [
                    [("open", 1), ("read", 3), ("close", 1)],
                    [("open", 1), ("write", 2), ("close", 1)],
                    [("open", 1), ("read", 1), ("write", 1)],
                ];
                let shape = shapes[d.below(3) as usize];
                Value::Object(
                    shape
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .collect(),
                )
            }
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Shape::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Shape::ALL.iter().map(|k| k.name()).collect();
                format!("unknown shape {s:?} (one of {})", names.join(", "))
            })
    }
}

const WORDS: [&str; 24] = [
    "cache",
    "miss",
    "for",
    "user",
    "request",
    "took",
    "longer",
    "than",
    "expected",
    "retry",
    "queued",
    "worker",
    "shard",
    "flushed",
    "segment",
    "compaction",
    "started",
    "finished",
    "lease",
    "renewed",
    "token",
    "refreshed",
    "upstream",
    "closed",
];

const SYLLABLES: [&str; 12] = [
    "ka", "lo", "mi", "ra", "ten", "su", "bo", "vi", "ne", "dar", "el", "jo",
];

/// splitmix64: the streams' own seeded draws, kept apart from the
/// generator's so that these streams never change when it does.
struct Draw(u64);

impl Draw {
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.f64().ln()).sqrt() * (std::f64::consts::TAU * self.f64()).cos()
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_seeded_and_named_both_ways() {
        for shape in Shape::ALL {
            assert_eq!(shape.bodies(50, 3), shape.bodies(50, 3), "{shape}");
            assert_ne!(shape.bodies(50, 3), shape.bodies(50, 4), "{shape}");
            assert!(shape.bodies(5, 1).iter().all(Value::is_object));
            assert_eq!(shape.name().parse::<Shape>(), Ok(shape));
        }
        assert!(
            "nope"
                .parse::<Shape>()
                .unwrap_err()
                .contains("one of lognormal")
        );
    }
}
