//! End-to-end tests of [`generate`]: determinism, the shape of the clean
//! log, and exact accounting of the dirty one, checked by a small reference
//! ingester written here from the rules in `docs/generator.md`.

#![expect(clippy::cast_precision_loss, reason = "test counts are far below 2^52")]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use polars::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::*;
use crate::event::{EventKind, normalize_channel};

fn options(users: u64, seed: u64, dirty: bool, format: FileFormat) -> GenerateOptions {
    GenerateOptions { users, seed, dirty, format, ..GenerateOptions::default() }
}

fn run(options: &GenerateOptions) -> (tempfile::TempDir, GenerateReport) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let report = generate(options, directory.path()).expect("generate");
    (directory, report)
}

fn read(directory: &Path, name: &str) -> Vec<u8> {
    std::fs::read(directory.join(name)).expect("generated file")
}

fn data_lines(directory: &Path, name: &str) -> Vec<String> {
    let text = String::from_utf8(read(directory, name)).expect("utf-8");
    text.lines().skip(1).map(str::to_owned).collect()
}

/// Splits a CSV line; only the revenue field is ever quoted.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for character in line.chars() {
        match character {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("a field").push(character),
        }
    }
    out
}

#[test]
fn same_options_give_the_same_bytes_whatever_the_thread_count() {
    for format in [FileFormat::Csv, FileFormat::Parquet] {
        let options = options(3_000, 17, true, format);
        let (default_pool, _) = run(&options);
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("thread pool");
        let (one_thread, _) = single.install(|| run(&options));
        for name in ["events", "spend"] {
            let name = format!("{name}.{}", format.extension());
            assert!(read(default_pool.path(), &name) == read(one_thread.path(), &name), "{name} differs");
        }
        assert_eq!(read(default_pool.path(), "manifest.json"), read(one_thread.path(), "manifest.json"));
    }
}

#[test]
fn large_logs_are_written_in_parts_holding_the_same_rows() {
    let options = options(300, 9, true, FileFormat::Csv);
    let (whole, _) = run(&options);
    let parts = tempfile::tempdir().unwrap();
    // An earlier single-file log is replaced, not left beside the parts.
    std::fs::copy(whole.path().join("events.csv"), parts.path().join("events.csv")).unwrap();
    let scenario = Scenario::shipped("default").unwrap();
    let report = generate_in_parts(&options, &scenario, false, parts.path(), 500).unwrap();
    assert!(!parts.path().join("events.csv").exists());
    let lines = data_lines(whole.path(), "events.csv");
    let count = lines.len().div_ceil(500);
    assert!(count >= 3, "{} rows", lines.len());
    let mut joined = Vec::new();
    for part in 0..count {
        let name = format!("events/part-{part:05}.csv");
        let part_lines = data_lines(parts.path(), &name);
        assert!(part_lines.len() <= 500 && !part_lines.is_empty(), "{name}");
        joined.extend(part_lines);
    }
    assert!(!parts.path().join(format!("events/part-{count:05}.csv")).exists());
    assert_eq!(joined, lines);
    assert_eq!(report.events_written, lines.len() as u64);
    assert_eq!(read(whole.path(), "manifest.json"), read(parts.path(), "manifest.json"));

    // And back to one file: the parts go.
    generate(&options, parts.path()).unwrap();
    assert!(!parts.path().join("events").exists());
    assert_eq!(read(whole.path(), "events.csv"), read(parts.path(), "events.csv"));
}

