//! The bad input matrix: for each case, the message, the exit code and what
//! is on disk. Messages name the file, the row and the column, say what was
//! expected, and give a hint where one helps.

use std::fmt::Write as _;
use std::fs;
use std::process::Output;

use polars::prelude::{Column, DataFrame, ParquetWriter};

use crate::support::{Workspace, count, stderr};

const HEADER: &str = "user_id,timestamp,channel,event_type,revenue\n";
const GOOD_ROWS: &str = "u1,2026-01-01T10:00:00Z,email,click,\nu1,2026-01-02T10:00:00Z,,conversion,10\n";

/// Runs `touchpath run --events FILE --out out` plus `extra`.
fn run(workspace: &Workspace, file: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--events", file, "--out", "out"];
    args.extend_from_slice(extra);
    workspace.touchpath(&args)
}

/// The run failed with exit code 1, published nothing, and said `expected`
/// (and, if given, the hint).
fn assert_refused(workspace: &Workspace, output: &Output, expected: &str, hint: Option<&str>) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.starts_with(&format!("error: {expected}")), "expected `error: {expected}`, got:\n{message}");
    if let Some(hint) = hint {
        assert!(message.contains(&format!("\nhint: {hint}")), "expected hint `{hint}`, got:\n{message}");
    }
    assert!(!workspace.path("out").exists(), "nothing is published");
    assert!(output.stdout.is_empty(), "nothing on stdout");
}

/// The run succeeded and published a report.
fn assert_published(workspace: &Workspace, output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    assert!(workspace.path("out/channels.csv").is_file());
    let summary = workspace.summary();
    assert_eq!(summary["status"], "ok");
    summary
}

/// The run exited 1 and published only the summary and the rejects, with
/// `status` in the summary.
fn assert_only_accounting(workspace: &Workspace, output: &Output, status: &str, expected: &str) -> serde_json::Value {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(&format!("error: {expected}")), "expected `error: {expected}`, got:\n{message}");
    let mut files: Vec<String> = fs::read_dir(workspace.path("out"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["rejects.csv", "set_aside_users.csv", "summary.json"]);
    let summary = workspace.summary();
    assert_eq!(summary["status"], status);
    summary
}

#[test]
fn an_empty_file() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "");
    let output = run(&workspace, "events.csv", &[]);
    assert_refused(
        &workspace,
        &output,
        "events.csv: the file is empty; expected a header line naming the columns",
        None,
    );
}

#[test]
fn a_header_without_rows() {
    let workspace = Workspace::new();
    workspace.write("events.csv", HEADER);
    let output = run(&workspace, "events.csv", &[]);
    let summary = assert_only_accounting(&workspace, &output, "no_events", "no event to attribute: 0 rows read");
    assert_eq!(count(&summary, "/rows/read"), 0);
    assert!(stderr(&output).contains("hint: the inputs hold no data rows"), "{}", stderr(&output));
}

#[test]
fn a_missing_required_column() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,time,channel\nu1,2026-01-01T10:00:00Z,email\n");
    let output = run(&workspace, "events.csv", &[]);
    assert_refused(
        &workspace,
        &output,
        "events.csv: required column `timestamp` not found; columns found: `user_id`, `time`, `channel`",
        Some("if the file names it differently, map it with `--column timestamp=NAME`"),
    );
}

#[test]
fn a_mapped_column_the_file_lacks_and_an_unknown_canonical_name() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}"));
    let output = run(&workspace, "events.csv", &["--column", "revenue=value"]);
    assert_refused(
        &workspace,
        &output,
        "events.csv: required column `value` not found (mapped from `revenue`); columns found: `user_id`,",
        Some("if the file names it differently, map it with `--column revenue=NAME`"),
    );
    let output = run(&workspace, "events.csv", &["--column", "colour=hue"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(
            "unknown column `colour` of the touchpoint log; expected one of campaign, channel, event_type, revenue"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_wrong_delimiter_gets_a_hint_and_the_delimiter_option_reads_it() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}").replace(',', ";"));
    let output = run(&workspace, "events.csv", &[]);
    assert_refused(
        &workspace,
        &output,
        "events.csv: required column `user_id` not found; columns found: `user_id;timestamp;channel;event_type;revenue`",
        Some("the header looks separated by `;`: pass `--delimiter ';'`"),
    );
    let output = run(&workspace, "events.csv", &["--delimiter", ";"]);
    let summary = assert_published(&workspace, &output);
    assert_eq!(count(&summary, "/rows/accepted"), 2);
    assert_eq!(summary["config"]["delimiter"], ";");
}

#[test]
fn a_utf8_byte_order_mark_is_not_part_of_the_first_column_name() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("\u{feff}{HEADER}{GOOD_ROWS}"));
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &[]));
    assert_eq!(count(&summary, "/rows/accepted"), 2);
    assert_eq!(count(&summary, "/conversions/total"), 1);
}

