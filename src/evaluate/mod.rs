//! Scoring the models against the ground truth.
//!
//! [`evaluate_scenario`] generates a log from a [`Scenario`] with its
//! [`Truth`], runs every model on it exactly as `touchpath run` would, and
//! scores each model's channel shares against the truth's Shapley shares;
//! [`evaluate_log`] does the same for a log and `truth.csv` made elsewhere
//! (another simulator, or an experiment). The scores, per model:
//!
//! - `mae_conversions`: the mean absolute error of the channels' shares of
//!   credited conversions, in percentage points;
//! - `mae_revenue`: the same for shares of credited revenue;
//! - `spearman`: Spearman's rank correlation between the model's and the
//!   truth's conversion shares (average ranks for ties);
//! - `max_error`: the largest single-channel conversion-share error, in
//!   points, and the channel it is on.
//!
//! Shares are taken over the channels only: a model's `(none)` (conversions
//! without touches) and `baseline` (what would have happened anyway) are
//! left out, as the truth's `v(∅)` is. Formulas: `docs/evaluation.md`.

mod page;
mod read;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::page::write_html;
pub use self::read::{read_scores, read_truth};
use crate::config::Config;
use crate::generate::{GenerateOptions, Scenario, TRUTH_FILE, Truth, generate_scenario};
use crate::output::CsvWriter;
use crate::report::Reports;
pub use crate::report::{Pair, ScenarioScore, Shares, credit_shares};
use crate::run::{Request, run};
use crate::{Error, FileFormat, Result};

/// How one model did against the truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// The model.
    pub model: String,
    /// Mean absolute error of conversion shares, percentage points.
    pub mae_conversions: f64,
    /// Mean absolute error of revenue shares, percentage points.
    pub mae_revenue: f64,
    /// Spearman's rank correlation of conversion shares.
    pub spearman: f64,
    /// The largest single-channel conversion-share error, points.
    pub max_error: f64,
    /// The channel of that error.
    pub max_channel: String,
    /// With bootstrap intervals: the share of the channels whose true
    /// conversion share lies inside the model's interval of it.
    pub coverage: Option<f64>,
}

/// One world's evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The scenario's (or log's) name.
    pub name: String,
    /// What the world is meant to show.
    pub description: String,
    /// The truth's shares.
    pub truth: Shares,
    /// Each model's shares, in report order.
    pub models: Vec<(String, Shares)>,
    /// Each model's score, in report order.
    pub scores: Vec<Score>,
    /// Conversions in the log and, of them, those the truth says would
    /// have happened anyway.
    pub conversions: (u64, u64),
}

impl Evaluation {
    /// The model with the smallest conversion-share error.
    #[must_use]
    pub fn best(&self) -> Option<&Score> {
        self.scores.iter().min_by(|left, right| left.mae_conversions.total_cmp(&right.mae_conversions))
    }
}

/// What to evaluate on.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Users per generated log.
    pub users: u64,
    /// The generator's seed.
    pub seed: u64,
    /// Where logs, reports and the evaluation go (one folder per world).
    pub out: PathBuf,
}

/// Generates `scenario`'s log and truth into `options.out/<name>/`, runs
/// every model of `config` and scores them.
///
/// # Errors
///
/// A scenario out of range, or files that cannot be written or read.
pub fn evaluate_scenario(scenario: &Scenario, options: &Options, config: &Config) -> Result<Evaluation> {
    let directory = options.out.join(&scenario.name);
    let generate = GenerateOptions {
        users: options.users,
        seed: options.seed,
        dirty: false,
        format: FileFormat::Csv,
        ..GenerateOptions::default()
    };
    let report = generate_scenario(&generate, scenario, true, &directory)?;
    let truth = read_truth(&directory.join(TRUTH_FILE))?;
    let events = directory.join(format!("events.{}", report.format.extension()));
    let spend = directory.join(format!("spend.{}", report.format.extension()));
    let mut evaluation = evaluate_log(&scenario.name, &[events], &[spend], &truth, &directory.join("report"), config)?;
    evaluation.description.clone_from(&scenario.description);
    Ok(evaluation)
}

