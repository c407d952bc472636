//! CloudStack's clock as its events show it: `created` is written in the management server's
//! zone with its offset (`2024-05-06T14:34:56+0200`), and `listEvents` reads `startdate` as a
//! local time of that zone (`yyyy-MM-dd HH:mm:ss`, no offset). Seconds only: events have no
//! milliseconds.
use super::signature::civil_from_days;

/// An instant as the server wrote it: Unix seconds and the zone offset it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerTime {
    pub unix: i64,
    pub offset_seconds: i32,
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Unix second of an HTTP `Date` header (`Wed, 02 Dec 2026 01:31:08 GMT`, RFC 9110's
/// IMF-fixdate): the management server's clock when it answered. None when it is not that.
pub fn http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts[..] else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok()?;
    let mut hms = clock.splitn(3, ':').map(|n| n.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

impl ServerTime {
    /// Read `yyyy-MM-ddTHH:mm:ss±hhmm` (also `±hh:mm` and `Z`); None when it is not that.
    pub fn parse(text: &str) -> Option<ServerTime> {
        let text = text.trim();
        let (date, rest) = text.split_once('T')?;
        let mut parts = date.splitn(3, '-');
        let year: i64 = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || rest.len() < 8 {
            return None;
        }
        let (clock, zone) = rest.split_at(8);
        let mut hms = clock.splitn(3, ':');
        let hour: i64 = hms.next()?.parse().ok()?;
        let minute: i64 = hms.next()?.parse().ok()?;
        let second: i64 = hms.next()?.parse().ok()?;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let offset_seconds = if zone == "Z" {
            0
        } else {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i32 = digits[..2].parse().ok()?;
            let minutes: i32 = digits[2..].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        };
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Some(ServerTime { unix: local - i64::from(offset_seconds), offset_seconds })
    }

    /// The same zone, `seconds` earlier.
    pub fn earlier(self, seconds: i64) -> ServerTime {
        ServerTime { unix: self.unix - seconds, ..self }
    }

    /// `yyyy-MM-dd HH:mm:ss` in the server's zone: what `startdate` takes.
    pub fn local_text(self) -> String {
        let local = self.unix + i64::from(self.offset_seconds);
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let second = local.rem_euclid(86_400);
        format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", second / 3600, second / 60 % 60, second % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_date_is_the_servers_clock() {
        assert_eq!(http_date("Mon, 06 May 2024 12:34:56 GMT"), Some(1_714_998_896));
        assert_eq!(http_date("Mon, 06 May 2024 12:34:56 CET"), None);
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn created_is_read_with_its_offset_and_startdate_is_written_in_the_same_zone() {
        let utc = ServerTime::parse("2024-05-06T12:34:56+0000").unwrap();
        assert_eq!(utc.unix, 1_714_998_896);
        let berlin = ServerTime::parse("2024-05-06T14:34:56+0200").unwrap();
        assert_eq!((berlin.unix, berlin.offset_seconds), (1_714_998_896, 7200));
        assert_eq!(berlin.earlier(60).local_text(), "2024-05-06 14:33:56");
        let west = ServerTime::parse("2024-01-01T00:00:30-05:30").unwrap();
        assert_eq!(west.earlier(60).local_text(), "2023-12-31 23:59:30");
        assert_eq!(ServerTime::parse("2024-02-29T00:00:00Z").unwrap().local_text(), "2024-02-29 00:00:00");
        for bad in ["", "2024-05-06 12:34:56", "2024-13-06T12:34:56+0000", "2024-05-06T12:34:56+2", "yesterday"] {
            assert_eq!(ServerTime::parse(bad), None, "{bad}");
        }
    }
}
