//! The credit sections of the page: models side by side, returns on spend,
//! the funnel, touch classes, moments of truth and conversion paths.
//!
//! Each figure is computed from [`Reports`] with the same functions and
//! decimals as the CSV writers in `report/mod.rs` and `report/extras.rs`.

use std::collections::BTreeMap;
use std::io;

use super::charts::{self, Bars, ErrorBar, Funnel, Series};
use super::numbers::{self, Format};
use super::{Page, Table};
use crate::attribution::CreditSums;
use crate::bootstrap::{Interval, RowIntervals};
use crate::config::Config;
use crate::event::{NO_CHANNEL, Stage, TouchClass};
use crate::moment::median;
use crate::report::paths::path_cells;
use crate::report::{ClassTable, ModelCredit, Reports, SpendTotals, change_percent, cpa, fixed, roas, share};

/// How many channel paths the page lists (fewer when `--top` is smaller).
pub const PATHS_SHOWN: usize = 20;

/// The budget guideline: 70–80 % awareness (prospecting), 10–20 % each
/// consideration and conversion.
fn guideline(stage: Stage) -> Option<(f64, f64)> {
    match stage {
        Stage::Awareness => Some((70.0, 80.0)),
        Stage::Consideration | Stage::Conversion => Some((10.0, 20.0)),
        Stage::Loyalty | Stage::Advocacy | Stage::Unknown => None,
    }
}

const CHANNEL: [(&str, &str); 1] = [("channel", "channel")];
const CAMPAIGN: [(&str, &str); 2] = [("channel", "channel"), ("campaign", "campaign")];

fn model_names(reports: &Reports) -> Vec<&'static str> {
    reports.models.iter().map(|credit| credit.model).collect()
}

fn channel_sums(credit: &ModelCredit, channel: &str) -> CreditSums {
    credit.channels.get(channel).copied().unwrap_or_default()
}

/// One series per model, a value per category.
fn model_series(
    reports: &Reports,
    categories: &[String],
    value: impl Fn(&ModelCredit, &str) -> Option<f64>,
) -> Vec<Series> {
    reports
        .models
        .iter()
        .enumerate()
        .map(|(index, credit)| Series {
            name: credit.model.to_owned(),
            color: charts::color(index),
            values: categories.iter().map(|category| value(credit, category)).collect(),
            intervals: Vec::new(),
        })
        .collect()
}

/// `series` (one per model, from [`model_series`]) with each channel's
/// bootstrap interval that `pick` takes from its row, when the run drew
/// replicates, as error bars whose tooltips show the ends in `format`.
fn with_intervals(
    mut series: Vec<Series>,
    reports: &Reports,
    categories: &[String],
    pick: fn(&RowIntervals) -> Option<Interval>,
    format: Format,
) -> Vec<Series> {
    let Some(intervals) = &reports.intervals else {
        return series;
    };
    let level = intervals.level_percent();
    for (one, model) in series.iter_mut().zip(&intervals.models) {
        one.intervals = categories
            .iter()
            .map(|category| {
                model.channels.get(category).and_then(pick).map(|interval| ErrorBar {
                    lo: interval.lo,
                    hi: interval.hi,
                    title: format!("{level} % interval: {}", numbers::interval(format, interval.lo, interval.hi)),
                })
            })
            .collect();
    }
    series
}

/// What the error bars of a section's charts are, when `charts` draw any.
fn interval_note(page: &mut Page, reports: &Reports, charts: &[&Bars]) {
    let drawn = charts.iter().flat_map(|bars| &bars.series).any(|series| series.intervals.iter().any(Option::is_some));
    if let Some(intervals) = reports.intervals.as_ref().filter(|_| drawn) {
        page.put(format_args!(
            "<p class=\"note\">Error bars: {} % bootstrap intervals over {} resamples of users. They show \
             sampling noise (how much another sample of the same users would move a number), not model bias \
             (see <code>docs/models.md</code>, \"Intervals\").</p>\n",
            intervals.level_percent(),
            intervals.replicates
        ));
    }
}

