//! Structural novelty: the word tokens and object members (key, value type) of an
//! encoded event, checked against what the baseline and the stream's longer
//! memory have seen.
//!
//! A compressor measures how much new information an event carries, but a short
//! new word in a long event, or `"level":9` where the baseline always had a
//! string, costs it only a few bits. Counting never-seen tokens and members
//! catches those directly; the counts feed the event's nonconformity (see
//! [`crate::model::rank`]) so the p-value stays conformal.

use std::collections::HashSet;

use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

/// A set of 64-bit hashes with a fixed-seed hasher (reproducible iteration).
pub(crate) type HashSet64 = HashSet<u64, FixedState>;

/// Tokens and members of one encoded event, as hashes, each listed once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Facts {
    pub tokens: Vec<u64>,
    /// `(key, value type)` of every object member (saved as `shapes`).
    #[serde(rename = "shapes")]
    pub members: Vec<u64>,
    /// Key names alone, to tell a new field from a retyped one.
    pub keys: Vec<u64>,
}

/// How many of an event's tokens and members were never seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Novelty {
    pub tokens: u32,
    /// Never-seen `(key, value type)` members (saved as `shapes`).
    #[serde(rename = "shapes")]
    pub members: u32,
}

impl Novelty {
    pub fn any(self) -> bool {
        self.tokens > 0 || self.members > 0
    }
}

/// FNV-1a, stable across runs and platforms (state is persisted).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn member_hash(key: &[u8], value_type: u8) -> u64 {
    fnv(key) ^ (value_type as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A token worth remembering: 3+ bytes and no digits. Tokens with digits are
/// values and identifiers (`479ms`, `usr_d4e95eef00da`) that are new on every
/// event; numbers are judged by the numeric profile instead.
fn is_word(t: &[u8]) -> bool {
    t.len() >= 3 && !t.iter().any(u8::is_ascii_digit) && !t.windows(5).any(|w| w == b"<num>")
}

/// Mask placeholders (`<num>`) join the word around them, so that
/// `usr_bb<num>bba7c` stays one identifier instead of yielding `usr_bb`.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'<' | b'>') || b >= 0x80
}

/// Walks an encoded event (canonical compact JSON whose numbers are `#`
/// symbols) and calls `token` for every word inside a string (keys included)
/// and `member` for every `(key, value type byte)`.
pub(crate) fn scan<'a>(
    encoded: &'a str,
    mut token: impl FnMut(&'a str),
    mut member: impl FnMut(&'a str, u8),
) {
    let b = encoded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        // A string: words are runs of word bytes; escapes end a word.
        let start = i + 1;
        let mut j = start;
        let mut word = start;
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' {
                if is_word(&b[word..j]) {
                    token(&encoded[word..j]);
                }
                j += 2;
                word = j;
                continue;
            }
            if !is_word_byte(b[j]) {
                if is_word(&b[word..j]) {
                    token(&encoded[word..j]);
                }
                word = j + 1;
            }
            j += 1;
        }
        let end = j.min(b.len());
        if word < end && is_word(&b[word..end]) {
            token(&encoded[word..end]);
        }
        i = end + 1;
        if i < b.len() && b[i] == b':' {
            let ty = b.get(i + 1).copied().unwrap_or(b'?');
            member(&encoded[start..end], ty);
        }
    }
}

impl Facts {
    pub fn of(encoded: &str) -> Facts {
        // Sized for a typical log line, so that the lists rarely grow.
        let mut f = Facts {
            tokens: Vec::with_capacity(32),
            members: Vec::with_capacity(8),
            keys: Vec::with_capacity(8),
        };
        scan(
            encoded,
            |t| f.tokens.push(fnv(t.as_bytes())),
            |k, ty| {
                f.members.push(member_hash(k.as_bytes(), ty));
                f.keys.push(fnv(k.as_bytes()));
            },
        );
        for v in [&mut f.tokens, &mut f.members, &mut f.keys] {
            v.sort_unstable();
            v.dedup();
        }
        f
    }
}

