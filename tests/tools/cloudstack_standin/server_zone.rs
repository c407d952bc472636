//! The management server's time zone, and the dates CloudStack writes and reads in it.
//!
//! What CloudStack does, read from its source:
//! - Answers write dates with Gson's pattern `yyyy-MM-dd'T'HH:mm:ssZ` (`ApiResponseGsonHelper`), in the JVM's
//!   default zone: `2024-05-06T14:34:56+0200`. Events are stored with whole seconds.
//! - `listEvents` reads `startdate` and `enddate` in that same zone (`ParamProcessWorker`, `SimpleDateFormat`
//!   without a zone): a value matching `\d+-\d+-\d+ \d+:\d+:\d+` is read as `yyyy-MM-dd HH:mm:ss`; anything else is
//!   read as `yyyy-MM-dd` from its start, the rest ignored, and becomes 00:00:00 (`startdate`) or 23:59:59
//!   (`enddate`) of that day. So a client sending ISO 8601 (`2024-05-06T12:00:00Z`) silently gets whole days, and
//!   one sending UTC to a server in another zone is off by the offset. Both bounds are inclusive (`BETWEEN`, `>=`,
//!   `<=` in `QueryManagerImpl.searchForEventIdsAndCount`).
//! - Unparseable text is a 431.
//!
//! The stand-in plays a server in a fixed zone (`--utc-offset`, default UTC; no daylight saving). Stricter than
//! CloudStack on purpose: `SimpleDateFormat` is lenient and rolls month 13 into the next year; here an
//! out-of-range field is a 431.

use crate::api_error::ApiError;
use crate::calendar::{civil_from_days, days_in_month, days_since_epoch};

/// A fixed offset east of UTC, in minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerZone {
    minutes: i32,
}

/// Which end of a date range a parameter is: a bare date means the first or the last second of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    /// `startdate`.
    Start,
    /// `enddate`.
    End,
}

impl ServerZone {
    /// UTC.
    pub const UTC: ServerZone = ServerZone { minutes: 0 };

    /// Reads `+HH:MM`, `-HH:MM`, `+HHMM` or `Z`.
    pub fn parse(text: &str) -> Result<ServerZone, String> {
        let bad = || format!("a UTC offset is +HH:MM or -HH:MM, not '{text}'");
        if text == "Z" {
            return Ok(ServerZone::UTC);
        }
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let digits = rest.replace(':', "");
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
            return Err(bad());
        }
        let (hours, minutes): (i32, i32) = (digits[..2].parse().unwrap(), digits[2..].parse().unwrap());
        if hours > 14 || minutes > 59 {
            return Err(bad());
        }
        Ok(ServerZone { minutes: sign * (hours * 60 + minutes) })
    }

    fn offset_seconds(self) -> i64 {
        i64::from(self.minutes) * 60
    }

    /// `unix` as CloudStack writes a date: `2024-05-06T14:34:56+0200`.
    pub fn format(self, unix: i64) -> String {
        let local = unix + self.offset_seconds();
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let second_of_day = local.rem_euclid(86_400);
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let offset = self.minutes.unsigned_abs();
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}{:02}",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            offset / 60,
            offset % 60
        )
    }

    /// Reads a `startdate` / `enddate` value as CloudStack does; `Err` is the 431.
    pub fn parse_range_end(self, name: &str, text: &str, end: RangeEnd) -> Result<i64, ApiError> {
        let refuse = || {
            ApiError::bad_parameter(format!(
                "Unable to parse date {text} for command listEvents, please pass dates in the format mentioned in \
                 the api documentation (parameter {name})"
            ))
        };
        let local = match date_and_time(text) {
            Some(fields) => fields,
            None => {
                let (year, month, day) = leading_date(text).ok_or_else(refuse)?;
                match end {
                    RangeEnd::Start => [year, month, day, 0, 0, 0],
                    RangeEnd::End => [year, month, day, 23, 59, 59],
                }
            }
        };
        let [year, month, day, hour, minute, second] = local;
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 59;
        if !valid {
            return Err(refuse());
        }
        let seconds = days_since_epoch(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(seconds - self.offset_seconds())
    }
}

/// Runs of ASCII digits separated exactly by `separators`, the whole text consumed: `None` otherwise.
fn numbers(text: &str, separators: &[u8]) -> Option<Vec<i64>> {
    let mut fields = Vec::with_capacity(separators.len() + 1);
    let mut rest = text;
    for at in 0..=separators.len() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        fields.push(rest[..digits].parse().ok()?);
        rest = &rest[digits..];
        if let Some(separator) = separators.get(at) {
            rest = rest.strip_prefix(*separator as char)?;
        }
    }
    rest.is_empty().then_some(fields)
}

