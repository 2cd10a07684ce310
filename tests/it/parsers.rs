use std::collections::HashSet;

use chrono::{LocalResult, NaiveDate, NaiveDateTime, TimeZone as _};
use polars::prelude::{
    Column, DataFrame, Int32Chunked, Int64Chunked, IntoColumn, NewChunkedArray, ParquetWriter, StringChunked, TimeUnit,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use touchpath::config::Date;
use touchpath::ingest::{EventIngest, RejectReason, SourceFile, discover, ingest_events};
use touchpath::time::{
    Duration, Lookback, MICROS_PER_DAY, MICROS_PER_SECOND, TimeZone, TimestampError, parse_date, parse_timestamp,
};
use touchpath::{Config, Error};

use crate::support::{NOW, Workspace};

/// Zones with daylight saving on either side of the Atlantic, a half-hour
/// shift, and a zone without daylight saving.
const ZONES: [&str; 4] = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"];

/// Every canonical column, in canonical order.
const HEADER: &str = "user_id,timestamp,channel,campaign,stage,event_type,revenue\n";

fn utc(raw: &str) -> Result<i64, TimestampError> {
    parse_timestamp(raw, TimeZone::UTC)
}

fn zone(name: &str) -> TimeZone {
    name.parse().unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// A naive date and time with microseconds, written the way logs write
/// them: `T`, `t` or a space between date and time, seconds and fraction
/// optional, fractions of one to nine digits (truncated to microseconds).
#[derive(Clone, Debug)]
struct WallTime {
    text: String,
    local: NaiveDateTime,
}

fn wall_time() -> impl Strategy<Value = WallTime> {
    let clock = (0_u32..24, 0_u32..60, proptest::option::of((0_u32..60, proptest::option::of("[0-9]{1,9}"))));
    (0_i32..=9999, 1_u32..=12, 1_u32..=31, select(vec!['T', 't', ' ']), clock).prop_filter_map(
        "no such day",
        |(year, month, day, separator, (hour, minute, seconds))| {
            let date = NaiveDate::from_ymd_opt(year, month, day)?;
            let seconds_text = seconds.as_ref().map_or_else(String::new, |(second, _)| format!(":{second:02}"));
            let (second, digits) = seconds.unwrap_or((0, None));
            let fraction_text = digits.as_ref().map_or_else(String::new, |digits| format!(".{digits}"));
            let text =
                format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}{seconds_text}{fraction_text}");
            let micros = digits.map_or(0, |digits| {
                let kept: String = digits.chars().chain(std::iter::repeat('0')).take(6).collect();
                kept.parse::<u32>().expect("six digits")
            });
            let local = date.and_hms_micro_opt(hour, minute, second, micros)?;
            Some(WallTime { text, local })
        },
    )
}

/// A UTC offset as written after a time, and its value in minutes east of UTC.
fn offset() -> impl Strategy<Value = (String, i64)> {
    (-(23 * 60 + 59)..=(23 * 60 + 59_i64), 0_u8..6).prop_map(|(minutes, style)| {
        let sign = if minutes < 0 { '-' } else { '+' };
        let (hours, rest) = (minutes.abs() / 60, minutes.abs() % 60);
        match style {
            0 => ("Z".to_owned(), 0),
            1 => ("z".to_owned(), 0),
            2 => (format!("{sign}{hours:02}:{rest:02}"), minutes),
            3 => (format!("{sign}{hours:02}{rest:02}"), minutes),
            4 => (format!(" {sign}{hours:02}:{rest:02}"), minutes),
            _ => (format!("{sign}{hours:02}"), minutes.signum() * hours * 60),
        }
    })
}

/// Strings made of the characters timestamps are made of.
fn timestamp_like() -> impl Strategy<Value = String> {
    "[-+0-9:.,TtZz eE]{0,32}"
}

proptest! {
    #[test]
    fn timestamps_never_panic_and_ignore_surrounding_blanks(raw in any::<String>(), near in timestamp_like()) {
        for text in [raw, near] {
            let parsed = utc(&text);
            prop_assert_eq!(utc(&format!(" \t{text}\r\n")), parsed);
            for name in ZONES {
                // A zone only moves a naive time: it never decides whether a value parses.
                prop_assert_eq!(parse_timestamp(&text, zone(name)).err(), parsed.err(), "{:?} in {}", text, name);
            }
        }
    }

    #[test]
    fn rfc3339_timestamps_are_the_instant_they_name(wall in wall_time(), (offset, minutes) in offset()) {
        let text = format!("{}{offset}", wall.text);
        let expected = wall.local.and_utc().timestamp_micros() - minutes * 60 * MICROS_PER_SECOND;
        prop_assert_eq!(utc(&text), Ok(expected), "{}", text);
        for name in ZONES {
            prop_assert_eq!(parse_timestamp(&text, zone(name)), Ok(expected), "{} in {}", text, name);
        }
    }

    #[test]
    fn naive_timestamps_are_wall_clock_time_in_the_zone(wall in wall_time(), name in select(ZONES.to_vec())) {
        prop_assert_eq!(utc(&wall.text), Ok(wall.local.and_utc().timestamp_micros()), "{}", wall.text);
        let tz: chrono_tz::Tz = name.parse().expect("a known zone");
        // Gaps (clocks going forward) follow a rule of touchpath's own, tested by hand in `time.rs`.
        let expected = match tz.from_local_datetime(&wall.local) {
            LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => instant.timestamp_micros(),
            LocalResult::None => return Ok(()),
        };
        prop_assert_eq!(parse_timestamp(&wall.text, zone(name)), Ok(expected), "{} in {}", wall.text, name);
    }

    #[test]
    fn dates_are_midnight_and_print_back(date in (0_i32..=9999, 1_u32..=366).prop_filter_map(
        "no such day",
        |(year, ordinal)| NaiveDate::from_yo_opt(year, ordinal),
    )) {
        let text = date.format("%Y-%m-%d").to_string();
        let days = (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")).num_days();
        prop_assert_eq!(parse_date(&text), Some(days));
        prop_assert_eq!(utc(&text), Ok(days * MICROS_PER_DAY));
        let parsed: Date = text.parse().expect("a valid date");
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn epoch_seconds_below_10_to_the_11(seconds in -99_999_999_999_i64..100_000_000_000) {
        prop_assert_eq!(utc(&seconds.to_string()), Ok(seconds * MICROS_PER_SECOND));
    }

    #[test]
    fn epoch_milliseconds_from_10_to_the_11(millis in 100_000_000_000_i64..72_000_000_000_000, negative: bool) {
        let millis = if negative { -millis } else { millis };
        prop_assert_eq!(utc(&millis.to_string()), Ok(millis * 1_000));
    }

    #[test]
    fn an_instant_in_seconds_or_milliseconds_is_the_same(seconds in 100_000_000_i64..10_000_000_000) {
        prop_assert_eq!(utc(&seconds.to_string()), utc(&(seconds * 1_000).to_string()));
    }

    #[test]
    fn decimal_epoch_seconds_keep_every_microsecond(seconds in 0_i64..4_000_000_000, micros in 0_i64..1_000_000) {
        prop_assert_eq!(utc(&format!("{seconds}.{micros:06}")), Ok(seconds * MICROS_PER_SECOND + micros));
    }
}

/// The units a duration may be written in, with their length.
const UNITS: [(char, i64); 5] = [
    ('s', MICROS_PER_SECOND),
    ('m', 60 * MICROS_PER_SECOND),
    ('h', 3600 * MICROS_PER_SECOND),
    ('d', MICROS_PER_DAY),
    ('w', 7 * MICROS_PER_DAY),
];

/// True for a duration written the way touchpath writes one: days, hours,
/// minutes and seconds, largest first, each unit at most once and below the
/// next larger one (weeks as days).
fn is_canonical(written: &str) -> bool {
    let mut parts = Vec::new();
    let mut number = String::new();
    for character in written.chars() {
        if character.is_ascii_digit() {
            number.push(character);
        } else {
            let Ok(count) = number.parse::<i64>() else {
                return false;
            };
            parts.push((count, character));
            number.clear();
        }
    }
    let order = ['d', 'h', 'm', 's'];
    let limits = [i64::MAX, 24, 60, 60];
    let positions: Option<Vec<usize>> =
        parts.iter().map(|&(_, unit)| order.iter().position(|&candidate| candidate == unit)).collect();
    let Some(positions) = positions else {
        return false;
    };
    number.is_empty()
        && !parts.is_empty()
        && positions.windows(2).all(|pair| pair[0] < pair[1])
        && parts.iter().zip(&positions).all(|(&(count, _), &position)| count > 0 && count < limits[position])
}

proptest! {
    #[test]
    fn durations_sum_their_parts_and_print_back(parts in vec((1_i64..100_000, 0_usize..5), 1..5)) {
        let text: String =
            parts.iter().flat_map(|&(count, unit)| [count.to_string(), UNITS[unit].0.to_string()]).collect();
        let micros: i64 = parts.iter().map(|&(count, unit)| count * UNITS[unit].1).sum();
        let duration: Duration = text.parse().expect("a valid duration");
        prop_assert_eq!(duration.as_micros(), micros, "{}", text);
        let written = duration.to_string();
        prop_assert!(is_canonical(&written), "{} written as {}", text, written);
        prop_assert_eq!(written.parse::<Duration>(), Ok(duration), "{} written as {}", text, written);
        prop_assert_eq!(written.parse::<Duration>().map(|again| again.to_string()), Ok(written.clone()));
        prop_assert_eq!(text.parse::<Lookback>(), Ok(Lookback::new(duration)));
        // A trailing number without a unit makes any duration invalid.
        let unfinished = format!("{text}7");
        prop_assert!(unfinished.parse::<Duration>().is_err(), "{}", unfinished);
    }

    #[test]
    fn durations_never_panic(raw in any::<String>(), near in "[0-9smhdwu ]{0,24}") {
        for text in [raw, near] {
            if let Ok(duration) = text.parse::<Duration>() {
                prop_assert!(duration.as_micros() > 0);
                prop_assert_eq!(duration.to_string().parse::<Duration>(), Ok(duration));
            }
            if let Ok(lookback) = text.parse::<Lookback>() {
                prop_assert_eq!(lookback.to_string().parse::<Lookback>(), Ok(lookback));
            }
        }
    }

    #[test]
    fn no_lookback_is_none_in_any_case(text in "[ \t]{0,2}[nN][oO][nN][eE][ \t]{0,2}") {
        prop_assert_eq!(text.parse::<Lookback>(), Ok(Lookback::NONE));
        prop_assert_eq!(Lookback::NONE.to_string(), "none");
    }

    #[test]
    fn every_iana_zone_parses_and_prints_back(tz in select(chrono_tz::TZ_VARIANTS.to_vec()), raw in any::<String>()) {
        let parsed: TimeZone = format!(" {} ", tz.name()).parse().expect("an IANA zone");
        prop_assert_eq!(parsed.to_string(), tz.name());
        if let Ok(parsed) = raw.parse::<TimeZone>() {
            prop_assert_eq!(parsed.to_string().parse::<TimeZone>(), Ok(parsed));
        }
    }
}

/// Reads `contents` as a one-file log. Whatever the bytes, the run either
/// accounts for every row or stops with the user's error.
fn ingest_bytes(contents: &[u8]) -> Option<EventIngest> {
    let workspace = Workspace::new();
    let path = workspace.path("events.csv");
    std::fs::write(&path, contents).expect("the log is written");
    let files = discover(&[path]).expect("a .csv file is a source");
    match ingest_events(&files, &Config::default(), NOW) {
        Ok(ingest) => {
            let rows = &ingest.rows;
            assert_eq!(rows.read, rows.accepted + rows.rejected + rows.duplicates, "{rows:?}");
            assert_eq!(ingest.rejects.len() as u64, rows.rejected, "{rows:?}");
            assert_eq!(rows.rejected_by_reason.values().sum::<u64>(), rows.rejected, "{rows:?}");
            assert_eq!(ingest.log.len() as u64, rows.accepted, "{rows:?}");
            for pair in ingest.rejects.windows(2) {
                assert!(pair[0].record < pair[1].record, "rejects in row order: {pair:?}");
            }
            for reject in &ingest.rejects {
                assert!(reject.line >= reject.record + 2, "a record starts after the header: {reject:?}");
            }
            Some(ingest)
        }
        Err(error) => {
            assert!(!matches!(error, Error::Internal(_)), "internal error: {error}");
            assert!(error.is_user_error(), "{error}");
            None
        }
    }
}

/// The header, or not, then `body`.
fn log_bytes(with_header: bool, body: &[u8]) -> Vec<u8> {
    let mut contents = if with_header { HEADER.as_bytes().to_vec() } else { Vec::new() };
    contents.extend_from_slice(body);
    contents
}

/// Pieces of log rows, good and bad, that make up CSV-like bodies.
const FRAGMENTS: [&str; 16] = [
    ",",
    ",",
    "\n",
    "\r\n",
    "\"",
    " ",
    "u1",
    "2026-01-01T00:00:00Z",
    "1767620712",
    "2026-02-30",
    "Paid Search",
    "email",
    "conversion",
    "click",
    "12.50",
    "-3",
];

/// A row of a log with user id, timestamp, channel and event type, each of
/// which may be missing or wrong.
#[derive(Clone, Debug)]
struct Row {
    user: Option<u8>,
    second: Option<u16>,
    channel: Option<&'static str>,
    kind: &'static str,
}

impl Row {
    fn line(&self) -> String {
        let user = self.user.map_or_else(String::new, |user| format!("u{user}"));
        let time = self.second.map_or_else(
            || "yesterday".to_owned(),
            |second| format!("2026-01-01T00:{:02}:{:02}Z", second / 60, second % 60),
        );
        format!("{user},{time},{},{}\n", self.channel.unwrap_or(""), self.kind)
    }

    /// The row's fate, worked out by hand: the first failed check in the
    /// documented order, or what identifies the accepted event.
    fn expected(&self) -> Result<(u8, u16, Option<&'static str>, String), RejectReason> {
        let user = self.user.ok_or(RejectReason::MissingUserId)?;
        let second = self.second.ok_or(RejectReason::BadTimestamp)?;
        let kind = if self.kind.is_empty() { "visit".to_owned() } else { self.kind.to_lowercase() };
        if !["impression", "click", "visit", "conversion"].contains(&kind.as_str()) {
            return Err(RejectReason::UnknownEventType);
        }
        if self.channel.is_none() && kind != "conversion" {
            return Err(RejectReason::MissingChannel);
        }
        Ok((user, second, self.channel, kind))
    }
}

fn row() -> impl Strategy<Value = Row> {
    (
        proptest::option::weighted(0.9, 0_u8..4),
        proptest::option::weighted(0.9, 0_u16..240),
        proptest::option::weighted(0.85, select(vec!["email", "paid_search", "direct"])),
        select(vec!["click", "Click", "impression", "VISIT", "", "conversion", "conversion", "pageview"]),
    )
        .prop_map(|(user, second, channel, kind)| Row { user, second, channel, kind })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_as_a_log_are_accounted_for(with_header: bool, body in vec(any::<u8>(), 0..600)) {
        ingest_bytes(&log_bytes(with_header, &body));
    }

    #[test]
    fn csv_like_bodies_are_accounted_for(
        with_header: bool,
        pieces in vec(select(FRAGMENTS.to_vec()), 0..120),
    ) {
        ingest_bytes(&log_bytes(with_header, pieces.concat().as_bytes()));
    }

    #[test]
    fn each_row_is_accepted_rejected_or_a_duplicate_as_worked_out(rows in vec(row(), 0..40)) {
        let mut text = "user_id,timestamp,channel,event_type\n".to_owned();
        text.extend(rows.iter().map(Row::line));
        let ingest = ingest_bytes(text.as_bytes()).expect("the log is readable");

        let mut distinct = HashSet::new();
        let mut accepted = 0;
        let mut rejects = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            match row.expected() {
                Ok(event) => {
                    accepted += 1;
                    distinct.insert(event);
                }
                // Without quoted line breaks or blank lines, row `index` is on line `index + 2`.
                Err(reason) => rejects.push((index as u64 + 2, reason)),
            }
        }
        let found: Vec<(u64, RejectReason)> =
            ingest.rejects.iter().map(|reject| (reject.line, reject.reason)).collect();
        prop_assert_eq!(found, rejects);
        prop_assert_eq!(ingest.rows.read, rows.len() as u64);
        prop_assert_eq!(ingest.rows.accepted, distinct.len() as u64);
        prop_assert_eq!(ingest.rows.duplicates, accepted - distinct.len() as u64);
    }
}

/// Keys a configuration file may set, and values of every kind for them.
const CONFIG_KEYS: [&str; 12] = [
    "lookback",
    "timezone",
    "max_reject_rate",
    "half_life",
    "position_weights",
    "markov_order",
    "models",
    "from",
    "to",
    "direct_channels",
    "path_transform",
    "unknown_key",
];
const CONFIG_VALUES: [&str; 20] = [
    "\"30d\"",
    "\"none\"",
    "\"0d\"",
    "\"Europe/Paris\"",
    "\"Mars/Olympus\"",
    "\"2026-01-05\"",
    "\"2026-02-30\"",
    "0.05",
    "-1",
    "1e400",
    "nan",
    "inf",
    "300",
    "2",
    "[0.4, 0.2, 0.4]",
    "[0, 0, 0]",
    "[\"linear\", \"last_click\"]",
    "[\"nope\"]",
    "\"remove-if-not-all=Direct\"",
    "\"exposure\"",
];

/// Loads `text` as a configuration file and validates it: either it is
/// valid and survives being written out and read back, or the user is told
/// why not.
fn load_config(text: &str) -> Option<Config> {
    let workspace = Workspace::new();
    let path = workspace.write("touchpath.toml", text);
    let checked = Config::load(&path).and_then(|config| config.validate().map(|()| config));
    match checked {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a valid config serialises");
            let reread = Config::load(&workspace.write("written.toml", &written)).expect("a written config loads");
            assert_eq!(reread, config, "{written}");
            Some(config)
        }
        Err(error) => {
            assert!(!matches!(error, Error::Internal(_)), "internal error: {error}");
            assert!(error.is_user_error(), "{error}");
            None
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_config_files_load_or_explain(raw in any::<String>()) {
        load_config(&raw);
    }

    #[test]
    fn config_like_files_load_or_explain(
        lines in vec((select(CONFIG_KEYS.to_vec()), select(CONFIG_VALUES.to_vec())), 0..6),
    ) {
        let text = lines.iter().map(|(key, value)| [*key, " = ", value, "\n"].concat()).collect::<String>();
        load_config(&text);
    }

    #[test]
    fn valid_settings_load_as_written(
        lookback_days in proptest::option::of(1_i64..400),
        zone_name in select(ZONES.to_vec()),
        max_reject_rate in 0.0_f64..=1.0,
        half_life_hours in 1_i64..1_000,
        markov_order in 1_u8..=4,
        weights in proptest::array::uniform3(0.01_f64..10.0),
    ) {
        let lookback = lookback_days.map_or_else(|| "none".to_owned(), |days| format!("{days}d"));
        let text = format!(
            "lookback = \"{lookback}\"\ntimezone = \"{zone_name}\"\nmax_reject_rate = {max_reject_rate:?}\n\
             half_life = \"{half_life_hours}h\"\nmarkov_order = {markov_order}\nposition_weights = {weights:?}\n"
        );
        let config = load_config(&text).expect("valid settings");
        let expected = Config {
            lookback: lookback_days.map_or(Lookback::NONE, |days| Lookback::new(Duration::days(days))),
            timezone: zone(zone_name),
            max_reject_rate,
            half_life: format!("{half_life_hours}h").parse().expect("a duration"),
            markov_order,
            position_weights: weights,
            ..Config::default()
        };
        prop_assert_eq!(config, expected);
    }
}

#[test]
fn epoch_threshold_and_edges() {
    assert_eq!(utc("99999999999"), Ok(99_999_999_999 * MICROS_PER_SECOND));
    assert_eq!(utc("100000000000"), Ok(100_000_000_000 * 1_000));
    assert_eq!(utc("-0"), Ok(0));
    assert_eq!(utc("+1767620712"), Ok(1_767_620_712 * MICROS_PER_SECOND));
    assert_eq!(utc("inf"), Err(TimestampError::Format));
    assert_eq!(utc("4600000000000000"), Err(TimestampError::OutOfRange));
}

#[test]
fn iso_edges() {
    assert_eq!(utc("0000-01-01"), Ok(-62_167_219_200 * MICROS_PER_SECOND));
    assert_eq!(utc("9999-12-31T23:59:59.999999Z"), Ok(253_402_300_800 * MICROS_PER_SECOND - 1));
    assert_eq!(utc("2024-02-29"), Ok(19_782 * MICROS_PER_DAY));
    assert_eq!(utc("2026-01-05T13:45:12."), Err(TimestampError::Format));
    assert_eq!(utc("2026-01-05T13:45:12+24:00"), Err(TimestampError::OutOfRange));
    assert_eq!(utc("2026-01-05T13:45:60Z"), Err(TimestampError::OutOfRange));
    assert_eq!(utc("2026-01-05T"), Err(TimestampError::Format));
}

/// Writes a one-row Parquet log with `timestamps` as its timestamp column.
fn parquet_log(workspace: &Workspace, timestamps: Column) -> Vec<SourceFile> {
    let path = workspace.path("events.parquet");
    let mut frame = DataFrame::new_infer_height(vec![
        StringChunked::from_iter_values("user_id".into(), ["u1"].into_iter()).into_column(),
        timestamps,
        StringChunked::from_iter_values("channel".into(), ["email"].into_iter()).into_column(),
    ])
    .expect("a frame");
    let file = std::fs::File::create(&path).expect("the log is created");
    ParquetWriter::new(file).finish(&mut frame).expect("the log is written");
    discover(&[path]).expect("a .parquet file is a source")
}

#[test]
fn a_parquet_date_beyond_any_calendar_is_a_bad_timestamp() {
    let workspace = Workspace::new();
    let timestamps = Int32Chunked::from_vec("timestamp".into(), vec![i32::MAX]).into_date().into_column();
    let ingest = ingest_events(&parquet_log(&workspace, timestamps), &Config::default(), NOW).expect("a readable log");
    assert_eq!(ingest.rows.rejected_by_reason.get(&RejectReason::BadTimestamp), Some(&1), "{:?}", ingest.rows);
}

#[test]
fn a_naive_instant_on_the_first_representable_day_does_not_panic() {
    let first_day = chrono::DateTime::<chrono::Utc>::MIN_UTC.timestamp_micros() + 60 * MICROS_PER_SECOND;
    let paris = zone("Europe/Paris");
    let instant = paris.to_instant(first_day);
    assert!(instant.is_none_or(|instant| (instant - first_day).abs() < MICROS_PER_DAY), "{instant:?}");

    let workspace = Workspace::new();
    let timestamps = Int64Chunked::from_vec("timestamp".into(), vec![first_day])
        .into_datetime(TimeUnit::Microseconds, None)
        .into_column();
    let config = Config { timezone: paris, ..Config::default() };
    let ingest = ingest_events(&parquet_log(&workspace, timestamps), &config, NOW).expect("a readable log");
    assert_eq!(ingest.rows.accepted + ingest.rows.rejected, 1, "{:?}", ingest.rows);
}

#[test]
fn huge_position_weights_are_refused() {
    let workspace = Workspace::new();
    let path = workspace.write("touchpath.toml", "position_weights = [1e308, 1e308, 1e308]\n");
    let config = Config::load(&path).expect("valid TOML");
    let error = config.validate().expect_err("an infinite sum of weights is refused");
    assert!(error.to_string().contains("with a finite sum"), "{error}");
    let sane = Config { position_weights: [1e300, 1e300, 1e300], ..Config::default() };
    let models = touchpath::models::registry(&sane);
    let position_based = models.iter().find(|model| model.name() == "position_based").expect("a rule-based model");
    let formula = position_based.formula();
    assert!(formula.starts_with("33 % first, 33 % last, 33 % shared"), "{formula}");
}