/// A channel × model table of `value`.
fn channel_table<'a>(
    id: &'a str,
    caption: &'a str,
    reports: &Reports,
    channels: &[String],
    format: Format,
    value: impl Fn(&ModelCredit, &str) -> String,
) -> Table<'a> {
    let mut table = Table::new(id, caption, &CHANNEL).columns_as(model_names(reports), format);
    for channel in channels {
        table.row(vec![channel.clone()], reports.models.iter().map(|credit| value(credit, channel)).collect());
    }
    table
}

/// Credited conversions and revenue per channel under each model, and the
/// change against last click.
pub(super) fn models(page: &mut Page, reports: &Reports) -> io::Result<()> {
    page.open_section(
        "models",
        "Credit per channel under each model, as in <code>channels.csv</code>. Every model credits the same \
         conversions and revenue; they differ in where they put them.",
    );
    let channels: Vec<String> = reports.channel_names().into_iter().collect();
    let conversions = Bars {
        title: "Credited conversions by channel and model",
        categories: channels.clone(),
        series: with_intervals(
            model_series(reports, &channels, |credit, channel| Some(channel_sums(credit, channel).conversions())),
            reports,
            &channels,
            |row| Some(row.conversions),
            Format::Conversions,
        ),
        axis: "credited conversions",
    };
    let revenue = Bars {
        title: "Credited revenue by channel and model",
        categories: channels.clone(),
        series: with_intervals(
            model_series(reports, &channels, |credit, channel| Some(channel_sums(credit, channel).revenue())),
            reports,
            &channels,
            |row| Some(row.revenue),
            Format::Money,
        ),
        axis: "credited revenue",
    };
    interval_note(page, reports, &[&conversions, &revenue]);
    conversion_views(page, reports, &channels, &conversions)?;
    page.figure("chart-revenue", revenue.title, &revenue.legend(), charts::grouped(&revenue)?);

    // Cells and totals as channels.csv prints them: each column adds up.
    let printed = reports.channel_credit_by_model();
    let mut table = channel_table(
        "channel-conversions",
        "Credited conversions",
        reports,
        &channels,
        Format::Conversions,
        |credit, channel| printed[credit.model].conversions.cell(channel),
    );
    table.total = Some(reports.models.iter().map(|credit| printed[credit.model].conversions.total()).collect());
    page.table(&table);
    let mut table =
        channel_table("channel-revenue", "Credited revenue", reports, &channels, Format::Money, |credit, channel| {
            printed[credit.model].revenue.cell(channel)
        });
    table.total = Some(reports.models.iter().map(|credit| printed[credit.model].revenue.total()).collect());
    page.table(&table);

    if let Some(baseline) = reports.baseline() {
        let caption = format!("Change in credited conversions against {}, in %", baseline.model);
        let mut table =
            channel_table("channel-change", &caption, reports, &channels, Format::Change, |credit, channel| {
                let base = channel_sums(baseline, channel);
                let change = (base.units > 0).then(|| change_percent(channel_sums(credit, channel).units, base.units));
                fixed(change, 2)
            });
        table.signed = true;
        page.table(&table);
    } else {
        page.push("<p class=\"note\">The change against last click needs the <code>last_click</code> model.</p>\n");
    }
    page.close_section();
    Ok(())
}

/// The conversions chart in views a reader switches between without a
/// script (radio buttons and CSS): every model side by side, each model's
/// shares of its conversions, or one model alone. Print shows the first.
fn conversion_views(page: &mut Page, reports: &Reports, channels: &[String], all: &Bars) -> io::Result<()> {
    let shares = Bars {
        title: "Share of each model's credited conversions by channel, in %",
        categories: channels.to_vec(),
        series: with_intervals(
            model_series(reports, channels, |credit, channel| {
                share(channel_sums(credit, channel).units, credit.total.units)
            }),
            reports,
            channels,
            |row| Some(row.share_of_conversions),
            Format::Share,
        ),
        axis: "share of the model's credited conversions, %",
    };
    let mut views: Vec<(String, String, Bars)> = vec![
        ("chart-conversions".to_owned(), "all models".to_owned(), all.clone()),
        ("chart-conversions-shares".to_owned(), "shares".to_owned(), shares),
    ];
    // One model alone: its series of the all-models chart.
    for (credit, series) in reports.models.iter().zip(&all.series) {
        views.push((
            format!("chart-conversions-{}", credit.model),
            credit.model.to_owned(),
            Bars { title: all.title, categories: channels.to_vec(), series: vec![series.clone()], axis: all.axis },
        ));
    }
    page.push("<div class=\"switch\" role=\"group\" aria-label=\"conversions chart view\">\n");
    for (index, (id, label, _)) in views.iter().enumerate() {
        let checked = if index == 0 { " checked" } else { "" };
        page.put(format_args!(
            "<input type=\"radio\" name=\"conversions-view\" id=\"view-{id}\"{checked}>\
             <label for=\"view-{id}\">{}</label>\n",
            super::escape(label)
        ));
    }
    for (id, _, bars) in &views {
        page.push("<div class=\"view\">\n");
        page.figure(id, bars.title, &bars.legend(), charts::grouped(bars)?);
        page.push("</div>\n");
    }
    page.push("</div>\n");
    Ok(())
}

