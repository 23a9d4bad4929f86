//! Anomaly kinds, and the transformations that apply the same way to every stream
//! kind (`novel_field`, `format_change`); the kind-specific ones live in each model.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

use crate::rng::Rng;

/// A labelled anomaly kind. The snake_case [`name`](AnomalyKind::name) is stable:
/// it is what Parquet/NDJSON files and reports carry.
///
/// Every kind applies to every stream kind; what it means per stream:
///
/// | kind | logs | metrics | traces | llm |
/// |---|---|---|---|---|
/// | `novel_message` | unseen message template | unseen record family (GC pause, read-only fs, thermal) | unseen span name/parent/attrs | unseen prompt/response pair |
/// | `novel_field` | extra unseen top-level field | same | same | same |
/// | `numeric_spike` | `latency_ms` of an HTTP template = 50 ms × 10–50 | `latency_ms` = 35 × 10–50 | `duration_ms` = span median × 10–50 (out of range for that span name) | `latency_ms` = 990 × 10–50 |
/// | `level_shift` | same fields × 12–20 for 15–20 events | same | same | same |
/// | `error_burst` | `level: ERROR`, unseen messages | `up: 0` + unseen scrape error | `status: error` + unseen `error.message` | `finish_reason: error` + unseen `error` |
/// | `format_change` | PascalCase keys / logfmt `message` / retyped values | same | same | same |
///
/// Normal mode has rare errors too (WARN/ERROR logs, 2% failed scrapes,
/// 5% error spans, 3% `length`/`content_filter` LLM ends), so only the unseen
/// messages and the burst make an `error_burst` anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// One event whose message/text/record shape was never produced in normal mode.
    NovelMessage,
    /// A normal event with an extra, never-seen field holding a substantial value.
    NovelField,
    /// One event whose main numeric field is 10–50× its normal median.
    NumericSpike,
    /// 15–20 consecutive events whose main numeric field sits 12–20× above normal.
    LevelShift,
    /// 8–15 consecutive error events with messages never used in normal mode.
    ErrorBurst,
    /// One event in a different format: PascalCase keys, a flattened text body,
    /// or values of different JSON types.
    FormatChange,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 6] = [
        AnomalyKind::NovelMessage,
        AnomalyKind::NovelField,
        AnomalyKind::NumericSpike,
        AnomalyKind::LevelShift,
        AnomalyKind::ErrorBurst,
        AnomalyKind::FormatChange,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::NovelMessage => "novel_message",
            AnomalyKind::NovelField => "novel_field",
            AnomalyKind::NumericSpike => "numeric_spike",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::ErrorBurst => "error_burst",
            AnomalyKind::FormatChange => "format_change",
        }
    }

    /// Parses a [`name`](AnomalyKind::name) (also accepts `-` for `_`).
    pub fn parse(s: &str) -> Option<AnomalyKind> {
        let s = s.trim().replace('-', "_").to_ascii_lowercase();
        AnomalyKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Inclusive range of how many consecutive events one anomaly of this kind spans.
    pub fn span(self) -> (u32, u32) {
        match self {
            AnomalyKind::LevelShift => (15, 20),
            AnomalyKind::ErrorBurst => (8, 15),
            _ => (1, 1),
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of `novel_field` variants; the placement picks one per anomaly.
pub(crate) const NOVEL_FIELD_VARIANTS: u32 = 6;
/// Number of `format_change` variants.
pub(crate) const FORMAT_VARIANTS: u32 = 3;

/// Adds a field whose key no normal body of any stream kind uses, with a value
/// big enough (object or 30+ chars) to matter to a compressor.
pub(crate) fn add_novel_field(body: &mut Map<String, Value>, variant: u32, rng: &mut Rng) {
    let (key, value) = match variant % NOVEL_FIELD_VARIANTS {
        0 => (
            "debug_context",
            json!({
                "thread": format!("worker-{}", rng.int(1, 64)),
                "heap_used_mb": rng.int(300, 900),
                "gc": "G1",
                "flags": ["verbose", "trace_alloc"],
            }),
        ),
        1 => (
            "stack_trace",
            Value::String(format!(
                "java.lang.IllegalStateException: cart already checked out\n\tat com.acme.checkout.CartService.close(CartService.java:{})",
                rng.int(100, 400)
            )),
        ),
        2 => {
            let mut s = String::new();
            for i in 0..3 {
                if i > 0 {
                    s.push_str(", ");
                }
                rng.push_ip(&mut s);
            }
            let _ = write!(s, " via edge-proxy-{}", rng.int(1, 9));
            ("x_forwarded_chain", Value::String(s))
        }
        3 => {
            let mut id = String::from("exp_");
            rng.push_hex(&mut id, 8);
            (
                "experiment",
                json!({"id": id, "arm": "treatment_b", "allocation": 0.25, "sticky": true}),
            )
        }
        4 => {
            let mut s = String::with_capacity(64);
            rng.push_hex(&mut s, 64);
            ("client_fingerprint", Value::String(s))
        }
        _ => (
            "geo",
            json!({"country": "IS", "city": "Reykjavik", "lat": 64.1466, "lon": -21.9426}),
        ),
    };
    body.insert(key.to_string(), value);
}

/// Rewrites a normal body into a different format (variant 0: PascalCase keys,
/// 1: one flattened logfmt text field, 2: values of other JSON types).
pub(crate) fn change_format(body: Map<String, Value>, variant: u32) -> Map<String, Value> {
    match variant % FORMAT_VARIANTS {
        0 => body
            .into_iter()
            .map(|(k, v)| (pascal_case(&k), v))
            .collect(),
        1 => {
            let mut line = String::with_capacity(160);
            for (k, v) in &body {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(k);
                line.push('=');
                match v {
                    Value::String(s) if !s.contains(' ') => line.push_str(s),
                    Value::String(s) => {
                        let _ = write!(line, "{s:?}");
                    }
                    other => line.push_str(&other.to_string()),
                }
            }
            let mut out = Map::with_capacity(8);
            out.insert("message".to_string(), Value::String(line));
            out
        }
        _ => body
            .into_iter()
            .map(|(k, v)| {
                let v = retype(&k, v);
                (k, v)
            })
            .collect(),
    }
}

/// Severity numbers as OpenTelemetry defines them: a logger switching to numeric
/// levels is a classic format change.
fn retype(key: &str, v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if b { "yes" } else { "no" }.to_string()),
        Value::Object(_) | Value::Array(_) => Value::String(v.to_string()),
        Value::String(s) if key == "level" => Value::from(match s.as_str() {
            "DEBUG" => 5,
            "INFO" => 9,
            "WARN" => 13,
            _ => 17,
        }),
        Value::String(s) if key == "status" || key == "finish_reason" => {
            Value::from(if s == "ok" || s == "stop" { 0 } else { 2 })
        }
        other => other,
    }
}

fn pascal_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = true;
    for c in key.chars() {
        if c == '_' || c == '.' || c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Map<String, Value> {
        json!({"level": "INFO", "msg": "GET /x 200", "latency_ms": 43, "request_id": "ab"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn names_round_trip() {
        for k in AnomalyKind::ALL {
            assert_eq!(AnomalyKind::parse(k.name()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                Value::String(k.name().into())
            );
        }
        assert_eq!(
            AnomalyKind::parse("level-shift"),
            Some(AnomalyKind::LevelShift)
        );
    }

    #[test]
    fn format_variants_change_the_body() {
        let pascal = change_format(sample(), 0);
        assert!(pascal.contains_key("LatencyMs") && pascal.contains_key("Level"));
        let flat = change_format(sample(), 1);
        assert_eq!(flat.len(), 1);
        assert_eq!(
            flat["message"],
            "level=INFO msg=\"GET /x 200\" latency_ms=43 request_id=ab"
        );
        let retyped = change_format(sample(), 2);
        assert_eq!(retyped["latency_ms"], "43");
        assert_eq!(retyped["level"], 9);
    }

    #[test]
    fn novel_fields_are_substantial() {
        let mut rng = Rng::new(5);
        for v in 0..NOVEL_FIELD_VARIANTS {
            let mut b = sample();
            add_novel_field(&mut b, v, &mut rng);
            assert_eq!(b.len(), 5);
            let (_, added) = b.iter().next_back().unwrap();
            assert!(
                added.is_object() || added.as_str().is_some_and(|s| s.len() >= 30),
                "{added}"
            );
        }
    }
}
