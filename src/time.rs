//! Timestamps, durations and time zones.
//!
//! Instants are `i64` microseconds since the Unix epoch, UTC. Parsing is
//! hand-written for the formats logs use (see `docs/data-format.md`), because
//! it runs once per input row and must say precisely why a value was refused.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Epoch numbers at or above this magnitude are milliseconds, below it
/// seconds: 10^11 seconds is the year 5138, 10^11 milliseconds is March 1973.
const EPOCH_MILLIS_THRESHOLD: f64 = 1e11;

/// A length of time, parsed from `45s`, `90m`, `12h`, `7d`, `2w` or a sum of
/// them (`1d12h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    micros: i64,
}

impl Duration {
    /// A duration of `days` days.
    #[must_use]
    pub const fn days(days: i64) -> Self {
        Self { micros: days * MICROS_PER_DAY }
    }

    /// The duration in microseconds.
    #[must_use]
    pub const fn as_micros(self) -> i64 {
        self.micros
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let expected = || format!("expected a duration such as `30d`, `12h` or `1d12h`, got `{raw}`");
        let text = raw.trim();
        if text.is_empty() {
            return Err(expected());
        }
        let mut micros: i64 = 0;
        let mut number: Option<i64> = None;
        for character in text.chars() {
            if let Some(digit) = character.to_digit(10) {
                let value = number.unwrap_or(0);
                number =
                    Some(value.checked_mul(10).and_then(|v| v.checked_add(i64::from(digit))).ok_or_else(expected)?);
                continue;
            }
            let unit = match character {
                's' => MICROS_PER_SECOND,
                'm' => 60 * MICROS_PER_SECOND,
                'h' => 3600 * MICROS_PER_SECOND,
                'd' => MICROS_PER_DAY,
                'w' => 7 * MICROS_PER_DAY,
                _ => return Err(expected()),
            };
            let value = number.take().ok_or_else(expected)?;
            micros = value.checked_mul(unit).and_then(|part| micros.checked_add(part)).ok_or_else(expected)?;
        }
        if number.is_some() || micros == 0 {
            return Err(expected());
        }
        Ok(Self { micros })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.micros;
        let units = [
            ('w', 7 * MICROS_PER_DAY),
            ('d', MICROS_PER_DAY),
            ('h', 3600 * MICROS_PER_SECOND),
            ('m', 60 * MICROS_PER_SECOND),
            ('s', MICROS_PER_SECOND),
        ];
        for (symbol, size) in units {
            // Weeks are written as days: `14d` reads better than `2w` in a summary.
            if symbol == 'w' {
                continue;
            }
            if rest >= size {
                write!(formatter, "{}{symbol}", rest / size)?;
                rest %= size;
            }
        }
        if rest > 0 {
            write!(formatter, "{rest}us")?;
        }
        Ok(())
    }
}

/// How far back from a conversion touches still count: a [`Duration`] or no
/// limit (`none`). The default is 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lookback(Option<Duration>);

impl Lookback {
    /// No window: every touch since the previous conversion counts.
    pub const NONE: Self = Self(None);

    /// A window of the given length.
    #[must_use]
    pub const fn new(window: Duration) -> Self {
        Self(Some(window))
    }

    /// The window, or `None` for no limit.
    #[must_use]
    pub const fn window(self) -> Option<Duration> {
        self.0
    }

    /// How long a touch can count, in microseconds: the window, or
    /// `i64::MAX` without one.
    #[must_use]
    pub fn memory(self) -> i64 {
        self.0.map_or(i64::MAX, Duration::as_micros)
    }

    /// True when a touch at `touch` counts towards a conversion at `conversion`.
    #[must_use]
    pub fn contains(self, touch: i64, conversion: i64) -> bool {
        self.0.is_none_or(|window| conversion.saturating_sub(touch) <= window.as_micros())
    }
}

impl Default for Lookback {
    fn default() -> Self {
        Self::new(Duration::days(30))
    }
}

