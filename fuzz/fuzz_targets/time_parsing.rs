//! Arbitrary text through every time parser: timestamps in several zones,
//! durations, lookback windows, time zones and dates. Nothing may panic, and
//! what parses must print back to the same value.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use touchpath::config::Date;
use touchpath::time::{
    Duration, Lookback, MICROS_PER_DAY, MICROS_PER_SECOND, TimeZone, epoch_integer_to_micros, epoch_to_micros,
    format_instant, parse_date, parse_timestamp,
};

/// UTC, two zones with daylight saving on either side of the Atlantic, one
/// with a half-hour shift and one that skipped a whole day (2011-12-30).
const ZONE_NAMES: [&str; 5] = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"];

/// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the instants RFC 3339
/// can write with a four-digit year.
const YEAR_0: i64 = -62_167_219_200 * MICROS_PER_SECOND;
const YEAR_10000: i64 = 253_402_300_800 * MICROS_PER_SECOND;

/// Below this magnitude an integer epoch goes through `f64` exactly (in
/// milliseconds, `n * 1000` needs `n * 125 < 2^53`).
const EXACT_EPOCH: i64 = 72_000_000_000_000;

fn zones() -> &'static [TimeZone] {
    static ZONES: OnceLock<Vec<TimeZone>> = OnceLock::new();
    ZONES.get_or_init(|| ZONE_NAMES.iter().map(|name| name.parse().expect("a known zone")).collect())
}

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = data.first_chunk::<8>() {
        numbers(i64::from_le_bytes(*bytes));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    timestamps(text);
    durations(text);
    time_zones(text);
    dates(text);
});

/// Integer and float epochs, and instants in every zone, never panic.
fn numbers(number: i64) {
    let _ = epoch_integer_to_micros(number);
    let _ = epoch_to_micros(f64::from_bits(number.cast_unsigned()));
    let _ = format_instant(number);
    for &zone in zones() {
        let _ = zone.local_day(number);
    }
}

fn timestamps(text: &str) {
    let utc = parse_timestamp(text, TimeZone::UTC);
    let padded = format!(" {text}\t\n");
    assert_eq!(parse_timestamp(&padded, TimeZone::UTC), utc, "surrounding blanks changed {text:?}");
    for &zone in zones() {
        let local = parse_timestamp(text, zone);
        // The zone only moves a naive time; it never decides whether a value parses.
        assert_eq!(local.err(), utc.err(), "{text:?} in {zone}");
        let (Ok(local), Ok(utc)) = (local, utc) else {
            continue;
        };
        // No zone is a day or more away from UTC, gaps included.
        assert!((local - utc).abs() < MICROS_PER_DAY, "{text:?} in {zone}: {local} vs {utc}");
        let _ = zone.local_day(local);
        if (YEAR_0..YEAR_10000).contains(&local) {
            let written = format_instant(local);
            assert_eq!(parse_timestamp(&written, zone), Ok(local), "{text:?} written as {written}");
        }
    }
    if let Ok(number) = text.trim().parse::<i64>()
        && number.abs() < EXACT_EPOCH
    {
        assert_eq!(utc, epoch_integer_to_micros(number), "{text:?}");
    }
    if let Err(error) = utc {
        assert!(!error.describe().is_empty());
    }
}

fn durations(text: &str) {
    let duration = text.parse::<Duration>();
    let lookback = text.parse::<Lookback>();
    if let Ok(duration) = duration {
        assert!(duration.as_micros() > 0, "{text:?}");
        assert_eq!(duration.as_micros() % MICROS_PER_SECOND, 0, "{text:?}");
        let written = duration.to_string();
        assert_eq!(written.parse::<Duration>(), Ok(duration), "{text:?} written as {written}");
        assert_eq!(lookback, Ok(Lookback::new(duration)), "{text:?}");
    }
    if let Ok(lookback) = lookback {
        let written = lookback.to_string();
        assert_eq!(written.parse::<Lookback>(), Ok(lookback), "{text:?} written as {written}");
        if lookback == Lookback::NONE {
            assert!(text.trim().eq_ignore_ascii_case("none"), "{text:?}");
        }
    }
}

fn time_zones(text: &str) {
    if let Ok(zone) = text.parse::<TimeZone>() {
        let written = zone.to_string();
        assert_eq!(written.parse::<TimeZone>(), Ok(zone), "{text:?} written as {written}");
    }
}

fn dates(text: &str) {
    let days = parse_date(text);
    assert_eq!(text.parse::<Date>().ok().map(Date::days), days, "{text:?}");
    if let Some(days) = days {
        let date = Date::from_days(days);
        assert_eq!(date.to_string(), text.trim(), "{text:?}");
        assert_eq!(parse_timestamp(text, TimeZone::UTC), Ok(days * MICROS_PER_DAY), "{text:?}");
    }
}