/// Runs every model of `config` on `events` (with `spend`) into `out` and
/// scores them against `truth`.
///
/// # Errors
///
/// Files that cannot be read or written, and a run that publishes no
/// report (too many rejected rows, no events).
pub fn evaluate_log(
    name: &str,
    events: &[PathBuf],
    spend: &[PathBuf],
    truth: &Truth,
    out: &Path,
    config: &Config,
) -> Result<Evaluation> {
    let mut request = Request::new(events.to_vec(), out.to_owned());
    request.spend = spend.to_vec();
    let report = run(&request, config)?;
    if let Some(error) = report.failure(config) {
        return Err(error);
    }
    let reports =
        report.reports.as_ref().ok_or_else(|| Error::Internal("the run published no attribution".to_owned()))?;
    let truth_shares = truth_shares(truth);
    let models = model_shares(reports);
    let scores = models
        .iter()
        .enumerate()
        .map(|(index, (model, shares))| {
            let mut score = score(model, &truth_shares, shares);
            score.coverage = reports
                .intervals
                .as_ref()
                .and_then(|intervals| intervals.models.get(index))
                .map(|intervals| coverage(&truth_shares, shares, intervals));
            score
        })
        .collect();
    Ok(Evaluation {
        name: name.to_owned(),
        description: String::new(),
        truth: truth_shares,
        models,
        scores,
        conversions: (truth.total_conversions, truth.baseline_conversions),
    })
}

/// The truth's shares of its Shapley values.
#[must_use]
pub fn truth_shares(truth: &Truth) -> Shares {
    truth
        .shares()
        .into_iter()
        .map(|(channel, conversions, revenue)| (channel.to_owned(), (conversions, revenue)))
        .collect()
}

/// Each model's channel shares, `(none)` and the baseline left out.
#[must_use]
pub fn model_shares(reports: &Reports) -> Vec<(String, Shares)> {
    reports.models.iter().map(|credit| (credit.model.to_owned(), credit_shares(credit))).collect()
}

/// Scores `model`'s shares against `truth`'s, over every channel of the
/// truth and every channel the model credits (a channel one of them lacks
/// has share 0 there; a channel known only from spend, with no credit, is
/// left out).
#[must_use]
pub fn score(model: &str, truth: &Shares, shares: &Shares) -> Score {
    let credited = shares.iter().filter(|(_, share)| share.0 > 0.0 || share.1 > 0.0).map(|(channel, _)| channel);
    let channels: BTreeSet<&String> = truth.keys().chain(credited).collect();
    let pairs: Vec<(&String, Pair, Pair)> = channels
        .into_iter()
        .map(|channel| {
            let get = |table: &Shares| table.get(channel).copied().unwrap_or((0.0, 0.0));
            (channel, get(truth), get(shares))
        })
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "a handful of channels")]
    let count = pairs.len().max(1) as f64;
    let mae = |pick: fn((f64, f64)) -> f64| {
        pairs.iter().map(|(_, truth, model)| (pick(*truth) - pick(*model)).abs()).sum::<f64>() / count * 100.0
    };
    let (max_channel, max_error) =
        pairs.iter().map(|(channel, truth, model)| (*channel, (truth.0 - model.0).abs() * 100.0)).fold(
            (None, 0.0),
            |(best, largest), (channel, error)| {
                if best.is_none() || error > largest { (Some(channel), error) } else { (best, largest) }
            },
        );
    let truth_values: Vec<f64> = pairs.iter().map(|(_, truth, _)| truth.0).collect();
    let model_values: Vec<f64> = pairs.iter().map(|(_, _, model)| model.0).collect();
    Score {
        model: model.to_owned(),
        mae_conversions: mae(|pair| pair.0),
        mae_revenue: mae(|pair| pair.1),
        spearman: spearman(&truth_values, &model_values),
        max_error,
        max_channel: max_channel.cloned().unwrap_or_default(),
        coverage: None,
    }
}

