//! The reports: credit per channel, campaign and stage under each model, with
//! spend, ROAS, CPA and funnel KPIs.
//!
//! Tables are long and tidy (one row per model and group), sorted by model
//! in registry order then by name, with fixed decimals, so the same input
//! always gives the same bytes. Formulas and edge cases: `docs/reports.md`.

mod extras;
pub mod html;
mod kpis;
mod paths;
mod rounding;
mod spend;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

pub use self::kpis::{Counters, Kpis, is_video_channel, ratio};
pub use self::paths::{PathTotals, Paths, rank_rows, write_path_rows};
pub use self::rounding::{Column, apportion_units, format_exact, format_units, round_units};
pub use self::spend::{PeriodSpend, SpendTotals};
pub use self::table::{OutputFormat, render};
use crate::Result;
use crate::attribution::{CreditSums, Credits, credit};
use crate::config::Config;
use crate::event::{NO_CHANNEL, Stage};
use crate::event_log::{EventLog, NO_CHANNEL_CODE};
use crate::ingest::SpendRow;
use crate::journey::Journeys;
use crate::models;
use crate::moment::{Moments, StateScores};
use crate::output::CsvWriter;
use crate::state::Aggregates;

/// The model whose credit the others are compared with.
pub const BASELINE_MODEL: &str = "last_click";

/// Credit of one model, grouped for the reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCredit {
    /// The model's name.
    pub model: &'static str,
    /// Per channel name.
    pub channels: BTreeMap<String, CreditSums>,
    /// Per (channel, campaign).
    pub campaigns: BTreeMap<(String, String), CreditSums>,
    /// Per stage.
    pub stages: BTreeMap<Stage, CreditSums>,
    /// All of it: equals the conversions and revenue attributed.
    pub total: CreditSums,
    /// Credit units per channel landing early, mid and late in paths.
    pub positions: BTreeMap<String, [i128; 3]>,
}

/// A model's totals, for the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelTotal {
    /// The model.
    pub model: &'static str,
    /// Credited conversions (equal to the conversions attributed).
    pub conversions: f64,
    /// Credited revenue (equal to their revenue).
    pub revenue: f64,
}

/// The models of a run fitted on its counts over every journey, ready to
/// credit converting journeys batch after batch ([`Analysis::tally`]); also
/// used for `--journeys-out`.
pub struct Analysis {
    /// Every selected model, fitted.
    pub models: Vec<Box<dyn models::AttributionModel>>,
    /// Conversion probabilities of the first-order chain.
    pub scores: StateScores,
    /// The channels of the first-order chain.
    chain_channels: Vec<u32>,
}

impl Analysis {
    /// Fits every selected model on `aggregates`.
    ///
    /// # Errors
    ///
    /// An unknown model name in `config.models`.
    pub fn fit(aggregates: &Aggregates, config: &Config) -> Result<Self> {
        let first_order = aggregates.first_order.chain(1);
        let higher_order = (config.markov_order > 1).then(|| aggregates.higher_order.chain(config.markov_order));
        let models = models::build(config, &first_order, higher_order.as_ref(), &aggregates.coalitions)?;
        Ok(Self { models, scores: StateScores::new(&first_order), chain_channels: first_order.channels() })
    }

    /// The tally of no journey.
    #[must_use]
    pub fn empty_tally(&self) -> Tally {
        Tally { credits: Credits::new(self.models.len()), moments: Moments::default() }
    }

    /// Credits and moments of truth of the converting journeys of `log` in
    /// the analysis period, with channel codes of the run's dictionaries.
    #[must_use]
    pub fn tally(&self, log: &EventLog, journeys: &Journeys, config: &Config) -> Tally {
        Tally {
            credits: credit(log, journeys, &self.models, config),
            moments: Moments::find(log, journeys, &self.scores, config),
        }
    }
}

/// Credit and moments of truth summed over batches of journeys: merging is
/// exact, associative and commutative, so any split of the users into
/// batches gives the same reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Credit per model, before rescaling.
    pub credits: Credits,
    /// Moments of truth.
    pub moments: Moments,
}

