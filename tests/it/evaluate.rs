use std::collections::BTreeMap;

use crate::support::{MODELS, Workspace, stderr};

/// The rows of a `truth.csv`: per channel, conversions and the printed
/// share of conversions.
fn truth_rows(text: &str) -> BTreeMap<String, (f64, String)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["channel", "conversions", "revenue", "share_of_conversions"], "{text}");
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].to_owned(), (fields[1].parse().unwrap(), fields[3].to_owned()))
        })
        .collect()
}

#[test]
fn generate_writes_the_truth_and_its_totals_reconcile_with_the_log() {
    let workspace = Workspace::new();
    let output = workspace.touchpath(&[
        "generate",
        "--scenario",
        "harvesting",
        "--users",
        "400",
        "--seed",
        "3",
        "--truth",
        "--out",
        "world",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = truth_rows(&workspace.read("world/truth.csv"));
    let channels: f64 =
        rows.iter().filter(|(name, _)| !["baseline", "total"].contains(&name.as_str())).map(|(_, row)| row.0).sum();
    // Σ Shapley = v(all) − v(∅), and v(all) is what the log holds.
    assert!((channels + rows["baseline"].0 - rows["total"].0).abs() < 1e-6, "{rows:?}");
    let events = workspace.read("world/events.csv");
    let kind = events.lines().next().unwrap().split(',').position(|column| column == "event_type").unwrap();
    let purchases = events.lines().filter(|line| line.split(',').nth(kind) == Some("conversion")).count();
    #[expect(clippy::cast_precision_loss, reason = "a few hundred purchases")]
    let purchases = purchases as f64;
    assert!((rows["total"].0 - purchases).abs() < 1e-9, "{rows:?} against {purchases}");
    // The harvesting world's closers cause nothing.
    assert!(rows["direct"].0.abs() < 1e-9, "{rows:?}");
}

#[test]
fn evaluate_scores_every_model_and_the_report_shows_the_scores() {
    let workspace = Workspace::new();
    let output = workspace.touchpath(&["evaluate", "--scenario", "synergy", "--users", "1500", "--out", "eval"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("synergy") && table.contains("incremental"), "{table}");

    let scores = workspace.read("eval/evaluate.csv");
    let mut lines = scores.lines();
    assert_eq!(
        lines.next(),
        Some("scenario,model,mae_conversions_pp,mae_revenue_pp,spearman,max_error_pp,max_error_channel")
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    let models: Vec<&str> = rows.iter().map(|row| row[1]).collect();
    assert_eq!(models, MODELS);
    for row in &rows {
        assert_eq!(row[0], "synergy");
        let (mae, max): (f64, f64) = (row[2].parse().unwrap(), row[5].parse().unwrap());
        let spearman: f64 = row[4].parse().unwrap();
        assert!(mae >= 0.0 && max >= mae && (-1.0..=1.0).contains(&spearman), "{row:?}");
    }
    let page = workspace.read("eval/evaluate.html");
    assert!(page.contains("<svg") && page.contains("synergy"), "the page draws the world");
    // The world's own folder holds the log, its truth and the report.
    for file in ["events.csv", "truth.csv", "report/channels.csv"] {
        assert!(workspace.path(&format!("eval/synergy/{file}")).is_file(), "{file}");
    }

    // The report of a run shows the evaluation beside the models.
    let output = workspace.touchpath(&[
        "run",
        "--events",
        "eval/synergy/events.csv",
        "--evaluation",
        "eval/evaluate.csv",
        "--out",
        "out",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let html = workspace.read("out/report.html");
    assert!(html.contains("<table id=\"model-evaluation\""), "the scores table");
    assert!(html.contains("<tr data-model=\"incremental\">"), "one row per model");
    assert!(html.contains("<table id=\"model-spread\""), "the spread table");

    // Scores from the log and truth of another tool.
    let output = workspace.touchpath(&[
        "evaluate",
        "--events",
        "eval/synergy/events.csv",
        "--truth",
        "eval/synergy/truth.csv",
        "--name",
        "elsewhere",
        "--out",
        "again",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = workspace.read("again/evaluate.csv");
    // The same log and truth give the same scores under another name.
    assert_eq!(again.replace("elsewhere,", "synergy,"), scores);
}

#[test]
fn a_bad_evaluation_file_stops_the_run_before_reading_the_log() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    workspace.write("scores.csv", "scenario,model,mae_conversions_pp,spearman\nw,linear,lots,0.5\n");
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--evaluation", "scores.csv", "--out", "out"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("scores.csv: line 2: column `mae_conversions_pp`: `lots` is not a number"));
    assert!(!workspace.path("out").exists());
}
