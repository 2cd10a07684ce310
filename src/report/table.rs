//! The model comparison printed on stdout.

use std::fmt::Write as _;

use serde_json::json;

use super::{Column, Reports, UNITS, cpa, fixed, roas, round_end};
use crate::bootstrap::{Interval, RowIntervals};

/// Decimals of the credited conversions on stdout.
const TABLE_DECIMALS: u32 = 1;

/// How the comparison is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people: credited conversions, then ROAS, channels
    /// by models.
    #[default]
    Table,
    /// `channels.csv`, as written to the output directory.
    Csv,
    /// One JSON object per model and channel.
    Json,
}

/// Renders the channel × model comparison.
#[must_use]
pub fn render(reports: &Reports, format: OutputFormat) -> String {
    match format {
        OutputFormat::Table => table(reports),
        OutputFormat::Csv => {
            let mut bytes = Vec::new();
            // Writing to memory cannot fail.
            let _ = reports.write_channels(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        OutputFormat::Json => json_rows(reports),
    }
}

/// The channel × model tables; with bootstrap intervals, each cell is
/// followed by its interval, `912.6 (878.2–948.5)`.
fn table(reports: &Reports) -> String {
    let channels: Vec<String> = reports.channel_names().into_iter().collect();
    let width = channels.iter().map(String::len).chain(["channel".len(), "total".len()]).max().unwrap_or(7);
    // Rounded outwards, as in the files.
    let interval = |index: usize, channel: &str, pick: fn(&RowIntervals) -> Option<Interval>, decimals: u32| {
        let intervals = reports.intervals.as_ref()?;
        let row = intervals.models.get(index)?.channels.get(channel)?;
        pick(row).map(|interval| {
            format!(" ({}–{})", round_end(interval.lo, decimals, false), round_end(interval.hi, decimals, true))
        })
    };
    // Each model's column adds up, as printed, to its total.
    let conversions: Vec<Vec<String>> = reports
        .models
        .iter()
        .enumerate()
        .map(|(index, credit)| {
            let units = |channel| credit.channels.get(channel).map_or(0, |sums| sums.units);
            let printed = Column::sums(channels.iter().map(|channel| (channel, units(channel))), UNITS, TABLE_DECIMALS);
            let mut cells: Vec<String> = channels
                .iter()
                .map(|channel| {
                    let bounds = interval(index, channel, |row| Some(row.conversions), 1).unwrap_or_default();
                    printed.cell(&channel) + &bounds
                })
                .collect();
            cells.push(printed.total());
            cells
        })
        .collect();
    let spent: Vec<&String> = channels.iter().filter(|channel| reports.spend.channels.contains_key(*channel)).collect();
    let roas_cells: Vec<Vec<String>> = reports
        .models
        .iter()
        .enumerate()
        .map(|(index, credit)| {
            spent
                .iter()
                .map(|channel| {
                    let sums = credit.channels.get(*channel).copied().unwrap_or_default();
                    let value = fixed(roas(sums, reports.spend.channels.get(*channel)), 2);
                    if value.is_empty() {
                        "-".to_owned()
                    } else {
                        value + &interval(index, channel, |row| row.roas, 2).unwrap_or_default()
                    }
                })
                .collect()
        })
        .collect();
    let columns: Vec<usize> = reports
        .models
        .iter()
        .zip(conversions.iter().zip(&roas_cells))
        .map(|(credit, (left, right))| {
            let cells = left.iter().chain(right).map(|cell| cell.chars().count());
            cells.chain([credit.model.len(), 10]).max().unwrap_or(10)
        })
        .collect();
    let mut text = String::new();
    let header = |text: &mut String, title: &str| {
        let _ = writeln!(text, "{title}");
        let _ = write!(text, "{:<width$}", "channel");
        for (credit, column) in reports.models.iter().zip(&columns) {
            let _ = write!(text, "  {:>column$}", credit.model);
        }
        text.push('\n');
    };
    let mut title = "Credited conversions by channel and model".to_owned();
    if let Some(intervals) = &reports.intervals {
        let _ = write!(
            title,
            " ({} % bootstrap intervals over {} resamples of users)",
            intervals.level_percent(),
            intervals.replicates
        );
    }
    header(&mut text, &title);
    for (row, name) in channels.iter().map(String::as_str).chain(["total"]).enumerate() {
        let _ = write!(text, "{name:<width$}");
        for (cells, column) in conversions.iter().zip(&columns) {
            let _ = write!(text, "  {:>column$}", cells[row]);
        }
        text.push('\n');
    }
    text.push('\n');
    header(&mut text, "ROAS by channel and model (credited revenue / spend; - where there is no spend)");
    for (row, channel) in spent.iter().enumerate() {
        let _ = write!(text, "{channel:<width$}");
        for (cells, column) in roas_cells.iter().zip(&columns) {
            let _ = write!(text, "  {:>column$}", cells[row]);
        }
        text.push('\n');
    }
    text
}

fn json_rows(reports: &Reports) -> String {
    let mut rows = Vec::new();
    for (index, credit) in reports.models.iter().enumerate() {
        for channel in reports.channel_names() {
            let sums = credit.channels.get(&channel).copied().unwrap_or_default();
            let spend = reports.spend.channels.get(&channel);
            rows.push(json!({
                "model": credit.model,
                "channel": channel,
                "conversions": sums.conversions(),
                "revenue": sums.revenue(),
                "spend": spend.map(super::SpendTotals::amount),
                "roas": roas(sums, spend),
                "cpa": cpa(sums, spend),
            }));
            let intervals = reports.intervals.as_ref().and_then(|intervals| intervals.models.get(index));
            if let (Some(row), Some(object)) = (
                intervals.and_then(|model| model.channels.get(&channel)),
                rows.last_mut().and_then(|row| row.as_object_mut()),
            ) {
                let pairs = [
                    ("conversions", Some(row.conversions)),
                    ("revenue", Some(row.revenue)),
                    ("share_of_conversions", Some(row.share_of_conversions)),
                    ("roas", row.roas),
                ];
                for (name, interval) in pairs {
                    object.insert(format!("{name}_lo"), json!(interval.map(|interval| interval.lo)));
                    object.insert(format!("{name}_hi"), json!(interval.map(|interval| interval.hi)));
                }
            }
        }
    }
    serde_json::to_string_pretty(&rows).map(|json| json + "\n").unwrap_or_default()
}