impl FromStr for Lookback {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::NONE);
        }
        raw.parse().map(Self::new).map_err(|message| format!("{message}, or `none`"))
    }
}

impl fmt::Display for Lookback {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(window) => window.fmt(formatter),
            None => formatter.write_str("none"),
        }
    }
}

/// The zone naive timestamps are read in: `UTC` or an IANA name such as
/// `Europe/Paris`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TimeZone(Option<chrono_tz::Tz>);

impl TimeZone {
    /// Coordinated Universal Time.
    pub const UTC: Self = Self(None);

    /// Converts a naive local time (microseconds since the epoch, as if the
    /// wall clock were UTC) to an instant.
    ///
    /// A wall time that occurs twice (clocks going back) takes the earlier
    /// instant; one that never occurs (clocks going forward) is read with the
    /// offset in force just before the gap, which lands it after the gap.
    #[must_use]
    pub fn to_instant(self, local_micros: i64) -> Option<i64> {
        let Some(zone) = self.0 else {
            return Some(local_micros);
        };
        let naive: NaiveDateTime = DateTime::from_timestamp_micros(local_micros)?.naive_utc();
        let offset_seconds = match zone.from_local_datetime(&naive) {
            LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => {
                instant.offset().fix().local_minus_utc()
            }
            LocalResult::None => {
                let before_gap = naive.checked_sub_signed(chrono::TimeDelta::hours(24))?;
                zone.offset_from_utc_datetime(&before_gap).fix().local_minus_utc()
            }
        };
        local_micros.checked_sub(i64::from(offset_seconds) * MICROS_PER_SECOND)
    }
}

impl TimeZone {
    /// The local calendar day (days since 1970-01-01) of an instant.
    #[must_use]
    pub fn local_day(self, instant: i64) -> i64 {
        let offset_seconds = match self.0 {
            None => 0,
            Some(zone) => DateTime::from_timestamp_micros(instant)
                .map_or(0, |utc| zone.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc()),
        };
        (instant + i64::from(offset_seconds) * MICROS_PER_SECOND).div_euclid(MICROS_PER_DAY)
    }
}

impl FromStr for TimeZone {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let name = raw.trim();
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Self::UTC);
        }
        name.parse::<chrono_tz::Tz>()
            .map(|zone| Self(Some(zone)))
            .map_err(|_| format!("unknown time zone `{raw}`; expected `UTC` or an IANA name such as `Europe/Paris`"))
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(zone) => formatter.write_str(zone.name()),
            None => formatter.write_str("UTC"),
        }
    }
}

macro_rules! string_serde {
    ($($type:ty),*) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

impl Date {
    /// The date `days` days after 1970-01-01.
    #[must_use]
    pub const fn from_days(days: i64) -> Self {
        Self(days)
    }

    /// Days since 1970-01-01.
    #[must_use]
    pub const fn days(self) -> i64 {
        self.0
    }
}

impl FromStr for Date {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        parse_date(raw).map(Self).ok_or_else(|| format!("expected a date as YYYY-MM-DD, got `{raw}`"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&format_date(self.0))
    }
}

string_serde!(Duration, Lookback, TimeZone, Date);

/// Why a timestamp was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampError {
    /// Blank.
    Empty,
    /// Not in any accepted format.
    Format,
    /// In an accepted format, but no such date or time (month 13, 25:00...).
    OutOfRange,
}

impl TimestampError {
    /// A sentence fragment for reject details.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Empty => "timestamp is empty",
            Self::Format => {
                "expected RFC 3339 (2026-01-05T13:45:12Z), naive ISO 8601 (2026-01-05 13:45:12) or epoch seconds/milliseconds"
            }
            Self::OutOfRange => "no such date or time",
        }
    }
}

/// Parses one timestamp cell to microseconds since the epoch, UTC.
///
/// Accepted: RFC 3339 with `Z` or an offset (`T` or a space between date and
/// time, optional fraction); the same without an offset, or a bare date, read
/// in `zone`; an integer or decimal epoch, in seconds below 10^11 and
/// milliseconds from there on.
///
/// # Errors
///
/// A [`TimestampError`] saying why the value was refused.
pub fn parse_timestamp(raw: &str, zone: TimeZone) -> Result<i64, TimestampError> {
    parse_timestamp_after(raw, zone, &mut LastDate::default())
}

