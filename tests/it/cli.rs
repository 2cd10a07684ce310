use std::fs;

use polars::prelude::{ParquetReader, SerReader};

use crate::support::{Workspace, count, stderr, touchpath_in};

#[test]
fn run_without_arguments_uses_the_bundled_sample() {
    let workspace = Workspace::new();
    let repository = env!("CARGO_MANIFEST_DIR");
    let out = workspace.path("report");
    let output = touchpath_in(std::path::Path::new(repository), &["run", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&workspace.read("report/summary.json")).unwrap();
    assert_eq!(summary["status"], "ok");
    assert!(count(&summary, "/users") > 10_000);
    assert_eq!(
        count(&summary, "/rows/read"),
        count(&summary, "/rows/accepted") + count(&summary, "/rows/rejected") + count(&summary, "/rows/duplicates")
    );
    for file in ["rejects.csv", "channels.csv", "campaigns.csv", "stages.csv", "kpis.csv"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(stderr(&output).contains("report written to"));
    let models = summary["models"].as_array().unwrap();
    assert_eq!(models.len(), 9);
    for model in models {
        let total = f64::from(u32::try_from(count(&summary, "/conversions/total")).unwrap());
        assert!((model["conversions"].as_f64().unwrap() - total).abs() < 1e-9, "{model}");
        assert!((model["revenue"].as_f64().unwrap() - summary["revenue"].as_f64().unwrap()).abs() < 1e-6, "{model}");
    }
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with("Credited conversions by channel and model"), "{table}");
    assert!(table.contains("ROAS by channel and model"), "{table}");
}

#[test]
fn a_missing_column_stops_the_run_with_a_hint() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "visitor,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "out"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output), @r"
    error: events.csv: required column `user_id` not found; columns found: `visitor`, `timestamp`, `channel`
    hint: if the file names it differently, map it with `--column user_id=NAME` or in the config file's [columns] table
    ");
    assert!(!workspace.path("out").exists(), "nothing is published");
}

#[test]
fn too_many_rejects_publish_only_the_summary_and_rejects() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\nu,not a time,email\nu,2026-01-03T00:00:00Z,email\n",
    );
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "out", "--max-reject-rate", "0.2"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("error: 1 of 3 rows rejected (33.33 %), above the limit of 20.00 %"), "{message}");
    assert!(message.contains("hint: see rejects.csv"), "{message}");
    let mut files: Vec<String> = fs::read_dir(workspace.path("out"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["rejects.csv", "set_aside_users.csv", "summary.json"]);
    assert_eq!(workspace.summary()["status"], "reject_rate_exceeded");

    let relaxed = workspace.touchpath(&["run", "--events", "events.csv", "--out", "out", "--max-reject-rate", "0.5"]);
    assert!(relaxed.status.success(), "{}", stderr(&relaxed));
}

#[test]
fn bad_settings_exit_1_with_the_reason() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    let zone = workspace.touchpath(&["run", "--events", "events.csv", "--timezone", "Mars/Olympus"]);
    assert_eq!(zone.status.code(), Some(1));
    assert!(stderr(&zone).contains("unknown time zone `Mars/Olympus`"), "{}", stderr(&zone));
    let mapping = workspace.touchpath(&["run", "--events", "events.csv", "--column", "colour=hue"]);
    assert_eq!(mapping.status.code(), Some(1));
    assert!(stderr(&mapping).contains("unknown column `colour`"), "{}", stderr(&mapping));
    let lookback = workspace.touchpath(&["run", "--events", "events.csv", "--lookback", "soon"]);
    assert_eq!(lookback.status.code(), Some(1));
}

#[test]
fn config_files_are_read_and_checked() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "visitor,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    workspace.write("touchpath.toml", "lookback = \"7d\"\n\n[columns]\nuser_id = \"visitor\"\n");
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--config", "touchpath.toml", "--out", "out"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(workspace.summary()["config"]["lookback"], "7d");

    workspace.write("bad.toml", "lookback = \"7d\"\nlook_back = \"3d\"\n");
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--config", "bad.toml"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("bad.toml") && message.contains("line 2") && message.contains("look_back"), "{message}");
}

