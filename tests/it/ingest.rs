use std::collections::BTreeMap;

use touchpath::Config;
use touchpath::ingest::{RejectReason, discover, ingest_events};
use touchpath::time::TimeZone;

use crate::support::{NOW, Workspace, count, stderr};

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

/// A log and a spend table with touchpath's column names; the spend table
/// has no `stage` column (its stages come from the channel map).
const CANONICAL_LOG: &str = "\
user_id,timestamp,channel,campaign,stage,event_type,revenue
u1,2026-01-01T10:00:00Z,paid_search,brand,consideration,click,
u1,2026-01-02T10:00:00Z,email,,loyalty,click,
u1,2026-01-03T10:00:00Z,,,,conversion,120
u2,2026-01-01T12:00:00Z,display,spring,awareness,impression,
u2,2026-01-04T09:00:00Z,paid_search,brand,,click,
u2,2026-01-04T10:00:00Z,,,,conversion,80
";
const CANONICAL_SPEND: &str = "\
date,channel,campaign,spend
2026-01-01,paid_search,brand,40
2026-01-01,display,spring,25.5
2026-01-02,email,,3
";

/// Runs `touchpath run` in `workspace` on `events.csv` and `spend.csv` with
/// extra arguments, writing to `out`.
fn run_with_spend(workspace: &Workspace, out: &str, extra: &[&str]) -> std::process::Output {
    let args = ["run", "--events", "events.csv", "--spend", "spend.csv", "--out", out, "--format", "csv"];
    workspace.touchpath(&[&args[..], extra].concat())
}

#[test]
fn the_log_and_the_spend_table_are_mapped_separately() {
    let canonical = Workspace::new();
    canonical.write("events.csv", CANONICAL_LOG);
    canonical.write("spend.csv", CANONICAL_SPEND);
    let expected = run_with_spend(&canonical, "out", &[]);
    assert!(expected.status.success(), "{}", stderr(&expected));

    // The log names three columns differently, one of which (`channel`) the
    // spend table names canonically; the spend table renames `spend` and has
    // no `stage` column, which a log-only mapping of `stage` must not need.
    let renamed = Workspace::new();
    let log_header = "user_id,timestamp,source,campaign,funnel_stage,event_type,conversion_value";
    renamed.write("events.csv", &CANONICAL_LOG.replacen(CANONICAL_LOG.lines().next().unwrap(), log_header, 1));
    renamed.write("spend.csv", &CANONICAL_SPEND.replacen("campaign,spend", "campaign,cost", 1));
    let mappings = [
        ["--column", "stage=funnel_stage"],
        ["--column", "revenue=conversion_value"],
        ["--column", "channel=source"],
        ["--spend-column", "spend=cost"],
    ];
    let output = run_with_spend(&renamed, "out", &mappings.concat());
    assert!(output.status.success(), "{}", stderr(&output));

    for file in ["channels.csv", "stages.csv", "campaigns.csv"] {
        assert_eq!(renamed.read(&format!("out/{file}")), canonical.read(&format!("out/{file}")), "{file}");
    }
    assert_eq!(output.stdout, expected.stdout);
    let channels = renamed.read("out/channels.csv");
    // u2's conversion (80) is last-clicked on paid_search, which spent 40.
    let paid_search = "last_click,paid_search,1.000000,80.00,50.0000,40.0000,40.00,2.0000,40.00,0.00";
    assert!(channels.lines().any(|line| line == paid_search), "{channels}");
    let summary = renamed.summary();
    assert_eq!(count(&summary, "/spend/rows/accepted"), 3);
    assert_eq!(summary["config"]["columns"]["stage"], "funnel_stage");
    assert_eq!(summary["config"]["spend_columns"], serde_json::json!({ "spend": "cost" }));
}

