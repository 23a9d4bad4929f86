//! Calendar arithmetic without a date crate: RFC 3339 formatting for generated
//! events and parsing of NAB's `YYYY-MM-DD HH:MM:SS[.ffffff]` timestamps (UTC).

use crate::rng::push_padded;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in milliseconds.
pub(crate) fn push_rfc3339_ms(buf: &mut String, ms: i64) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // Years outside 0..=9999 are not valid RFC 3339; clamp rather than mis-pad.
    push_padded(buf, y.clamp(0, 9999) as u64, 4);
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
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 19_783, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
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
