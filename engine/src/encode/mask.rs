//! Volatile-token masking: the parts of a log line that make every line unique
//! (timestamps, UUIDs, hex ids and hashes, IP addresses, long numbers) become
//! fixed placeholders, so that compression sees the template, not the noise.
//!
//! Short numbers are kept on purpose: an HTTP status or a retry count is meaning,
//! and masking every number hides exactly the values that change in an incident.
//!
//! `VOLATILE` defines what is masked. ASCII strings (nearly every log line) are
//! masked by `scan_ascii`, a single pass that gives exactly the regex's
//! leftmost-first matches without its per-search set-up (a regex search costs
//! more than the rest of an event's encoding); other strings go through the
//! regex, whose `\d` and `\b` are Unicode-aware. A unit test checks the two
//! against each other on random strings.

use std::sync::LazyLock;

use regex::Regex;

static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<ts>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)",
        r"|(?P<time>\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b)",
        r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
        r"|(?P<ip>\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b)",
        // No leading \b: ids are often glued to a prefix (`usr_dcc671ae04da`).
        r"|(?P<hex>(?:0x)?[0-9a-fA-F]{8,}\b)",
        r"|(?P<num>\d{5,})",
    ))
    .expect("volatile-token pattern compiles")
});

/// What a long number becomes.
pub(crate) const NUM: &str = "<num>";

/// Appends `s` to `out` with volatile tokens replaced by `<ts>`, `<uuid>`, `<ip>`,
/// `<hex>` or `<num>`.
pub fn mask_into(s: &str, out: &mut String) {
    // Every pattern needs a digit (a hex id without one is indistinguishable from
    // a word), so most strings skip the matching entirely.
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        out.push_str(s);
        return;
    }
    if s.is_ascii() {
        scan_ascii(s, out);
    } else {
        mask_with_regex(s, out);
    }
}

/// [`mask_into`] by the regex itself: the reference, and the path for
/// strings with non-ASCII characters.
fn mask_with_regex(s: &str, out: &mut String) {
    // `find_iter` runs the regex's DFA; asking for capture groups would fall
    // back to a backtracker several times slower, so the kind of each match is
    // read from its text instead.
    let mut last = 0;
    for m in VOLATILE.find_iter(s) {
        out.push_str(&s[last..m.start()]);
        out.push_str(placeholder(m.as_str()));
        last = m.end();
    }
    out.push_str(&s[last..]);
}

/// [`mask_with_regex`] for an ASCII string, where `\d` is `[0-9]` and a word
/// byte is `[0-9A-Za-z_]`: at each position the pattern's alternatives are
/// tried in order, and the first that matches there wins (leftmost-first), as
/// the regex does.
fn scan_ascii(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut hex_runs = RunCache::default();
    let (mut last, mut p) = (0, 0);
    while p < b.len() {
        // Every alternative starts with a hex digit.
        if !b[p].is_ascii_hexdigit() {
            p += 1;
            continue;
        }
        match match_at(b, p, &mut hex_runs) {
            Some(end) => {
                out.push_str(&s[last..p]);
                out.push_str(placeholder(&s[p..end]));
                last = end;
                p = end;
            }
            None => p += 1,
        }
    }
    out.push_str(&s[last..]);
}

/// The end of the maximal run of hex digits around a position, remembered so
/// that a long run that never matches is scanned once, not once per start.
#[derive(Default)]
struct RunCache {
    start: usize,
    end: usize,
}

impl RunCache {
    fn hex_end(&mut self, b: &[u8], p: usize) -> usize {
        if !(self.start..self.end).contains(&p) {
            self.start = p;
            self.end = p + run(b, p, u8::is_ascii_hexdigit);
        }
        self.end
    }
}

/// Length of the run of bytes satisfying `f` from `p`.
fn run(b: &[u8], p: usize, f: impl Fn(&u8) -> bool) -> usize {
    b.get(p..)
        .map_or(0, |t| t.iter().take_while(|c| f(c)).count())
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `\b` at `i`: a word byte on exactly one side.
fn boundary(b: &[u8], i: usize) -> bool {
    let before = i > 0 && is_word(b[i - 1]);
    let after = b.get(i).is_some_and(|&c| is_word(c));
    before != after
}

fn digits(b: &[u8], i: usize, k: usize) -> bool {
    b.get(i..i + k)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

fn hexdigits(b: &[u8], i: usize, k: usize) -> bool {
    b.get(i..i + k)
        .is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit))
}

fn at(b: &[u8], i: usize, set: &[u8]) -> bool {
    b.get(i).is_some_and(|c| set.contains(c))
}