/// The date of the last timestamp [`parse_timestamp_after`] read, with its
/// day number: in a column of timestamps, neighbouring rows mostly share
/// their date, which is then worked out once.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastDate {
    /// The date's ten bytes (`2026-01-05`); zeros before the first, which
    /// no date read matches (its fifth byte is a `-`).
    text: [u8; 10],
    /// Days since the epoch of that date.
    days: i64,
}

/// [`parse_timestamp`], taking the day of a date from `last` when it is the
/// date `last` holds, and leaving there the date read.
///
/// # Errors
///
/// As [`parse_timestamp`].
pub fn parse_timestamp_after(raw: &str, zone: TimeZone, last: &mut LastDate) -> Result<i64, TimestampError> {
    let text = trim(raw);
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 5 && bytes[4] == b'-' {
        return parse_iso(bytes, zone, last);
    }
    let number: f64 = text.parse().map_err(|_| TimestampError::Format)?;
    epoch_to_micros(number)
}

/// `text` without its leading and trailing white space, as [`str::trim`]
/// gives it, without decoding a character when the first and the last
/// bytes are ASCII other than white space (as in nearly every cell).
#[must_use]
pub fn trim(text: &str) -> &str {
    // ASCII white space as `char::is_whitespace` has it: space, tab, line
    // feed, vertical tab, form feed, carriage return.
    let solid = |byte: &u8| byte.is_ascii() && !matches!(byte, b' ' | b'\t'..=b'\r');
    match text.as_bytes() {
        [first, .., last] if solid(first) && solid(last) => text,
        [only] if solid(only) => text,
        _ => text.trim(),
    }
}

/// Converts an epoch number in seconds or milliseconds (by magnitude) to
/// microseconds.
///
/// # Errors
///
/// [`TimestampError::OutOfRange`] for a value that is not finite or does not
/// fit.
pub fn epoch_to_micros(number: f64) -> Result<i64, TimestampError> {
    if !number.is_finite() {
        return Err(TimestampError::Format);
    }
    let scale = if number.abs() >= EPOCH_MILLIS_THRESHOLD { 1e3 } else { 1e6 };
    let micros = (number * scale).round();
    // 2^62 µs is about 146 000 years: far beyond any real log.
    if micros.abs() >= 4.6e18 {
        return Err(TimestampError::OutOfRange);
    }
    #[expect(clippy::cast_possible_truncation, reason = "range checked just above")]
    Ok(micros as i64)
}

/// Converts an integer epoch in seconds or milliseconds (by magnitude) to
/// microseconds, exactly.
///
/// # Errors
///
/// [`TimestampError::OutOfRange`] when the result does not fit.
pub fn epoch_integer_to_micros(number: i64) -> Result<i64, TimestampError> {
    #[expect(clippy::cast_possible_truncation, reason = "the threshold is an integer")]
    let threshold = EPOCH_MILLIS_THRESHOLD as i64;
    let scale = if number.unsigned_abs() >= threshold.unsigned_abs() { 1_000 } else { MICROS_PER_SECOND };
    number.checked_mul(scale).ok_or(TimestampError::OutOfRange)
}

