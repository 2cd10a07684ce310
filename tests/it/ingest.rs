use std::collections::BTreeMap;

use touchpath::Config;
use touchpath::ingest::{RejectReason, discover, ingest_events};
use touchpath::time::TimeZone;

use crate::support::{NOW, Workspace, count};

/// One row per reject reason, plus accepted rows around them. The quoted
/// campaign with a line break pushes the physical line numbers after it.
const DIRTY: &str = "\
user_id,timestamp,channel,campaign,event_type,revenue
u1,2026-01-01T10:00:00Z,email,\"spring
sale\",click,
,2026-01-01T11:00:00Z,email,,click,
u1,yesterday,email,,click,
u1,2026-01-01T12:00:00Z,email,,pageview,
u1,2026-01-01T13:00:00Z,  ,,click,
u1,2026-01-01T14:00:00Z,,,conversion,12,50
u1,2026-01-01T15:00:00Z,,,conversion,-3
u1,2026-01-01T16:00:00Z,direct,,visit,9.99
u1,2026-01-01T17:00:00Z,,,conversion,20
";

#[test]
fn every_rejected_row_is_located_and_explained() {
    let workspace = Workspace::new();
    // `12,50` is unquoted, so that row has one field too many: quote it as a
    // real export would.
    let events = workspace.write("events.csv", &DIRTY.replace("conversion,12,50", "conversion,\"12,50\""));
    workspace.run(&[events], &[], &Config::default()).unwrap();
    let summary = workspace.summary();
    assert_eq!(count(&summary, "/rows/read"), 9);
    assert_eq!(count(&summary, "/rows/accepted"), 3);
    assert_eq!(count(&summary, "/rows/rejected"), 6);
    assert_eq!(count(&summary, "/rows/duplicates"), 0);
    for reason in
        ["missing_user_id", "bad_timestamp", "unknown_event_type", "missing_channel", "bad_revenue", "negative_revenue"]
    {
        assert_eq!(count(&summary, &format!("/rows/rejected_by_reason/{reason}")), 1, "{reason}");
    }
    assert_eq!(count(&summary, "/warnings/revenue_on_non_conversion"), 1);

    let rejects = workspace.read("out/rejects.csv");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "file,row,reason,column,detail,user_id,timestamp,channel,campaign,stage,event_type,revenue");
    let located: Vec<(String, String, String)> = lines[1..]
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[1].to_owned(), fields[2].to_owned(), fields[3].to_owned())
        })
        .collect();
    let expected = [
        ("4", "missing_user_id", "user_id"),
        ("5", "bad_timestamp", "timestamp"),
        ("6", "unknown_event_type", "event_type"),
        ("7", "missing_channel", "channel"),
        ("8", "bad_revenue", "revenue"),
        ("9", "negative_revenue", "revenue"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(line, reason, column)| ((*line).into(), (*reason).into(), (*column).into())).collect();
    assert_eq!(located, expected);
    assert!(lines[2].contains(",yesterday,email,"), "raw values are kept: {}", lines[2]);
}

#[test]
fn duplicates_are_equal_after_normalisation() {
    let workspace = Workspace::new();
    let log = "\
user_id,timestamp,channel,event_type
jos\u{e9},2026-01-01T10:00:00Z,Paid Search,click
jose\u{301},2026-01-01T11:00:00+01:00, paid-search ,CLICK
jos\u{e9},2026-01-01T10:00:00Z,paid_search,impression
other,2026-01-01T10:00:00Z,paid_search,click
";
    let events = workspace.write("events.csv", log);
    workspace.run(&[events], &[], &Config::default()).unwrap();
    let summary = workspace.summary();
    assert_eq!(count(&summary, "/rows/read"), 4);
    assert_eq!(count(&summary, "/rows/duplicates"), 1);
    assert_eq!(count(&summary, "/rows/accepted"), 3);
    assert_eq!(count(&summary, "/users"), 2);
}

#[test]
fn columns_can_be_mapped_and_headers_matched_loosely() {
    let workspace = Workspace::new();
    let log = "\
Visitor, TIMESTAMP ,Source,funnel_stage,Event_Type,conversion_value
v1,2026-01-01T10:00:00Z,Email,loyalty,click,
v1,2026-01-02T10:00:00Z,,retargeting,conversion,30
";
    let events = workspace.write("events.csv", log);
    let mut config = Config::default();
    for (canonical, name) in
        [("user_id", "Visitor"), ("channel", "Source"), ("stage", "funnel_stage"), ("revenue", "conversion_value")]
    {
        config.columns.insert(canonical.into(), name.into());
    }
    let files = discover(&[events]).unwrap();
    let ingest = ingest_events(&files, &config, NOW).unwrap();
    assert_eq!(ingest.rows.accepted, 2);
    assert_eq!(ingest.log.channels.iter().collect::<Vec<_>>(), ["email"]);
    assert_eq!(ingest.log.stage[0], touchpath::event::Stage::Loyalty);
    // `retargeting` is no stage: the conversion keeps the default and warns.
    assert_eq!(ingest.log.stage[1], touchpath::event::Stage::Conversion);
    assert_eq!(ingest.log.revenue[1], 30_000_000);
    assert_eq!(ingest.warnings.values().sum::<u64>(), 1);
}

