//! Reading a `truth.csv` back, from `touchpath generate --truth` or from
//! another tool that writes the same columns.

use std::path::Path;

use super::ScenarioScore;
use crate::generate::Truth;
use crate::generate::truth::ChannelTruth;
use crate::{Error, Result};

/// Reads `truth.csv`: a header naming at least `channel`, `conversions`
/// and `revenue`; one row per channel, plus the optional `baseline` and
/// `total` rows. `removal_conversions` and `removal_revenue` are read when
/// present.
///
/// # Errors
///
/// [`Error::Input`] naming the file, line and column of what cannot be
/// read.
pub fn read_truth(path: &Path) -> Result<Truth> {
    let (columns, lines) = read_lines(path)?;
    let fail = |line: usize, reason: String| fail(path, line, reason);
    let position = |name: &str| columns.iter().position(|column| column == name);
    let required = |name: &str| position(name).ok_or_else(|| fail(1, format!("column `{name}` not found")));
    let (channel, conversions, revenue) = (required("channel")?, required("conversions")?, required("revenue")?);
    let (removal_conversions, removal_revenue) = (position("removal_conversions"), position("removal_revenue"));
    let mut truth = Truth {
        channels: Vec::new(),
        baseline_conversions: 0,
        baseline_revenue: 0.0,
        total_conversions: 0,
        total_revenue: 0.0,
    };
    for (number, line) in &lines {
        let (number, fields) = (*number, line.split(',').map(str::trim).collect::<Vec<&str>>());
        let number_at = |index: usize, column: &str| parse_number(path, number, &fields, index, column);
        let optional = |index: Option<usize>, column: &str| -> Result<f64> {
            match index {
                Some(index) if fields.get(index).is_some_and(|raw| !raw.is_empty()) => number_at(index, column),
                _ => Ok(0.0),
            }
        };
        let name = fields.get(channel).copied().unwrap_or("");
        let value = number_at(conversions, "conversions")?;
        let money = number_at(revenue, "revenue")?;
        match name {
            "" => return Err(fail(number, "column `channel` is empty".to_owned())),
            "baseline" => (truth.baseline_conversions, truth.baseline_revenue) = (whole(value), money),
            "total" => (truth.total_conversions, truth.total_revenue) = (whole(value), money),
            _ => truth.channels.push(ChannelTruth {
                channel: name.to_owned(),
                conversions: value,
                revenue: money,
                #[expect(clippy::cast_possible_truncation, reason = "whole purchase counts")]
                removal_conversions: optional(removal_conversions, "removal_conversions")?.round() as i64,
                removal_revenue: optional(removal_revenue, "removal_revenue")?,
            }),
        }
    }
    if truth.channels.is_empty() {
        return Err(fail(2, "no channel row".to_owned()));
    }
    truth.channels.sort_by(|left, right| left.channel.cmp(&right.channel));
    Ok(truth)
}

#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "whole, non-negative purchase counts")]
fn whole(value: f64) -> u64 {
    value.max(0.0).round() as u64
}

/// Reads `evaluate.csv`, as `touchpath evaluate` writes it: at least the
/// columns `scenario`, `model`, `mae_conversions_pp` and `spearman`.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read; [`Error::Input`] naming the
/// file, line and column of what cannot be read.
pub fn read_scores(path: &Path) -> Result<Vec<ScenarioScore>> {
    let (columns, lines) = read_lines(path)?;
    let fail = |line: usize, reason: String| fail(path, line, reason);
    let required = |name: &str| {
        columns.iter().position(|column| column == name).ok_or_else(|| fail(1, format!("column `{name}` not found")))
    };
    let (scenario, model) = (required("scenario")?, required("model")?);
    let (error, spearman) = (required("mae_conversions_pp")?, required("spearman")?);
    let mut scores = Vec::new();
    for (number, line) in &lines {
        let (number, fields) = (*number, line.split(',').map(str::trim).collect::<Vec<&str>>());
        let text = |index: usize, column: &str| -> Result<String> {
            match fields.get(index) {
                Some(value) if !value.is_empty() => Ok((*value).to_owned()),
                _ => Err(fail(number, format!("column `{column}` is empty"))),
            }
        };
        let number_at = |index: usize, column: &str| parse_number(path, number, &fields, index, column);
        scores.push(ScenarioScore {
            scenario: text(scenario, "scenario")?,
            model: text(model, "model")?,
            mae_conversions: number_at(error, "mae_conversions_pp")?,
            spearman: number_at(spearman, "spearman")?,
        });
    }
    if scores.is_empty() {
        return Err(fail(2, "no score row".to_owned()));
    }
    Ok(scores)
}

/// A line of a file and its number, from 1.
type NumberedLine = (usize, String);

/// A small CSV file without quoted fields: its header's columns, trimmed,
/// and its non-empty lines after the header with their line numbers.
fn read_lines(path: &Path) -> Result<(Vec<String>, Vec<NumberedLine>)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
    let mut lines = text.lines().enumerate().map(|(index, line)| (index + 1, line));
    let (_, header) = lines.next().ok_or_else(|| fail(path, 1, "empty file: expected a header".to_owned()))?;
    let columns = header.split(',').map(|column| column.trim().to_owned()).collect();
    Ok((
        columns,
        lines.filter(|(_, line)| !line.trim().is_empty()).map(|(number, line)| (number, line.to_owned())).collect(),
    ))
}

/// The error for line `line` of `path`.
fn fail(path: &Path, line: usize, reason: impl std::fmt::Display) -> Error {
    Error::Input { path: path.to_owned(), reason: format!("line {line}: {reason}") }
}

/// Field `index` of line `line`, a finite number.
fn parse_number(path: &Path, line: usize, fields: &[&str], index: usize, column: &str) -> Result<f64> {
    let raw = fields.get(index).copied().unwrap_or("");
    raw.parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| fail(path, line, format!("column `{column}`: `{raw}` is not a number")))
}
