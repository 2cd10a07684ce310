//! The model comparison printed on stdout.

use std::fmt::Write as _;

use serde_json::json;

use super::{Column, Reports, UNITS, cpa, fixed, roas};

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

fn table(reports: &Reports) -> String {
    let channels: Vec<String> = reports.channel_names().into_iter().collect();
    let width = channels.iter().map(String::len).chain(["channel".len(), "total".len()]).max().unwrap_or(7);
    let columns: Vec<usize> = reports.models.iter().map(|credit| credit.model.len().max(10)).collect();
    let mut text = String::new();
    let header = |text: &mut String, title: &str| {
        let _ = writeln!(text, "{title}");
        let _ = write!(text, "{:<width$}", "channel");
        for (credit, column) in reports.models.iter().zip(&columns) {
            let _ = write!(text, "  {:>column$}", credit.model);
        }
        text.push('\n');
    };
    // Each model's column adds up, as printed, to its total.
    let printed: Vec<Column<&String>> = reports
        .models
        .iter()
        .map(|credit| {
            let units = |channel| credit.channels.get(channel).map_or(0, |sums| sums.units);
            Column::sums(channels.iter().map(|channel| (channel, units(channel))), UNITS, TABLE_DECIMALS)
        })
        .collect();
    header(&mut text, "Credited conversions by channel and model");
    for channel in &channels {
        let _ = write!(text, "{channel:<width$}");
        for (cells, column) in printed.iter().zip(&columns) {
            let _ = write!(text, "  {:>column$}", cells.cell(&channel));
        }
        text.push('\n');
    }
    let _ = write!(text, "{:<width$}", "total");
    for (cells, column) in printed.iter().zip(&columns) {
        let _ = write!(text, "  {:>column$}", cells.total());
    }
    text.push_str("\n\n");
    header(&mut text, "ROAS by channel and model (credited revenue / spend; - where there is no spend)");
    for channel in channels.iter().filter(|channel| reports.spend.channels.contains_key(*channel)) {
        let _ = write!(text, "{channel:<width$}");
        for (credit, column) in reports.models.iter().zip(&columns) {
            let sums = credit.channels.get(channel).copied().unwrap_or_default();
            let value = fixed(roas(sums, reports.spend.channels.get(channel)), 2);
            let _ = write!(text, "  {:>column$}", if value.is_empty() { "-" } else { &value });
        }
        text.push('\n');
    }
    text
}

fn json_rows(reports: &Reports) -> String {
    let mut rows = Vec::new();
    for credit in &reports.models {
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
        }
    }
    serde_json::to_string_pretty(&rows).map(|json| json + "\n").unwrap_or_default()
}
