//! Fields that carry identity, not template: a username, a session name, a
//! short id the masker cannot tell from a word. In the baseline most of
//! their values occur once; each would be a never-seen token and a template
//! of its own. Their values are written as [`ID`] and left out of the
//! template's context.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::numeric::path_key;

/// What an identifier field's value becomes.
pub(crate) const ID: &str = "<id>";
/// [`Identifiers::leaves_of`]'s markers (other values' hashes are odd).
const ID_HASH: u64 = 0;
const SPACED: u64 = 2;
/// Baseline lines with the field before it can be taken for an identifier.
const MIN_LINES: usize = 20;

/// The identifier fields of a baseline, by [`path_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Identifiers(BTreeSet<u64>);

impl Identifiers {
    /// The fields whose string values, across these events' `(path, value)`
    /// hashes ([`Encoded::strings`](super::Encoded), or
    /// [`leaves_of`](Self::leaves_of) an encoding), are single tokens, and on
    /// at least half the lines a value no other line has, or one already
    /// written as [`ID`] (so a field stays one once its values are masked).
    pub fn of_leaves<'a>(events: impl IntoIterator<Item = &'a [(u64, u64)]>) -> Self {
        // One sort groups each field's values, equal ones together.
        let mut all: Vec<(u64, u64)> = events.into_iter().flatten().copied().collect();
        all.sort_unstable();
        Identifiers(
            all.chunk_by(|a, b| a.0 == b.0)
                .filter_map(|field| {
                    let lines = field.len();
                    let (mut ids, mut spaced, mut once) = (0, 0, 0);
                    for run in field.chunk_by(|a, b| a.1 == b.1) {
                        match run[0].1 {
                            ID_HASH => ids += run.len(),
                            SPACED => spaced += run.len(),
                            _ => once += usize::from(run.len() == 1),
                        }
                    }
                    let identity =
                        lines >= MIN_LINES && spaced * 10 <= lines && (once + ids) * 2 >= lines;
                    identity.then_some(field[0].0)
                })
                .collect(),
        )
    }

    /// `(path, value)` hashes of the string values of one canonical
    /// encoding ([`path_key`] of each; [`ID`] and values with a space as
    /// markers of their own).
    pub fn leaves_of(enc: &str) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        string_values(enc, |path, v| out.push(leaf_written(path_key(path), v)));
        out
    }

    /// Whether the field with this [`path_key`] is an identifier.
    pub fn contains(&self, key: u64) -> bool {
        self.0.contains(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The `(path, value)` hashes of a string value before it is escaped, at
/// the path with [`path_key`] `key`, as the encoder writes it.
pub(crate) fn leaf(key: u64, value: &str) -> (u64, u64) {
    if value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let mut escaped = String::new();
        super::write_json_string(&mut escaped, value);
        return leaf_written(key, &escaped[1..escaped.len() - 1]);
    }
    leaf_written(key, value)
}

/// The `(path, value)` hashes of a string value as written (escaped).
fn leaf_written(key: u64, v: &str) -> (u64, u64) {
    let value = if v == ID {
        ID_HASH
    } else if v.contains(' ') {
        SPACED
    } else {
        path_key(v) | 1
    };
    (key, value)
}

/// Calls `f(path, value)` for each string value directly under an object
/// key in a canonical encoding (JSON with numbers written as symbols), the
/// path dotted as the encoder writes it (`req.method`, `tags[].k`); a
/// value's escapes are left as written.
fn string_values<'e>(enc: &'e str, mut f: impl FnMut(&str, &'e str)) {
    enum Frame {
        Object { base: usize, key: bool },
        Array { base: usize },
    }
    let b = enc.as_bytes();
    let mut path = String::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => stack.push(Frame::Object {
                base: path.len(),
                key: true,
            }),
            b'[' => {
                stack.push(Frame::Array { base: path.len() });
                path.push_str("[]");
            }
            b'}' | b']' => {
                if let Some(Frame::Object { base, .. } | Frame::Array { base }) = stack.pop() {
                    path.truncate(base);
                }
            }
            b',' => {
                if let Some(Frame::Object { base, key }) = stack.last_mut() {
                    path.truncate(*base);
                    *key = true;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let s = &enc[start..j.min(b.len())];
                match stack.last_mut() {
                    Some(Frame::Object { base, key }) if *key => {
                        path.truncate(*base);
                        if *base > 0 {
                            path.push('.');
                        }
                        path.push_str(s);
                        *key = false;
                    }
                    Some(Frame::Object { .. }) => f(&path, s),
                    _ => {}
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_values_come_with_the_encoders_paths() {
        let mut seen = Vec::new();
        string_values(
            r#"{"a":"x","req":{"m":"GET","n":#3},"tags":["t",{"k":"v \" w"}],"z":"<id>"}"#,
            |p, v| seen.push((p.to_string(), v.to_string())),
        );
        assert_eq!(
            seen,
            [
                ("a".into(), "x".into()),
                ("req.m".into(), "GET".into()),
                ("tags[].k".into(), r#"v \" w"#.into()),
                ("z".into(), "<id>".into()),
            ]
        );
    }

    #[test]
    fn the_encoder_reports_the_string_values_the_scanner_reads_back() {
        let profile = crate::encode::NumericProfile::default();
        for body in [
            serde_json::json!({"a": "x", "req": {"m": "GET", "n": 3}, "z": "two words"}),
            serde_json::json!({"q": "say \"hi\"\n", "tags": ["t", {"k": "v"}], "id": "deadbeef01"}),
        ] {
            let enc = crate::encode::encode(&body, &profile, true);
            assert_eq!(
                enc.strings,
                Identifiers::leaves_of(&enc.bytes),
                "{}",
                enc.bytes
            );
            assert!(!enc.strings.is_empty());
        }
    }

    /// The identifiers of these canonical encodings.
    fn of(lines: &[String]) -> Identifiers {
        let leaves: Vec<Vec<(u64, u64)>> =
            lines.iter().map(|l| Identifiers::leaves_of(l)).collect();
        Identifiers::of_leaves(leaves.iter().map(Vec::as_slice))
    }

    #[test]
    fn mostly_distinct_single_tokens_are_identifiers_and_stay_so() {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"host":"web{}","level":"info","msg":"line {i} of text","user":"u{i}x"}}"#,
                    i % 3
                )
            })
            .collect();
        let ids = of(&lines);
        assert!(ids.contains(path_key("user")));
        assert!(!ids.contains(path_key("host")) && !ids.contains(path_key("level")));
        assert!(
            !ids.contains(path_key("msg")),
            "free text is not an identity"
        );
        // Once written as ID, the field stays an identifier.
        let masked: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i < 30 {
                    l.replace(&format!("u{i}x"), ID)
                } else {
                    l.clone()
                }
            })
            .collect();
        assert!(of(&masked).contains(path_key("user")));
        assert!(of(&lines[..19]).is_empty());
    }
}