/// ROAS and CPA per channel and per campaign under each model, with spend.
pub(super) fn returns(page: &mut Page, reports: &Reports) -> io::Result<()> {
    page.open_section(
        "returns",
        "Return on ad spend (credited revenue ÷ spend) and cost per acquisition (spend ÷ credited conversions) \
         for the channels and campaigns with spend rows in the period, as in <code>channels.csv</code> and \
         <code>campaigns.csv</code>. An empty cell is not defined: no spend, or no credit.",
    );
    let channels: Vec<String> = reports.spend.channels.keys().cloned().collect();
    let names = model_names(reports);
    let chart = Bars {
        title: "ROAS by channel and model",
        categories: channels.clone(),
        series: with_intervals(
            model_series(reports, &channels, |credit, channel| {
                roas(channel_sums(credit, channel), reports.spend.channels.get(channel))
            }),
            reports,
            &channels,
            |row| row.roas,
            Format::Ratio,
        ),
        axis: "ROAS (credited revenue ÷ spend)",
    };
    interval_note(page, reports, &[&chart]);
    page.figure("chart-roas", chart.title, &chart.legend(), charts::grouped(&chart)?);

    let spend_of = |channel: &str| reports.spend.channels.get(channel);
    let (channel_spend, campaign_spend) = (reports.channel_spend(), reports.campaign_spend());
    for (id, caption, decimals, metric, format) in [
        ("channel-roas", "ROAS by channel", 4, roas as Metric, Format::Ratio),
        ("channel-cpa", "CPA by channel", 2, cpa as Metric, Format::Money),
    ] {
        let mut table = Table::new(id, caption, &CHANNEL)
            .column_as("spend", Format::Money)
            .columns_as(names.iter().copied(), format);
        for channel in &channels {
            let mut cells = vec![channel_spend.cell(channel)];
            cells.extend(
                reports
                    .models
                    .iter()
                    .map(|credit| fixed(metric(channel_sums(credit, channel), spend_of(channel)), decimals)),
            );
            table.row(vec![channel.clone()], cells);
        }
        page.table(&table);
    }
    for (id, caption, decimals, metric, format) in [
        ("campaign-roas", "ROAS by campaign", 4, roas as Metric, Format::Ratio),
        ("campaign-cpa", "CPA by campaign", 2, cpa as Metric, Format::Money),
    ] {
        let mut table = Table::new(id, caption, &CAMPAIGN)
            .column_as("spend", Format::Money)
            .columns_as(names.iter().copied(), format);
        for (key, spend) in &reports.spend.campaigns {
            let mut cells = vec![campaign_spend.cell(key)];
            cells.extend(reports.models.iter().map(|credit| {
                let sums = credit.campaigns.get(key).copied().unwrap_or_default();
                fixed(metric(sums, Some(spend)), decimals)
            }));
            table.row(vec![key.0.clone(), key.1.clone()], cells);
        }
        page.table(&table);
    }
    page.close_section();
    Ok(())
}

/// A cell of a touch-class table: model index, class → text.
type ClassCell<'a> = &'a dyn Fn(usize, &TouchClass) -> String;

type Metric = fn(CreditSums, Option<&SpendTotals>) -> Option<f64>;

