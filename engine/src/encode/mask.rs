//! Volatile-token masking: the parts of a log line that make every line unique
//! (timestamps, UUIDs, hex ids and hashes, IP addresses, long numbers) become
//! fixed placeholders, so that compression sees the template, not the noise.
//!
//! Short numbers are kept on purpose: an HTTP status or a retry count is meaning,
//! and masking every number hides exactly the values that change in an incident.

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

/// Appends `s` to `out` with volatile tokens replaced by `<ts>`, `<uuid>`, `<ip>`,
/// `<hex>` or `<num>`.
pub fn mask_into(s: &str, out: &mut String) {
    // Every pattern needs a digit (a hex id without one is indistinguishable from
    // a word), so most strings skip the regex entirely.
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        out.push_str(s);
        return;
    }
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
        "<num>"
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
    use super::mask;

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
}