/// The end of [`VOLATILE`]'s match starting at `p`, if any.
fn match_at(b: &[u8], p: usize, hex_runs: &mut RunCache) -> Option<usize> {
    ts(b, p)
        .or_else(|| time(b, p))
        .or_else(|| uuid(b, p))
        .or_else(|| ip(b, p))
        .or_else(|| hex(b, p, hex_runs))
        .or_else(|| num(b, p))
}

/// `\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?`:
/// nothing follows the optional parts, so each is taken when it matches.
fn ts(b: &[u8], p: usize) -> Option<usize> {
    if !(digits(b, p, 4)
        && at(b, p + 4, b"-")
        && digits(b, p + 5, 2)
        && at(b, p + 7, b"-")
        && digits(b, p + 8, 2))
    {
        return None;
    }
    let e = p + 10;
    if !(at(b, e, b"T ") && digits(b, e + 1, 2) && at(b, e + 3, b":") && digits(b, e + 4, 2)) {
        return Some(e);
    }
    let mut e = e + 6;
    if at(b, e, b":") && digits(b, e + 1, 2) {
        e += 3;
        if at(b, e, b".,") && digits(b, e + 1, 1) {
            e += 1 + run(b, e + 1, u8::is_ascii_digit);
        }
    }
    if at(b, e, b"Z") {
        e += 1;
    } else if at(b, e, b"+-") && digits(b, e + 1, 2) {
        if at(b, e + 3, b":") && digits(b, e + 4, 2) {
            e += 6;
        } else if digits(b, e + 3, 2) {
            e += 5;
        }
    }
    Some(e)
}

/// `\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b`: inside a run of digits there is no
/// boundary, so the fraction matches whole or not at all.
fn time(b: &[u8], p: usize) -> Option<usize> {
    if !(boundary(b, p)
        && digits(b, p, 2)
        && at(b, p + 2, b":")
        && digits(b, p + 3, 2)
        && at(b, p + 5, b":")
        && digits(b, p + 6, 2))
    {
        return None;
    }
    let e = p + 8;
    if at(b, e, b".,") && digits(b, e + 1, 1) {
        let f = e + 1 + run(b, e + 1, u8::is_ascii_digit);
        if boundary(b, f) {
            return Some(f);
        }
    }
    boundary(b, e).then_some(e)
}

/// `\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b`.
fn uuid(b: &[u8], p: usize) -> Option<usize> {
    let ok = boundary(b, p)
        && hexdigits(b, p, 8)
        && [8, 13, 18, 23].iter().all(|&d| at(b, p + d, b"-"))
        && [9, 14, 19].iter().all(|&g| hexdigits(b, p + g, 4))
        && hexdigits(b, p + 24, 12)
        && boundary(b, p + 36);
    ok.then_some(p + 36)
}

/// `\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b`: an octet is a whole
/// run of 1–3 digits (a shorter prefix is followed by a digit, neither a dot nor
/// a boundary); a port is a whole run of 1–5 digits followed by a boundary, else
/// the match ends before the colon.
fn ip(b: &[u8], p: usize) -> Option<usize> {
    if !boundary(b, p) {
        return None;
    }
    let mut e = p;
    for i in 0..4 {
        let n = run(b, e, u8::is_ascii_digit);
        if !(1..=3).contains(&n) {
            return None;
        }
        e += n;
        if i < 3 {
            if !at(b, e, b".") {
                return None;
            }
            e += 1;
        }
    }
    if at(b, e, b":") {
        let n = run(b, e + 1, u8::is_ascii_digit);
        if (1..=5).contains(&n) && boundary(b, e + 1 + n) {
            return Some(e + 1 + n);
        }
    }
    boundary(b, e).then_some(e)
}

/// `(?:0x)?[0-9a-fA-F]{8,}\b`: inside a run of hex digits there is no
/// boundary, so the run matches whole or not at all.
fn hex(b: &[u8], p: usize, hex_runs: &mut RunCache) -> Option<usize> {
    if b[p] == b'0' && at(b, p + 1, b"x") {
        let e = p + 2 + run(b, p + 2, u8::is_ascii_hexdigit);
        if e - (p + 2) >= 8 && boundary(b, e) {
            return Some(e);
        }
        // Without the prefix the run is the lone `0`.
        return None;
    }
    let e = hex_runs.hex_end(b, p);
    (e - p >= 8 && boundary(b, e)).then_some(e)
}

/// `\d{5,}`.
fn num(b: &[u8], p: usize) -> Option<usize> {
    let n = run(b, p, u8::is_ascii_digit);
    (n >= 5).then_some(p + n)
}