impl Tally {
    /// Adds the tally of other journeys.
    #[must_use]
    pub fn merge(self, other: Self) -> Self {
        Self { credits: self.credits.merge(other.credits), moments: self.moments.merge(other.moments) }
    }
}

/// Everything the report files are written from.
#[derive(Clone, Debug, PartialEq)]
pub struct Reports {
    /// One entry per model, in registry order.
    pub models: Vec<ModelCredit>,
    /// Spend in the analysis period.
    pub spend: PeriodSpend,
    /// KPI counters, keyed by channel name.
    pub channel_kpis: BTreeMap<String, Counters>,
    /// KPI counters per stage.
    pub stage_kpis: BTreeMap<Stage, Counters>,
    /// P(conversion | the channel's state) in the first-order chain.
    pub touchpoint_scores: BTreeMap<String, f64>,
    /// `markov`'s removal effect per channel, when it ran.
    pub removal_effects: Option<BTreeMap<String, f64>>,
    /// Moments of truth per (channel, stage).
    pub moments: BTreeMap<(String, Stage), crate::moment::MomentCounts>,
    /// First purchases with a moment of truth.
    pub moments_total: u64,
    /// The first [`Reports::top`] channel paths, ranked.
    pub channel_paths: Vec<(String, PathTotals)>,
    /// The first [`Reports::top`] stage sequences, ranked.
    pub stage_paths: Vec<(String, PathTotals)>,
    /// How many paths `paths.csv` and `stage_paths.csv` list.
    pub top: usize,
}

impl Reports {
    /// Runs every selected model over the converting journeys and builds all
    /// reports: credit per channel, campaign and stage, spend in the period,
    /// KPIs, removal effects, moments of truth and conversion paths.
    ///
    /// `log` and `journeys` need only hold the converting journeys of the
    /// analysis period; the models are fitted on `aggregates`, counted over
    /// every journey with the same channel codes.
    ///
    /// # Errors
    ///
    /// An unknown model name in `config.models`.
    pub fn compute(
        log: &EventLog,
        journeys: &Journeys,
        aggregates: &Aggregates,
        config: &Config,
        spend_rows: &[SpendRow],
        top: usize,
    ) -> Result<(Self, Analysis)> {
        let analysis = Analysis::fit(aggregates, config)?;
        let tally = analysis.tally(log, journeys, config);
        let reports = Self::finish(log, aggregates, &analysis, tally, config, spend_rows, top);
        Ok((reports, analysis))
    }

    /// Builds the reports from the tally of every converting journey:
    /// rescales credit where a model has channel targets, groups it by name
    /// (`log` gives the dictionaries of channels and campaigns; its events
    /// are not read) and joins spend, KPIs, scores and paths.
    #[must_use]
    pub fn finish(
        log: &EventLog,
        aggregates: &Aggregates,
        analysis: &Analysis,
        tally: Tally,
        config: &Config,
        spend_rows: &[SpendRow],
        top: usize,
    ) -> Self {
        let Tally { mut credits, moments } = tally;
        credits.rescale(&analysis.models);
        let names: Vec<&'static str> = analysis.models.iter().map(|model| model.name()).collect();
        let mut reports =
            Self::new(log, &credits, &names, PeriodSpend::new(spend_rows, config), aggregates.kpis.clone());

        let channel_name = |code: u32| log.channels.get(code).to_owned();
        reports.touchpoint_scores = analysis
            .chain_channels
            .iter()
            .map(|&code| (channel_name(code), analysis.scores.channel_score(code)))
            .collect();
        reports.removal_effects = analysis
            .models
            .iter()
            .find_map(|model| model.channel_targets())
            .map(|effects| effects.iter().map(|(&code, &effect)| (channel_name(code), effect)).collect());
        reports.moments_total = moments.total;
        reports.moments =
            moments.counts.into_iter().map(|((code, stage), counts)| ((channel_name(code), stage), counts)).collect();
        reports.channel_paths = aggregates.paths.channel_rows(log, top);
        reports.stage_paths = aggregates.paths.stage_rows(top);
        reports.top = top;
        reports
    }

