//! Shards and merges: the two passes of `run --bucket K/N` in separate
//! processes (counts, then credit with the models fitted on the merged
//! counts), then `merge`, give the bytes of a single run; so does a run
//! bucketed by `--memory-budget`. States and credits that do not belong
//! together are refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use touchpath::FileFormat;
use touchpath::generate::{GenerateOptions, generate};

use crate::support::{Workspace, stderr};

/// Every file of a report directory, by name, with `--journeys-out` and
/// stdout.
fn report(workspace: &Workspace, out: &str, stdout: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut files = report_files(workspace, out);
    files.insert("journeys.csv".to_owned(), fs::read(workspace.path(&format!("{out}.journeys.csv"))).unwrap());
    files.insert("stdout".to_owned(), stdout);
    files
}

/// Every file of a report directory, by name.
fn report_files(workspace: &Workspace, out: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(workspace.path(out)).unwrap() {
        let entry = entry.unwrap();
        files.insert(entry.file_name().to_string_lossy().into_owned(), fs::read(entry.path()).unwrap());
    }
    files
}

/// The rows of the per-conversion files `names` (CSV, one per bucket), with
/// their header, sorted: a single run's rows, in another order.
fn journey_rows(workspace: &Workspace, names: &[String]) -> Vec<u8> {
    let mut header = None;
    let mut rows = Vec::new();
    for name in names {
        let text = fs::read_to_string(workspace.path(name)).unwrap();
        let mut lines = text.lines();
        let first = lines.next().unwrap().to_owned();
        assert!(header.get_or_insert_with(|| first.clone()) == &first, "{name}: the same header");
        let part: Vec<&str> = lines.collect();
        assert!(part.is_sorted(), "{name}: each bucket's rows in user-id order");
        rows.extend(part.into_iter().map(str::to_owned));
    }
    rows.sort();
    let mut text = header.unwrap_or_default() + "\n";
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text.into_bytes()
}

/// `expected` with its journeys file's rows sorted, as [`journey_rows`] gives
/// them.
fn with_sorted_journeys(
    mut expected: BTreeMap<String, Vec<u8>>,
    workspace: &Workspace,
    out: &str,
) -> BTreeMap<String, Vec<u8>> {
    expected.insert("journeys.csv".to_owned(), journey_rows(workspace, &[format!("{out}.journeys.csv")]));
    expected
}

fn assert_same(expected: &BTreeMap<String, Vec<u8>>, actual: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>(), "{what}: the same files");
    for (name, want) in expected {
        assert!(want == &actual[name], "{what}: {name} differs");
    }
}

struct Inputs {
    workspace: Workspace,
    events: PathBuf,
    spend: PathBuf,
}

/// A generated dirty log (rejects, duplicates) with its spend table.
fn inputs() -> Inputs {
    let workspace = Workspace::new();
    let directory = workspace.path("data");
    generate(
        &GenerateOptions { users: 2_000, seed: 5, dirty: true, format: FileFormat::Csv, ..GenerateOptions::default() },
        &directory,
    )
    .unwrap();
    Inputs { events: directory.join("events.csv"), spend: directory.join("spend.csv"), workspace }
}