/// Credit share and spend share per stage against the budget guideline.
pub(super) fn funnel(page: &mut Page, reports: &Reports) -> io::Result<()> {
    let stages = reports.stages();
    let chosen = reports.featured_model();
    page.open_section(
        "funnel",
        "Each stage's share of credited revenue and of spend, as in <code>stages.csv</code>, against a common \
         budget guideline: 70–80 % on awareness (prospecting), 10–20 % each on consideration and conversion. \
         A stage whose credit share is well above its spend share may deserve more budget.",
    );
    let spend_share = |stage: &Stage| {
        let spend = reports.spend.stages.get(stage).copied().unwrap_or_default();
        share(spend.spend, reports.spend.total.spend)
    };
    let credit_share = |credit: &ModelCredit, stage: &Stage| {
        share(credit.stages.get(stage).copied().unwrap_or_default().revenue, credit.total.revenue)
    };
    if let Some(chosen) = chosen {
        let title = format!("Share of credited revenue ({}) and of spend by stage", chosen.model);
        let chart = Funnel {
            title: &title,
            stages: stages.iter().map(|stage| stage.as_str().to_owned()).collect(),
            credit: stages.iter().map(|stage| credit_share(chosen, stage)).collect(),
            spend: stages.iter().map(spend_share).collect(),
            guideline: stages.iter().map(|stage| guideline(*stage)).collect(),
        };
        let legend = [
            (format!("share of credited revenue ({})", chosen.model), charts::css_color(charts::CREDIT)),
            ("share of spend".to_owned(), charts::css_color(charts::SPEND)),
            ("budget guideline".to_owned(), charts::GUIDELINE_CSS.to_owned()),
        ];
        page.figure("chart-funnel", &title, &legend, charts::funnel(&chart)?);
    }
    let stage_key = [("stage", "stage")];
    let mut table = Table::new("stages", "Spend share and share of credited revenue by stage, in %", &stage_key)
        .column_as("spend", Format::Money)
        .column_as("share_of_spend", Format::Share)
        .column("guideline")
        .columns_as(model_names(reports), Format::Share);
    let (printed_spend, spend_shares) = reports.stage_spend();
    let printed: Vec<_> = reports.models.iter().map(|credit| reports.stage_credit(credit)).collect();
    for stage in &stages {
        let band = guideline(*stage).map(|(low, high)| format!("{low:.0}–{high:.0}")).unwrap_or_default();
        let mut cells = vec![printed_spend.cell(stage), spend_shares.cell(stage), band];
        cells.extend(printed.iter().map(|columns| columns.share_of_revenue.cell(stage)));
        table.row(vec![stage.as_str().to_owned()], cells);
    }
    page.table(&table);
    page.close_section();
    Ok(())
}

