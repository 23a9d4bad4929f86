//! Seeded mutations of seed inputs for the bounded fuzz tests (readers, the
//! `/v1/detect` decoder, saved detector state): byte edits that break a
//! file's framing, and JSON edits that keep it well-formed but put odd values
//! and shapes where the decoders expect others. The same seed gives the same
//! inputs, so a failing run names the case that reproduces it.

use serde_json::{Map, Value, json};

use crate::rng::Rng;

/// Byte values at the edges of common encodings (lengths, signs, UTF-8, varints).
const BYTES: [u8; 10] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, b'"', b',', b'\n', 0xc3];
/// 32-bit values that land on length and offset fields' edges.
const WORDS: [u32; 8] = [
    0,
    1,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// A seeded source of mutated inputs.
#[derive(Debug, Clone)]
pub struct Mutator {
    rng: Rng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Mutator {
            rng: Rng::new(seed),
        }
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.below(n as u64) as usize
        }
    }

    /// `seed` with one to four byte-level edits: bit flips, edge values,
    /// 32-bit edge words, inserted, deleted or duplicated runs, truncation.
    pub fn bytes(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = out.len();
            let at = self.below(len.max(1));
            match self.below(7) {
                0 if len > 0 => out[at] ^= 1 << self.below(8),
                1 if len > 0 => out[at] = BYTES[self.below(BYTES.len())],
                2 if len >= 4 => {
                    let at = self.below(len - 3);
                    let w = WORDS[self.below(WORDS.len())];
                    let bytes = if self.rng.chance(0.5) {
                        w.to_le_bytes()
                    } else {
                        w.to_be_bytes()
                    };
                    out[at..at + 4].copy_from_slice(&bytes);
                }
                3 => {
                    let n = 1 + self.below(16);
                    let run: Vec<u8> = (0..n).map(|_| self.rng.next_u64() as u8).collect();
                    out.splice(at.min(len)..at.min(len), run);
                }
                4 if len > 0 => {
                    let end = (at + 1 + self.below(64)).min(len);
                    out.drain(at..end);
                }
                5 if len > 0 => {
                    let end = (at + 1 + self.below(64)).min(len);
                    let run = out[at..end].to_vec();
                    out.splice(end..end, run);
                }
                _ => out.truncate(at),
            }
        }
        out
    }

    /// A value of a random kind, including edge numbers and deep nesting.
    pub fn odd_value(&mut self) -> Value {
        match self.below(14) {
            0 => Value::Null,
            1 => json!(self.rng.chance(0.5)),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(u64::MAX),
            5 => json!(i64::MIN),
            6 => json!(1e308),
            7 => json!(-0.0),
            8 => json!(0.5),
            9 => json!(""),
            10 => json!("x".repeat(1 + self.below(4096))),
            11 => json!("2025-01-01T00:00:00Z"),
            12 => json!([]),
            _ => {
                let mut v = json!({});
                for _ in 0..self.below(64) {
                    v = json!({ "n": v });
                }
                v
            }
        }
    }

    /// `seed` with one to three edits at random places in its tree: a value
    /// replaced by an odd one, a key removed or added, an array element
    /// dropped or repeated, a number moved to an edge.
    pub fn json(&mut self, seed: &Value) -> Value {
        let mut out = seed.clone();
        for _ in 0..1 + self.below(3) {
            let nodes = count(&out);
            let target = self.below(nodes);
            let mut seen = 0;
            self.edit(&mut out, target, &mut seen);
        }
        out
    }

    fn edit(&mut self, v: &mut Value, target: usize, seen: &mut usize) -> bool {
        if *seen == target {
            self.edit_here(v);
            return true;
        }
        *seen += 1;
        match v {
            Value::Array(a) => a.iter_mut().any(|c| self.edit(c, target, seen)),
            Value::Object(o) => o.values_mut().any(|c| self.edit(c, target, seen)),
            _ => false,
        }
    }

    fn edit_here(&mut self, v: &mut Value) {
        match v {
            Value::Object(o) if !o.is_empty() && self.rng.chance(0.5) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                let key = keys[self.below(keys.len())].clone();
                if self.rng.chance(0.5) {
                    o.remove(&key);
                } else {
                    o.insert(key, self.odd_value());
                }
            }
            Value::Object(o) => {
                o.insert(format!("k{}", self.below(8)), self.odd_value());
            }
            Value::Array(a) if !a.is_empty() && self.rng.chance(0.6) => {
                let i = self.below(a.len());
                if self.rng.chance(0.5) {
                    a.remove(i);
                } else {
                    let copy = a[i].clone();
                    for _ in 0..1 + self.below(8) {
                        a.push(copy.clone());
                    }
                }
            }
            Value::Number(_) => {
                *v = match self.below(5) {
                    0 => json!(0),
                    1 => json!(-1),
                    2 => json!(usize::MAX),
                    3 => json!(u32::MAX as u64 + 1),
                    _ => json!(1e300),
                };
            }
            other => *other = self.odd_value(),
        }
    }

    /// An object with a few keys of odd values (a fresh body or attributes).
    pub fn object(&mut self) -> Map<String, Value> {
        (0..self.below(6))
            .map(|i| (format!("f{i}"), self.odd_value()))
            .collect()
    }
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let seed = br#"{"a":[1,2,{"b":"c"}]}"#;
        let v: Value = serde_json::from_slice(seed).unwrap();
        let run = |s| {
            let mut m = Mutator::new(s);
            (0..50)
                .map(|_| (m.bytes(seed), m.json(&v)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        // Mutations change things.
        let changed = run(3)
            .iter()
            .filter(|(b, j)| b.as_slice() != seed && *j != v)
            .count();
        assert!(changed > 40, "{changed}");
    }
}