#[test]
fn crlf_line_ends_are_read_like_lf() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}u1,soon,email,click,\n").replace('\n', "\r\n"));
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/accepted"), 2);
    assert_eq!(count(&summary, "/users"), 1);
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.contains("events.csv,4,bad_timestamp,timestamp,"), "{rejects}");
    assert!(workspace.read("out/channels.csv").contains("last_click,email,1.000000"), "channel without a \\r");
}

#[test]
fn quoted_fields_with_line_breaks_keep_line_numbers_exact() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        "user_id,timestamp,channel,campaign,event_type\nu1,2026-01-01T10:00:00Z,email,\"spring\nsale\",click\n\
         u1,never,email,x,click\nu1,2026-01-02T10:00:00Z,,,conversion\n",
    );
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/read"), 3);
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.contains("events.csv,4,bad_timestamp,timestamp,"), "the row starts on line 4: {rejects}");
    assert!(workspace.read("out/campaigns.csv").contains("\"spring\nsale\""));
}

#[test]
fn invalid_utf8_bytes_reject_the_row_and_name_the_column() {
    let workspace = Workspace::new();
    let mut bytes = format!("{HEADER}{GOOD_ROWS}").into_bytes();
    bytes.extend_from_slice(b"u2,2026-01-01T10:00:00Z,e\xffmail,click,\n");
    fs::write(workspace.path("events.csv"), bytes).unwrap();
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/rejected_by_reason/invalid_utf8"), 1);
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.contains("events.csv,4,invalid_utf8,channel,"), "{rejects}");
}

#[test]
fn a_line_of_10_mb_is_read_and_rejected_by_its_content() {
    let workspace = Workspace::new();
    let huge = "x".repeat(10 << 20);
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}u1,{huge},email,click,\n"));
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/rejected_by_reason/bad_timestamp"), 1);
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.len() > 10 << 20, "the raw value is kept whole");
}