fn parse_iso(bytes: &[u8], zone: TimeZone, last: &mut LastDate) -> Result<i64, TimestampError> {
    let mut cursor = Cursor { bytes, position: 0 };
    let days = if bytes.get(..10) == Some(last.text.as_slice()) {
        cursor.position = 10;
        last.days
    } else {
        let year = cursor.digits(4)?;
        cursor.expect(b'-')?;
        let month = cursor.digits(2)?;
        cursor.expect(b'-')?;
        let day = cursor.digits(2)?;
        let days = days_from_civil(year, month, day).ok_or(TimestampError::OutOfRange)?;
        if let Some(text) = bytes.get(..10).and_then(|date| <[u8; 10]>::try_from(date).ok()) {
            *last = LastDate { text, days };
        }
        days
    };
    let mut local = days * MICROS_PER_DAY;
    if cursor.at_end() {
        return zone.to_instant(local).ok_or(TimestampError::OutOfRange);
    }
    match cursor.next() {
        Some(b'T' | b't' | b' ') => {}
        _ => return Err(TimestampError::Format),
    }
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    let mut second = 0;
    if cursor.peek() == Some(b':') {
        cursor.position += 1;
        second = cursor.digits(2)?;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(TimestampError::OutOfRange);
    }
    local += (hour * 3600 + minute * 60 + second) * MICROS_PER_SECOND + cursor.fraction()?;
    if cursor.at_end() {
        return zone.to_instant(local).ok_or(TimestampError::OutOfRange);
    }
    let offset = cursor.offset()?;
    if !cursor.at_end() {
        return Err(TimestampError::Format);
    }
    Ok(local - offset)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.position += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), TimestampError> {
        if self.next() == Some(wanted) { Ok(()) } else { Err(TimestampError::Format) }
    }

    fn digits(&mut self, count: usize) -> Result<i64, TimestampError> {
        let mut value = 0;
        for _ in 0..count {
            match self.next() {
                Some(byte @ b'0'..=b'9') => value = value * 10 + i64::from(byte - b'0'),
                _ => return Err(TimestampError::Format),
            }
        }
        Ok(value)
    }

    /// An optional `.123456789` fraction of a second, in microseconds
    /// (digits past the sixth are truncated).
    fn fraction(&mut self) -> Result<i64, TimestampError> {
        if !matches!(self.peek(), Some(b'.' | b',')) {
            return Ok(0);
        }
        self.position += 1;
        let mut micros = 0;
        let mut count = 0;
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            if count < 6 {
                micros = micros * 10 + i64::from(byte - b'0');
            }
            count += 1;
            self.position += 1;
        }
        if count == 0 {
            return Err(TimestampError::Format);
        }
        for _ in count..6 {
            micros *= 10;
        }
        Ok(micros)
    }

    /// `Z`, `+HH:MM`, `+HHMM` or `+HH` (a space before it is allowed), in
    /// microseconds east of UTC.
    fn offset(&mut self) -> Result<i64, TimestampError> {
        if self.peek() == Some(b' ') {
            self.position += 1;
        }
        let sign = match self.next() {
            Some(b'Z' | b'z') => return Ok(0),
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(TimestampError::Format),
        };
        let hours = self.digits(2)?;
        let mut minutes = 0;
        if self.peek() == Some(b':') {
            self.position += 1;
        }
        if !self.at_end() {
            minutes = self.digits(2)?;
        }
        if hours > 23 || minutes > 59 {
            return Err(TimestampError::OutOfRange);
        }
        Ok(sign * (hours * 3600 + minutes * 60) * MICROS_PER_SECOND)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` for a date
/// that does not exist. Howard Hinnant's `days_from_civil`.
#[must_use]
pub fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a `YYYY-MM-DD` date to days since the epoch.
#[must_use]
pub fn parse_date(raw: &str) -> Option<i64> {
    let bytes = raw.trim().as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    let mut cursor = Cursor { bytes, position: 0 };
    let year = cursor.digits(4).ok()?;
    cursor.expect(b'-').ok()?;
    let month = cursor.digits(2).ok()?;
    cursor.expect(b'-').ok()?;
    let day = cursor.digits(2).ok()?;
    days_from_civil(year, month, day)
}

/// Formats an instant as RFC 3339 UTC with as many fraction digits as it needs.
#[must_use]
pub fn format_instant(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |instant| instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// Formats days since the epoch as `YYYY-MM-DD`.
#[must_use]
pub fn format_date(days: i64) -> String {
    days.checked_mul(MICROS_PER_DAY)
        .and_then(DateTime::from_timestamp_micros)
        .map_or_else(|| days.to_string(), |instant| instant.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_whole_beyond_four_digit_years() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(days_from_civil(10_183, 9, 14).unwrap()), "+10183-09-14");
        assert_eq!(format_date(days_from_civil(-221, 9, 1).unwrap()), "-0221-09-01");
        assert_eq!(format_date(i64::MAX), i64::MAX.to_string());
    }

    const JAN_5_2026_134512: i64 = 1_767_620_712 * MICROS_PER_SECOND;

    fn utc(raw: &str) -> Result<i64, TimestampError> {
        parse_timestamp(raw, TimeZone::UTC)
    }

    #[test]
    fn rfc3339_forms_agree() {
        for raw in [
            "2026-01-05T13:45:12Z",
            "2026-01-05t13:45:12z",
            "2026-01-05 13:45:12Z",
            "2026-01-05T14:45:12+01:00",
            "2026-01-05T14:45:12+0100",
            "2026-01-05T14:45:12 +01",
            "2026-01-05T08:15:12-05:30",
            " 2026-01-05T13:45:12.000Z ",
        ] {
            assert_eq!(utc(raw), Ok(JAN_5_2026_134512), "{raw}");
        }
        assert_eq!(utc("2026-01-05T13:45:12.25Z"), Ok(JAN_5_2026_134512 + 250_000));
        assert_eq!(utc("2026-01-05T13:45:12.123456789Z"), Ok(JAN_5_2026_134512 + 123_456));
        assert_eq!(utc("2026-01-05T13:45Z"), Ok(JAN_5_2026_134512 - 12 * MICROS_PER_SECOND));
    }

    #[test]
    fn naive_times_are_read_in_the_zone() {
        assert_eq!(utc("2026-01-05 13:45:12"), Ok(JAN_5_2026_134512));
        let paris: TimeZone = "Europe/Paris".parse().unwrap();
        assert_eq!(parse_timestamp("2026-01-05 14:45:12", paris), Ok(JAN_5_2026_134512));
        // Summer time: UTC+2.
        let july = parse_timestamp("2026-07-01T02:00:00", paris).unwrap();
        assert_eq!(july, utc("2026-07-01T00:00:00Z").unwrap());
        // An explicit offset wins over the zone.
        assert_eq!(parse_timestamp("2026-01-05T13:45:12Z", paris), Ok(JAN_5_2026_134512));
        assert_eq!(utc("2026-01-05"), Ok(JAN_5_2026_134512 - (13 * 3600 + 45 * 60 + 12) * MICROS_PER_SECOND));
    }

    #[test]
    fn daylight_saving_edges_are_resolved() {
        let paris: TimeZone = "Europe/Paris".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Paris: read with the winter offset.
        assert_eq!(parse_timestamp("2026-03-29T02:30:00", paris), utc("2026-03-29T01:30:00Z"));
        // 2026-10-25 02:30 happens twice: the earlier (summer) instant.
        assert_eq!(parse_timestamp("2026-10-25T02:30:00", paris), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn epochs_in_seconds_and_milliseconds() {
        assert_eq!(utc("1767620712"), Ok(JAN_5_2026_134512));
        assert_eq!(utc("1767620712000"), Ok(JAN_5_2026_134512));
        assert_eq!(utc("1767620712.5"), Ok(JAN_5_2026_134512 + 500_000));
        assert_eq!(epoch_integer_to_micros(1_767_620_712_000), Ok(JAN_5_2026_134512));
        assert_eq!(epoch_integer_to_micros(1_767_620_712), Ok(JAN_5_2026_134512));
        assert_eq!(epoch_integer_to_micros(i64::MAX), Err(TimestampError::OutOfRange));
    }

    #[test]
    fn bad_timestamps_say_why() {
        assert_eq!(utc(""), Err(TimestampError::Empty));
        assert_eq!(utc("   "), Err(TimestampError::Empty));
        assert_eq!(utc("yesterday"), Err(TimestampError::Format));
        assert_eq!(utc("03/15/2026 10:00"), Err(TimestampError::Format));
        assert_eq!(utc("2026-13-45T99:00:00Z"), Err(TimestampError::OutOfRange));
        assert_eq!(utc("2026-02-29T00:00:00Z"), Err(TimestampError::OutOfRange));
        assert_eq!(utc("2026-01-05T24:00:00Z"), Err(TimestampError::OutOfRange));
        assert_eq!(utc("2026-01-05T13:45:12Zjunk"), Err(TimestampError::Format));
        assert_eq!(utc("NaN"), Err(TimestampError::Format));
        assert_eq!(utc("1e300"), Err(TimestampError::OutOfRange));
    }

    #[test]
    fn durations_and_lookbacks() {
        assert_eq!("30d".parse::<Duration>(), Ok(Duration::days(30)));
        assert_eq!("1d12h".parse::<Duration>().unwrap().as_micros(), 36 * 3600 * MICROS_PER_SECOND);
        assert_eq!("2w".parse::<Duration>(), Ok(Duration::days(14)));
        for bad in ["", "d", "30", "30x", "0d", "-3d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
        assert_eq!("none".parse::<Lookback>(), Ok(Lookback::NONE));
        assert_eq!(Lookback::default().to_string(), "30d");
        assert_eq!("36h".parse::<Duration>().unwrap().to_string(), "1d12h");
        let window: Lookback = "1d".parse().unwrap();
        assert!(window.contains(0, MICROS_PER_DAY));
        assert!(!window.contains(0, MICROS_PER_DAY + 1));
        assert!(Lookback::NONE.contains(i64::MIN, i64::MAX));
    }

    #[test]
    fn time_zones_parse_or_explain() {
        assert_eq!("utc".parse::<TimeZone>(), Ok(TimeZone::UTC));
        assert_eq!("America/New_York".parse::<TimeZone>().unwrap().to_string(), "America/New_York");
        assert!("Mars/Olympus".parse::<TimeZone>().unwrap_err().contains("unknown time zone"));
    }

    #[test]
    fn local_days_follow_the_zone() {
        let late = utc("2026-01-05T23:30:00Z").unwrap();
        assert_eq!(format_date(TimeZone::UTC.local_day(late)), "2026-01-05");
        let paris: TimeZone = "Europe/Paris".parse().unwrap();
        assert_eq!(format_date(paris.local_day(late)), "2026-01-06");
        assert_eq!("2026-01-06".parse::<Date>().unwrap().to_string(), "2026-01-06");
        assert!("06/01/2026".parse::<Date>().is_err());
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim(text in "[ \t\n\u{b}\u{c}\r\u{85}\u{a0}\u{3000}a-z0-9é:-]{0,8}") {
            proptest::prop_assert_eq!(trim(&text), text.trim());
        }
    }

    #[test]
    fn a_date_read_before_gives_its_day_again() {
        let mut last = LastDate::default();
        let first = parse_timestamp_after("2026-01-05T13:45:12Z", TimeZone::UTC, &mut last).unwrap();
        let again = parse_timestamp_after("2026-01-05T13:45:13Z", TimeZone::UTC, &mut last).unwrap();
        assert_eq!(again - first, MICROS_PER_SECOND);
        // Another date replaces it; a bad one after a good one is still refused.
        assert_eq!(parse_timestamp_after("2026-01-06", TimeZone::UTC, &mut last), utc("2026-01-06T00:00:00Z"));
        assert_eq!(
            parse_timestamp_after("2026-01-06T25:00:00Z", TimeZone::UTC, &mut last),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            parse_timestamp_after("2026-02-30T10:00:00Z", TimeZone::UTC, &mut last),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            parse_timestamp_after("2026-01-06T10:00:00Z", TimeZone::UTC, &mut last),
            utc("2026-01-06T10:00:00Z")
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 2, 29), Some(11_016));
        assert_eq!(parse_date("2026-03-31").map(format_date).as_deref(), Some("2026-03-31"));
        assert_eq!(parse_date("2026-3-31"), None);
    }
}
