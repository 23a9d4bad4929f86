//! Epoch values to RFC 3339 text, without a date-time dependency.

use std::fmt::Write;

use arrow::datatypes::TimeUnit;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Renders an epoch value as `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`.
///
/// The fraction uses the shortest of 3, 6 or 9 digits that is exact, so the
/// same instant renders the same way whatever unit the file stored it in.
/// Timestamps without a time zone are taken as UTC.
pub fn format_epoch(value: i64, unit: TimeUnit) -> String {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (value, 0),
        TimeUnit::Millisecond => (value.div_euclid(1_000), value.rem_euclid(1_000) * 1_000_000),
        TimeUnit::Microsecond => (
            value.div_euclid(1_000_000),
            value.rem_euclid(1_000_000) * 1_000,
        ),
        TimeUnit::Nanosecond => (
            value.div_euclid(NANOS_PER_SEC),
            value.rem_euclid(NANOS_PER_SEC),
        ),
    };
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return format_wide_year(y, m, d, sod, nanos);
    }
    // Hand-rolled digits: `write!` dominated the reader's profile.
    let mut out = Vec::with_capacity(32);
    push_digits(&mut out, y as u32, 4);
    out.push(b'-');
    push_digits(&mut out, m, 2);
    out.push(b'-');
    push_digits(&mut out, d, 2);
    out.push(b'T');
    push_digits(&mut out, (sod / 3600) as u32, 2);
    out.push(b':');
    push_digits(&mut out, (sod / 60 % 60) as u32, 2);
    out.push(b':');
    push_digits(&mut out, (sod % 60) as u32, 2);
    let nanos = nanos as u32;
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(&mut out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(&mut out, nanos / 1_000, 6);
        } else {
            push_digits(&mut out, nanos, 9);
        }
    }
    out.push(b'Z');
    String::from_utf8(out).expect("ASCII digits")
}

/// Appends `value` as exactly `width` decimal digits (zero-padded).
fn push_digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Years outside 0..=9999 (RFC 3339 has no form for them; ISO 8601's
/// expanded years are the closest).
fn format_wide_year(y: i64, m: u32, d: u32, sod: i64, nanos: i64) -> String {
    let mut out = format!(
        "{y:+05}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if nanos != 0 {
        let _ = write!(out, ".{nanos:09}");
    }
    out.push('Z');
    out
}

/// Renders days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Guesses the unit of an integer epoch from its magnitude: files in the wild
/// store seconds, milliseconds, microseconds or nanoseconds under the same
/// column name, and present-day values of each differ by 1000×.
pub fn epoch_unit(value: i64) -> TimeUnit {
    match value.unsigned_abs() {
        0..100_000_000_000 => TimeUnit::Second,
        100_000_000_000..100_000_000_000_000 => TimeUnit::Millisecond,
        100_000_000_000_000..100_000_000_000_000_000 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

/// An integer epoch in the unit its magnitude suggests, as RFC 3339.
pub fn format_int_epoch(value: i64) -> String {
    format_epoch(value, epoch_unit(value))
}

/// A fractional epoch (unit guessed like [`epoch_unit`]) as RFC 3339, to the
/// microsecond: f64 cannot carry nanoseconds at present-day magnitudes.
pub fn format_float_epoch(value: f64) -> Option<String> {
    if !value.is_finite() || value.abs() >= 9.0e18 {
        return None;
    }
    let micros = match epoch_unit(value as i64) {
        TimeUnit::Second => value * 1e6,
        TimeUnit::Millisecond => value * 1e3,
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value / 1e3,
    };
    Some(format_epoch(micros.round() as i64, TimeUnit::Microsecond))
}

/// Howard Hinnant's `civil_from_days`: proleptic Gregorian (year, month, day).
/// Not chrono's calendar: a file's epoch can lie far outside chrono's ±262,143
/// years, and such dates still render (see `format_wide_year`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_unit() {
        assert_eq!(format_epoch(0, TimeUnit::Second), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_epoch(1_396_310_400, TimeUnit::Second),
            "2014-04-01T00:00:00Z"
        );
        assert_eq!(
            format_epoch(1_700_000_000_123, TimeUnit::Millisecond),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            format_epoch(1_700_000_000_123_400, TimeUnit::Microsecond),
            "2023-11-14T22:13:20.123400Z"
        );
        assert_eq!(
            format_epoch(1_700_000_000_000_000_001, TimeUnit::Nanosecond),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(
            format_epoch(-1, TimeUnit::Millisecond),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            format_epoch(951_782_400, TimeUnit::Second),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn guesses_integer_epoch_units() {
        let want = "2023-11-14T22:13:20Z";
        assert_eq!(format_int_epoch(1_700_000_000), want);
        assert_eq!(format_int_epoch(1_700_000_000_000), want);
        assert_eq!(format_int_epoch(1_700_000_000_000_000), want);
        assert_eq!(format_int_epoch(1_700_000_000_000_000_000), want);
        assert_eq!(
            format_float_epoch(1_700_000_000.5).unwrap(),
            "2023-11-14T22:13:20.500Z"
        );
        assert_eq!(format_float_epoch(f64::NAN), None);
        assert_eq!(format_date(19_675), "2023-11-14");
    }
}