    /// Groups credit by name and joins spend and KPIs.
    fn new(log: &EventLog, credits: &Credits, model_names: &[&'static str], spend: PeriodSpend, kpis: Kpis) -> Self {
        let channel_name =
            |code: u32| if code == NO_CHANNEL_CODE { NO_CHANNEL.to_owned() } else { log.channels.get(code).to_owned() };
        let models = model_names
            .iter()
            .zip(&credits.per_model)
            .zip(&credits.positions)
            .map(|((&model, table), positions)| {
                let mut credit = ModelCredit { model, ..ModelCredit::default() };
                credit.positions = positions.iter().map(|(&code, &buckets)| (channel_name(code), buckets)).collect();
                for (key, &sums) in table {
                    let channel = channel_name(key.channel);
                    let campaign = log.campaigns.get(key.campaign).to_owned();
                    add(credit.channels.entry(channel.clone()).or_default(), sums);
                    add(credit.campaigns.entry((channel, campaign)).or_default(), sums);
                    add(credit.stages.entry(key.stage).or_default(), sums);
                    add(&mut credit.total, sums);
                }
                credit
            })
            .collect();
        let channel_kpis = kpis.channels.into_iter().map(|(code, counters)| (channel_name(code), counters)).collect();
        let stage_kpis = kpis.stages.into_iter().collect();
        Self {
            models,
            spend,
            channel_kpis,
            stage_kpis,
            touchpoint_scores: BTreeMap::new(),
            removal_effects: None,
            moments: BTreeMap::new(),
            moments_total: 0,
            channel_paths: Vec::new(),
            stage_paths: Vec::new(),
            top: 100,
        }
    }

    /// Each model's totals.
    #[must_use]
    pub fn totals(&self) -> Vec<ModelTotal> {
        self.models
            .iter()
            .map(|credit| ModelTotal {
                model: credit.model,
                conversions: credit.total.conversions(),
                revenue: credit.total.revenue(),
            })
            .collect()
    }

    /// Every channel with credit under any model or with spend, by name.
    #[must_use]
    pub fn channel_names(&self) -> BTreeSet<String> {
        let credited = self.models.iter().flat_map(|credit| credit.channels.keys().cloned());
        credited.chain(self.spend.channels.keys().cloned()).collect()
    }

    fn baseline(&self) -> Option<&ModelCredit> {
        self.models.iter().find(|credit| credit.model == BASELINE_MODEL)
    }

    /// `channels.csv`.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_channels(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            [
                "model",
                "channel",
                "conversions",
                "revenue",
                "share_of_conversions",
                "share_of_revenue",
                "spend",
                "roas",
                "cpa",
                "change_vs_last_click",
            ]
            .map(Some),
        )?;
        let baseline = self.baseline();
        for credit in &self.models {
            for channel in self.channel_names() {
                let sums = credit.channels.get(&channel).copied().unwrap_or_default();
                let spend = self.spend.channels.get(&channel);
                let baseline_sums = baseline.map(|base| base.channels.get(&channel).copied().unwrap_or_default());
                let change =
                    baseline_sums.filter(|base| base.units > 0).map(|base| change_percent(sums.units, base.units));
                let fields = [
                    credit.model.to_owned(),
                    channel,
                    fixed(Some(sums.conversions()), 6),
                    fixed(Some(sums.revenue()), 2),
                    fixed(share(sums.units, credit.total.units), 4),
                    fixed(share(sums.revenue, credit.total.revenue), 4),
                    fixed(spend.map(SpendTotals::amount), 2),
                    fixed(roas(sums, spend), 4),
                    fixed(cpa(sums, spend), 2),
                    fixed(change, 2),
                ];
                writer.record(fields.iter().map(|field| Some(field.as_str())))?;
            }
        }
        Ok(())
    }

    /// `campaigns.csv`.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_campaigns(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(["model", "channel", "campaign", "conversions", "revenue", "spend", "roas", "cpa"].map(Some))?;
        let keys: BTreeSet<(String, String)> = self
            .models
            .iter()
            .flat_map(|credit| credit.campaigns.keys().cloned())
            .chain(self.spend.campaigns.keys().cloned())
            .collect();
        for credit in &self.models {
            for key in &keys {
                let sums = credit.campaigns.get(key).copied().unwrap_or_default();
                let spend = self.spend.campaigns.get(key);
                let fields = [
                    credit.model.to_owned(),
                    key.0.clone(),
                    key.1.clone(),
                    fixed(Some(sums.conversions()), 6),
                    fixed(Some(sums.revenue()), 2),
                    fixed(spend.map(SpendTotals::amount), 2),
                    fixed(roas(sums, spend), 4),
                    fixed(cpa(sums, spend), 2),
                ];
                writer.record(fields.iter().map(|field| Some(field.as_str())))?;
            }
        }
        Ok(())
    }

    /// `stages.csv`: every funnel stage, in funnel order (`unknown` only when
    /// it has credit or spend).
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_stages(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            ["model", "stage", "conversions", "revenue", "share_of_revenue", "spend", "share_of_spend"].map(Some),
        )?;
        for credit in &self.models {
            for stage in self.stages() {
                let sums = credit.stages.get(&stage).copied().unwrap_or_default();
                let spend = self.spend.stages.get(&stage).copied().unwrap_or_default();
                let fields = [
                    credit.model.to_owned(),
                    stage.as_str().to_owned(),
                    fixed(Some(sums.conversions()), 6),
                    fixed(Some(sums.revenue()), 2),
                    fixed(share(sums.revenue, credit.total.revenue), 4),
                    fixed(Some(spend.amount()), 2),
                    fixed(share(spend.spend, self.spend.total.spend), 4),
                ];
                writer.record(fields.iter().map(|field| Some(field.as_str())))?;
            }
        }
        Ok(())
    }

    fn stages(&self) -> Vec<Stage> {
        let unknown_used = self.spend.stages.contains_key(&Stage::Unknown)
            || self.models.iter().any(|credit| credit.stages.contains_key(&Stage::Unknown));
        Stage::ALL.into_iter().filter(|&stage| stage != Stage::Unknown || unknown_used).collect()
    }

    /// `kpis.csv`: one row per channel, then one per stage.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_kpis(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            [
                "level",
                "name",
                "impressions",
                "clicks",
                "visits",
                "reach",
                "frequency",
                "ctr",
                "spend",
                "cpm",
                "cpc",
                "journeys",
                "conversion_rate",
                "avg_position",
                "median_hours_to_conversion",
                "touchpoint_score",
            ]
            .map(Some),
        )?;
        let empty = Counters::default();
        let channels: BTreeSet<String> = self
            .channel_kpis
            .keys()
            .filter(|name| *name != NO_CHANNEL)
            .cloned()
            .chain(self.spend.channels.keys().cloned())
            .collect();
        for channel in channels {
            let counters = self.channel_kpis.get(&channel).unwrap_or(&empty);
            let mut row = kpi_row("channel", &channel, counters, self.spend.channels.get(&channel));
            row.push(fixed(self.touchpoint_scores.get(&channel).copied(), 6));
            writer.record(row.iter().map(|field| Some(field.as_str())))?;
        }
        for stage in self.stages() {
            let counters = self.stage_kpis.get(&stage).unwrap_or(&empty);
            let mut row = kpi_row("stage", stage.as_str(), counters, self.spend.stages.get(&stage));
            row.push(String::new());
            writer.record(row.iter().map(|field| Some(field.as_str())))?;
        }
        Ok(())
    }
}