/// Credit per touch class (paid, owned, earned) under each model.
pub(super) fn classes(page: &mut Page, reports: &Reports, config: &Config) -> io::Result<()> {
    // Every channel of the report, credited or with spend only, by class.
    let mut members: BTreeMap<TouchClass, Vec<String>> = BTreeMap::new();
    for channel in reports.channel_names() {
        members.entry(config.class_of(&channel)).or_default().push(channel);
    }
    let classes: Vec<TouchClass> = members.keys().copied().collect();
    let per_model: Vec<BTreeMap<TouchClass, CreditSums>> = reports
        .models
        .iter()
        .map(|credit| {
            let class_sums = |channels: &Vec<String>| {
                channels.iter().map(|channel| channel_sums(credit, channel)).fold(CreditSums::default(), |sum, sums| {
                    CreditSums { units: sum.units + sums.units, revenue: sum.revenue + sums.revenue }
                })
            };
            members.iter().map(|(class, channels)| (*class, class_sums(channels))).collect()
        })
        .collect();
    page.open_section(
        "classes",
        "Credit by who owns the touchpoint: <b>paid</b> media (ads), <b>owned</b> media (the advertiser's site, \
         newsletter, organic listings) and <b>earned</b> media (reviews, shares, referrals), from the \
         <code>channel_classes</code> setting; channels it does not list are <b>unknown</b>.",
    );
    page.push("<ul class=\"members\">");
    for (class, channels) in &members {
        page.put(format_args!("<li><b>{}</b>: ", class.as_str()));
        page.text(&channels.join(", "));
        page.push("</li>");
    }
    page.push("</ul>\n");

    let totals = |index: usize| reports.models[index].total;
    let value = |index: usize, class: &TouchClass| per_model[index].get(class).copied().unwrap_or_default();
    let chart = Bars {
        title: "Share of credited conversions by touch class and model",
        categories: model_names(reports).into_iter().map(str::to_owned).collect(),
        series: classes
            .iter()
            .map(|class| Series {
                name: class.as_str().to_owned(),
                color: class_color(*class),
                values: (0..per_model.len())
                    .map(|index| share(value(index, class).units, totals(index).units))
                    .collect(),
                intervals: Vec::new(),
            })
            .collect(),
        axis: "share of credited conversions, %",
    };
    page.figure("chart-classes", chart.title, &chart.legend(), charts::stacked(&chart, Some(100.0))?);

    let class_key = [("class", "class")];
    let class_table = reports.class_table(config);
    let printed = |index: usize| &class_table.models[index].2;
    let conversions = |index: usize, class: &TouchClass| printed(index).conversions.cell(class);
    let shares = |index: usize, class: &TouchClass| printed(index).share_of_conversions.cell(class);
    let tables: [(&str, &str, ClassCell, Format); 2] = [
        ("class-conversions", "Credited conversions by touch class", &conversions, Format::Conversions),
        ("class-shares", "Share of credited conversions by touch class, in %", &shares, Format::Share),
    ];
    for (id, caption, cell, format) in tables {
        let mut table = Table::new(id, caption, &class_key).columns_as(model_names(reports), format);
        for class in &classes {
            table.row(vec![class.as_str().to_owned()], (0..per_model.len()).map(|index| cell(index, class)).collect());
        }
        page.table(&table);
    }
    class_returns(page, reports, &class_table);
    page.close_section();
    Ok(())
}

/// Credited revenue and ROAS per touch class under each model, as in
/// `classes.csv`.
fn class_returns(page: &mut Page, reports: &Reports, classes: &ClassTable) {
    let class_key = [("class", "class")];
    let mut revenue = Table::new("class-revenue", "Credited revenue by touch class", &class_key)
        .columns_as(model_names(reports), Format::Money);
    let mut returns = Table::new("class-roas", "ROAS by touch class (credited revenue ÷ spend)", &class_key)
        .column_as("spend", Format::Money)
        .columns_as(model_names(reports), Format::Ratio);
    for class in classes.members.keys() {
        let key = vec![class.as_str().to_owned()];
        revenue.row(key.clone(), classes.models.iter().map(|(_, _, printed)| printed.revenue.cell(class)).collect());
        let mut cells = vec![classes.printed_spend.cell(class)];
        cells.extend(
            classes
                .models
                .iter()
                .map(|(_, sums, _)| fixed(classes.roas(sums.get(class).copied().unwrap_or_default(), *class), 4)),
        );
        returns.row(key, cells);
    }
    revenue.total = Some(classes.models.iter().map(|(_, _, printed)| printed.revenue.total()).collect());
    page.table(&revenue);
    page.table(&returns);
}

fn class_color(class: TouchClass) -> plotters::style::RGBColor {
    match class {
        TouchClass::Paid => charts::PALETTE[0],
        TouchClass::Owned => charts::PALETTE[4],
        TouchClass::Earned => charts::PALETTE[1],
        TouchClass::Unknown => charts::PALETTE[9],
    }
}

fn stage_color(stage: Stage) -> plotters::style::RGBColor {
    let index = Stage::ALL.iter().position(|other| *other == stage).unwrap_or(0);
    [0, 3, 4, 5, 6, 9].map(|palette| charts::PALETTE[palette])[index]
}

