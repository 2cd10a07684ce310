//! Printed numbers add up: in every report file, a column that has a total
//! sums, read exactly as printed, to that total (and the same total in every
//! file), so that what an analyst adds up in a spreadsheet is what the
//! report says.

use std::collections::BTreeMap;

use touchpath::Config;
use touchpath::generate::{GenerateOptions, generate};
use touchpath::report::{OutputFormat, render};

use crate::support::Workspace;

/// A CSV file as maps from column name to value (no quoted commas in the
/// generated data's names).
fn rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("a header").split(',').map(str::to_owned).collect();
    lines.map(|line| header.iter().cloned().zip(line.split(',').map(str::to_owned)).collect()).collect()
}

/// A printed number read exactly, in units of its last digit; `decimals`
/// is checked, so a cell printed with other decimals fails.
fn units(text: &str, decimals: usize) -> i128 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    assert_eq!(fraction.len(), decimals, "{text:?} has {decimals} decimals");
    let magnitude: i128 = format!("{}{fraction}", whole.trim_start_matches('-')).parse().expect("a number");
    if whole.starts_with('-') { -magnitude } else { magnitude }
}

/// Sums `column` (with `decimals`) over the rows, grouped by the values of
/// `keys`; empty cells count 0.
fn sums(rows: &[BTreeMap<String, String>], keys: &[&str], column: &str, decimals: usize) -> BTreeMap<String, i128> {
    let mut sums = BTreeMap::new();
    for row in rows {
        let key: Vec<&str> = keys.iter().map(|key| row[*key].as_str()).collect();
        let cell = &row[column];
        *sums.entry(key.join("/")).or_default() += if cell.is_empty() { 0 } else { units(cell, decimals) };
    }
    sums
}

#[test]
fn every_column_with_a_total_adds_up_as_printed() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users: 1_500, seed: 11, ..GenerateOptions::default() }, &data).unwrap();
    let report = workspace.run(&[data.join("events.csv")], &[data.join("spend.csv")], &Config::default()).unwrap();
    let read = |name: &str| rows(&workspace.read(&format!("out/{name}")));
    let (channels, campaigns, stages, classes) =
        (read("channels.csv"), read("campaigns.csv"), read("stages.csv"), read("classes.csv"));
    let summary = workspace.summary();

    // Per model, conversions and revenue add up to the same printed total in
    // every breakdown, and that total is the period's, rounded.
    let conversions = sums(&channels, &["model"], "conversions", 6);
    let revenue = sums(&channels, &["model"], "revenue", 2);
    for table in [&campaigns, &stages, &classes] {
        assert_eq!(sums(table, &["model"], "conversions", 6), conversions);
        assert_eq!(sums(table, &["model"], "revenue", 2), revenue);
    }
    for model in summary["models"].as_array().unwrap() {
        let name = model["model"].as_str().unwrap();
        #[expect(clippy::cast_possible_truncation, reason = "a count of conversions")]
        let total = (model["conversions"].as_f64().unwrap().round() as i128) * 1_000_000;
        assert_eq!(conversions[name], total, "{name}");
        #[expect(clippy::cast_precision_loss, reason = "cents of a test's revenue")]
        let difference = (revenue[name] as f64 / 100.0 - model["revenue"].as_f64().unwrap()).abs();
        assert!(difference <= 0.005 + 1e-9, "{name}: {difference}");
    }
    // Shares add up to 100 exactly.
    for (table, column) in [
        (&channels, "share_of_conversions"),
        (&channels, "share_of_revenue"),
        (&stages, "share_of_revenue"),
        (&stages, "share_of_spend"),
        (&classes, "share_of_conversions"),
        (&classes, "share_of_revenue"),
    ] {
        for (model, sum) in sums(table, &["model"], column, 4) {
            assert_eq!(sum, 1_000_000, "{column} of {model}");
        }
    }
    // Each channel's campaigns add up to the channel's cells.
    for column in ["conversions", "revenue", "spend"] {
        let decimals = if column == "conversions" { 6 } else { 2 };
        assert_eq!(
            sums(&campaigns, &["model", "channel"], column, decimals),
            sums(&channels, &["model", "channel"], column, decimals),
            "{column}"
        );
    }
    // Spend: the same printed total everywhere, the period's spend rounded.
    let spend = sums(&channels, &["model"], "spend", 2);
    let period_spend = *spend.values().next().unwrap();
    assert!(spend.values().all(|&total| total == period_spend));
    for table in [&stages, &classes] {
        assert!(sums(table, &["model"], "spend", 2).values().all(|&total| total == period_spend));
    }
    let kpis = read("kpis.csv");
    let kpi_spend = sums(&kpis, &["level"], "spend", 2);
    assert_eq!((kpi_spend["channel"], kpi_spend["stage"]), (period_spend, period_spend));

    let moments = read("moments.csv");
    assert_eq!(sums(&moments, &[], "share", 4)[""], 1_000_000);
    for row in read("credit_positions.csv") {
        let total: i128 = ["early", "mid", "late"].iter().map(|column| units(&row[*column], 4)).sum();
        assert_eq!(total, 1_000_000, "{row:?}");
    }

    // The stdout table: each model's column adds up to its total row.
    let table = render(report.reports.as_ref().unwrap(), OutputFormat::Table);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .skip(2)
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    let (total, cells) = lines.split_last().unwrap();
    assert_eq!(total[0], "total");
    for column in 1..total.len() {
        let sum: i128 = cells.iter().map(|cells| units(cells[column], 1)).sum();
        assert_eq!(sum, units(total[column], 1), "column {column} of\n{table}");
    }
}

