//! RFC 3339 formatting for generated events and parsing of NAB's
//! `YYYY-MM-DD HH:MM:SS[.ffffff]` timestamps (UTC); the calendar is chrono's,
//! the digits are written by hand (the generators write millions of them).

use chrono::{Datelike, NaiveDate};

use crate::rng::push_padded;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const EPOCH_FROM_CE: i64 = 719_163;

/// Days since 1970-01-01 of a date; `None` for a day the month lacks.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(i64::from(date.num_days_from_ce()) - EPOCH_FROM_CE)
}

/// (year, month, day) of days since 1970-01-01, years clamped to 0..=9999
/// (RFC 3339 has no others).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let lo = NaiveDate::from_ymd_opt(0, 1, 1).expect("a date");
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
    let date = i32::try_from(days + EPOCH_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or(if days < 0 { lo } else { hi })
        .clamp(lo, hi);
    (i64::from(date.year()), date.month(), date.day())
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in milliseconds.
pub(crate) fn push_rfc3339_ms(buf: &mut String, ms: i64) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    push_padded(buf, y as u64, 4);
    buf.push('-');
    push_padded(buf, m as u64, 2);
    buf.push('-');
    push_padded(buf, d as u64, 2);
    buf.push('T');
    push_padded(buf, (sod / 3600) as u64, 2);
    buf.push(':');
    push_padded(buf, ((sod / 60) % 60) as u64, 2);
    buf.push(':');
    push_padded(buf, (sod % 60) as u64, 2);
    buf.push('.');
    push_padded(buf, milli as u64, 3);
    buf.push('Z');
}

/// RFC 3339 text (UTC, millisecond precision) of a Unix time in milliseconds.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_rfc3339_ms(&mut s, ms);
    s
}

/// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to 6 digits
/// (also accepts a `T` separator and a trailing `Z`, i.e. this crate's RFC 3339
/// output) into Unix microseconds.
pub fn parse_datetime_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.strip_suffix('Z').unwrap_or(s).as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut micros = 0i64;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 || b.len() > 26 {
            return None;
        }
        let digits = b.len() - 20;
        micros = num(20..b.len())? * 10i64.pow((6 - digits) as u32);
    }
    let days = days_from_civil(y, mo as u32, d as u32)?;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-719_528i64, -1, 0, 1, 59, 365, 11_016, 19_783, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), Some(z));
        }
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2023, 2, 30), None);
        assert_eq!(civil_from_days(-800_000_000), (0, 1, 1));
        assert_eq!(civil_from_days(i64::MAX / 2), (9999, 12, 31));
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(1_709_251_200_123),
            "2024-03-01T00:00:00.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_nab_timestamps() {
        assert_eq!(
            parse_datetime_micros("1970-01-01 00:00:01"),
            Some(1_000_000)
        );
        assert_eq!(
            parse_datetime_micros("2014-04-10 07:15:00.000000"),
            parse_datetime_micros("2014-04-10 07:15:00")
        );
        assert_eq!(
            parse_datetime_micros("2014-04-10 07:15:00.5"),
            parse_datetime_micros("2014-04-10 07:15:00").map(|x| x + 500_000)
        );
        assert_eq!(
            parse_datetime_micros("2024-03-01 00:00:00"),
            Some(1_709_251_200_000_000)
        );
        assert_eq!(parse_datetime_micros("2014-13-10 07:15:00"), None);
        assert_eq!(parse_datetime_micros("garbage"), None);
        assert_eq!(
            parse_datetime_micros("2024-03-01T00:00:00.123Z"),
            Some(1_709_251_200_123_000)
        );
    }
}