#[test]
fn a_mapped_column_that_does_not_exist_is_an_error() {
    let workspace = Workspace::new();
    let events = workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    let mut config = Config::default();
    config.columns.insert("stage".into(), "funnel_stage".into());
    let error = workspace.run(&[events], &[], &config).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("required column `funnel_stage` not found (mapped from `stage`)"), "{message}");
}

#[test]
fn epochs_and_time_zones_give_the_same_instants() {
    let workspace = Workspace::new();
    // The same instant, 2026-01-05T13:45:12Z, five ways.
    let log = "\
user_id,timestamp,channel
a,2026-01-05T13:45:12Z,email
b,1767620712,email
c,1767620712000,email
d,2026-01-05 14:45:12,email
e,2026-01-05T08:45:12-05:00,email
";
    let events = workspace.write("events.csv", log);
    let config = Config { timezone: "Europe/Paris".parse::<TimeZone>().unwrap(), ..Config::default() };
    let files = discover(&[events]).unwrap();
    let ingest = ingest_events(&files, &config, NOW).unwrap();
    assert_eq!(ingest.rows.accepted, 5);
    assert!(ingest.log.time.iter().all(|&time| time == 1_767_620_712_000_000), "{:?}", ingest.log.time);
}

#[test]
fn parquet_columns_keep_their_types() {
    use polars::prelude::*;
    let workspace = Workspace::new();
    let path = workspace.path("events.parquet");
    let mut frame = df! {
        "user_id" => [17_i64, 17, 18],
        "timestamp" => [1_767_620_712_000_i64, 1_767_620_713_000, 1_767_620_714_000],
        "channel" => ["Email", "Email", "video"],
        "event_type" => ["click", "conversion", "impression"],
        "revenue" => [None, Some(12.5_f64), Some(-1.0)],
    }
    .unwrap();
    let timestamp = frame.column("timestamp").unwrap().cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap();
    frame.with_column(timestamp).unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();

    let files = discover(&[path]).unwrap();
    let ingest = ingest_events(&files, &Config::default(), NOW).unwrap();
    assert_eq!(ingest.rows.read, 3);
    assert_eq!(ingest.rows.accepted, 3, "revenue on a touch is a warning, not a reject");
    assert_eq!(ingest.log.users.iter().collect::<Vec<_>>(), ["17", "18"]);
    assert_eq!(ingest.log.time[0], 1_767_620_712_000_000);
    assert_eq!(ingest.log.revenue[1], 12_500_000);
}

#[test]
fn hive_partitions_fill_missing_columns() {
    let workspace = Workspace::new();
    workspace.write("log/channel=email/part-0.csv", "user_id,timestamp\nu,2026-01-01T00:00:00Z\n");
    workspace.write("log/channel=Paid Search/part-0.csv", "user_id,timestamp\nu,2026-01-02T00:00:00Z\n");
    let files = discover(&[workspace.path("log")]).unwrap();
    let ingest = ingest_events(&files, &Config::default(), NOW).unwrap();
    assert_eq!(ingest.log.channels.iter().collect::<Vec<_>>(), ["email", "paid_search"]);
}

#[test]
fn reject_counts_by_reason_match_the_rejects_list() {
    let workspace = Workspace::new();
    let events = workspace.write("events.csv", &DIRTY.replace("conversion,12,50", "conversion,\"12,50\""));
    let files = discover(&[events]).unwrap();
    let ingest = ingest_events(&files, &Config::default(), NOW).unwrap();
    let mut by_reason: BTreeMap<RejectReason, u64> = BTreeMap::new();
    for reject in &ingest.rejects {
        *by_reason.entry(reject.reason).or_default() += 1;
    }
    assert_eq!(by_reason, ingest.rows.rejected_by_reason);
}

#[test]
fn blank_lines_and_crlf_are_located_exactly() {
    let workspace = Workspace::new();
    let log = "user_id,timestamp,channel\r\nu1,2026-01-01T00:00:00Z,email\r\n\r\nu2,bad,email\r\n\nu3,2026-01-02T00:00:00Z,\"multi\nline\"\r\n,2026-01-02T00:00:00Z,email\r\n";
    let events = workspace.write("events.csv", log);
    workspace.run(&[events], &[], &Config { max_reject_rate: 1.0, ..Config::default() }).unwrap();
    let rejects = workspace.read("out/rejects.csv");
    let located: Vec<String> =
        rejects.lines().skip(1).map(|line| line.split(',').skip(1).take(2).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(located, ["3,empty_row", "4,bad_timestamp", "5,empty_row", "8,missing_user_id"]);
    let summary = workspace.summary();
    assert_eq!((count(&summary, "/rows/read"), count(&summary, "/rows/accepted")), (6, 2));
    assert_eq!(count(&summary, "/users"), 2);
    // CRLF line ends leave no carriage return in the values (the writer
    // would have quoted it).
    assert!(rejects.contains(",u2,bad,email,,,,\n"), "{rejects}");
}