/// The placeholder for one match of [`VOLATILE`], told apart by shape in the
/// order of the pattern's alternatives.
fn placeholder(text: &str) -> &str {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    // A date (`2025-01-01...`) or a time of day (`12:34:56...`).
    let date = digits(0..4) && b.get(4) == Some(&b'-');
    let time = b.len() >= 8 && digits(0..2) && b[2] == b':';
    if date || time {
        "<ts>"
    } else if b.len() == 36 && b[8] == b'-' {
        "<uuid>"
    } else if b.iter().filter(|&&c| c == b'.').count() >= 3
        && b.iter()
            .all(|&c| c.is_ascii_digit() || c == b'.' || c == b':')
    {
        "<ip>"
    } else if b.iter().all(u8::is_ascii_digit) {
        NUM
    } else if text.len() >= 8 && b.iter().any(u8::is_ascii_digit) {
        "<hex>"
    } else {
        text
    }
}

/// Convenience wrapper returning a new string.
pub fn mask(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    mask_into(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{mask, mask_with_regex, scan_ascii};

    #[test]
    fn masks_each_kind_of_volatile_token() {
        assert_eq!(
            mask(
                "at 2025-01-01T10:00:00.123Z from 10.2.3.4:8080 req 3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
            ),
            "at <ts> from <ip> req <uuid>"
        );
        assert_eq!(
            mask("block blk_8812349876 sha 9f86d081884c7d65"),
            "block blk_<num> sha <hex>"
        );
        assert_eq!(mask("took 10:01:02 total"), "took <ts> total");
    }

    #[test]
    fn keeps_short_numbers_and_plain_words() {
        assert_eq!(
            mask("GET /api/orders 200 in 43ms"),
            "GET /api/orders 200 in 43ms"
        );
        assert_eq!(
            mask("deadbeefcafe is a word here"),
            "deadbeefcafe is a word here"
        );
    }

    fn both(s: &str) -> (String, String) {
        let (mut fast, mut reference) = (String::new(), String::new());
        scan_ascii(s, &mut fast);
        mask_with_regex(s, &mut reference);
        (fast, reference)
    }

    #[test]
    fn the_scanner_agrees_with_the_regex_on_edge_cases() {
        for s in [
            "2025-01-01",
            "2025-01-01T10:00",
            "2025-01-01T10:00:0",
            "2025-01-01 10:00:00,5x",
            "2025-01-01T10:00:00+01",
            "2025-01-01T10:00:00+01:0",
            "2025-01-01T10:00:00-0130Z",
            "2025-01-01T10:00+01:30",
            "12025-01-01",
            "a12:34:56",
            "12:34:56.789abc",
            "12:34:56.",
            "12:34:567",
            "_12:34:56_",
            "10.0.0.1:8080",
            "10.0.0.1:808000",
            "10.0.0.1:80ab",
            "10.0.0.1234",
            "1000.0.0.1",
            "10.0.0.1a",
            "0xdeadbeef",
            "0xdeadbeefg",
            "0x0x12345678",
            "abcdef0123456789x",
            "usr_dcc671ae04da",
            "3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6a",
            "x3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "123456789012345678901234567890",
            "1234",
            "",
        ] {
            let (fast, reference) = both(s);
            assert_eq!(fast, reference, "{s:?}");
        }
    }

    #[test]
    fn the_scanner_agrees_with_the_regex_on_random_strings() {
        // Bytes chosen to build every pattern and near-miss often.
        const ALPHABET: &[u8] = b"0123456789012345678901234567890123456789abcdefABFxTZ -:.,+_g/";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let len = (next() % 48) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
                .collect();
            let (fast, reference) = both(&s);
            assert_eq!(fast, reference, "{s:?}");
        }
        // Strings built from pieces of every pattern, so that whole tokens and
        // their near misses occur too.
        const PIECES: &[&str] = &[
            "2025-01-01",
            "T10:00",
            " 23:59",
            ":00",
            ".5",
            ",123",
            "Z",
            "+01",
            "-05",
            ":30",
            "0130",
            "3f2a9c1e",
            "-1b2c",
            "-a1b2c3d4e5f6",
            "10.",
            "255.",
            "1.",
            "1234.",
            ":8080",
            ":123456",
            "0x",
            "deadbeef",
            "DEADBEEFcafe",
            "12345",
            "999",
            "_",
            "a",
            "g",
            " ",
            "x",
            "-",
            ":",
            ".",
            "/",
        ];
        for _ in 0..200_000 {
            let len = 1 + (next() % 8) as usize;
            let s: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let (fast, reference) = both(&s);
            assert_eq!(fast, reference, "{s:?}");
        }
    }
}
