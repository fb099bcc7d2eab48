//! [`Date`]: a calendar day in UTC, as an account's expiry is written
//! (`2027-01-31`). The account may log in through the whole of that day;
//! logins are refused from the next midnight UTC.

use super::PolicyError;
use ftp_proto::time::UtcTime;
use std::fmt;

/// A valid calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, refusing days that do not exist.
    pub fn parse(text: &str) -> Result<Date, PolicyError> {
        let bad = || PolicyError::BadDate(text.to_string());
        let mut parts = text.trim().splitn(3, '-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or_else(bad)
        };
        let (year, month, day) = (next(4)?, next(2)?, next(2)?);
        let date = Date {
            year: i64::from(year),
            month,
            day,
        };
        // A day that does not exist (02-30) comes back as another one.
        let midnight = UtcTime::from_unix(date.start_unix());
        if (1..=12).contains(&month)
            && (midnight.year, midnight.month, midnight.day) == (date.year, month, day)
        {
            Ok(date)
        } else {
            Err(bad())
        }
    }

    /// The first second of the day, in seconds since the Unix epoch.
    fn start_unix(self) -> i64 {
        UtcTime {
            year: self.year,
            month: self.month,
            day: self.day,
            hour: 0,
            minute: 0,
            second: 0,
        }
        .to_unix()
    }

    /// Whether the day is over at `now_unix` (an expiry has passed).
    pub fn is_past(self, now_unix: i64) -> bool {
        now_unix >= self.start_unix() + 86_400
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_days_only() {
        assert_eq!(Date::parse("2027-01-31").unwrap().to_string(), "2027-01-31");
        assert!(Date::parse("2028-02-29").is_ok());
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-1-31",
            "27-01-31",
            "2027-01-31x",
            "",
            "2027/01/31",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_whole_day_counts() {
        let d = Date::parse("2027-01-31").unwrap();
        let start = d.start_unix();
        assert!(!d.is_past(start));
        assert!(!d.is_past(start + 86_399));
        assert!(d.is_past(start + 86_400));
    }
}