fn add(sums: &mut CreditSums, other: CreditSums) {
    sums.units += other.units;
    sums.revenue += other.revenue;
}

/// One `kpis.csv` row. Impressions and clicks come from the spend table
/// where it gives them, else from the log; frequency is the log's
/// impressions over the log's reach, so both sides count the same people.
fn kpi_row(level: &str, name: &str, counters: &Counters, spend: Option<&SpendTotals>) -> Vec<String> {
    let impressions =
        spend.filter(|spend| spend.has_impressions).map_or(counters.impressions, |spend| spend.impressions);
    let clicks = spend.filter(|spend| spend.has_clicks).map_or(counters.clicks, |spend| spend.clicks);
    let amount = spend.map(SpendTotals::amount);
    #[expect(clippy::cast_precision_loss, reason = "display")]
    let per = |count: u64, scale: f64| amount.filter(|_| count > 0).map(|amount| amount / count as f64 * scale);
    vec![
        level.to_owned(),
        name.to_owned(),
        impressions.to_string(),
        clicks.to_string(),
        counters.visits.to_string(),
        counters.reach.to_string(),
        fixed(ratio(counters.impressions, counters.reach), 4),
        fixed(ratio(clicks, impressions), 6),
        fixed(amount, 2),
        fixed(per(impressions, 1000.0), 4),
        fixed(per(clicks, 1.0), 4),
        counters.journeys.to_string(),
        fixed(counters.conversion_rate(), 6),
        fixed(counters.average_position(), 4),
        fixed(counters.median_hours_to_conversion(), 2),
    ]
}

