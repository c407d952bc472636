//! Civil dates (proleptic Gregorian calendar) to and from days since 1970-01-01, without a date-time crate.

/// Whether `year` has a February 29.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (year ≥ 1).
pub fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    // Leap days in years 1..=n: every 4th year, except centuries, except every 4th century.
    let leap_days_through = |n: i64| n / 4 - n / 100 + n / 400;
    let whole_years = 365 * (year - 1970) + leap_days_through(year - 1) - leap_days_through(1969);
    const BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let february_29 = if month > 2 && is_leap_year(year) { 1 } else { 0 };
    whole_years + BEFORE_MONTH[(month - 1) as usize] + february_29 + day - 1
}

/// The civil date `days` after 1970-01-01: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Walk whole 400-year cycles (146,097 days each), then years, then months; plain and easy to check.
    let cycles = days.div_euclid(146_097);
    let mut left = days.rem_euclid(146_097);
    let mut year = 1970 + 400 * cycles;
    loop {
        let length = if is_leap_year(year) { 366 } else { 365 };
        if left < length {
            break;
        }
        left -= length;
        year += 1;
    }
    let mut month = 1;
    while left >= days_in_month(year, month) {
        left -= days_in_month(year, month);
        month += 1;
    }
    (year, month, left + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_convert_both_ways_across_leap_days_and_centuries() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // Reference values from Python's datetime.date.toordinal.
        assert_eq!(days_since_epoch(2000, 2, 29), 11_016);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in (-719_162..2_932_896).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_since_epoch(year, month, day), days, "{year}-{month}-{day}");
        }
    }
}
