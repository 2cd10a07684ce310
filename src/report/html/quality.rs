//! The data-quality section: where every input row went, warnings, users set
//! aside, spend, what the journeys looked like and the effective
//! configuration, all from the run's [`Summary`].

use super::numbers::Format;
use std::collections::BTreeSet;

use super::{Page, Table};
use crate::ingest::RowCounts;
use crate::report::{Reports, fixed};
use crate::summary::Summary;

const ITEM: [(&str, &str); 1] = [("item", "")];

/// The section.
pub(super) fn section(page: &mut Page, reports: &Reports, summary: &Summary) {
    page.open_section(
        "quality",
        "Where every input row went and what the run found, as in <code>summary.json</code>: every row read is \
         accepted, rejected with a reason (listed in <code>rejects.csv</code>) or dropped as a duplicate.",
    );
    rows(page, summary);
    rejects(page, summary);
    warnings(page, summary);
    let mut table = Table::new("run", "What the run found", &ITEM).column("value");
    let conversions = &summary.conversions;
    let length = &summary.path_length;
    let facts = [
        ("users", summary.users.to_string()),
        ("touches", summary.touches.to_string()),
        ("touches outside the lookback window", summary.touches_outside_window.to_string()),
        ("conversions", conversions.total.to_string()),
        ("first purchases", conversions.first.to_string()),
        ("repeat purchases", conversions.repeat.to_string()),
        ("conversions without touches", conversions.without_touches.to_string()),
        ("revenue", fixed(Some(summary.revenue), 2)),
        ("converting journeys", summary.journeys.converting.to_string()),
        ("non-converting journeys", summary.journeys.non_converting.to_string()),
        ("touches per converting path: mean", fixed(Some(length.mean), 2)),
        ("touches per converting path: median", length.p50.to_string()),
        ("touches per converting path: 90th percentile", length.p90.to_string()),
        ("touches per converting path: longest", length.max.to_string()),
        ("users set aside (more events than max_events_per_user)", summary.set_aside.users.to_string()),
        ("their events", summary.set_aside.events.to_string()),
        ("their conversions", summary.set_aside.conversions.to_string()),
    ];
    for (item, value) in facts {
        table.row(vec![item.to_owned()], vec![value]);
    }
    page.table(&table);
    spend(page, reports, summary);
    configuration(page, summary);
    page.close_section();
}

/// `read = accepted + rejected + duplicates`, per input table.
fn rows(page: &mut Page, summary: &Summary) {
    let keys = [("table", "input")];
    let mut table = Table::new("rows", "Row accounting", &keys)
        .columns_as(["read", "accepted", "rejected", "duplicates"], Format::Count)
        .column("rejected_percent");
    let mut add = |name: &str, counts: &RowCounts| {
        let cells = vec![
            counts.read.to_string(),
            counts.accepted.to_string(),
            counts.rejected.to_string(),
            counts.duplicates.to_string(),
            fixed(Some(counts.reject_rate() * 100.0), 2),
        ];
        table.row(vec![name.to_owned()], cells);
    };
    add("touchpoint log", &summary.rows);
    if let Some(spend) = &summary.spend {
        add("spend table", &spend.rows);
    }
    page.table(&table);
}

/// Rejected rows per reason, per input table.
fn rejects(page: &mut Page, summary: &Summary) {
    let spend = summary.spend.as_ref().map(|spend| &spend.rows);
    let reasons: BTreeSet<_> = summary
        .rows
        .rejected_by_reason
        .keys()
        .chain(spend.into_iter().flat_map(|rows| rows.rejected_by_reason.keys()))
        .copied()
        .collect();
    if reasons.is_empty() {
        page.push("<p class=\"note\" id=\"rejects\">No row was rejected.</p>\n");
        return;
    }
    let keys = [("reason", "reason")];
    let mut table = Table::new("rejects", "Rejected rows by reason", &keys).column_as("touchpoint log", Format::Count);
    if spend.is_some() {
        table = table.column_as("spend table", Format::Count);
    }
    for reason in reasons {
        let count = |rows: &RowCounts| rows.rejected_by_reason.get(&reason).copied().unwrap_or(0).to_string();
        let mut cells = vec![count(&summary.rows)];
        cells.extend(spend.map(count));
        table.row(vec![reason.as_str().to_owned()], cells);
    }
    page.table(&table);
}

/// Accepted rows that carry a warning, per kind.
fn warnings(page: &mut Page, summary: &Summary) {
    if summary.warnings.is_empty() {
        page.push("<p class=\"note\" id=\"warnings\">No warning.</p>\n");
        return;
    }
    let keys = [("warning", "warning")];
    let mut table = Table::new("warnings", "Warnings on accepted rows", &keys).column_as("rows", Format::Count);
    for (warning, count) in &summary.warnings {
        table.row(vec![warning.as_str().to_owned()], vec![count.to_string()]);
    }
    page.table(&table);
}

/// The spend table's account, and the part of it in the analysis period.
fn spend(page: &mut Page, reports: &Reports, summary: &Summary) {
    let Some(spend) = &summary.spend else {
        page.push("<p class=\"note\" id=\"spend\">No spend table was given: ROAS and CPA are empty.</p>\n");
        return;
    };
    let mut table = Table::new("spend", "Spend", &ITEM).column("value");
    let facts = [
        ("total accepted spend", fixed(Some(spend.total), 2)),
        ("channels with spend", spend.channels.to_string()),
        ("spend in the analysis period", fixed(Some(reports.spend.total.amount()), 2)),
        ("channels with spend in the period", reports.spend.channels.len().to_string()),
        ("campaigns with spend in the period", reports.spend.campaigns.len().to_string()),
    ];
    for (item, value) in facts {
        table.row(vec![item.to_owned()], vec![value]);
    }
    page.table(&table);
}

/// The effective configuration, as a configuration file would give it.
fn configuration(page: &mut Page, summary: &Summary) {
    page.push("<h3>Effective configuration</h3>\n");
    let text =
        toml::to_string(&summary.config).or_else(|_| serde_json::to_string_pretty(&summary.config)).unwrap_or_default();
    page.push("<pre id=\"configuration\">");
    page.text(text.trim_end());
    page.push("</pre>\n");
}