#[test]
fn text_timestamps_write_the_csv_files_text_into_parquet() {
    let csv = options(400, 5, false, FileFormat::Csv);
    let text = GenerateOptions { text_timestamps: true, one_file: true, ..options(400, 5, false, FileFormat::Parquet) };
    let (csv_directory, _) = run(&csv);
    let (text_directory, report) = run(&text);
    let frame = ParquetReader::new(std::fs::File::open(text_directory.path().join("events.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(frame.height() as u64, report.events_written);
    for name in ["timestamp", "revenue"] {
        assert_eq!(frame.column(name).unwrap().dtype(), &DataType::String, "{name}");
    }
    let texts = |name: &str| -> Vec<String> {
        let column = frame.column(name).unwrap().str().unwrap();
        (0..column.len()).map(|row| column.get(row).unwrap_or_default().to_owned()).collect()
    };
    let (times, revenues) = (texts("timestamp"), texts("revenue"));
    let lines = data_lines(csv_directory.path(), "events.csv");
    assert_eq!(lines.len(), frame.height());
    for (row, line) in lines.iter().enumerate() {
        let fields = fields(line);
        assert_eq!((&fields[1], &fields[6]), (&times[row], &revenues[row]), "row {row}");
    }
    assert!(times[0].ends_with('Z') && times[0].contains('T'), "{}", times[0]);
}

#[test]
fn different_seeds_give_different_logs() {
    let (first, _) = run(&options(1_000, 1, false, FileFormat::Csv));
    let (second, _) = run(&options(1_000, 2, false, FileFormat::Csv));
    assert!(read(first.path(), "events.csv") != read(second.path(), "events.csv"));
    assert!(read(first.path(), "spend.csv") != read(second.path(), "spend.csv"));
}

#[test]
fn clean_log_is_sorted_and_each_users_times_strictly_increase() {
    let (directory, report) = run(&options(4_000, 3, false, FileFormat::Csv));
    let lines = data_lines(directory.path(), "events.csv");
    assert_eq!(lines.len() as u64, report.events_written);
    assert_eq!(report.injected, Injected::default());
    let mut last_by_user: HashMap<String, String> = HashMap::new();
    let mut previous_time = String::new();
    for line in &lines {
        let row = fields(line);
        assert_eq!(row.len(), 7, "{line}");
        assert!(row[0].starts_with('u') && row[0].is_ascii(), "{line}");
        assert!(row[1] >= previous_time, "log not sorted at {line}");
        previous_time.clone_from(&row[1]);
        if let Some(last) = last_by_user.insert(row[0].clone(), row[1].clone()) {
            assert!(row[1] > last, "{} does not move forward", row[0]);
        }
    }
    assert_eq!(last_by_user.len() as u64, report.expected.users);
}

#[test]
fn clean_log_covers_every_channel_and_stage_and_most_users_never_buy() {
    let (directory, report) = run(&options(5_000, 4, false, FileFormat::Csv));
    let lines = data_lines(directory.path(), "events.csv");
    let rows: Vec<Vec<String>> = lines.iter().map(|line| fields(line)).collect();
    let channels: BTreeSet<&str> = rows.iter().map(|row| row[2].as_str()).collect();
    let stages: BTreeSet<&str> = rows.iter().map(|row| row[4].as_str()).collect();
    assert_eq!(channels.len(), 10, "{channels:?}");
    assert_eq!(stages, BTreeSet::from(["advocacy", "awareness", "consideration", "conversion", "loyalty"]));
    let never_bought = 1.0 - report.expected.first_conversions as f64 / report.expected.users as f64;
    assert!((0.65..=0.75).contains(&never_bought), "{never_bought} never bought");
    for row in &rows {
        let conversion = row[5] == "conversion";
        assert_eq!(conversion, !row[6].is_empty(), "{row:?}");
        let organic = ["organic_search", "organic_social", "direct", "referral"].contains(&row[2].as_str());
        assert_eq!(organic, row[3].is_empty(), "{row:?}");
    }
    assert!(report.expected.conversions > report.expected.first_conversions, "no repeat purchases");
}

#[test]
fn some_touches_fall_outside_a_thirty_day_lookback() {
    let (directory, _) = run(&options(3_000, 5, false, FileFormat::Csv));
    let mut first_touch: HashMap<String, chrono::DateTime<chrono::FixedOffset>> = HashMap::new();
    let mut long_journeys = 0;
    for line in data_lines(directory.path(), "events.csv") {
        let row = fields(&line);
        let time = chrono::DateTime::parse_from_rfc3339(&row[1]).expect("rfc 3339");
        let first = *first_touch.entry(row[0].clone()).or_insert(time);
        if row[5] == "conversion" && time - first > chrono::TimeDelta::days(30) {
            long_journeys += 1;
        }
    }
    assert!(long_journeys > 0);
}

/// What the reference ingester made of a dirty file.
#[derive(Default)]
struct Ingested {
    expected: Expected,
    rejected: u64,
    duplicates: u64,
    revenue_warnings: u64,
    raw_user_ids: HashSet<String>,
}

/// The rules of `docs/generator.md`: accept, reject, warn, deduplicate.
fn ingest(lines: &[String]) -> Ingested {
    let mut ingested = Ingested::default();
    let mut seen_lines = HashSet::new();
    let mut users = HashSet::new();
    let mut buyers = HashSet::new();
    for line in lines {
        if !seen_lines.insert(line.clone()) {
            ingested.duplicates += 1;
            continue;
        }
        let row = fields(line);
        let user: String = row[0].trim().nfc().collect();
        let valid_time = chrono::DateTime::parse_from_rfc3339(row[1].trim()).is_ok()
            || chrono::NaiveDateTime::parse_from_str(row[1].trim(), "%Y-%m-%d %H:%M:%S").is_ok();
        let kind = EventKind::parse(&row[5]);
        let revenue = row[6].trim();
        let parsed_revenue = revenue.parse::<f64>().ok().filter(|value| value.is_finite() && *value >= 0.0);
        let valid = !user.is_empty()
            && valid_time
            && !normalize_channel(&row[2]).is_empty()
            && match kind {
                Some(EventKind::Conversion) => parsed_revenue.is_some(),
                Some(_) => revenue.is_empty() || parsed_revenue.is_some(),
                None => false,
            };
        if !valid {
            ingested.rejected += 1;
            continue;
        }
        ingested.raw_user_ids.insert(row[0].clone());
        ingested.expected.accepted += 1;
        if kind == Some(EventKind::Conversion) {
            ingested.expected.conversions += 1;
            buyers.insert(user.clone());
        } else {
            ingested.expected.touches += 1;
            ingested.revenue_warnings += u64::from(!revenue.is_empty());
        }
        users.insert(user);
    }
    ingested.expected.users = users.len() as u64;
    ingested.expected.first_conversions = buyers.len() as u64;
    ingested
}

#[test]
fn dirty_log_accounting_is_exact() {
    let (directory, report) = run(&options(20_000, 6, true, FileFormat::Csv));
    let lines = data_lines(directory.path(), "events.csv");
    let injected = report.injected;
    assert_eq!(lines.len() as u64, report.events_written);
    assert_eq!(report.events_written, report.expected.accepted + injected.rejected_faults() + injected.duplicates);
    let ingested = ingest(&lines);
    assert_eq!(ingested.expected, report.expected);
    assert_eq!(ingested.rejected, injected.rejected_faults());
    assert_eq!(ingested.duplicates, injected.duplicates);
    assert_eq!(ingested.revenue_warnings, injected.revenue_on_non_conversion);
    for count in [
        injected.duplicates,
        injected.missing_user_id,
        injected.bad_timestamp,
        injected.missing_channel,
        injected.unknown_event_type,
        injected.negative_revenue,
        injected.bad_revenue,
        injected.revenue_on_non_conversion,
        injected.channel_variants,
        injected.unicode_user_rows,
        injected.shuffled_rows,
    ] {
        assert!(count > 0, "{injected:?}");
    }
    // Unicode users show up in both byte forms but are one user after NFC.
    let composed: HashSet<String> = ingested.raw_user_ids.iter().map(|id| id.nfc().collect()).collect();
    assert!(composed.len() < ingested.raw_user_ids.len());
}

#[test]
fn clean_and_dirty_logs_share_the_same_journeys() {
    let (clean, clean_report) = run(&options(2_000, 8, false, FileFormat::Csv));
    let (dirty, dirty_report) = run(&options(2_000, 8, true, FileFormat::Csv));
    let clean_rows = data_lines(clean.path(), "events.csv").len() as u64;
    assert_eq!(dirty_report.events_written - dirty_report.injected.duplicates, clean_rows);
    assert!(dirty_report.expected.accepted < clean_report.expected.accepted);
    assert_eq!(read(clean.path(), "spend.csv"), read(dirty.path(), "spend.csv"));
}

#[test]
fn parquet_files_have_typed_columns_when_clean_and_text_when_dirty() {
    let (clean, report) = run(&options(1_500, 9, false, FileFormat::Parquet));
    let events = read_parquet(&clean.path().join("events.parquet"));
    assert_eq!(events.height() as u64, report.events_written);
    let names: Vec<&str> = events.get_column_names().into_iter().map(PlSmallStr::as_str).collect();
    assert_eq!(names, ["user_id", "timestamp", "channel", "campaign", "stage", "event_type", "revenue"]);
    assert_eq!(
        events.column("timestamp").map(Column::dtype).ok(),
        Some(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
    );
    assert_eq!(events.column("revenue").map(Column::dtype).ok(), Some(&DataType::Float64));
    let spend = read_parquet(&clean.path().join("spend.parquet"));
    assert_eq!(spend.height() as u64, report.spend_rows);
    assert_eq!(spend.column("date").map(Column::dtype).ok(), Some(&DataType::Date));
    assert_eq!(spend.column("clicks").map(Column::dtype).ok(), Some(&DataType::Int64));

    let (dirty, dirty_report) = run(&options(1_500, 9, true, FileFormat::Parquet));
    let events = read_parquet(&dirty.path().join("events.parquet"));
    assert_eq!(events.height() as u64, dirty_report.events_written);
    assert_eq!(events.column("timestamp").map(Column::dtype).ok(), Some(&DataType::String));
    assert_eq!(events.column("revenue").map(Column::dtype).ok(), Some(&DataType::String));
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).expect("parquet file");
    ParquetReader::new(file).finish().expect("readable parquet")
}

#[test]
fn empty_runs_write_headers_and_too_many_users_is_a_config_error() {
    for format in [FileFormat::Csv, FileFormat::Parquet] {
        let (directory, report) = run(&options(0, 1, true, format));
        assert_eq!(report.events_written, 0);
        assert!(directory.path().join(format!("events.{}", format.extension())).exists());
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let error = generate(&options(MAX_USERS + 1, 1, false, FileFormat::Csv), directory.path());
    assert!(matches!(error, Err(Error::Config { .. })));
}

#[test]
fn manifest_is_the_report() {
    let (directory, report) = run(&options(500, 10, true, FileFormat::Csv));
    let manifest: GenerateReport =
        serde_json::from_slice(&read(directory.path(), "manifest.json")).expect("manifest json");
    assert_eq!(manifest, report);
}
