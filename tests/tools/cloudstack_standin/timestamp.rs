//! The `expires` timestamps of signature version 3, read without a date-time crate.
//!
//! CloudStack reads `expires` with the pattern `yyyy-MM-dd'T'HH:mm:ssZ`; clients send `+0000`, and many send `Z` or
//! `+00:00` too. All three zone forms are accepted here; anything else (fractions, no zone) is refused, so a client
//! that sends a sloppy timestamp finds out against the stand-in rather than in production.

use crate::calendar::{days_in_month, days_since_epoch};

/// Seconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SS` followed by `Z`, `±HHMM` or `±HH:MM`; `None` if malformed.
pub fn parse_expires(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !text.is_ascii() {
        return None;
    }
    let layout_ok = bytes[4] == b'-' && bytes[7] == b'-' && bytes[10] == b'T' && bytes[13] == b':' && bytes[16] == b':';
    if !layout_ok {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = zone_offset_seconds(&text[19..])?;
    let local = days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    // The text shows local time at the given offset; UTC is that time minus the offset.
    Some(local - offset)
}

/// Whole decimal number made only of ASCII digits (no sign, no spaces).
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `Z`, `±HHMM` or `±HH:MM` as seconds east of UTC.
fn zone_offset_seconds(zone: &str) -> Option<i64> {
    if zone == "Z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &zone[1..];
    let (hours, minutes) = match rest.len() {
        4 => (&rest[0..2], &rest[2..4]),
        5 if rest.as_bytes()[2] == b':' => (&rest[0..2], &rest[3..5]),
        _ => return None,
    };
    let (hours, minutes) = (digits(hours)?, digits(minutes)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::parse_expires;

    #[test]
    fn the_epoch_is_zero_in_every_zone_spelling() {
        assert_eq!(parse_expires("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_expires("1970-01-01T00:00:00+0000"), Some(0));
        assert_eq!(parse_expires("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_expires("1969-12-31T23:00:00-0100"), Some(0));
    }

    #[test]
    fn dates_agree_with_an_independent_calendar() {
        // Reference values computed with Python's calendar.timegm.
        assert_eq!(parse_expires("2026-11-22T23:50:00+0000"), Some(1_795_391_400));
        // A leap day seen from India (+05:30).
        assert_eq!(parse_expires("2000-02-29T12:00:00+05:30"), Some(951_805_800));
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            "",
            "2026-11-22T23:50:00",       // no zone
            "2026-11-22 23:50:00Z",      // space instead of T
            "2026-11-22T23:50:00.123Z",  // fractions
            "2026-13-01T00:00:00Z",      // month 13
            "2025-02-29T00:00:00Z",      // not a leap year
            "2026-11-22T24:00:00Z",      // hour 24
            "2026-11-22T23:50:00+2400",  // offset out of range
            "2026-11-22T23:50:00+01:0",  // short offset
            "2026-11-22T23:50:00 +0000", // stray space
            "2026-1a-22T23:50:00Z",      // letter in a number
            "+026-11-22T23:50:00Z",      // sign in a number
        ] {
            assert_eq!(parse_expires(bad), None, "{bad:?} must be refused");
        }
    }
}
