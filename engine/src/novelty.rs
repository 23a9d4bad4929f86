//! Structural novelty: the word tokens and object members (key, value type) of an
//! encoded event, checked against what the baseline and the stream's longer
//! memory have seen.
//!
//! A compressor measures how much new information an event carries, but a short
//! new word in a long event, or `"level":9` where the baseline always had a
//! string, costs it only a few bits. Counting never-seen tokens and members
//! catches those directly; the counts feed the event's nonconformity (see
//! [`crate::model::rank`]) so the p-value stays conformal.
//!
//! Short numbers inside text (`GET /api/users 500`) are neither words nor
//! numeric fields. Each is judged in its slot, the word before it and its
//! place after that word: a new number where the slot always held one value
//! (an HTTP status that never changed) is evidence; a slot whose numbers vary
//! (a latency or a count in the text) is not. Codes with letters (`step12`,
//! `w-a3`) are left to the compressor: new ones arrive with every new
//! template, and judging them cost more precision on drifting logs than it
//! found.

use std::collections::{HashMap, HashSet};

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
    /// `(slot, value)` of every short number inside text (see [`slot_hash`]).
    #[serde(default)]
    pub slots: Vec<(u64, u64)>,
    /// Every punctuation byte, as [`punct_hash`].
    #[serde(default)]
    pub chars: Vec<u64>,
}

/// How many of an event's tokens and members were never seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Novelty {
    pub tokens: u32,
    /// Never-seen `(key, value type)` members (saved as `shapes`).
    #[serde(rename = "shapes")]
    pub members: u32,
    /// New numbers in text slots that always held one (`500` after 200s).
    #[serde(default)]
    pub values: u32,
    /// Punctuation bytes never seen.
    #[serde(default)]
    pub chars: u32,
}

impl Novelty {
    pub fn any(self) -> bool {
        self.new_template() || self.values > 0
    }

    /// Evidence inside text that ranks below a numeric excursion.
    pub fn in_text(self) -> bool {
        self.values > 0 || self.chars > 0
    }

    /// New words or members: a template the stream never had. A new number
    /// or punctuation in a known template (a 5xx where there were 200s, a
    /// quote in a path) is not one, however often it recurs.
    pub fn new_template(self) -> bool {
        self.tokens > 0 || self.members > 0
    }
}

/// A slot with more distinct values than this holds a quantity, not a code:
/// the same bound as the memory's few-valued numeric fields.
const SLOT_VALUES: usize = 16;

/// The values a slot was seen with and how often (`Many` past [`SLOT_VALUES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum SlotValues {
    Few(Vec<(u64, u32)>),
    Many,
}

impl SlotValues {
    /// A new number is unexpected where the slot always held one value, seen
    /// at least twice: Good–Turing's estimate of the chance of a new one
    /// (values seen once / occurrences) is then 0. A number that varies
    /// (`qty=3` after 1s and 2s) may vary more.
    fn settled(&self) -> bool {
        matches!(self, SlotValues::Few(vals) if vals.len() == 1 && vals[0].1 >= 2)
    }

    fn knows(&self, v: u64) -> bool {
        match self {
            SlotValues::Many => true,
            SlotValues::Few(vals) => vals.iter().any(|&(x, _)| x == v),
        }
    }
}