#[test]
fn a_spend_column_mapped_to_a_missing_name_names_the_spend_file_and_its_flag() {
    let workspace = Workspace::new();
    workspace.write("events.csv", CANONICAL_LOG);
    workspace.write("spend.csv", CANONICAL_SPEND);
    let output = run_with_spend(&workspace, "out", &["--spend-column", "spend=cost"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("error: spend.csv: required column `cost` not found (mapped from `spend`); columns found:"),
        "{message}"
    );
    assert!(
        message.contains(
            "hint: if the file names it differently, map it with `--spend-column spend=NAME` \
             or in the config file's [spend_columns] table"
        ),
        "{message}"
    );
    assert!(!workspace.path("out").exists(), "nothing is published");

    // A spend table's column in the log's mappings, or the other way round,
    // is refused with the flag that maps it.
    let misplaced = run_with_spend(&workspace, "out", &["--column", "spend=cost"]);
    assert_eq!(misplaced.status.code(), Some(1));
    let message = stderr(&misplaced);
    assert!(message.contains("`spend` is a column of the spend table only: map it with `--spend-column"), "{message}");
    let misplaced = run_with_spend(&workspace, "out", &["--spend-column", "revenue=value"]);
    assert_eq!(misplaced.status.code(), Some(1));
    let message = stderr(&misplaced);
    assert!(message.contains("`revenue` is a column of the touchpoint log only: map it with `--column"), "{message}");
}

#[test]
fn the_config_file_maps_the_spend_table_in_spend_columns() {
    let workspace = Workspace::new();
    workspace.write("events.csv", &CANONICAL_LOG.replacen("stage", "funnel_stage", 1));
    workspace.write("spend.csv", &CANONICAL_SPEND.replacen("date,", "day,", 1).replacen(",spend", ",cost", 1));
    workspace.write(
        "touchpath.toml",
        "[columns]\nstage = \"funnel_stage\"\n\n[spend_columns]\ndate = \"day\"\nspend = \"cost\"\n",
    );
    let output = run_with_spend(&workspace, "out", &["--config", "touchpath.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = workspace.summary();
    assert_eq!(count(&summary, "/spend/rows/accepted"), 3);
    assert_eq!(summary["config"]["spend_columns"], serde_json::json!({ "date": "day", "spend": "cost" }));

    // A flag adds to the file's mappings and wins over the same key.
    workspace.write("spend.csv", &CANONICAL_SPEND.replacen("date,", "day,", 1).replacen(",spend", ",amount", 1));
    let flagged = run_with_spend(&workspace, "out", &["--config", "touchpath.toml", "--spend-column", "spend=amount"]);
    assert!(flagged.status.success(), "{}", stderr(&flagged));
    assert_eq!(workspace.summary()["config"]["spend_columns"], serde_json::json!({ "date": "day", "spend": "amount" }));

    // [columns] no longer reaches the spend table: a spend mapping left
    // there is refused rather than silently ignored.
    workspace.write("old.toml", "[columns]\nspend = \"cost\"\n");
    let old = run_with_spend(&workspace, "out", &["--config", "old.toml"]);
    assert_eq!(old.status.code(), Some(1));
    let message = stderr(&old);
    assert!(
        message.contains("invalid [columns] key `spend`: `spend` is a column of the spend table only")
            && message.contains("[spend_columns]"),
        "{message}"
    );
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

/// A Parquet file read at once whose rows lie in several row groups is
/// parsed group by group (no column copied into one array first), or whole
/// when its groups are tiny: either way the log, the row counts and the
/// rows rejected are those of the same rows in one row group, rows numbered
/// across groups.
#[test]
fn a_parquet_file_of_many_row_groups_reads_as_one_of_a_single_group() {
    use polars::prelude::*;
    let workspace = Workspace::new();
    let rows = 60_000;
    let user: Vec<String> = (0..rows).map(|row| format!("u{}", (row * 7919) % 613)).collect();
    let timestamp: Vec<String> = (0..rows)
        .map(|row| {
            if row % 15_013 == 15_000 {
                "soon".to_owned()
            } else {
                format!("2026-01-{:02}T10:{:02}:00Z", 1 + row % 28, row % 60)
            }
        })
        .collect();
    let channel: Vec<&str> = (0..rows).map(|row| ["email", "video", "search"][row % 3]).collect();
    let event_type: Vec<&str> = (0..rows).map(|row| if row % 11 == 0 { "conversion" } else { "click" }).collect();
    let frame =
        df! { "user_id" => user, "timestamp" => timestamp, "channel" => channel, "event_type" => event_type }.unwrap();
    let write = |name: &str, group: usize| {
        let path = workspace.path(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = ParquetWriter::new(file).batched(frame.schema()).unwrap();
        for start in (0..rows).step_by(group) {
            writer.write_batch(&frame.slice(i64::try_from(start).unwrap(), group)).unwrap();
        }
        writer.finish().unwrap();
        path
    };
    let read = |path| ingest_events(&discover(&[path]).unwrap(), &Config::default(), NOW).unwrap();
    let whole = read(write("whole.parquet", rows));
    assert_eq!(whole.rows.rejected, 3, "one bad timestamp every 15 013 rows");
    let located = |ingest: &touchpath::ingest::EventIngest| -> Vec<(u64, u64)> {
        ingest.rejects.iter().map(|reject| (reject.record, reject.line)).collect()
    };
    for group in [20_000, 700] {
        let grouped = read(write(&format!("grouped-{group}.parquet"), group));
        assert_eq!(grouped.log, whole.log, "groups of {group}");
        assert_eq!(
            (grouped.rows.read, grouped.rows.accepted, grouped.rows.duplicates),
            (60_000, whole.rows.accepted, whole.rows.duplicates)
        );
        assert_eq!(located(&grouped), [(15_000, 15_001), (30_013, 30_014), (45_026, 45_027)]);
    }
    assert_eq!(located(&whole), [(15_000, 15_001), (30_013, 30_014), (45_026, 45_027)]);
}