impl Inputs {
    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--events", self.events.to_str().unwrap(), "--spend", self.spend.to_str().unwrap()];
        args.extend_from_slice(extra);
        args
    }

    /// A whole run into `out`.
    fn single(&self, out: &str, settings: &[&str]) -> BTreeMap<String, Vec<u8>> {
        let journeys = format!("{out}.journeys.csv");
        let mut args = vec!["run", "--out", out, "--format", "csv", "--journeys-out", &journeys];
        args.extend(self.args(settings));
        let output = self.workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        report(&self.workspace, out, output.stdout)
    }

    /// The first pass of bucket `index` of `count` into `state`.
    fn count(&self, index: u32, count: u32, state: &str, settings: &[&str]) {
        let bucket = format!("{index}/{count}");
        let mut args = vec!["run", "--bucket", &bucket, "--emit-state", state];
        args.extend(self.args(settings));
        let output = self.workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(self.workspace.path(state).join("state.json").is_file());
    }

    /// The second pass of bucket `index` of `count` with the fit in `fit`:
    /// its credit into `credit`, its rows of the per-conversion table into
    /// `credit.journeys.csv`.
    fn credit(&self, index: u32, count: u32, fit: &str, credit: &str, settings: &[&str]) {
        let (bucket, journeys) = (format!("{index}/{count}"), format!("{credit}.journeys.csv"));
        let mut args =
            vec!["run", "--bucket", &bucket, "--fit", fit, "--emit-state", credit, "--journeys-out", &journeys];
        args.extend(self.args(settings));
        let output = self.workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains(&format!("credit of bucket {bucket} written to")), "{}", stderr(&output));
    }

    fn merge(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["merge"];
        all.extend_from_slice(args);
        let output = self.workspace.touchpath(&all);
        assert!(output.status.success(), "{}", stderr(&output));
        output
    }

    /// `count` shards, each pass of each its own process, then a merge into
    /// `out`; the journeys files of the buckets' second passes, rows sorted.
    fn sharded(&self, out: &str, count: u32, settings: &[&str]) -> BTreeMap<String, Vec<u8>> {
        let states: Vec<String> = (0..count).map(|index| format!("{out}-state-{index}")).collect();
        for (index, state) in (0..count).zip(&states) {
            self.count(index, count, state, settings);
        }
        let fit = format!("{out}-fit");
        let mut args = vec!["--emit-state", &fit];
        args.extend(states.iter().map(String::as_str));
        self.merge(&args);
        assert!(self.workspace.path(&fit).join("fit.bin").is_file(), "a state of every bucket holds its fit");
        let credits: Vec<String> = (0..count).map(|index| format!("{out}-credit-{index}")).collect();
        for (index, credit) in (0..count).zip(&credits) {
            self.credit(index, count, &fit, credit, settings);
        }
        // Merged in reverse: the order of credits does not matter.
        let mut args = vec!["--out", out, "--format", "csv", &fit];
        args.extend(credits.iter().rev().map(String::as_str));
        let output = self.merge(&args);
        let mut files = report_files(&self.workspace, out);
        let journeys: Vec<String> = credits.iter().map(|credit| format!("{credit}.journeys.csv")).collect();
        files.insert("journeys.csv".to_owned(), journey_rows(&self.workspace, &journeys));
        files.insert("stdout".to_owned(), output.stdout);
        files
    }
}

#[test]
fn four_shards_merged_give_the_bytes_of_a_single_run() {
    let inputs = inputs();
    let single = with_sorted_journeys(inputs.single("single", &[]), &inputs.workspace, "single");
    assert!(single.contains_key("report.html") && single.contains_key("removal_effects.csv"));
    assert_same(&single, &inputs.sharded("merged", 4, &[]), "4 shards");
}

#[test]
fn shards_agree_with_a_period_a_transform_and_a_higher_order_chain() {
    let inputs = inputs();
    let settings = ["--from", "2026-01-20", "--path-transform", "frequency", "--markov-order", "2", "--lookback", "7d"];
    let single = with_sorted_journeys(inputs.single("single", &settings), &inputs.workspace, "single");
    assert_same(&single, &inputs.sharded("merged", 3, &settings), "3 shards");
}