/// The share of the channels [`score`] compares (the truth's, and those
/// the model credits) whose true conversion share lies inside the model's
/// interval of its share of channel credit.
#[must_use]
pub fn coverage(truth: &Shares, shares: &Shares, intervals: &crate::bootstrap::ModelIntervals) -> f64 {
    let credited = shares.iter().filter(|(_, share)| share.0 > 0.0 || share.1 > 0.0).map(|(channel, _)| channel);
    let channels: BTreeSet<&String> = truth.keys().chain(credited).collect();
    let inside = channels
        .iter()
        .filter(|channel| {
            let truth = truth.get(**channel).map_or(0.0, |share| share.0) * 100.0;
            let interval = intervals.channels.get(**channel).map(|row| row.share_of_channels).unwrap_or_default();
            interval.lo <= truth && truth <= interval.hi
        })
        .count();
    #[expect(clippy::cast_precision_loss, reason = "a handful of channels")]
    let coverage = inside as f64 / channels.len().max(1) as f64;
    coverage
}

/// Spearman's rank correlation: Pearson's correlation of the ranks, ties
/// sharing their average rank. 1 when either side is constant and both
/// are (no order to get wrong), 0 when only one is.
#[must_use]
pub fn spearman(left: &[f64], right: &[f64]) -> f64 {
    let (left, right) = (ranks(left), ranks(right));
    let pearson = pearson(&left, &right);
    if pearson.is_nan() {
        let constant = |values: &[f64]| values.windows(2).all(|pair| pair[0].total_cmp(&pair[1]).is_eq());
        return if constant(&left) && constant(&right) { 1.0 } else { 0.0 };
    }
    pearson
}

/// Ranks from 1, ties sharing the average of the ranks they span.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&left, &right| values[left].total_cmp(&values[right]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]].total_cmp(&values[order[start]]).is_eq() {
            end += 1;
        }
        #[expect(clippy::cast_precision_loss, reason = "a handful of channels")]
        let average = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = average;
        }
        start = end;
    }
    ranks
}

fn pearson(left: &[f64], right: &[f64]) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "a handful of channels")]
    let count = left.len() as f64;
    let mean = |values: &[f64]| values.iter().sum::<f64>() / count;
    let (left_mean, right_mean) = (mean(left), mean(right));
    let (mut covariance, mut left_spread, mut right_spread) = (0.0, 0.0, 0.0);
    for (a, b) in left.iter().zip(right) {
        covariance += (a - left_mean) * (b - right_mean);
        left_spread += (a - left_mean).powi(2);
        right_spread += (b - right_mean).powi(2);
    }
    covariance / (left_spread * right_spread).sqrt()
}