/// A slot: the word before a number and how many values came since that
/// word.
pub(crate) fn slot_hash(word: &str, nth: u32) -> u64 {
    fnv(word.as_bytes()) ^ ((nth as u64) + 1).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// A short value inside text that is a number (`500`, `3ms`), not a code
/// with letters first (`step12`): only numbers are judged in their slot.
pub(crate) fn is_number(value: &str) -> bool {
    value.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// The token of one punctuation byte (no word has a control byte).
pub(crate) fn punct_hash(b: u8) -> u64 {
    fnv(&[0x01, b])
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

/// A short value kept by the masking (`500`, `v2`, `worker-3`): it has a digit
/// and no placeholder (masked ones are volatile by definition).
fn is_value(t: &[u8]) -> bool {
    (1..=12).contains(&t.len()) && t.iter().any(u8::is_ascii_digit) && !t.contains(&b'<')
}

/// Mask placeholders (`<num>`) join the word around them, so that
/// `usr_bb<num>bba7c` stays one identifier instead of yielding `usr_bb`.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'<' | b'>') || b >= 0x80
}

/// Walks an encoded event (canonical compact JSON whose numbers are `#`
/// symbols) and calls `token` for every word inside a string (keys included),
/// `value` for every short value in a string with its slot (the last word
/// before it, keys included, and how many values came since), and `member`
/// for every `(key, value type byte)`. Returns the punctuation bytes inside
/// strings as a bit set: the JSON around them and the number symbols are the
/// encoder's, not the event's.
pub(crate) fn scan<'a>(
    encoded: &'a str,
    mut token: impl FnMut(&'a str),
    mut value: impl FnMut(&'a str, u32, &'a str),
    mut member: impl FnMut(&'a str, u8),
) -> u128 {
    let b = encoded.as_bytes();
    let mut punct = 0u128;
    let mut mark = |c: u8| {
        if c.is_ascii_punctuation() {
            punct |= 1 << c;
        }
    };
    let mut last_word = "";
    let mut since = 0u32;
    let mut run = |from: usize, to: usize| {
        let t = &b[from..to];
        if is_word(t) {
            token(&encoded[from..to]);
            last_word = &encoded[from..to];
            since = 0;
        } else if is_value(t) {
            value(last_word, since, &encoded[from..to]);
            since += 1;
        } else if t.windows(5).any(|w| w == b"<num>") {
            // A masked value still holds its place: `orders/<num> 200` and
            // `orders/1136 200` put `200` in the same slot.
            since += 1;
        }
    };
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
                if let Some(&c) = b.get(j + 1) {
                    mark(c);
                }
                run(word, j);
                j += 2;
                word = j;
                continue;
            }
            mark(b[j]);
            if !is_word_byte(b[j]) {
                run(word, j);
                word = j + 1;
            }
            j += 1;
        }
        let end = j.min(b.len());
        if word < end {
            run(word, end);
        }
        i = end + 1;
        if i < b.len() && b[i] == b':' {
            let ty = b.get(i + 1).copied().unwrap_or(b'?');
            member(&encoded[start..end], ty);
        }
    }
    punct
}

/// The category values of an encoded event: string values that are one
/// short word (`info`, `billing`, `FATAL`), as the encoder's key-set context
/// takes them, long enough to be tokens.
pub(crate) fn categories(encoded: &str) -> impl Iterator<Item = &str> {
    let mut parts = encoded.split('"');
    // Between quotes: odd parts are strings, each followed by the even part
    // after it (`:` after a key).
    parts.next();
    std::iter::from_fn(move || {
        loop {
            let string = parts.next()?;
            let after = parts.next().unwrap_or("");
            let category = (3..=16).contains(&string.len())
                && string.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
                && !after.starts_with(':');
            if category {
                return Some(string);
            }
        }
    })
}

/// Words a log uses for its own verdict that something is wrong (syslog's
/// and OpenTelemetry's severities from warning up). A new category value
/// that is one of them is the log raising an alarm, never a service's new
/// normal message; any other new value (a new service, host or region) may be.
const ALARM_WORDS: [&str; 12] = [
    "warn",
    "warning",
    "error",
    "err",
    "severe",
    "critical",
    "crit",
    "alert",
    "emerg",
    "emergency",
    "fatal",
    "panic",
];

/// Whether a category value names a severity of warning or above.
pub(crate) fn names_an_alarm(value: &str) -> bool {
    ALARM_WORDS.iter().any(|w| w.eq_ignore_ascii_case(value))
}