#[test]
fn kpis_carry_the_featured_models_credit() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users: 800, seed: 3, ..GenerateOptions::default() }, &data).unwrap();
    let config = Config { models: vec!["last_click".to_owned(), "linear".to_owned()], ..Config::default() };
    workspace.run(&[data.join("events.csv")], &[data.join("spend.csv")], &config).unwrap();
    let channels: BTreeMap<String, BTreeMap<String, String>> = rows(&workspace.read("out/channels.csv"))
        .into_iter()
        .filter(|row| row["model"] == "linear")
        .map(|row| (row["channel"].clone(), row))
        .collect();
    let kpis = rows(&workspace.read("out/kpis.csv"));
    let mut checked = 0;
    for row in kpis.iter().filter(|row| row["level"] == "channel") {
        assert_eq!(row["model"], "linear", "linear is featured when markov, shapley and position_based do not run");
        if let Some(channel) = channels.get(&row["name"]) {
            for column in ["conversions", "revenue", "spend", "cpa", "roas"] {
                assert_eq!(row[column], channel[column], "{} {column}", row["name"]);
            }
            checked += 1;
        }
        // Views only on video channels, and a cost per view only with them.
        let video = row["name"].split('_').any(|word| word == "video");
        assert_eq!(row["views"] != "0", video && row["impressions"] != "0", "{row:?}");
        assert_eq!(!row["cpv"].is_empty(), video && row["views"] != "0" && !row["spend"].is_empty(), "{row:?}");
    }
    assert!(checked >= 5, "only {checked} channels compared");
}

/// With bootstrap replicates, every row's interval holds its printed point
/// estimate under the models whose credit is a smooth function of the
/// users' sums (the rule-based ones, a sum of each conversion's credit, and
/// `markov`'s removal effects); every interval is ordered; credited
/// channels get intervals of some width. `shapley` is held to order only:
/// its game reads exact-set conversion rates, clamped at 0, so a resample
/// that loses a rare coalition moves its values one way (docs/models.md,
/// "Intervals"), and its point can fall outside.
#[test]
fn bootstrap_intervals_hold_the_printed_point_estimates() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users: 3_000, seed: 13, ..GenerateOptions::default() }, &data).unwrap();
    let config = Config { bootstrap: 100, ..Config::default() };
    workspace.run(&[data.join("events.csv")], &[data.join("spend.csv")], &config).unwrap();
    let read = |name: &str| rows(&workspace.read(&format!("out/{name}")));
    let mut checked = 0;
    for (file, shares) in [("channels.csv", true), ("campaigns.csv", false), ("stages.csv", false)] {
        let table = read(file);
        assert!(!table.is_empty());
        for row in &table {
            let mut columns = vec![("conversions", 6), ("revenue", 2), ("roas", 4)];
            if shares {
                columns.push(("share_of_conversions", 4));
            }
            for (column, decimals) in columns {
                let (lo, hi) = (&row[&format!("{column}_lo")], &row[&format!("{column}_hi")]);
                let point = &row[column];
                assert_eq!(point.is_empty(), lo.is_empty(), "{file} {row:?}");
                if point.is_empty() {
                    continue;
                }
                let (point, lo, hi) = (units(point, decimals), units(lo, decimals), units(hi, decimals));
                assert!(lo <= hi, "{file}: {column} {row:?}");
                if row["model"] != "shapley" {
                    assert!(lo <= point && point <= hi, "{file}: {column} {row:?}");
                    checked += 1;
                }
                if column == "conversions" && point > 10_000_000 {
                    assert!(lo < hi, "{file}: a credited row varies over resamples {row:?}");
                }
            }
        }
    }
    assert!(checked > 500, "{checked} cells checked");
}
