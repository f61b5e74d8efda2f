//! `dateTime.iso8601` values in the forms XAPI, Python and the XML-RPC spec write.

use std::fmt;

use crate::error::{snippet, Error, ErrorKind};

/// dateTime.iso8601. Accepts XAPI's `20240611T10:00:00Z`, the plain `20240611T10:00:00`, and
/// the dashed `2024-06-11T10:00:00Z`; keeps whether it was UTC (`Z`) so it re-encodes exactly.
/// Display writes the compact form (`20240611T10:00:00Z`, without `Z` when not UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    /// Four-digit year, 0–9999.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31 (checked against the month).
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–60 (60 for a leap second).
    pub second: u8,
    /// Whether the text ended in `Z`.
    pub utc: bool,
}

impl DateTime {
    /// Parses one of the accepted forms; surrounding XML whitespace is ignored.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = || Error::unlocated(ErrorKind::InvalidDateTime(snippet(s)));
        let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        let (t, utc) = match t.strip_suffix('Z') {
            Some(rest) => (rest, true),
            None => (t, false),
        };
        let b = t.as_bytes();
        let (date, time) = match b.len() {
            17 if b[8] == b'T' => ([&b[0..4], &b[4..6], &b[6..8]], &b[9..]),
            19 if b[4] == b'-' && b[7] == b'-' && b[10] == b'T' => {
                ([&b[0..4], &b[5..7], &b[8..10]], &b[11..])
            }
            _ => return Err(invalid()),
        };
        if time[2] != b':' || time[5] != b':' {
            return Err(invalid());
        }
        let num = |d: &[u8]| -> Option<u16> {
            d.iter().try_fold(0u16, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
            })
        };
        let field = |d: &[u8]| num(d).ok_or_else(invalid);
        let dt = DateTime {
            year: field(date[0])?,
            month: field(date[1])? as u8,
            day: field(date[2])? as u8,
            hour: field(&time[0..2])? as u8,
            minute: field(&time[3..5])? as u8,
            second: field(&time[6..8])? as u8,
            utc,
        };
        if dt.is_valid() {
            Ok(dt)
        } else {
            Err(invalid())
        }
    }

    /// Whether every field is in range (the day against the month, leap years included).
    pub fn is_valid(&self) -> bool {
        let y = self.year;
        let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let days = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        self.year <= 9999
            && (1..=days).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60
    }

    /// Writes the compact form into `out` without allocating.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 18];
        let two = |b: &mut [u8], v: u8| {
            b[0] = b'0' + v / 10 % 10;
            b[1] = b'0' + v % 10;
        };
        let y = self.year;
        buf[0] = b'0' + (y / 1000 % 10) as u8;
        buf[1] = b'0' + (y / 100 % 10) as u8;
        buf[2] = b'0' + (y / 10 % 10) as u8;
        buf[3] = b'0' + (y % 10) as u8;
        two(&mut buf[4..6], self.month);
        two(&mut buf[6..8], self.day);
        buf[8] = b'T';
        two(&mut buf[9..11], self.hour);
        buf[11] = b':';
        two(&mut buf[12..14], self.minute);
        buf[14] = b':';
        two(&mut buf[15..17], self.second);
        buf[17] = b'Z';
        let len = if self.utc { 18 } else { 17 };
        out.extend_from_slice(&buf[..len]);
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(18);
        self.write_to(&mut out);
        // write_to only emits ASCII digits, 'T', ':' and 'Z'.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl std::str::FromStr for DateTime {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DateTime::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_keeps_utc() {
        let z = DateTime::parse("20240611T10:00:00Z").unwrap();
        assert!(z.utc);
        assert_eq!((z.year, z.month, z.day, z.hour), (2024, 6, 11, 10));
        assert_eq!(z.to_string(), "20240611T10:00:00Z");
        let plain = DateTime::parse("20240611T10:00:00").unwrap();
        assert!(!plain.utc);
        assert_eq!(plain.to_string(), "20240611T10:00:00");
        assert_eq!(DateTime::parse("2024-06-11T10:00:00Z").unwrap(), z);
        assert_eq!(DateTime::parse(" 19700101T00:00:00Z\n").unwrap().year, 1970);
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        for bad in [
            "",
            "20240631T10:00:00Z",
            "20230229T10:00:00",
            "20241301T10:00:00",
            "20240611T24:00:00",
            "20240611 10:00:00",
            "2024061T10:00:00Z",
            "20240611T10:00:00ZZ",
            "2024-06-11T10:00:0a",
            "+0240611T10:00:00",
        ] {
            let e = DateTime::parse(bad).unwrap_err();
            assert_eq!(
                e.kind(),
                &ErrorKind::InvalidDateTime(bad.to_owned()),
                "{bad}"
            );
        }
        assert!(DateTime::parse("20240229T23:59:60Z").is_ok());
    }
}