impl Facts {
    pub fn of(encoded: &str) -> Facts {
        // Sized for a typical log line, so that the lists rarely grow.
        let mut f = Facts {
            tokens: Vec::with_capacity(32),
            members: Vec::with_capacity(8),
            keys: Vec::with_capacity(8),
            slots: Vec::new(),
            chars: Vec::new(),
        };
        let mut punct = scan(
            encoded,
            |t| f.tokens.push(fnv(t.as_bytes())),
            |w, nth, v| {
                if is_number(v) {
                    f.slots.push((slot_hash(w, nth), fnv(v.as_bytes())));
                }
            },
            |k, ty| {
                f.members.push(member_hash(k.as_bytes(), ty));
                f.keys.push(fnv(k.as_bytes()));
            },
        );
        // Punctuation never seen (a `'` in a request path): an injection
        // changes a line's characters more than its words.
        while punct != 0 {
            let b = punct.trailing_zeros() as u8;
            punct &= punct - 1;
            f.chars.push(punct_hash(b));
        }
        for v in [&mut f.tokens, &mut f.members, &mut f.keys, &mut f.chars] {
            v.sort_unstable();
            v.dedup();
        }
        f.slots.sort_unstable();
        f.slots.dedup();
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
    #[serde(default)]
    slots: HashMap<u64, SlotValues, FixedState>,
    #[serde(default)]
    chars: HashSet64,
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
            (&mut self.chars, &f.chars),
        ] {
            for &h in items {
                if set.len() >= cap {
                    break;
                }
                set.insert(h);
            }
        }
        for &(slot, v) in &f.slots {
            if self.slots.len() >= cap && !self.slots.contains_key(&slot) {
                break;
            }
            let entry = self
                .slots
                .entry(slot)
                .or_insert_with(|| SlotValues::Few(Vec::new()));
            if let SlotValues::Few(vals) = entry {
                if let Some((_, c)) = vals.iter_mut().find(|(x, _)| *x == v) {
                    *c = c.saturating_add(1);
                } else if vals.len() < SLOT_VALUES {
                    vals.push((v, 1));
                } else {
                    *entry = SlotValues::Many;
                }
            }
        }
    }

    /// Whether value `v` in `slot` is new where the slot's values recur (in
    /// `self` or `also`) and neither has seen it or many values there.
    pub fn novel_value(&self, also: &Vocabulary, slot: u64, v: u64) -> bool {
        let (a, b) = (self.slots.get(&slot), also.slots.get(&slot));
        let known = |s: Option<&SlotValues>| s.is_some_and(|s| s.knows(v));
        let settled = |s: Option<&SlotValues>| s.is_some_and(SlotValues::settled);
        !known(a) && !known(b) && (settled(a) || settled(b))
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
            chars: count(&f.chars, &self.chars, &also.chars),
            values: f
                .slots
                .iter()
                .filter(|&&(s, v)| self.novel_value(also, s, v))
                .count() as u32,
        }
    }

    pub fn knows_token(&self, t: &str) -> bool {
        self.tokens.contains(&fnv(t.as_bytes()))
    }

    pub fn knows_member(&self, key: &str, ty: u8) -> bool {
        self.members.contains(&member_hash(key.as_bytes(), ty))
    }

    pub fn knows_char(&self, b: u8) -> bool {
        self.chars.contains(&punct_hash(b))
    }

    pub fn knows_key(&self, key: &str) -> bool {
        self.keys.contains(&fnv(key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_values_are_short_single_words_not_keys() {
        let e = r#"{"level":"info","msg":"GET /api/users","service":"billing","n":#3,"ok":"yes_no","x":"ab"}"#;
        assert_eq!(
            categories(e).collect::<Vec<_>>(),
            vec!["info", "billing", "yes_no"]
        );
    }

    #[test]
    fn scan_finds_words_in_strings_and_member_types() {
        let e = r##"{"level":"WARN","msg":"slow query on orders: \"x\" 456ms","n":#3,"tags":["a1b2c3"]}"##;
        let mut toks = Vec::new();
        let mut members = Vec::new();
        let mut values = Vec::new();
        scan(
            e,
            |t| toks.push(t),
            |w, n, v| values.push((w, n, v)),
            |k, ty| members.push((k, ty as char)),
        );
        assert_eq!(values, [("orders", 0, "456ms"), ("tags", 0, "a1b2c3")]);
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
                members: 1,
                ..Novelty::default()
            }
        );
        assert!(base.knows_key("level") && !base.knows_member("level", b'#'));
    }

    #[test]
    fn a_new_status_in_a_constant_slot_is_novel_a_new_latency_is_not() {
        let base: Vec<Facts> = (0..200)
            .map(|i| {
                let worker = ["w-a1", "w-b2", "w-c3"][i % 3];
                Facts::of(&format!(
                    r#"{{"msg":"GET /api/users 200 took {}ms on {worker} qty={}"}}"#,
                    20 + (i * 7) % 40,
                    1 + i % 2
                ))
            })
            .collect();
        let vocab = Vocabulary::of(&base);
        let none = Vocabulary::default();
        let seen = |m: &str| vocab.novelty(&none, &Facts::of(m)).values;
        let line = |code, ms, worker, qty| {
            format!(r#"{{"msg":"GET /api/users {code} took {ms}ms on {worker} qty={qty}"}}"#)
        };
        assert_eq!(seen(&line(200, 33, "w-a1", 1)), 0);
        assert_eq!(
            seen(&line(200, 99, "w-a1", 1)),
            0,
            "a latency slot has many values"
        );
        assert_eq!(
            seen(&line(200, 33, "w-a1", 3)),
            0,
            "a quantity that varies may vary more"
        );
        assert_eq!(
            seen(&line(500, 33, "w-a1", 1)),
            1,
            "a status that never changed did"
        );
        assert_eq!(
            seen(&line(200, 33, "w-d4", 1)),
            0,
            "codes are the compressor's"
        );
        assert!(
            vocab
                .novelty(&none, &Facts::of(&line(500, 33, "w-a1", 1)))
                .any()
        );
        // A slot seen with one value once has not shown its values recur.
        let once = Vocabulary::of([&Facts::of(r#"{"msg":"retry 1 of 3"}"#)]);
        assert_eq!(
            once.novelty(&none, &Facts::of(r#"{"msg":"retry 2 of 3"}"#))
                .values,
            0
        );
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