/// `evaluate.csv`: one row per world and model.
///
/// # Errors
///
/// Whatever the sink returns.
pub fn write_csv(evaluations: &[Evaluation], sink: &mut dyn Write) -> io::Result<()> {
    let mut writer = CsvWriter::new(sink);
    let header =
        ["scenario", "model", "mae_conversions_pp", "mae_revenue_pp", "spearman", "max_error_pp", "max_error_channel"];
    // With bootstrap intervals, how often they hold the truth.
    let covered = evaluations.iter().flat_map(|evaluation| &evaluation.scores).any(|score| score.coverage.is_some());
    writer.record(header.into_iter().chain(covered.then_some("interval_coverage")).map(Some))?;
    for evaluation in evaluations {
        for score in &evaluation.scores {
            let fields = [
                evaluation.name.clone(),
                score.model.clone(),
                format!("{:.3}", score.mae_conversions),
                format!("{:.3}", score.mae_revenue),
                format!("{:.4}", score.spearman),
                format!("{:.3}", score.max_error),
                score.max_channel.clone(),
            ];
            let coverage = covered.then(|| score.coverage.map(|coverage| format!("{coverage:.4}")).unwrap_or_default());
            let fields: Vec<String> = fields.into_iter().chain(coverage).collect();
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
    }
    Ok(())
}

/// The table `touchpath evaluate` prints: per world, each model's
/// conversion-share error (points), the best marked with `*`; then
/// Spearman's correlation.
#[must_use]
pub fn render_table(evaluations: &[Evaluation]) -> String {
    use std::fmt::Write as _;
    let models: Vec<&str> = evaluations
        .first()
        .map(|evaluation| evaluation.scores.iter().map(|score| score.model.as_str()).collect())
        .unwrap_or_default();
    let width = evaluations.iter().map(|evaluation| evaluation.name.len()).chain(["scenario".len()]).max().unwrap_or(8);
    let columns: Vec<usize> = models.iter().map(|model| model.len().max(8)).collect();
    let mut text = String::new();
    let covered = evaluations.iter().flat_map(|evaluation| &evaluation.scores).any(|score| score.coverage.is_some());
    let sections = [
        ("Mean absolute error of channel conversion shares, percentage points (* best)", 0, 2),
        ("Spearman rank correlation of channels with the truth", 1, 2),
        ("Share of channels whose true share lies inside the model's bootstrap interval", 2, 2),
    ];
    for &(title, pick, decimals) in sections.iter().filter(|section| section.1 < 2 || covered) {
        let _ = writeln!(text, "{title}");
        let _ = write!(text, "{:<width$}", "scenario");
        for (model, column) in models.iter().zip(&columns) {
            let _ = write!(text, "  {model:>column$}");
        }
        text.push('\n');
        for evaluation in evaluations {
            let _ = write!(text, "{:<width$}", evaluation.name);
            let best = evaluation.best().map(|score| score.model.as_str());
            for (model, column) in models.iter().zip(&columns) {
                let cell = evaluation.scores.iter().find(|score| score.model == *model).map_or_else(
                    || "-".to_owned(),
                    |score| {
                        let value = match pick {
                            0 => Some(score.mae_conversions),
                            1 => Some(score.spearman),
                            _ => score.coverage,
                        };
                        let mark = if pick == 0 && best == Some(*model) { "*" } else { "" };
                        value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}{mark}"))
                    },
                );
                let _ = write!(text, "  {cell:>column$}");
            }
            text.push('\n');
        }
        text.push('\n');
    }
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(values: &[(&str, f64)]) -> Shares {
        values.iter().map(|&(channel, share)| (channel.to_owned(), (share, share))).collect()
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[0.3, 0.1, 0.3, 0.0]), [3.5, 2.0, 3.5, 1.0]);
    }

    #[test]
    fn spearman_by_hand() {
        // Ranks 1 2 3 4 against 1 3 2 4: d² = 0 + 1 + 1 + 0 = 2,
        // ρ = 1 − 6·2 / (4·15) = 0.8.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 30.0, 20.0, 40.0]) - 0.8).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 1.0], &[1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0, 2.0], &[5.0, 5.0]).abs() < 1e-12);
    }

    #[test]
    fn scores_by_hand() {
        // Truth 50/30/20; model 35/35/20/10 on a fourth channel the truth
        // gives nothing, and 0 on a fifth (spend only, left out): errors
        // 15, 5, 0, 10 points over four channels.
        let truth = shares(&[("a", 0.5), ("b", 0.3), ("c", 0.2)]);
        let model = shares(&[("a", 0.35), ("b", 0.35), ("c", 0.2), ("d", 0.1), ("e", 0.0)]);
        let score = score("m", &truth, &model);
        assert!((score.mae_conversions - 7.5).abs() < 1e-9, "{score:?}");
        assert!((score.mae_revenue - 7.5).abs() < 1e-9);
        assert!((score.max_error - 15.0).abs() < 1e-9);
        assert_eq!(score.max_channel, "a");
        // Ranks: truth a 4, b 3, c 2, d 1; model a and b tie at 3.5, c 2,
        // d 1. Deviations from 2.5: (1.5, .5, −.5, −1.5) and (1, 1, −.5,
        // −1.5): ρ = 4.5 / √(5 · 4.5) = 0.948683.
        assert!((score.spearman - 4.5 / 22.5_f64.sqrt()).abs() < 1e-12);
    }
}
