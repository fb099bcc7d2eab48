//! UTC calendar arithmetic for the timestamps FTP sends: `YYYYMMDDHHMMSS`
//! (MDTM, MLSx `modify`) and the `ls -l` date column.
//!
//! Seconds since the Unix epoch are turned into a civil date with the
//! days-to-civil algorithm, so no time-zone database is involved: FTP
//! timestamps are UTC by RFC 3659.

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Roughly six months: the age past which `ls -l` shows a year instead of a time.
const HALF_YEAR_SECS: i64 = 182 * 24 * 3600;

impl UtcTime {
    /// Converts seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Shift the era to start on 0000-03-01 so leap days fall at the end of a year.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// Converts back to seconds since the epoch.
    pub fn to_unix(&self) -> i64 {
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// `Sun Nov 22 02:22:16 2026`, the C `asctime` form that xferlog uses.
    pub fn asctime(&self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let weekday = DAYS[self.to_unix().div_euclid(86_400).rem_euclid(7) as usize];
        let month = MONTHS[(self.month as usize).saturating_sub(1) % 12];
        format!(
            "{weekday} {month} {:>2} {:02}:{:02}:{:02} {}",
            self.day, self.hour, self.minute, self.second, self.year
        )
    }

    /// `YYYYMMDDHHMMSS`, as MDTM and the MLSx `modify` fact want it.
    pub fn mdtm(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Parses `YYYYMMDDHHMMSS` with an optional `.sss` fraction (ignored).
    pub fn parse_mdtm(text: &str) -> Option<Self> {
        let digits = text.split('.').next()?;
        if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
        let t = UtcTime {
            year: i64::from(num(0..4)?),
            month: num(4..6)?,
            day: num(6..8)?,
            hour: num(8..10)?,
            minute: num(10..12)?,
            second: num(12..14)?,
        };
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 61;
        valid.then_some(t)
    }

    /// Parses a time a client asks to set (MFMT, MFCT): like
    /// [`UtcTime::parse_mdtm`], but only a date that exists (no 31 April,
    /// no leap second), so that it means one instant.
    pub fn parse_exact(text: &str) -> Option<Self> {
        if let Some((_, fraction)) = text.split_once('.') {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
        }
        let t = Self::parse_mdtm(text)?;
        (Self::from_unix(t.to_unix()) == t).then_some(t)
    }

    /// The 12-column date of `ls -l`: `Mon DD HH:MM` for recent times,
    /// `Mon DD  YYYY` for times more than six months from `now`.
    pub fn ls_date(&self, now_unix: i64) -> String {
        let mut out = Vec::with_capacity(12);
        self.push_ls_date(now_unix, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends [`UtcTime::ls_date`] to `out` without allocating: the
    /// listing of a big directory formats one per entry.
    pub fn push_ls_date(&self, now_unix: i64, out: &mut Vec<u8>) {
        let month = MONTHS[(self.month as usize).saturating_sub(1) % 12];
        out.extend_from_slice(month.as_bytes());
        out.push(b' ');
        push_right(out, u64::from(self.day), 2);
        out.push(b' ');
        if (now_unix - self.to_unix()).abs() < HALF_YEAR_SECS {
            push_two(out, self.hour);
            out.push(b':');
            push_two(out, self.minute);
        } else if self.year >= 0 {
            push_right(out, self.year.unsigned_abs(), 5);
        } else {
            // Before year 0: rare enough for the formatting machinery.
            out.extend_from_slice(format!("{:>5}", self.year).as_bytes());
        }
    }
}

/// Appends `n` in decimal, right-aligned in `width` columns (a wider number
/// takes the room it needs, as `{:>width}` does).
pub fn push_right(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    out.resize(out.len() + width.saturating_sub(len), b' ');
    out.extend_from_slice(&digits[start..]);
}

/// Appends `n` (below 100) as two digits.
fn push_two(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(UtcTime::from_unix(0).mdtm(), "19700101000000");
        assert_eq!(UtcTime::from_unix(951_782_400).mdtm(), "20000229000000");
        assert_eq!(UtcTime::from_unix(1_700_000_000).mdtm(), "20231114221320");
        assert_eq!(UtcTime::from_unix(-1).mdtm(), "19691231235959");
    }

    #[test]
    fn exact_times_exist() {
        let t = UtcTime::parse_exact("20240229123456").unwrap();
        assert_eq!(t.mdtm(), "20240229123456");
        assert_eq!(UtcTime::parse_exact("20240229123456.789"), Some(t));
        for bad in [
            "20230229000000",
            "20240431000000",
            "20240101000060",
            "20241301000000",
            "2024010100000",
            "2024010100000x",
            "20240101000000.",
            "20240101000000.5x",
            "",
        ] {
            assert_eq!(UtcTime::parse_exact(bad), None, "{bad}");
        }
    }

    #[test]
    fn asctime_has_weekday() {
        assert_eq!(UtcTime::from_unix(0).asctime(), "Thu Jan  1 00:00:00 1970");
        assert_eq!(
            UtcTime::from_unix(1_700_000_000).asctime(),
            "Tue Nov 14 22:13:20 2023"
        );
    }

    proptest! {
        #[test]
        fn push_right_pads_as_format_does(n in any::<u64>(), width in 0usize..25) {
            let mut out = Vec::new();
            push_right(&mut out, n, width);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{n:>width$}"));
        }

        #[test]
        fn ls_date_matches_the_formatted_shape(t in -70_000_000_000i64..70_000_000_000, ago in -40_000_000i64..40_000_000) {
            let u = UtcTime::from_unix(t);
            let month = MONTHS[(u.month as usize).saturating_sub(1) % 12];
            let want = if ago.abs() < HALF_YEAR_SECS {
                format!("{month} {:>2} {:02}:{:02}", u.day, u.hour, u.minute)
            } else {
                format!("{month} {:>2} {:>5}", u.day, u.year)
            };
            prop_assert_eq!(u.ls_date(t + ago), want);
        }
    }

    #[test]
    fn ls_date_recent_and_old() {
        let t = UtcTime::from_unix(1_700_000_000);
        assert_eq!(t.ls_date(1_700_000_000 + 3600), "Nov 14 22:13");
        assert_eq!(t.ls_date(1_700_000_000 + 400 * 86_400), "Nov 14  2023");
    }

    #[test]
    fn parse_mdtm_rejects_garbage() {
        assert!(UtcTime::parse_mdtm("2023111422132").is_none());
        assert!(UtcTime::parse_mdtm("20231314221320").is_none());
        assert!(UtcTime::parse_mdtm("2023111422132x").is_none());
        assert_eq!(
            UtcTime::parse_mdtm("20231114221320.123").map(|t| t.to_unix()),
            Some(1_700_000_000)
        );
    }

    proptest! {
        #[test]
        fn unix_round_trip(secs in -10_000_000_000i64..100_000_000_000i64) {
            let t = UtcTime::from_unix(secs);
            prop_assert_eq!(t.to_unix(), secs);
            prop_assert_eq!(UtcTime::parse_mdtm(&t.mdtm()).map(|p| p.to_unix()), (t.year >= 0 && t.year <= 9999).then_some(secs));
        }
    }
}