fn parquet_file(workspace: &Workspace, name: &str, columns: Vec<Column>) -> std::path::PathBuf {
    let path = workspace.path(name);
    let mut frame = DataFrame::new_infer_height(columns).unwrap();
    ParquetWriter::new(fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
    path
}

fn events_parquet(workspace: &Workspace, name: &str) -> std::path::PathBuf {
    parquet_file(
        workspace,
        name,
        vec![
            Column::new("user_id".into(), ["u1", "u1", "u2"]),
            Column::new("timestamp".into(), ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z"]),
            Column::new("channel".into(), [Some("email"), None, Some("video")]),
            Column::new("event_type".into(), ["click", "conversion", "click"]),
        ],
    )
}

#[test]
fn a_truncated_parquet_file() {
    let workspace = Workspace::new();
    let path = events_parquet(&workspace, "events.parquet");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let output = run(&workspace, "events.parquet", &[]);
    assert_refused(&workspace, &output, "events.parquet: cannot read parquet file: ", None);
}

#[test]
fn a_corrupted_parquet_file() {
    let workspace = Workspace::new();
    let path = events_parquet(&workspace, "events.parquet");
    let mut bytes = fs::read(&path).unwrap();
    // Overwrite the data pages between the leading magic and the footer.
    let half = bytes.len() / 2;
    for byte in &mut bytes[4..half] {
        *byte = 0xA5;
    }
    fs::write(&path, &bytes).unwrap();
    let output = run(&workspace, "events.parquet", &[]);
    assert_refused(&workspace, &output, "events.parquet: cannot read parquet file: ", None);
}

#[test]
fn integer_user_ids_are_read_as_text_and_float_ids_are_refused() {
    let workspace = Workspace::new();
    let columns = |ids: Column| {
        vec![
            ids,
            Column::new("timestamp".into(), ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"]),
            Column::new("channel".into(), [Some("email"), None]),
            Column::new("event_type".into(), ["click", "conversion"]),
        ]
    };
    parquet_file(&workspace, "ints.parquet", columns(Column::new("user_id".into(), [42_i64, 42])));
    let summary = assert_published(&workspace, &run(&workspace, "ints.parquet", &[]));
    assert_eq!((count(&summary, "/users"), count(&summary, "/conversions/total")), (1, 1));

    parquet_file(&workspace, "floats.parquet", columns(Column::new("user_id".into(), [4.2_f64, 4.2])));
    fs::remove_dir_all(workspace.path("out")).unwrap();
    let output = run(&workspace, "floats.parquet", &[]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.starts_with("error: floats.parquet: column `user_id` has type float; expected text or integers"),
        "{message}"
    );
    assert!(message.contains("hint: convert `user_id` upstream"), "{message}");
}

#[test]
fn string_revenue_is_parsed_row_by_row() {
    let workspace = Workspace::new();
    parquet_file(
        &workspace,
        "events.parquet",
        vec![
            Column::new("user_id".into(), ["u1", "u1", "u2", "u2"]),
            Column::new(
                "timestamp".into(),
                ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"],
            ),
            Column::new("channel".into(), [Some("email"), None, Some("video"), None]),
            Column::new("event_type".into(), ["click", "conversion", "click", "conversion"]),
            Column::new("revenue".into(), [None, Some("12.50"), None, Some("twelve")]),
        ],
    );
    let summary = assert_published(&workspace, &run(&workspace, "events.parquet", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/rejected_by_reason/bad_revenue"), 1);
    assert!((summary["revenue"].as_f64().unwrap() - 12.5).abs() < 1e-9);
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.contains("events.parquet,4,bad_revenue,revenue,"), "the 4th row: {rejects}");
}

#[test]
fn timestamps_in_the_future_or_before_1990_are_kept_and_counted() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        &format!("{HEADER}{GOOD_ROWS}u2,2099-01-01T10:00:00Z,email,click,\nu3,1970-01-02T10:00:00Z,email,click,\n"),
    );
    let output = run(&workspace, "events.csv", &[]);
    let summary = assert_published(&workspace, &output);
    assert_eq!(count(&summary, "/rows/accepted"), 4);
    assert_eq!(count(&summary, "/warnings/timestamp_in_future"), 1);
    assert_eq!(count(&summary, "/warnings/timestamp_before_1990"), 1);
    let message = stderr(&output);
    assert!(message.contains("timestamp_before_1990 1, timestamp_in_future 1"), "{message}");
}

#[test]
fn an_unknown_time_zone() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}"));
    let output = run(&workspace, "events.csv", &["--timezone", "Europe/Atlantis"]);
    assert_refused(
        &workspace,
        &output,
        "invalid value 'Europe/Atlantis' for '--timezone <ZONE>': unknown time zone",
        None,
    );
}

#[test]
fn every_row_rejected() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}u1,later,email,click,\n,2026-01-01T10:00:00Z,email,click,\n"));
    let output = run(&workspace, "events.csv", &[]);
    let summary = assert_only_accounting(
        &workspace,
        &output,
        "reject_rate_exceeded",
        "2 of 2 rows rejected (100.00 %), above the limit of 5.00 %",
    );
    assert_eq!(count(&summary, "/rows/rejected"), 2);
    assert_eq!(workspace.read("out/rejects.csv").lines().count(), 3);

    // Even a limit of 100 % publishes nothing when nothing was accepted.
    fs::remove_dir_all(workspace.path("out")).unwrap();
    let output = run(&workspace, "events.csv", &["--max-reject-rate", "1"]);
    assert_only_accounting(&workspace, &output, "no_events", "no event to attribute: 2 rows read, none accepted");
}

#[test]
fn conversions_without_any_touch_go_to_none() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        &format!("{HEADER}u1,2026-01-02T10:00:00Z,,conversion,10\nu2,2026-01-02T10:00:00Z,,conversion,5\n"),
    );
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &[]));
    assert_eq!(count(&summary, "/conversions/without_touches"), 2);
    let channels = workspace.read("out/channels.csv");
    assert!(channels.contains("\nlast_click,(none),2.000000,15.00"), "{channels}");
}

#[test]
fn touches_without_any_conversion_credit_nothing() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        &format!("{HEADER}u1,2026-01-01T10:00:00Z,email,click,\nu2,2026-01-01T10:00:00Z,video,impression,\n"),
    );
    let output = run(&workspace, "events.csv", &[]);
    let summary = assert_published(&workspace, &output);
    assert_eq!(count(&summary, "/conversions/total"), 0);
    assert_eq!(count(&summary, "/journeys/non_converting"), 2);
    assert!(stderr(&output).contains("no conversions: every model credits nothing"), "{}", stderr(&output));
}

