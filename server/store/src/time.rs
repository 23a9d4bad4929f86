//! Timestamps: RFC 3339 in UTC with milliseconds, and parsing of client input.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, as RFC 3339 (`2025-01-01T10:00:00.000Z`).
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Today's UTC date (`2025-01-01`).
pub fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

/// Parses an RFC 3339 timestamp to epoch milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Epoch milliseconds as RFC 3339 UTC.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ms = parse_ms("2025-01-01T10:00:00Z").unwrap();
        assert_eq!(format_ms(ms), "2025-01-01T10:00:00.000Z");
        assert_eq!(parse_ms("2025-01-01T11:00:00+01:00"), Some(ms));
        assert_eq!(parse_ms("yesterday"), None);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