#[test]
fn journeys_out_lists_every_conversion_with_its_credit() {
    let workspace = Workspace::new();
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/golden/small/events.csv");
    let events = case.to_str().unwrap();
    let output = workspace.touchpath(&[
        "run",
        "--events",
        events,
        "--out",
        "out",
        "--journeys-out",
        "journeys.csv",
        "--models",
        "linear,markov",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let journeys = workspace.read("journeys.csv");
    let lines: Vec<&str> = journeys.lines().collect();
    assert_eq!(
        lines[0],
        "user_id,converted_at,path,purchase,touches,moment_index,moment_channel,revenue,credit_linear,credit_markov"
    );
    assert_eq!(lines.len(), 5, "four conversions: {journeys}");
    assert_eq!(
        lines[1],
        "A,2026-01-16T00:00:00Z,paid_social > email > paid_search,first,3,0,paid_social,100.00,\
         0.333333333 > 0.333333333 > 0.333333334,0.333333333 > 0.333333333 > 0.333333334"
    );
    assert_eq!(
        lines[2],
        "B,2026-01-10T00:00:00Z,display > direct,first,2,0,display,50.00,0.500000000 > 0.500000000,0.333333333 > 0.666666667"
    );
    assert_eq!(lines[4], "D,2026-01-06T00:00:00Z,(none),first,0,,,20.00,,");

    let parquet =
        workspace.touchpath(&["run", "--events", events, "--out", "out", "--journeys-out", "journeys.parquet"]);
    assert!(parquet.status.success(), "{}", stderr(&parquet));
    let frame = ParquetReader::new(std::fs::File::open(workspace.path("journeys.parquet")).unwrap()).finish().unwrap();
    assert_eq!(frame.height(), 4);
    assert_eq!(frame.width(), 19, "8 fixed columns, 9 models, incremental's baseline and earlier touches");
}

#[test]
fn path_transforms_and_markov_orders_run_end_to_end() {
    let workspace = Workspace::new();
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/golden/small/events.csv");
    let events = case.to_str().unwrap();
    for args in
        [["--path-transform", "frequency"], ["--path-transform", "remove-if-not-all=direct"], ["--markov-order", "3"]]
    {
        let mut full = vec!["run", "--events", events, "--out", "out"];
        full.extend_from_slice(&args);
        let output = workspace.touchpath(&full);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let setting = workspace.summary()["config"][args[0].trim_start_matches("--").replace('-', "_")].to_string();
        assert_eq!(setting.trim_matches('"'), args[1]);
    }
    let bad = workspace.touchpath(&["run", "--events", events, "--path-transform", "shuffle"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown path transform `shuffle`"), "{}", stderr(&bad));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::fmt::Write as _;
    use std::io::Read as _;
    use std::process::{Command, Stdio};

    let workspace = Workspace::new();
    let mut rows = String::from("user_id,timestamp,channel,event_type\n");
    for user in 0..2_000 {
        writeln!(rows, "u{user},2026-01-01T10:00:00Z,channel_{user},click\nu{user},2026-01-02T10:00:00Z,,conversion")
            .unwrap();
    }
    workspace.write("events.csv", &rows);
    // Like `touchpath run --format csv | head -c 64`: the reader leaves after
    // a few bytes, before touchpath has written its 4 000 lines.
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchpath"))
        .args(["run", "--events", "events.csv", "--out", "out", "--format", "csv", "--models", "last_click,linear"])
        .current_dir(workspace.directory.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0_u8; 64];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(head.starts_with(b"model,channel,"), "{}", String::from_utf8_lossy(&head));
    assert!(!stderr(&output).contains("error"), "{}", stderr(&output));
}

#[test]
fn init_writes_a_template_that_runs_as_edited_and_flags_win() {
    let workspace = Workspace::new();
    let output = workspace.touchpath(&["init"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = workspace.touchpath(&["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("touchpath.toml already exists; pass --force"), "{}", stderr(&again));

    let edited = workspace
        .read("touchpath.toml")
        .replace("lookback = \"30d\"", "lookback = \"7d\"")
        .replace("models = []", "models = [\"last_click\", \"linear\"]")
        .replace("# user_id = \"visitor_id\"", "user_id = \"visitor\"");
    workspace.write("touchpath.toml", &edited);
    workspace.write(
        "events.csv",
        "visitor,timestamp,channel,event_type\nu,2026-01-01T00:00:00Z,email,click\nu,2026-01-05T00:00:00Z,,conversion\n",
    );
    let run = workspace.touchpath(&["run", "--config", "touchpath.toml", "--events", "events.csv", "--out", "out"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = workspace.summary();
    assert_eq!(summary["config"]["lookback"], "7d");
    assert_eq!(summary["config"]["columns"]["user_id"], "visitor");
    let channels = workspace.read("out/channels.csv");
    let models: Vec<&str> = channels.lines().skip(1).filter_map(|line| line.split(',').next()).collect();
    assert_eq!(models, ["last_click", "linear"]);

    let flagged = workspace.touchpath(&[
        "run",
        "--config",
        "touchpath.toml",
        "--events",
        "events.csv",
        "--out",
        "out",
        "--lookback",
        "14d",
    ]);
    assert!(flagged.status.success(), "{}", stderr(&flagged));
    assert_eq!(workspace.summary()["config"]["lookback"], "14d", "the command line wins over the file");

    let forced = workspace.touchpath(&["init", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(workspace.read("touchpath.toml"), touchpath::Config::TEMPLATE);
}

#[test]
fn validate_writes_the_accounting_only_and_fails_above_the_threshold() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        "user_id,timestamp,channel,event_type\nu,2026-01-01T00:00:00Z,email,click\nu,soon,email,click\n\
         u,2026-01-05T00:00:00Z,,conversion\n",
    );
    let output = workspace.touchpath(&["validate", "--events", "events.csv", "--max-reject-rate", "0.5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "validate prints no data");
    assert!(stderr(&output).contains("accounting (summary.json and rejects) written to touchpath-validate"));
    let mut files: Vec<String> = fs::read_dir(workspace.path("touchpath-validate"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["rejects.csv", "set_aside_users.csv", "summary.json"]);
    let summary = workspace.summary_of("touchpath-validate");
    assert_eq!((count(&summary, "/rows/accepted"), count(&summary, "/rows/rejected")), (2, 1));
    assert_eq!(summary["models"].as_array().map(Vec::len), Some(0));

    let strict = workspace.touchpath(&["validate", "--events", "events.csv"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stderr(&strict).contains("error: 1 of 3 rows rejected (33.33 %), above the limit of 5.00 %"));
    let journeys = workspace.touchpath(&["validate", "--events", "events.csv", "--journeys-out", "j.csv"]);
    assert_eq!(journeys.status.code(), Some(1));
    assert!(stderr(&journeys).contains("--journeys-out needs attribution"), "{}", stderr(&journeys));
}

#[test]
fn paths_writes_and_prints_the_conversion_paths_alone() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        "user_id,timestamp,channel,event_type,revenue\n\
         a,2026-01-01T00:00:00Z,email,click,\na,2026-01-02T00:00:00Z,video,click,\na,2026-01-03T00:00:00Z,,conversion,10\n\
         b,2026-01-01T00:00:00Z,email,click,\nb,2026-01-02T00:00:00Z,video,click,\nb,2026-01-03T00:00:00Z,,conversion,5\n\
         c,2026-01-01T00:00:00Z,video,click,\n",
    );
    let output = workspace.touchpath(&["paths", "--events", "events.csv", "--out", "paths"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed, workspace.read("paths/paths.csv"));
    let mut lines = printed.lines();
    assert!(lines.next().unwrap().starts_with("path,conversions,revenue,journeys,"));
    assert!(lines.next().unwrap().starts_with("email > video,2,15.00,2,1.000000,"), "{printed}");
    assert!(lines.next().unwrap().starts_with("video,0,0.00,1,0.000000,"), "{printed}");
    assert!(workspace.path("paths/stage_paths.csv").is_file());
    assert!(!workspace.path("paths/channels.csv").exists(), "no attribution");
}

#[test]
fn models_lists_every_model_with_its_parameters() {
    let workspace = Workspace::new();
    let output = workspace.touchpath(&["models"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let names: Vec<&str> =
        text.lines().filter(|line| !line.starts_with(' ')).filter_map(|line| line.split("  [").next()).collect();
    assert_eq!(
        names[..8],
        ["last_click", "first_click", "last_non_direct", "linear", "time_decay", "position_based", "markov", "shapley"]
    );
    assert!(text.contains("parameters: half_life = 7d; path_transform = none"), "{text}");

    workspace.write("touchpath.toml", "half_life = \"3d\"\nmodels = [\"time_decay\"]\nmarkov_order = 2\n");
    let output = workspace.touchpath(&["models", "--config", "touchpath.toml", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let models: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let time_decay = models.as_array().unwrap().iter().find(|model| model["name"] == "time_decay").unwrap();
    assert_eq!(time_decay["parameters"][0], "half_life = 3d");
    assert_eq!(time_decay["selected"], true);
    let markov = models.as_array().unwrap().iter().find(|model| model["name"] == "markov").unwrap();
    assert!(markov["formula"].as_str().unwrap().contains("order-2"), "{markov}");
    assert_eq!(markov["selected"], false);
}

#[test]
fn docs_cli_md_is_the_current_help() {
    use std::fmt::Write as _;

    let workspace = Workspace::new();
    let mut text = String::from(
        "# Command line\n\nThe `--help` of every subcommand, as the binary prints it. The test suite checks this \
         page against the binary; regenerate it with\n`TOUCHPATH_UPDATE_DOCS=1 cargo nextest run docs_cli_md`.\n",
    );
    for command in ["", "run", "validate", "paths", "models", "init", "generate"] {
        let args: Vec<&str> = [command, "--help"].into_iter().filter(|arg| !arg.is_empty()).collect();
        let output = workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let help = String::from_utf8(output.stdout).unwrap();
        let title = if command.is_empty() { "touchpath".to_owned() } else { format!("touchpath {command}") };
        write!(text, "\n## `{title}`\n\n```text\n{}\n```\n", help.trim_end()).unwrap();
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    if std::env::var_os("TOUCHPATH_UPDATE_DOCS").is_some() {
        fs::write(&path, &text).unwrap();
    }
    let written = fs::read_to_string(&path).unwrap_or_default();
    assert!(written == text, "docs/cli.md is out of date: run TOUCHPATH_UPDATE_DOCS=1 cargo nextest run docs_cli_md");
}

#[test]
fn json_logs_are_one_object_per_line_with_phases_and_the_end() {
    let workspace = Workspace::new();
    workspace.write(
        "events.csv",
        "user_id,timestamp,channel,event_type,revenue\nu,2026-01-01T00:00:00Z,email,click,3\n\
         u,2026-01-05T00:00:00Z,,conversion,10\n",
    );
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "out", "--log-format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events: Vec<serde_json::Value> =
        stderr(&output).lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect();
    let kinds: Vec<&str> = events.iter().map(|event| event["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"end"));
    let phases: Vec<&str> = events.iter().filter_map(|event| event["phase"].as_str()).collect();
    assert_eq!(phases, ["ingest_events", "journeys", "attribution", "write"]);
    let ingest = &events[kinds.iter().position(|kind| *kind == "phase").unwrap()];
    assert_eq!((count(ingest, "/read"), count(ingest, "/accepted")), (2, 2));
    assert!(ingest["seconds"].as_f64().unwrap() >= 0.0);
    let warning = events.iter().find(|event| event["event"] == "warning").unwrap();
    assert_eq!((warning["warning"].as_str(), count(warning, "/count")), (Some("revenue_on_non_conversion"), 1));
    assert_eq!(count(events.last().unwrap(), "/exit_code"), 0);

    let failed =
        workspace.touchpath(&["run", "--events", "missing.csv", "--out", "out", "--log-format", "json", "--quiet"]);
    assert_eq!(failed.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        stderr(&failed).lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    assert_eq!(lines.len(), 1, "--quiet keeps only errors: {lines:?}");
    assert_eq!(lines[0]["event"], "error");
    assert!(lines[0]["message"].as_str().unwrap().ends_with("missing.csv: no such file or directory"));
}

#[test]
fn quiet_prints_only_errors() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    let output = workspace.touchpath(&["run", "-q", "--events", "events.csv", "--out", "out", "--format", "csv"]);
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    assert!(String::from_utf8(output.stdout).unwrap().starts_with("model,channel,"), "data still goes to stdout");
    let failed = workspace.touchpath(&["run", "-q", "--events", "nope.csv"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).starts_with("error: nope.csv: no such file or directory"), "{}", stderr(&failed));
}

#[test]
fn journeys_out_gives_incremental_shares_baseline_and_earlier_touches_that_make_one_conversion() {
    let workspace = Workspace::new();
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/golden/small/events.csv");
    let events = case.to_str().unwrap();
    let args = ["run", "--events", events, "--out", "out", "--journeys-out", "journeys.csv", "--models", "incremental"];
    let output = workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let journeys = workspace.read("journeys.csv");
    let mut lines = journeys.lines();
    assert!(lines.next().unwrap().ends_with(",revenue,credit_incremental,baseline_incremental,earlier_incremental"));
    let mut rows = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let [touches, baseline, earlier] = fields[fields.len() - 3..] else { panic!("{line}") };
        // Billionths of a conversion, exactly.
        let units = |share: &str| -> u64 { share.replace('.', "").parse().unwrap() };
        let credited: u64 = touches.split(" > ").filter(|share| !share.is_empty()).map(units).sum();
        assert_eq!(credited + units(baseline) + units(earlier), 1_000_000_000, "{line}");
        // Only first purchases here, every touch within the lookback:
        // nothing comes before a journey.
        assert_eq!(earlier, "0.000000000", "{line}");
        rows += 1;
    }
    // D's conversion has no touch: all of it is the baseline's.
    assert!(journeys.contains("D,2026-01-06T00:00:00Z,(none),first,0,,,20.00,,1.000000000,0.000000000"), "{journeys}");
    assert_eq!(rows, 4);

    // With a 7-day lookback, A's journey is its paid search click alone, but
    // `incremental` still remembers its email click and paid social
    // impression (8 and 15 days old, within its 60-day memory) and credits
    // them as earlier touches; with a 7-day memory too, it does not.
    let earlier_of_a = |memory: &str| {
        let out = format!("out-{memory}");
        let journeys = format!("journeys-{memory}.csv");
        let mut args = vec!["run", "--events", events, "--out", &out, "--journeys-out", &journeys];
        args.extend(["--models", "incremental", "--lookback", "7d", "--incremental-memory", memory]);
        let output = workspace.touchpath(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let text = workspace.read(&journeys);
        let line = text.lines().find(|line| line.starts_with("A,")).unwrap_or_else(|| panic!("{text}")).to_owned();
        assert!(line.contains(",paid_search,"), "{line}");
        line.rsplit(',').next().unwrap().parse::<f64>().unwrap()
    };
    assert!(earlier_of_a("60d") > 0.0);
    assert!(earlier_of_a("7d").abs() < 1e-12);
}