#[test]
fn bad_spend_rows_are_rejected_with_their_reason() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}"));
    workspace.write(
        "spend.csv",
        "date,channel,campaign,spend\n\
         2026-01-01,email,a,10\n\
         2026-01-01,email,b,-4\n\
         2026-01-01,email,c,lots\n\
         2026-01-01,podcast,a,7\n\
         2026-01-02,email,a,3\n\
         2026-01-02,email,a,5\n\
         2026-01-01,email,a,10\n",
    );
    let output = run(&workspace, "events.csv", &["--spend", "spend.csv", "--max-reject-rate", "0.9"]);
    let summary = assert_published(&workspace, &output);
    let spend = &summary["spend"]["rows"];
    assert_eq!(count(spend, "/read"), 7);
    assert_eq!(count(spend, "/accepted"), 2, "email a on day 1, podcast");
    assert_eq!(count(spend, "/duplicates"), 1);
    assert_eq!(count(spend, "/rejected_by_reason/negative_spend"), 1);
    assert_eq!(count(spend, "/rejected_by_reason/bad_spend"), 1);
    assert_eq!(count(spend, "/rejected_by_reason/conflicting_spend_key"), 2, "both rows of the conflicting key");
    assert_eq!(count(&summary, "/warnings/spend_channel_not_in_log"), 1);
    let rejects = workspace.read("out/spend_rejects.csv");
    for expected in [
        "spend.csv,3,negative_spend,spend,",
        "spend.csv,4,bad_spend,spend,",
        "spend.csv,6,conflicting_spend_key,",
        "spend.csv,7,conflicting_spend_key,",
    ] {
        assert!(rejects.contains(expected), "{expected} in {rejects}");
    }
}

#[test]
fn a_user_with_two_million_events_is_set_aside() {
    let workspace = Workspace::new();
    let mut text = String::with_capacity(90 << 20);
    text.push_str(HEADER);
    text.push_str(GOOD_ROWS);
    for second in 0..2_000_000 {
        writeln!(text, "bot,{},display,impression,", 1_767_225_600 + second).unwrap();
    }
    text.push_str("bot,1769904000,,conversion,99\n");
    workspace.write("events.csv", &text);
    let output = run(&workspace, "events.csv", &[]);
    let summary = assert_published(&workspace, &output);
    assert_eq!(count(&summary, "/rows/accepted"), 2_000_003);
    assert_eq!(count(&summary, "/set_aside/users"), 1);
    assert_eq!(count(&summary, "/set_aside/events"), 2_000_001);
    assert_eq!(count(&summary, "/set_aside/conversions"), 1);
    assert_eq!(count(&summary, "/users"), 1);
    assert_eq!(count(&summary, "/conversions/total"), 1, "only u1's conversion is attributed");
    assert_eq!(
        workspace.read("out/set_aside_users.csv"),
        "user_id,events,conversions,first_event,last_event\nbot,2000001,1,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z\n"
    );
    assert!(stderr(&output).contains("set aside 1 user with more than 100,000 events each"), "{}", stderr(&output));
}

#[test]
fn rows_with_more_fields_than_the_header_are_rejected() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        &format!("{HEADER}{GOOD_ROWS}u2,2026-01-02T10:00:00Z,,conversion,12,50\nu3,2026-01-02T10:00:00Z,video\n"),
    );
    let summary = assert_published(&workspace, &run(&workspace, "events.csv", &["--max-reject-rate", "0.5"]));
    assert_eq!(count(&summary, "/rows/read"), 4);
    assert_eq!(count(&summary, "/rows/rejected_by_reason/wrong_field_count"), 1);
    assert_eq!(count(&summary, "/rows/accepted"), 3, "a short row is read with empty cells");
    let rejects = workspace.read("out/rejects.csv");
    assert!(rejects.contains("events.csv,4,wrong_field_count,,more fields than the header;"), "{rejects}");
}

#[test]
fn a_stray_quote_stops_the_run_with_a_hint() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &format!("{HEADER}{GOOD_ROWS}u2,2026-01-01T10:00:00Z,em\"ail,click,\n{GOOD_ROWS}"));
    let output = run(&workspace, "events.csv", &[]);
    assert_refused(
        &workspace,
        &output,
        "events.csv: cannot read csv file: ",
        Some("a field may hold a stray `\"`: quote the whole field and double the quotes inside it"),
    );
}
