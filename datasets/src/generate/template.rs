//! Message templates with volatile tokens (`"GET /api/orders/{order} 200 in {lat}ms"`).
//!
//! A template is parsed once; rendering fills every `{token}` with a fresh value and
//! lets structured fields reuse the value shown in the text, so `latency_ms` agrees
//! with the "in 43ms" of the message as it would in a real service.

use serde_json::{Map, Value};
use std::fmt::Write as _;

use crate::rng::{Rng, round_to};

/// Kinds of volatile token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tok {
    /// Latency in ms, log-normal around the template's median (integer).
    Lat,
    /// Payload size in bytes, log-normal (integer).
    Bytes,
    /// Uniform integer in [lo, hi].
    Int(u64, u64),
    /// Money amount with 2 decimals.
    Amount,
    Uuid,
    /// `usr_` + 12 hex digits.
    User,
    Hex(usize),
    Ip,
    /// `SKU-` + 5 digits.
    Sku,
    /// RFC 3339 timestamp a few minutes to hours after the event.
    Ts,
}

impl Tok {
    /// The shared vocabulary of token names used in template text.
    pub(crate) fn named(name: &str) -> Option<Tok> {
        Some(match name {
            "lat" => Tok::Lat,
            "bytes" => Tok::Bytes,
            "order" => Tok::Int(1000, 99_999),
            "n" => Tok::Int(0, 99),
            "n2" => Tok::Int(0, 20),
            "rows" => Tok::Int(0, 250),
            "page" => Tok::Int(1, 20),
            "part" => Tok::Int(0, 31),
            "port" => Tok::Int(1024, 65_535),
            "qty" => Tok::Int(1, 5),
            "attempt" => Tok::Int(1, 3),
            "long" => Tok::Int(1_000_000_000, 9_999_999_999),
            "amount" => Tok::Amount,
            "uuid" => Tok::Uuid,
            "user" => Tok::User,
            "hex8" => Tok::Hex(8),
            "hex16" => Tok::Hex(16),
            "hex32" => Tok::Hex(32),
            "ip" => Tok::Ip,
            "sku" => Tok::Sku,
            "ts" => Tok::Ts,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Val {
    Int(u64),
    Float(f64),
    Text(String),
}

impl Val {
    fn push_to(&self, buf: &mut String) {
        match self {
            Val::Int(v) => crate::rng::push_u64(buf, *v),
            Val::Float(v) => {
                let _ = write!(buf, "{v}");
            }
            Val::Text(s) => buf.push_str(s),
        }
    }

    fn into_json(self) -> Value {
        match self {
            Val::Int(v) => Value::from(v),
            Val::Float(v) => Value::from(v),
            Val::Text(s) => Value::String(s),
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Lit(&'static str),
    Tok(&'static str, Tok),
}

#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) level: &'static str,
    parts: Vec<Part>,
    /// (field key, token name, token)
    fields: Vec<(&'static str, &'static str, Tok)>,
    lat_median: f64,
}

/// Compact literal description of a template, kept as static tables in the models.
pub(crate) struct TemplateSpec {
    pub level: &'static str,
    pub text: &'static str,
    /// (field key, token name); a token that also appears in the text shares its value.
    pub fields: &'static [(&'static str, &'static str)],
    /// Median of `{lat}` in ms (ignored when the template has none).
    pub lat: f64,
}

impl Template {
    pub(crate) fn parse(spec: &TemplateSpec) -> Template {
        let mut parts = Vec::new();
        let mut rest = spec.text;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("unclosed token in template");
            if open > 0 {
                parts.push(Part::Lit(&rest[..open]));
            }
            let name = &rest[open + 1..close];
            let tok = Tok::named(name).unwrap_or_else(|| panic!("unknown token {{{name}}}"));
            parts.push(Part::Tok(name, tok));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest));
        }
        let fields = spec
            .fields
            .iter()
            .map(|&(key, name)| {
                let tok = Tok::named(name).unwrap_or_else(|| panic!("unknown token {{{name}}}"));
                (key, name, tok)
            })
            .collect();
        Template {
            level: spec.level,
            parts,
            fields,
            lat_median: spec.lat,
        }
    }

    pub(crate) fn has_latency(&self) -> bool {
        self.fields.iter().any(|(_, _, t)| matches!(t, Tok::Lat))
    }

    pub(crate) fn lat_median(&self) -> f64 {
        self.lat_median
    }

    fn draw(&self, tok: Tok, rng: &mut Rng, lat: Option<f64>, ts_ms: i64) -> Val {
        match tok {
            Tok::Lat => {
                let v = lat.unwrap_or_else(|| rng.lognormal(self.lat_median, 0.45));
                Val::Int(v.round().max(1.0) as u64)
            }
            Tok::Bytes => Val::Int(rng.lognormal(4200.0, 0.8).round() as u64),
            Tok::Int(lo, hi) => Val::Int(rng.int(lo, hi)),
            Tok::Amount => Val::Float(round_to(rng.lognormal(45.0, 0.7), 2)),
            Tok::Uuid => {
                let mut s = String::with_capacity(36);
                rng.push_uuid(&mut s);
                Val::Text(s)
            }
            Tok::User => {
                let mut s = String::with_capacity(16);
                s.push_str("usr_");
                rng.push_hex(&mut s, 12);
                Val::Text(s)
            }
            Tok::Hex(n) => {
                let mut s = String::with_capacity(n);
                rng.push_hex(&mut s, n);
                Val::Text(s)
            }
            Tok::Ip => {
                let mut s = String::with_capacity(15);
                rng.push_ip(&mut s);
                Val::Text(s)
            }
            Tok::Sku => Val::Text(format!("SKU-{}", rng.int(10_000, 99_999))),
            Tok::Ts => {
                let later = ts_ms + rng.int(60_000, 6 * 3_600_000) as i64;
                Val::Text(crate::time::format_rfc3339_ms(later))
            }
        }
    }

    /// Renders the message and appends `msg_key` plus the template's fields to `out`.
    /// `lat` forces the latency value (spikes, level shifts).
    pub(crate) fn render_into(
        &self,
        out: &mut Map<String, Value>,
        msg_key: &str,
        rng: &mut Rng,
        lat: Option<f64>,
        ts_ms: i64,
    ) {
        let mut msg = String::with_capacity(96);
        // Values shown in the text, by token name, for fields to reuse (moved out
        // on first use: no template repeats a field's token).
        let mut shown: Vec<(&'static str, Option<Val>)> = Vec::with_capacity(4);
        for part in &self.parts {
            match part {
                Part::Lit(s) => msg.push_str(s),
                Part::Tok(name, tok) => {
                    let v = self.draw(*tok, rng, lat, ts_ms);
                    v.push_to(&mut msg);
                    shown.push((name, Some(v)));
                }
            }
        }
        out.insert(msg_key.to_string(), Value::String(msg));
        for (key, name, tok) in &self.fields {
            let v = match shown.iter_mut().find(|(n, v)| n == name && v.is_some()) {
                Some((_, v)) => v.take().expect("checked is_some").into_json(),
                None => self.draw(*tok, rng, lat, ts_ms).into_json(),
            };
            out.insert(key.to_string(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_reuse_text_values() {
        let t = Template::parse(&TemplateSpec {
            level: "INFO",
            text: "GET /api/orders/{order} 200 in {lat}ms",
            fields: &[("latency_ms", "lat"), ("request_id", "uuid")],
            lat: 40.0,
        });
        assert!(t.has_latency());
        let mut rng = Rng::new(1);
        let mut m = Map::new();
        t.render_into(&mut m, "msg", &mut rng, Some(1234.0), 0);
        assert!(m["msg"].as_str().unwrap().ends_with(" 200 in 1234ms"));
        assert_eq!(m["latency_ms"], 1234);
        assert_eq!(m["request_id"].as_str().unwrap().len(), 36);
    }
}