impl Facts {
    /// Tokens and members shared with `other`, a cheap similarity for choosing
    /// which events to compress against each other.
    pub fn overlap(&self, other: &Facts) -> u32 {
        shared(&self.tokens, &other.tokens) + shared(&self.members, &other.members)
    }
}

/// Size of the intersection of two sorted lists.
fn shared(a: &[u64], b: &[u64]) -> u32 {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Every token, member and key of a set of events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Vocabulary {
    tokens: HashSet64,
    #[serde(rename = "shapes")]
    members: HashSet64,
    keys: HashSet64,
}

impl Vocabulary {
    pub fn of<'a>(facts: impl IntoIterator<Item = &'a Facts>) -> Self {
        let mut v = Vocabulary::default();
        for f in facts {
            v.add(f, usize::MAX);
        }
        v
    }

    /// Adds `f`'s entries while each set holds fewer than `cap`.
    pub fn add(&mut self, f: &Facts, cap: usize) {
        for (set, items) in [
            (&mut self.tokens, &f.tokens),
            (&mut self.members, &f.members),
            (&mut self.keys, &f.keys),
        ] {
            for &h in items {
                if set.len() >= cap {
                    break;
                }
                set.insert(h);
            }
        }
    }

    /// Counts `f`'s tokens and members found in neither `self` nor `also`.
    pub fn novelty(&self, also: &Vocabulary, f: &Facts) -> Novelty {
        let count = |items: &[u64], a: &HashSet64, b: &HashSet64| {
            items
                .iter()
                .filter(|h| !a.contains(h) && !b.contains(h))
                .count() as u32
        };
        Novelty {
            tokens: count(&f.tokens, &self.tokens, &also.tokens),
            members: count(&f.members, &self.members, &also.members),
        }
    }

    pub fn knows_token(&self, t: &str) -> bool {
        self.tokens.contains(&fnv(t.as_bytes()))
    }

    pub fn knows_member(&self, key: &str, ty: u8) -> bool {
        self.members.contains(&member_hash(key.as_bytes(), ty))
    }

    pub fn knows_key(&self, key: &str) -> bool {
        self.keys.contains(&fnv(key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_words_in_strings_and_member_types() {
        let e = r##"{"level":"WARN","msg":"slow query on orders: \"x\" 456ms","n":#3,"tags":["a1b2c3"]}"##;
        let mut toks = Vec::new();
        let mut members = Vec::new();
        scan(e, |t| toks.push(t), |k, ty| members.push((k, ty as char)));
        assert_eq!(
            toks,
            ["level", "WARN", "msg", "slow", "query", "orders", "tags"]
        );
        assert_eq!(
            members,
            [("level", '"'), ("msg", '"'), ("n", '#'), ("tags", '[')]
        );
    }

    #[test]
    fn retyped_field_is_a_new_member_but_a_known_key() {
        let base = Vocabulary::of([&Facts::of(r#"{"level":"INFO","msg":"ok"}"#)]);
        let f = Facts::of(r##"{"level":#2,"msg":"ok"}"##);
        let n = base.novelty(&Vocabulary::default(), &f);
        assert_eq!(
            n,
            Novelty {
                tokens: 0,
                members: 1
            }
        );
        assert!(base.knows_key("level") && !base.knows_member("level", b'#'));
    }

    #[test]
    fn memory_vocabulary_counts_as_seen() {
        let base = Vocabulary::of([&Facts::of(r#"{"msg":"GET orders"}"#)]);
        let mem = Vocabulary::of([&Facts::of(r#"{"msg":"slow query detected"}"#)]);
        let f = Facts::of(r#"{"msg":"slow query detected"}"#);
        assert_eq!(base.novelty(&Vocabulary::default(), &f).tokens, 3);
        assert!(!base.novelty(&mem, &f).any());
    }
}
