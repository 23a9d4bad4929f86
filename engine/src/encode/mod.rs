//! Events to canonical bytes: what the compressor sees.
//!
//! Keys are sorted and the output is compact, so two events that mean the same
//! thing encode to the same bytes. Strings have volatile tokens masked
//! ([`mask`]); numbers become symbols of the baseline's distribution ([`numeric`]).

mod clock;
pub mod context;
mod field;
pub(crate) use field::Bar;
mod identity;
pub(crate) use identity::Identifiers;
pub mod mask;
pub mod numeric;

use std::fmt::Write;

use serde_json::Value;

pub use numeric::{NumSymbol, NumericProfile};

/// An event as the compressor sees it, plus its numeric leaves (field path, value)
/// and its template context, for building the next baseline's profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded {
    pub bytes: String,
    pub leaves: Vec<(String, f64)>,
    /// Hash of the event's string values (masked, digits removed): events of the
    /// same template share it, so numbers are judged against their own template.
    pub context: u64,
    /// Hash of the event's key paths and short categorical values (`level`,
    /// `status`): templates with the same fields and categories (HTTP access
    /// lines for different routes) share it, the fallback when a template is
    /// too rare in the baseline for its own numeric profile.
    pub keyset: u64,
    /// Largest excursion level among the numbers (0 when all are in range).
    pub excursion: u32,
    /// Largest uncapped excursion level among the numbers at the cap (see
    /// `FieldProfile::reach`): what tells two extremes apart.
    pub reach: f32,
    /// Some number is an excursion at the firm bar (see
    /// [`numeric::NumericProfile::is_firm`]), not only past the tokens'
    /// margin.
    pub firm: bool,
    /// `(path, value)` hashes of its string values as written, for finding
    /// the fields that carry identity (see [`Identifiers::leaves_of`]).
    pub(crate) strings: Vec<(u64, u64)>,
}

impl Encoded {
    /// Adds derived numbers (the metric context, see [`context`]): judged
    /// against `profile` like the event's own numbers, so they count towards
    /// its excursion and its `why`, but not written into the bytes, so the code
    /// length stays a property of the event alone and neighbouring events'
    /// code lengths stay exchangeable for the window test.
    pub fn with_derived(mut self, derived: &[(String, f64)], profile: &NumericProfile) -> Self {
        let ctx = (self.context, self.keyset);
        for (path, v) in derived {
            if let NumSymbol::Above(l) | NumSymbol::Below(l) = profile.symbol(ctx, path, *v) {
                self.excursion = self.excursion.max(l);
                self.firm = self.firm || profile.is_firm(ctx, path, *v);
                if l >= numeric::MAX_LEVEL {
                    self.reach = self.reach.max(profile.reach(ctx, path, *v));
                }
            }
            self.leaves.push((path.clone(), *v));
        }
        self
    }
}

/// Encodes `body` (a JSON object; anything else is wrapped as `{"value": ...}`).
pub fn encode(body: &Value, profile: &NumericProfile, mask_volatile: bool) -> Encoded {
    encode_at(body, profile, mask_volatile, Bar::Soft)
}

/// [`encode`] with numbers judged at `bar`: at the firm bar, a number
/// short of it is written as its bin, not an excursion token.
pub(crate) fn encode_at(
    body: &Value,
    profile: &NumericProfile,
    mask_volatile: bool,
    bar: Bar,
) -> Encoded {
    let mut enc = Encoder {
        profile,
        mask_volatile,
        bar,
        out: Encoded {
            bytes: String::with_capacity(128),
            leaves: Vec::new(),
            context: CONTEXT_SEED,
            keyset: CONTEXT_SEED,
            excursion: 0,
            reach: 0.0,
            firm: false,
            strings: Vec::new(),
        },
        path: String::with_capacity(64),
        numbers: Vec::new(),
        members: Vec::with_capacity(16),
        masked: MASKED.take(),
    };
    match body {
        Value::Object(_) => enc.value(body),
        other => {
            enc.out.bytes.push_str("{\"value\":");
            enc.path.push_str("value");
            enc.value(other);
            enc.out.bytes.push('}');
        }
    }
    MASKED.set(std::mem::take(&mut enc.masked));
    enc.finish(profile)
}