/// `\d+-\d+-\d+ \d+:\d+:\d+`, the whole value: CloudStack's "new" format.
fn date_and_time(text: &str) -> Option<[i64; 6]> {
    let fields = numbers(text, b"-- ::")?;
    Some([fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]])
}

/// `\d+-\d+-\d+` at the start of the value, whatever follows (as `SimpleDateFormat.parse` reads a prefix).
fn leading_date(text: &str) -> Option<(i64, i64, i64)> {
    let mut end = 0;
    let mut dashes = 0;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'0'..=b'9' => end = at + 1,
            b'-' if dashes < 2 && end == at && at > 0 => dashes += 1,
            _ => break,
        }
    }
    let fields = numbers(&text[..end], b"--")?;
    Some((fields[0], fields[1], fields[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed with Python's calendar.timegm.
    const MAY_6_12_34_56_UTC: i64 = 1_714_998_896;
    const MAY_6_MIDNIGHT_UTC: i64 = 1_714_953_600;

    fn parse(zone: ServerZone, text: &str, end: RangeEnd) -> Result<i64, ApiError> {
        zone.parse_range_end("startdate", text, end)
    }

    #[test]
    fn dates_are_written_as_cloudstack_writes_them_in_the_servers_zone() {
        assert_eq!(ServerZone::UTC.format(MAY_6_12_34_56_UTC), "2024-05-06T12:34:56+0000");
        let berlin = ServerZone::parse("+02:00").unwrap();
        assert_eq!(berlin.format(MAY_6_12_34_56_UTC), "2024-05-06T14:34:56+0200");
        let newfoundland = ServerZone::parse("-03:30").unwrap();
        assert_eq!(newfoundland.format(MAY_6_MIDNIGHT_UTC), "2024-05-05T20:30:00-0330");
        assert_eq!(ServerZone::UTC.format(0), "1970-01-01T00:00:00+0000");
    }

    #[test]
    fn a_date_and_time_is_read_in_the_servers_zone_to_the_second() {
        assert_eq!(parse(ServerZone::UTC, "2024-05-06 12:34:56", RangeEnd::Start).unwrap(), MAY_6_12_34_56_UTC);
        let berlin = ServerZone::parse("+02:00").unwrap();
        assert_eq!(parse(berlin, "2024-05-06 14:34:56", RangeEnd::End).unwrap(), MAY_6_12_34_56_UTC);
        assert_eq!(parse(ServerZone::UTC, "2024-5-6 12:34:56", RangeEnd::Start).unwrap(), MAY_6_12_34_56_UTC);
    }

    #[test]
    fn a_bare_date_or_anything_after_one_means_the_whole_day() {
        let day = MAY_6_MIDNIGHT_UTC;
        assert_eq!(parse(ServerZone::UTC, "2024-05-06", RangeEnd::Start).unwrap(), day);
        assert_eq!(parse(ServerZone::UTC, "2024-05-06", RangeEnd::End).unwrap(), day + 86_399);
        // ISO 8601 does not match the date-and-time pattern: the time is dropped, not read.
        assert_eq!(parse(ServerZone::UTC, "2024-05-06T12:34:56Z", RangeEnd::Start).unwrap(), day);
        assert_eq!(parse(ServerZone::UTC, "2024-05-06 12:34", RangeEnd::End).unwrap(), day + 86_399);
    }

    #[test]
    fn unreadable_or_impossible_dates_are_431() {
        for bad in ["", "yesterday", "06/05/2024", "2024-13-01 00:00:00", "2024-02-30", "2024-05-06 24:00:00", "-5-6"] {
            let error = parse(ServerZone::UTC, bad, RangeEnd::Start).unwrap_err();
            assert_eq!(error.code, 431, "{bad:?}");
        }
    }

    #[test]
    fn offsets_are_read_in_the_usual_spellings_and_nonsense_is_refused() {
        assert_eq!(ServerZone::parse("Z").unwrap(), ServerZone::UTC);
        assert_eq!(ServerZone::parse("+0530").unwrap(), ServerZone::parse("+05:30").unwrap());
        for bad in ["", "2", "+2", "+02:0", "02:00", "+15:00", "+02:60", "+02::00"] {
            assert!(ServerZone::parse(bad).is_err(), "{bad:?}");
        }
    }
}