/// ROAS = credited revenue ÷ spend; empty without spend or with spend 0.
#[must_use]
pub fn roas(sums: CreditSums, spend: Option<&SpendTotals>) -> Option<f64> {
    spend.filter(|spend| spend.spend > 0).map(|spend| sums.revenue() / spend.amount())
}

/// CPA = spend ÷ credited conversions; empty without spend rows or without
/// credit.
#[must_use]
pub fn cpa(sums: CreditSums, spend: Option<&SpendTotals>) -> Option<f64> {
    spend.filter(|_| sums.units > 0).map(|spend| spend.amount() / sums.conversions())
}

/// `part ÷ whole × 100`, empty for a zero whole.
#[must_use]
pub fn share(part: i128, whole: i128) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "display")]
    (whole != 0).then(|| part as f64 / whole as f64 * 100.0)
}

fn change_percent(value: i128, baseline: i128) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "display")]
    let change = (value - baseline) as f64 / baseline as f64 * 100.0;
    change
}

/// A number with fixed decimals (`-0` written as `0`), or empty.
#[must_use]
pub fn fixed(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) if value.is_finite() => {
            let text = format!("{value:.decimals$}");
            if text.starts_with('-') && text[1..].bytes().all(|byte| byte == b'0' || byte == b'.') {
                text[1..].to_owned()
            } else {
                text
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(amount: i64) -> SpendTotals {
        SpendTotals { spend: i128::from(amount), ..SpendTotals::default() }
    }

    #[test]
    fn roas_and_cpa_edge_cases() {
        let credited = CreditSums { units: 2 * i128::from(crate::models::CONVERSION_UNITS), revenue: 300_000_000 };
        let nothing = CreditSums::default();
        assert_eq!(roas(credited, Some(&spend(100_000_000))), Some(3.0));
        assert_eq!(cpa(credited, Some(&spend(100_000_000))), Some(50.0));
        // No spend rows: both empty.
        assert_eq!((roas(credited, None), cpa(credited, None)), (None, None));
        // Spend of 0: no ROAS (never infinity), a CPA of 0.
        assert_eq!((roas(credited, Some(&spend(0))), cpa(credited, Some(&spend(0)))), (None, Some(0.0)));
        // Spend without credit: ROAS 0, no CPA.
        assert_eq!((roas(nothing, Some(&spend(5_000_000))), cpa(nothing, Some(&spend(5_000_000)))), (Some(0.0), None));
    }

    #[test]
    fn fixed_decimals_never_print_negative_zero() {
        assert_eq!(fixed(Some(-0.0), 2), "0.00");
        assert_eq!(fixed(Some(-0.001), 2), "0.00");
        assert_eq!(fixed(Some(-1.5), 1), "-1.5");
        assert_eq!(fixed(Some(f64::INFINITY), 2), "");
        assert_eq!(fixed(None, 2), "");
        assert_eq!(share(1, 3).map(|value| fixed(Some(value), 4)), Some("33.3333".to_owned()));
        assert_eq!(share(1, 0), None);
    }
}