thread_local! {
    // The masking buffer outlives the event, so strings are masked without
    // allocating.
    static MASKED: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

const CONTEXT_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Numeric leaves and context of `body` without a profile (used while
/// calibrating, before a profile exists).
pub fn numeric_leaves(body: &Value, mask_volatile: bool) -> (numeric::Ctx, Vec<(String, f64)>) {
    let e = encode(body, &NumericProfile::default(), mask_volatile);
    ((e.context, e.keyset), e.leaves)
}

struct Encoder<'a> {
    profile: &'a NumericProfile,
    mask_volatile: bool,
    /// The margin numbers are judged at.
    bar: Bar,
    out: Encoded,
    path: String,
    /// Byte offsets where number symbols go once the context is known.
    numbers: Vec<usize>,
    /// The members of the objects being written, innermost last: one buffer
    /// for the whole event instead of one sorted list per object.
    members: Vec<(&'a str, &'a Value)>,
    /// The current string, masked.
    masked: String,
}

impl<'a> Encoder<'a> {
    /// Splices the number symbols in: they depend on the template context,
    /// which is only known after every string was seen.
    fn finish(mut self, profile: &NumericProfile) -> Encoded {
        if self.numbers.is_empty() {
            return self.out;
        }
        let ctx = (self.out.context, self.out.keyset);
        let mut bytes = String::with_capacity(self.out.bytes.len() + 8 * self.numbers.len());
        let mut last = 0;
        let mut excursion = 0;
        for (at, (path, v)) in self.numbers.iter().zip(&self.out.leaves) {
            bytes.push_str(&self.out.bytes[last..*at]);
            let sym = profile.symbol_at(ctx, path, *v, self.bar);
            if let NumSymbol::Above(l) | NumSymbol::Below(l) = sym {
                excursion = excursion.max(l);
                self.out.firm = self.out.firm || profile.is_firm(ctx, path, *v);
                if l >= numeric::MAX_LEVEL {
                    self.out.reach = self.out.reach.max(profile.reach(ctx, path, *v));
                }
            }
            numeric::write_symbol(&mut bytes, path, sym);
            last = *at;
        }
        self.out.excursion = excursion;
        bytes.push_str(&self.out.bytes[last..]);
        self.out.bytes = bytes;
        self.out
    }

    /// The template context leaves numbers out, short ones (kept in the
    /// bytes) and long ones (masked to `<num>`) alike: `id=42` and
    /// `id=<num>` are one template.
    fn hash_context(&mut self, s: &str) {
        let mut h = self.out.context;
        let mut rest = s.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'<' && rest.starts_with(mask::NUM.as_bytes()) {
                rest = &rest[mask::NUM.len()..];
                continue;
            }
            rest = tail;
            if !b.is_ascii_digit() {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
        self.out.context = (h ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }

    fn value(&mut self, v: &'a Value) {
        match v {
            Value::Null => self.out.bytes.push_str("null"),
            Value::Bool(b) => self.out.bytes.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                self.numbers.push(self.out.bytes.len());
                self.out.leaves.push((self.path.clone(), x));
            }
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let len = self.path.len();
                self.path.push_str("[]");
                self.out.bytes.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.bytes.push(',');
                    }
                    self.value(item);
                }
                self.out.bytes.push(']');
                self.path.truncate(len);
            }
            Value::Object(map) => {
                let first = self.members.len();
                self.members
                    .extend(map.iter().map(|(k, v)| (k.as_str(), v)));
                // Keys of an object are distinct: an unstable sort is the order.
                self.members[first..].sort_unstable_by_key(|&(k, _)| k);
                self.out.bytes.push('{');
                for i in first..self.members.len() {
                    let (k, v) = self.members[i];
                    if i > first {
                        self.out.bytes.push(',');
                    }
                    write_json_string(&mut self.out.bytes, k);
                    let mut h = self.out.keyset;
                    for b in k.bytes().chain([0xfe]) {
                        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                    }
                    self.out.keyset = h;
                    self.out.bytes.push(':');
                    let len = self.path.len();
                    if len > 0 {
                        self.path.push('.');
                    }
                    self.path.push_str(k);
                    self.value(v);
                    self.path.truncate(len);
                }
                self.members.truncate(first);
                self.out.bytes.push('}');
            }
        }
    }

    fn string(&mut self, s: &str) {
        // Short word-like values are categories (`WARN`, `error`, `stop`):
        // they join the key-set context, so a WARN line's latency is not
        // judged against INFO lines'.
        if s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
            let mut h = self.out.keyset;
            for b in s.bytes().chain([0xfd]) {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
            self.out.keyset = h;
        }
        // Values directly under a key are what identities are found among.
        let key = (!self.path.ends_with("[]")).then(|| numeric::path_key(&self.path));
        let mut written = std::mem::take(&mut self.masked);
        written.clear();
        if key.is_some_and(|k| self.profile.is_identifier(k)) {
            written.push_str(identity::ID);
        } else if self.mask_volatile {
            mask::mask_into(s, &mut written);
        } else {
            written.push_str(s);
        }
        self.hash_context(&written);
        write_json_string(&mut self.out.bytes, &written);
        if let Some(k) = key {
            self.out.strings.push(identity::leaf(k, &written));
        }
        self.masked = written;
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs without a byte to escape are copied whole; every byte to escape is
    // ASCII, so the runs end on character boundaries.
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        if b != b'"' && b != b'\\' && b >= 0x20 {
            continue;
        }
        out.push_str(&s[last..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        last = i + 1;
    }
    out.push_str(&s[last..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_output_is_compact() {
        let a = encode(
            &json!({"b": "x", "a": {"d": true, "c": null}}),
            &NumericProfile::default(),
            false,
        );
        assert_eq!(a.bytes, r#"{"a":{"c":null,"d":true},"b":"x"}"#);
    }

    #[test]
    fn numbers_become_symbols_and_leaves_keep_values() {
        let vals: Vec<f64> = (0..100).map(|i| i as f64 + 1.0).collect();
        let profile = NumericProfile::build(vals.iter().map(|&v| ((0, 0), "lat", v)));
        let e = encode(&json!({"lat": 99.0, "n": [1, 2]}), &profile, true);
        assert_eq!(e.bytes, r##"{"lat":#7,"n":[#new,#new]}"##);
        assert_eq!(
            e.leaves,
            vec![
                ("lat".to_string(), 99.0),
                ("n[]".to_string(), 1.0),
                ("n[]".to_string(), 2.0)
            ]
        );
    }

    #[test]
    fn scalars_are_wrapped_and_strings_masked() {
        let e = encode(
            &json!("req 3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6 \"ok\""),
            &NumericProfile::default(),
            true,
        );
        assert_eq!(e.bytes, r#"{"value":"req <uuid> \"ok\""}"#);
    }

    #[test]
    fn numbers_short_or_masked_leave_the_template_alone() {
        let ctx = |m: &str| numeric_leaves(&json!({ "message": m }), true).0;
        let short = ctx("job done id=42");
        assert_eq!(short, ctx("job done id=48213"), "a masked number");
        assert_eq!(short, ctx("job done id=7"), "a short one");
        assert_ne!(short, ctx("job failed id=42"), "a word");
        assert_eq!(
            encode(
                &json!({ "message": "job done id=42" }),
                &NumericProfile::default(),
                true
            )
            .bytes,
            r#"{"message":"job done id=42"}"#,
            "the bytes keep the short number"
        );
    }
}