/// Which channels and stages decide first purchases.
pub(super) fn moments(page: &mut Page, reports: &Reports) -> io::Result<()> {
    page.open_section(
        "moments",
        &format!(
            "The moment of truth of a first purchase is the touch that raised its chance of converting the most \
             (in the first-order Markov chain). {} of the {} first purchases with a touch have one; here is where \
             they fell, as in <code>moments.csv</code>.",
            reports.moments_total - reports.moments_undecided,
            reports.moments_total
        ),
    );
    let mut by_channel: BTreeMap<&str, BTreeMap<Stage, u64>> = BTreeMap::new();
    for ((channel, stage), counts) in &reports.moments {
        *by_channel.entry(channel).or_default().entry(*stage).or_default() += counts.moments;
    }
    let mut channels: Vec<(&str, u64)> =
        by_channel.iter().map(|(channel, stages)| (*channel, stages.values().sum())).collect();
    channels.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(right.0)));
    let stages: Vec<Stage> =
        Stage::ALL.into_iter().filter(|stage| by_channel.values().any(|stages| stages.contains_key(stage))).collect();
    #[expect(clippy::cast_precision_loss, reason = "counts for a chart")]
    let series = stages
        .iter()
        .map(|stage| Series {
            name: stage.as_str().to_owned(),
            color: stage_color(*stage),
            values: channels
                .iter()
                .map(|(channel, _)| by_channel[channel].get(stage).map(|&count| count as f64))
                .collect(),
            intervals: Vec::new(),
        })
        .collect();
    let chart = Bars {
        title: "Moments of truth by channel and stage",
        categories: channels.iter().map(|(channel, _)| (*channel).to_owned()).collect(),
        series,
        axis: "first purchases decided",
    };
    page.figure("chart-moments", chart.title, &chart.legend(), charts::stacked(&chart, None)?);

    let keys = [("channel", "channel"), ("stage", "stage")];
    let mut table = Table::new("moments-table", "Moments of truth, most frequent first", &keys)
        .column_as("moments", Format::Count)
        .column_as("share", Format::Share)
        .column("median_touches_before")
        .column_as("median_hours_to_purchase", Format::Ratio);
    let shares = reports.moment_shares();
    let mut rows: Vec<_> = reports.moments.iter().collect();
    rows.sort_by(|left, right| right.1.moments.cmp(&left.1.moments).then(left.0.cmp(right.0)));
    for ((channel, stage), counts) in rows {
        #[expect(clippy::cast_precision_loss, reason = "display")]
        let hours = median(&counts.minutes_to_purchase).map(|minutes| minutes as f64 / 60.0);
        let cells = vec![
            counts.moments.to_string(),
            shares.cell(&(channel.clone(), *stage)),
            median(&counts.touches_before).map(|touches| touches.to_string()).unwrap_or_default(),
            fixed(hours, 2),
        ];
        table.row(vec![channel.clone(), stage.as_str().to_owned()], cells);
    }
    if reports.moments_undecided > 0 {
        // The first purchases without a moment of truth, as in `moments.csv`.
        let cells = vec![
            reports.moments_undecided.to_string(),
            shares.cell(&Reports::undecided_key()),
            String::new(),
            String::new(),
        ];
        table.row(vec![NO_CHANNEL.to_owned(), String::new()], cells);
    }
    page.table(&table);
    page.close_section();
    Ok(())
}

/// The top channel paths.
pub(super) fn paths(page: &mut Page, reports: &Reports) {
    let shown = PATHS_SHOWN.min(reports.top).min(reports.channel_paths.len());
    page.open_section(
        "paths",
        &format!(
            "The {shown} most frequent channel paths by conversions (then journeys), as at the top of \
             <code>paths.csv</code>; <code>stage_paths.csv</code> has them by funnel stage."
        ),
    );
    let keys = [("rank", "#"), ("path", "path")];
    let mut table = Table::new("paths-table", "Top conversion paths", &keys)
        .column_as("conversions", Format::Count)
        .column_as("revenue", Format::Money)
        .column_as("journeys", Format::Count)
        .column_as("conversion_rate", Format::Rate)
        .column_as("mean_touches", Format::Ratio)
        .column_as("mean_days_to_conversion", Format::Ratio);
    for (rank, (path, totals)) in reports.channel_paths.iter().take(shown).enumerate() {
        table.row(vec![(rank + 1).to_string(), path.clone()], path_cells(totals).to_vec());
    }
    page.table(&table);
    page.close_section();
}