#[test]
fn bootstrap_intervals_of_shards_and_buckets_are_those_of_a_single_run() {
    let inputs = inputs();
    let settings = ["--bootstrap", "40", "--interval", "0.8"];
    let single = with_sorted_journeys(inputs.single("single", &settings), &inputs.workspace, "single");
    let channels = String::from_utf8_lossy(&single["channels.csv"]).into_owned();
    assert!(channels.lines().next().unwrap().ends_with(",roas_lo,roas_hi"), "{channels}");
    assert_same(&single, &inputs.sharded("merged", 3, &settings), "3 shards");
    let size = fs::metadata(&inputs.events).unwrap().len();
    let budget = (size / touchpath::ingest::CSV_BYTES_PER_ROW * touchpath::run::BYTES_PER_EVENT * 2 / 7).to_string();
    let mut args = vec!["run", "--out", "bucketed", "--format", "csv"];
    args.extend(inputs.args(&["--memory-budget", &budget, "--log-format", "json"]));
    args.extend(settings);
    let output = inputs.workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(r#""event":"plan","buckets":4"#));
    let mut bucketed = report_files(&inputs.workspace, "bucketed");
    bucketed.insert("stdout".to_owned(), output.stdout);
    let mut expected = single;
    expected.remove("journeys.csv");
    assert_same(&expected, &bucketed, "bucketed");
}

#[test]
fn merging_in_steps_gives_the_same_report() {
    let inputs = inputs();
    let mut single = inputs.single("single", &[]);
    single.remove("journeys.csv");
    for index in 0..4 {
        inputs.count(index, 4, &format!("state-{index}"), &[]);
    }
    inputs.merge(&["state-0", "state-2", "--emit-state", "state-02"]);
    assert!(!inputs.workspace.path("state-02/fit.bin").exists(), "half the buckets: no fit");
    inputs.merge(&["state-3", "state-1", "--emit-state", "state-13"]);
    inputs.merge(&["state-13", "state-02", "--emit-state", "fit"]);
    for index in 0..4 {
        inputs.credit(index, 4, "fit", &format!("credit-{index}"), &[]);
    }
    inputs.merge(&["credit-3", "credit-0", "--emit-state", "credit-03"]);
    let output = inputs.merge(&["fit", "credit-2", "credit-03", "credit-1", "--out", "merged", "--format", "csv"]);
    let mut merged = report_files(&inputs.workspace, "merged");
    merged.insert("stdout".to_owned(), output.stdout);
    assert_same(&single, &merged, "merged in steps");
}

#[test]
fn a_memory_budget_reads_in_buckets_with_the_same_results() {
    let inputs = inputs();
    let single = inputs.single("single", &[]);
    // The log's estimate (40 bytes a CSV row) at the planned bytes per
    // event, over 3.5: four buckets.
    let size = fs::metadata(&inputs.events).unwrap().len();
    let budget = (size / touchpath::ingest::CSV_BYTES_PER_ROW * touchpath::run::BYTES_PER_EVENT * 2 / 7).to_string();
    let journeys = "bucketed.journeys.csv";
    let mut args = vec!["run", "--out", "bucketed", "--format", "csv", "--journeys-out", journeys];
    args.extend(inputs.args(&["--memory-budget", &budget, "--log-format", "json"]));
    let output = inputs.workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let logs = stderr(&output);
    let plan = logs.lines().find(|line| line.contains(r#""event":"plan""#)).expect("a plan line");
    assert!(plan.contains(r#""buckets":4"#), "{plan}");
    // The log is read once, then each bucket is built in turn.
    assert_eq!(logs.lines().filter(|line| line.contains(r#""phase":"ingest_events""#)).count(), 1);
    assert_eq!(logs.lines().filter(|line| line.contains(r#""phase":"read_bucket""#)).count(), 4);
    assert_eq!(logs.lines().filter(|line| line.contains(r#""phase":"journeys""#)).count(), 4);
    assert_same(&single, &report(&inputs.workspace, "bucketed", output.stdout), "bucketed");

    // Without a journeys file, the buckets' journeys are credited chunk by
    // chunk as they lie on disk, not merged into user order: the same report.
    let mut args = vec!["run", "--out", "unordered", "--format", "csv"];
    args.extend(inputs.args(&["--memory-budget", &budget, "--log-format", "json"]));
    let output = inputs.workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(r#""event":"plan","buckets":4"#));
    let mut unordered = report_files(&inputs.workspace, "unordered");
    unordered.insert("stdout".to_owned(), output.stdout);
    let mut expected = single.clone();
    expected.remove("journeys.csv");
    assert_same(&expected, &unordered, "bucketed without a journeys file");

    // `paths` keeps its path totals on disk the same way.
    let paths = |out: &str, extra: &[&str]| {
        let mut args = vec!["paths", "--out", out];
        args.extend(inputs.args(extra));
        let output = inputs.workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let mut files = BTreeMap::new();
        for name in ["paths.csv", "stage_paths.csv", "summary.json"] {
            files.insert(name.to_owned(), fs::read(inputs.workspace.path(&format!("{out}/{name}"))).unwrap());
        }
        let planned = stderr(&output).contains(r#""event":"plan","buckets":4"#);
        files.insert("stdout".to_owned(), output.stdout);
        (files, planned)
    };
    let (whole, planned) = paths("paths-whole", &["--log-format", "json"]);
    assert!(!planned);
    assert!(String::from_utf8_lossy(&whole["paths.csv"]).lines().count() > 3, "several paths");
    let (bucketed, planned) = paths("paths-bucketed", &["--memory-budget", &budget, "--log-format", "json"]);
    assert!(planned, "four buckets");
    assert_same(&whole, &bucketed, "bucketed paths");
}

#[test]
fn a_sampled_incremental_fit_is_the_same_in_buckets_and_credits_every_conversion() {
    let inputs = inputs();
    let sample = ["--incremental-sample", "0.5"];
    let full = inputs.single("full", &[]);
    let single = inputs.single("single", &sample);
    let size = fs::metadata(&inputs.events).unwrap().len();
    let budget = (size / touchpath::ingest::CSV_BYTES_PER_ROW * touchpath::run::BYTES_PER_EVENT * 2 / 7).to_string();
    let journeys = "bucketed.journeys.csv";
    let mut args = vec!["run", "--out", "bucketed", "--format", "csv", "--journeys-out", journeys];
    args.extend(inputs.args(&["--memory-budget", &budget, "--incremental-sample", "0.5", "--log-format", "json"]));
    let output = inputs.workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(r#""event":"plan","buckets":4"#));
    assert_same(&single, &report(&inputs.workspace, "bucketed", output.stdout), "a sampled fit in buckets");

    // The fit changed, on half the users; every conversion is still
    // credited, and the other models are untouched (but for a row of 0 at
    // `(baseline)`, which the sampled fit credits and the full one not).
    let text = |files: &BTreeMap<String, Vec<u8>>, name: &str| String::from_utf8(files[name].clone()).unwrap();
    let credit = |files: &BTreeMap<String, Vec<u8>>, model: &str| -> Vec<String> {
        text(files, "channels.csv")
            .lines()
            .filter(|line| line.starts_with(&format!("{model},")) && !line.contains(",(baseline),"))
            .map(str::to_owned)
            .collect()
    };
    assert_ne!(credit(&single, "incremental"), credit(&full, "incremental"));
    assert_eq!(credit(&single, "markov"), credit(&full, "markov"));
    let summary = |files: &BTreeMap<String, Vec<u8>>| -> serde_json::Value {
        serde_json::from_slice(&files["summary.json"]).unwrap()
    };
    let (sampled, whole) = (summary(&single), summary(&full));
    assert_eq!(sampled["config"]["incremental_sample"], 0.5);
    let total = |summary: &serde_json::Value, model: &str| {
        summary["models"].as_array().unwrap().iter().find(|total| total["model"] == model).unwrap().clone()
    };
    assert_eq!(total(&sampled, "incremental")["conversions"], total(&whole, "incremental")["conversions"]);
    assert!(sampled["warnings"].get("incremental_sample_without_purchases").is_none());

    // A share too small to draw a user with a purchase: every conversion
    // goes to the baseline, and the summary says why.
    let none = inputs.single("none", &["--incremental-sample", "1e-9", "--models", "incremental"]);
    let baseline: f64 = text(&none, "channels.csv")
        .lines()
        .find_map(|line| line.strip_prefix("incremental,(baseline),"))
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    let none = summary(&none);
    assert_eq!(none["warnings"]["incremental_sample_without_purchases"], 1);
    assert_eq!(none["incremental"]["terms"], 0);
    assert_eq!(Some(baseline), total(&whole, "incremental")["conversions"].as_f64());
}

#[test]
fn states_that_do_not_belong_together_are_refused() {
    let inputs = inputs();
    let shard = |bucket: &str, state: &str, extra: &[&str]| {
        let mut args = vec!["run", "--bucket", bucket, "--emit-state", state];
        args.extend(inputs.args(extra));
        let output = inputs.workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    shard("0/2", "a0", &[]);
    shard("1/2", "a1", &[]);
    shard("1/2", "b1", &["--lookback", "7d"]);
    shard("1/3", "c1", &[]);
    let refused = |args: &[&str], expected: &str| {
        let output = inputs.workspace.touchpath(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{args:?}: {message}");
        assert!(!inputs.workspace.path("out").exists(), "{args:?}: nothing published");
    };
    refused(&["merge", "a0", "b1", "--out", "out"], "different configurations");
    refused(&["merge", "a0", "c1", "--out", "out"], "different numbers of buckets");
    refused(&["merge", "a0", "a0", "--out", "out"], "bucket 0/2 is in two of the states");
    refused(&["merge", "a0", "--out", "out"], "bucket 1/2 is missing");
    refused(&["merge", "a0", "nowhere", "--out", "out"], "nowhere");
    refused(&["run", "--bucket", "0/2", "--out", "out"], "--emit-state");

    // Every bucket's counts, but no credit: attribution needs the second pass.
    refused(&["merge", "a0", "a1", "--out", "out"], "needs each bucket's credit");
    let run = |bucket: &str, fit: &str, credit: &str, extra: &[&str]| {
        let mut args = vec!["run", "--bucket", bucket, "--fit", fit, "--emit-state", credit];
        args.extend(inputs.args(extra));
        inputs.workspace.touchpath(&args)
    };
    let output = run("0/2", "a0", "credit-0", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("holds no fitted models"), "{}", stderr(&output));
    let output = inputs.workspace.touchpath(&["merge", "a0", "a1", "--emit-state", "fit"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run("0/2", "fit", "credit-0", &["--lookback", "7d"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("different configuration"), "{}", stderr(&output));
    let output = run("0/3", "fit", "credit-0", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("split users into 2 buckets, not 3"), "{}", stderr(&output));
    assert!(run("0/2", "fit", "credit-0", &[]).status.success());
    refused(&["merge", "fit", "credit-0", "--out", "out"], "the credit of bucket(s) 1/2 is missing");
    refused(&["merge", "a0", "a1", "credit-0", "--out", "out"], "give one merged state");
    refused(&["merge", "credit-0", "--out", "out"], "needs the merged state the credits were made with");
    refused(&["merge", "fit", "credit-0", "credit-0", "--out", "out"], "bucket 0/2 is credited twice");
    // Credits made with another merged state's fit (here, of another split).
    shard("0/3", "c0", &[]);
    shard("2/3", "c2", &[]);
    let output = inputs.workspace.touchpath(&["merge", "c0", "c1", "c2", "--emit-state", "fit3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(run("0/3", "fit3", "credit3-0", &[]).status.success());
    refused(&["merge", "fit", "credit3-0", "--out", "out"], "the credits were made with another fit than that of fit");
    refused(&["merge", "fit", "credit-0", "--out", "out", "--journeys-out", "j.csv"], "unexpected argument");

    // A state from another version, or damaged, is refused by name.
    let manifest = inputs.workspace.path("a1/state.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(&manifest, text.replace(env!("CARGO_PKG_VERSION"), "0.0.0-other")).unwrap();
    refused(&["merge", "a0", "a1", "--out", "out"], "written by touchpath 0.0.0-other");
    fs::write(&manifest, text).unwrap();
    let body = inputs.workspace.path("a1/state.bin");
    let mut bytes = fs::read(&body).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    fs::write(&body, &bytes).unwrap();
    refused(&["merge", "a0", "a1", "--out", "out"], "does not match its manifest");
}

#[test]
fn a_parquet_file_read_in_chunks_gives_the_bytes_of_one_read() {
    read_in_chunks("parquet");
}

#[test]
fn a_csv_file_read_in_chunks_gives_the_bytes_of_one_read() {
    read_in_chunks("csv");
}

/// 3000 users, about 17 000 rows with the faults of a dirty export (bytes
/// that are not UTF-8, rows of too many fields, quoted line breaks in the
/// CSV file). Under a budget of 16 MB a file is read 4096 rows (or 256 KiB
/// of CSV) at a time, chunks ending anywhere, mid-user included, in memory;
/// under 2 MB in chunks too, and spilled into buckets: the same bytes.
fn read_in_chunks(format: &str) {
    let workspace = Workspace::new();
    let output = workspace
        .touchpath(&["generate", "--users", "3000", "--seed", "5", "--dirty", "--format", format, "--out", "log"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = workspace.path(&format!("log/events.{format}"));
    let spend = workspace.path(&format!("log/spend.{format}"));
    if format == "csv" {
        // Faults a CSV export can have and the generator does not write,
        // every 1500 lines, so that chunks fall around them: bytes that are
        // not UTF-8, a row of too many fields, a campaign quoting a line
        // break and a comma, a blank line.
        let faults: [&[u8]; 4] = [
            b"u00000007,2026-01-02T10:00:00Z,email,spring \xff sale,consideration,click,",
            b"u00000008,2026-01-02T10:00:00Z,email,,consideration,click,,extra",
            b"u00000009,2026-01-02T11:00:00Z,email,\"two\nlines, one comma\",consideration,click,",
            b"",
        ];
        let text = fs::read(&events).unwrap();
        let mut with_faults = Vec::new();
        for (index, line) in text.split_inclusive(|&byte| byte == b'\n').enumerate() {
            with_faults.extend_from_slice(line);
            if index % 1500 == 1499 {
                with_faults.extend_from_slice(faults[index / 1500 % faults.len()]);
                with_faults.push(b'\n');
            }
        }
        fs::write(&events, with_faults).unwrap();
    }
    let run = |out: &str, budget: Option<&str>| {
        let mut args = vec!["run", "--out", out, "--format", "csv", "--log-format", "json"];
        args.extend(["--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap()]);
        if let Some(budget) = budget {
            args.extend(["--memory-budget", budget]);
        }
        let output = workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let logs = stderr(&output);
        let planned = logs.contains(r#""event":"plan""#);
        assert_eq!(logs.contains(r#""event":"chunks","file""#), budget.is_some(), "{logs}");
        let mut files = report_files(&workspace, out);
        files.insert("stdout".to_owned(), output.stdout);
        (files, planned)
    };
    let (whole, planned) = run("whole", None);
    assert!(!planned);
    let rejects = String::from_utf8_lossy(&whole["rejects.csv"]).into_owned();
    assert!(rejects.lines().count() > 50, "the dirty rows are rejected, each located: {rejects}");
    if format == "csv" {
        for reason in ["invalid_utf8", "wrong_field_count", "empty_row"] {
            assert!(rejects.matches(reason).count() >= 2, "{reason} rejects, in several chunks");
        }
    }
    let (chunked, planned) = run("chunked", Some("16MB"));
    assert!(!planned, "one bucket");
    assert_same(&whole, &chunked, "read in chunks");
    let (spilled, planned) = run("spilled", Some("2MB"));
    assert!(planned, "several buckets");
    assert_same(&whole, &spilled, "read in chunks and spilled");
}

#[test]
fn rejects_csv_lists_the_first_rejected_rows_and_the_summary_counts_the_rest() {
    let inputs = inputs();
    let all = inputs.single("all", &[]);
    let listed = inputs.single("listed", &["--max-rejects-listed", "5"]);
    let all_rows = String::from_utf8(all["rejects.csv"].clone()).unwrap();
    let rows: Vec<&str> = all_rows.lines().collect();
    assert!(rows.len() > 6, "the dirty log has more rejected rows than listed");
    let expected = rows[..6].join("\n") + "\n";
    assert_eq!(String::from_utf8(listed["rejects.csv"].clone()).unwrap(), expected, "the header and the first five");
    let summary: serde_json::Value = serde_json::from_slice(&listed["summary.json"]).unwrap();
    let rejected = summary["rows"]["rejected"].as_u64().unwrap();
    assert_eq!(rejected, rows.len() as u64 - 1, "every rejected row is counted");
    assert_eq!(summary["warnings"]["rejects_not_listed"].as_u64(), Some(rejected - 5));
    for name in ["channels.csv", "campaigns.csv", "journeys.csv", "set_aside_users.csv", "stdout"] {
        assert!(all[name] == listed[name], "{name}: the same results");
    }
    // Shards and a bucketed run list the same first rows.
    let settings = ["--max-rejects-listed", "5"];
    let sharded = inputs.sharded("sharded", 3, &settings);
    assert_eq!(sharded["rejects.csv"], listed["rejects.csv"]);
    assert_eq!(sharded["summary.json"], listed["summary.json"]);
}
