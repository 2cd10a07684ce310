//! The reports: credit per channel, campaign, stage and touch class under each
//! model, with spend, ROAS, CPA and funnel KPIs.
//!
//! Tables are long and tidy (one row per model and group), sorted by model
//! in registry order then by name, with fixed decimals, so the same input
//! always gives the same bytes. A column with a total is rounded as a whole,
//! so that its printed cells add up to its printed total ([`Column`]).
//! Formulas and edge cases: `docs/reports.md`.

mod classes;
mod extras;
pub mod html;
mod kpis;
mod paths;
pub(crate) mod rounding;
mod shares;
mod spend;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

pub use self::classes::ClassTable;
pub use self::paths::{rank_rows, write_path_rows};
pub use self::rounding::{Column, apportion_units, format_exact, format_units, round_units};
pub use self::shares::{Pair, ScenarioScore, Shares, credit_shares};
pub use self::spend::{PeriodSpend, SpendTotals};
pub use self::table::{OutputFormat, render};
use crate::Result;
use crate::aggregate::{Aggregates, Counters, JourneyWalk, Kpis, Partial, PathTotals};
use crate::attribution::{CreditCount, CreditSums, Credits};
use crate::bootstrap::{CreditReplicates, Fits, Interval, Intervals, RowIntervals};
use crate::config::Config;
use crate::event::{BASELINE_CHANNEL, NO_CHANNEL, Stage};
use crate::event_log::{BASELINE_CODE, EventLog, NO_CHANNEL_CODE};
use crate::ingest::{SpendRow, Warning};
use crate::journey::Journeys;
use crate::models::{self, CONVERSION_UNITS};
use crate::moment::{MomentCount, Moments, StateScores};
use crate::output::CsvWriter;
use crate::summary::{ModelTotal, MomentSummary, Summary};

/// The model whose credit the others are compared with.
pub const BASELINE_MODEL: &str = "last_click";

/// The candidates, in order, for [`Reports::featured_model`]: the first that
/// ran gives `kpis.csv` its credit and the page its funnel chart (else the
/// first model does), since a data-driven model shows where credit lands.
pub const FEATURED_MODELS: [&str; 4] = ["markov", "shapley", "position_based", "linear"];

/// Decimals of credited conversions in the files.
const CONVERSION_DECIMALS: u32 = 6;

/// Decimals of money: revenue, spend, CPA.
const MONEY_DECIMALS: u32 = 2;

/// Decimals of shares, in %.
const SHARE_DECIMALS: u32 = 4;

/// Millionths per currency unit: revenue and spend are exact in millionths.
const MICROS: i128 = 1_000_000;

/// A campaign's key: (channel, campaign).
pub type CampaignKey = (String, String);

/// Campaign values in groups by channel, each with the channel's printed
/// total (see [`Column::grouped`]).
type CampaignGroups = Vec<(Vec<(CampaignKey, i128)>, i128)>;

/// Credit units per conversion, as the columns' divisor.
const UNITS: i128 = CONVERSION_UNITS as i128;

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

/// One model's credit over a set of groups (channels, stages, classes), as
/// the files print it: each column adds up, as printed, to its printed total
/// (see [`Column`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditColumns<K> {
    /// Credited conversions, six decimals.
    pub conversions: Column<K>,
    /// Credited revenue, two decimals.
    pub revenue: Column<K>,
    /// Share of the model's credited conversions, in %, four decimals.
    pub share_of_conversions: Column<K>,
    /// Share of the model's credited revenue, in %, four decimals.
    pub share_of_revenue: Column<K>,
}

impl<K: Ord + Clone> CreditColumns<K> {
    /// The groups' credit, in row order (ties of the rounding go to the
    /// earlier row); shares are of `total`, the model's whole credit.
    #[must_use]
    pub fn new(groups: &[(K, CreditSums)], total: CreditSums) -> Self {
        let values = |field: fn(&CreditSums) -> i128| groups.iter().map(move |(key, sums)| (key.clone(), field(sums)));
        Self {
            conversions: Column::sums(values(|sums| sums.units), UNITS, CONVERSION_DECIMALS),
            revenue: Column::sums(values(|sums| sums.revenue), MICROS, MONEY_DECIMALS),
            share_of_conversions: Column::shares(values(|sums| sums.units), total.units, SHARE_DECIMALS),
            share_of_revenue: Column::shares(values(|sums| sums.revenue), total.revenue, SHARE_DECIMALS),
        }
    }
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
    /// An unknown model name in `config.models`, and a Markov chain whose
    /// solve did not converge.
    pub fn fit(aggregates: &Aggregates, config: &Config) -> Result<Self> {
        Self::fit_with(aggregates, config, models::Hazard::Counts(&aggregates.hazard))
    }

    /// Fits every selected model on `aggregates`, but `incremental` as
    /// `hazard` says.
    ///
    /// # Errors
    ///
    /// As [`Analysis::fit`].
    pub fn fit_with(aggregates: &Aggregates, config: &Config, hazard: models::Hazard<'_>) -> Result<Self> {
        let first_order = aggregates.first_order.chain(1);
        let higher_order = (config.markov_order > 1).then(|| aggregates.higher_order.chain(config.markov_order));
        let models = models::build(config, &first_order, higher_order.as_ref(), &aggregates.coalitions, hazard)?;
        Ok(Self { models, scores: StateScores::new(&first_order)?, chain_channels: first_order.channels() })
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
        crate::aggregate::walk(log, journeys, config, || Tallying {
            credits: CreditCount::new(&self.models, config.bootstrap),
            moments: MomentCount::new(&self.scores),
        })
    }
}

/// The second pass's sums being counted, in one walk over the converting
/// journeys: each journey credited, then its moment of truth found (one
/// after the other per journey: crediting is the heavy part, and the two
/// read the same journey; the two one chunk after the other measured 1.04
/// times the wall time of a run, this 0.99).
struct Tallying<'a> {
    credits: CreditCount<'a>,
    moments: MomentCount<'a>,
}

impl Partial for Tallying<'_> {
    type Output = Tally;

    const CREDITED_ONLY: bool = true;

    fn finish(self) -> Tally {
        Tally { credits: self.credits.finish(), moments: self.moments.finish() }
    }

    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        self.credits.add_journey(walk);
        self.moments.add_journey(walk);
    }

    fn merge(&mut self, other: Self) {
        self.credits.merge(other.credits);
        self.moments.merge(other.moments);
    }
}

/// Credit and moments of truth summed over batches of journeys: merging is
/// exact, associative and commutative, so any split of the users into
/// batches gives the same reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    pub removal_effects: Option<BTreeMap<String, RemovalEffect>>,
    /// Moments of truth per (channel, stage).
    pub moments: BTreeMap<(String, Stage), crate::moment::MomentCounts>,
    /// First purchases with a touch in the period.
    pub moments_total: u64,
    /// Of which without a moment of truth (no touch with a positive lift).
    pub moments_undecided: u64,
    /// What fitting the data-driven models found, for `summary.json`.
    pub diagnostics: Vec<models::Diagnostics>,
    /// The first [`Reports::top`] channel paths, ranked.
    pub channel_paths: Vec<(String, PathTotals)>,
    /// The first [`Reports::top`] stage sequences, ranked.
    pub stage_paths: Vec<(String, PathTotals)>,
    /// How many paths `paths.csv` and `stage_paths.csv` list.
    pub top: usize,
    /// Bootstrap intervals of every model's rows, when the run draws
    /// replicates.
    pub intervals: Option<Intervals>,
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
        reports.removal_effects = removal_effects(log, analysis, &reports.models);
        reports.diagnostics = analysis.models.iter().filter_map(|model| model.diagnostics()).collect();
        reports.moments_total = moments.total;
        reports.moments_undecided = moments.undecided;
        reports.moments =
            moments.counts.into_iter().map(|((code, stage), counts)| ((channel_name(code), stage), counts)).collect();
        reports.channel_paths = aggregates.paths.channel_rows(log, top);
        reports.stage_paths = aggregates.paths.stage_rows(top);
        reports.top = top;
        if config.bootstrap > 0 {
            // A second pass that walked no journey holds no replicate sums.
            if credits.replicates.count == 0 {
                credits.replicates = CreditReplicates::new(config.bootstrap, analysis.models.len());
            }
            let started = std::time::Instant::now();
            let channels: Vec<String> = reports.channel_names().into_iter().collect();
            let campaigns: Vec<CampaignKey> = reports.campaign_keys().into_iter().collect();
            let stages = reports.stages();
            let fits =
                Fits { models: &analysis.models, replicates: &aggregates.replicates, credit: &credits.replicates };
            let intervals =
                Intervals::compute(log, &fits, &reports.spend, config.interval, (&channels, &campaigns, &stages));
            tracing::info!(
                event = "phase",
                phase = "intervals",
                seconds = started.elapsed().as_secs_f64(),
                replicates = intervals.replicates,
                refits_failed = intervals.refits_failed
            );
            // A point estimate outside its own interval: the model's
            // estimate moves one way under resampling (docs/models.md).
            let mut intervals = intervals;
            for (credit, rows) in reports.models.iter().zip(&intervals.models) {
                let outside = rows
                    .channels
                    .iter()
                    .filter(|(channel, row)| {
                        let point = credit.channels.get(*channel).copied().unwrap_or_default().conversions();
                        point < row.conversions.lo || point > row.conversions.hi
                    })
                    .count();
                if outside > 0 {
                    tracing::warn!(event = "estimate_outside_interval", model = credit.model, channels = outside);
                }
                intervals.estimates_outside.insert(credit.model, outside as u64);
            }
            reports.intervals = Some(intervals);
        }
        reports
    }

    /// Groups credit by name and joins spend and KPIs.
    fn new(log: &EventLog, credits: &Credits, model_names: &[&'static str], spend: PeriodSpend, kpis: Kpis) -> Self {
        let channel_name = |code: u32| match code {
            NO_CHANNEL_CODE => NO_CHANNEL.to_owned(),
            BASELINE_CODE => BASELINE_CHANNEL.to_owned(),
            _ => log.channels.get(code).to_owned(),
        };
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
            moments_undecided: 0,
            diagnostics: Vec::new(),
            channel_paths: Vec::new(),
            stage_paths: Vec::new(),
            top: 100,
            intervals: None,
        }
    }

    /// Records in `summary` what the attribution found: each model's totals, the moments
    /// of truth and the data-driven models' diagnostics. Every figure comes
    /// from merged sums or from models fitted on them, so a bucketed or
    /// merged run records the same.
    pub fn record_in(&self, summary: &mut Summary) {
        summary.models = self.totals();
        summary.moments = Some(MomentSummary {
            first_purchases: self.moments_total,
            with_moment: self.moments_total - self.moments_undecided,
            without_moment: self.moments_undecided,
        });
        for diagnostics in &self.diagnostics {
            match diagnostics {
                models::Diagnostics::Markov(solve) => summary.markov = Some(*solve),
                models::Diagnostics::Shapley(coverage) => summary.shapley = Some(*coverage),
                models::Diagnostics::Incremental(fit) => {
                    summary.incremental = Some(*fit);
                    // Any purchase gives the baseline a term above 0: none
                    // means the sample held no purchase to fit on.
                    if summary.config.incremental_sample < 1.0 && fit.terms == 0 {
                        summary.warnings.insert(Warning::IncrementalSampleWithoutPurchases, 1);
                    }
                }
            }
        }
        summary.intervals = self.intervals.as_ref().map(|intervals| crate::summary::IntervalSummary {
            replicates: intervals.replicates,
            level: intervals.level,
            refits_failed: intervals.refits_failed,
            estimates_outside: intervals.estimates_outside.clone(),
        });
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

    /// The model `kpis.csv` and the page's funnel chart feature: the first
    /// of [`FEATURED_MODELS`] that ran, else the first model.
    #[must_use]
    pub fn featured_model(&self) -> Option<&ModelCredit> {
        FEATURED_MODELS
            .iter()
            .find_map(|name| self.models.iter().find(|credit| credit.model == *name))
            .or_else(|| self.models.first())
    }

    /// A model's credit per channel of [`Reports::channel_names`], as
    /// `channels.csv` prints it.
    #[must_use]
    pub fn channel_credit(&self, credit: &ModelCredit) -> CreditColumns<String> {
        let groups: Vec<(String, CreditSums)> = self
            .channel_names()
            .into_iter()
            .map(|channel| {
                let sums = credit.channels.get(&channel).copied().unwrap_or_default();
                (channel, sums)
            })
            .collect();
        CreditColumns::new(&groups, credit.total)
    }

    /// [`Reports::channel_credit`] of every model, by model name.
    #[must_use]
    pub fn channel_credit_by_model(&self) -> BTreeMap<&'static str, CreditColumns<String>> {
        self.models.iter().map(|credit| (credit.model, self.channel_credit(credit))).collect()
    }

    /// Spend per channel with spend rows in the period, as printed: the
    /// cells add up to the period's spend.
    #[must_use]
    pub fn channel_spend(&self) -> Column<String> {
        let values = self.spend.channels.iter().map(|(channel, spend)| (channel.clone(), spend.spend));
        Column::sums(values, MICROS, MONEY_DECIMALS)
    }

    /// Spend per (channel, campaign) with spend rows, as printed: each
    /// channel's campaigns add up to its cell of [`Reports::channel_spend`].
    #[must_use]
    pub fn campaign_spend(&self) -> Column<CampaignKey> {
        let channels = self.channel_spend();
        let values = self.spend.campaigns.iter().map(|(key, spend)| (key.clone(), spend.spend));
        Column::grouped(by_channel(values, |channel| channels.units(channel).unwrap_or(0)), MICROS, MONEY_DECIMALS)
    }

    /// A model's conversions and revenue per (channel, campaign) of `keys`,
    /// as `campaigns.csv` prints them: each channel's campaigns add up to
    /// the channel's cells in `channels`.
    fn campaign_credit(
        credit: &ModelCredit,
        keys: &BTreeSet<CampaignKey>,
        channels: &CreditColumns<String>,
    ) -> (Column<CampaignKey>, Column<CampaignKey>) {
        let sums = |key: &(String, String)| credit.campaigns.get(key).copied().unwrap_or_default();
        let conversions = keys.iter().map(|key| (key.clone(), sums(key).units));
        let revenue = keys.iter().map(|key| (key.clone(), sums(key).revenue));
        let printed = |column: &Column<String>, channel: &str| column.units(channel).unwrap_or(0);
        (
            Column::grouped(
                by_channel(conversions, |channel| printed(&channels.conversions, channel)),
                UNITS,
                CONVERSION_DECIMALS,
            ),
            Column::grouped(by_channel(revenue, |channel| printed(&channels.revenue, channel)), MICROS, MONEY_DECIMALS),
        )
    }

    /// A model's credit per stage of [`Reports::stages`], as `stages.csv`
    /// prints it.
    #[must_use]
    pub fn stage_credit(&self, credit: &ModelCredit) -> CreditColumns<Stage> {
        let groups: Vec<(Stage, CreditSums)> = self
            .stages()
            .into_iter()
            .map(|stage| (stage, credit.stages.get(&stage).copied().unwrap_or_default()))
            .collect();
        CreditColumns::new(&groups, credit.total)
    }

    /// Spend per stage of [`Reports::stages`] (0 without spend rows) and
    /// each stage's share of the period's spend, as printed.
    #[must_use]
    pub fn stage_spend(&self) -> (Column<Stage>, Column<Stage>) {
        let values: Vec<(Stage, i128)> = self
            .stages()
            .into_iter()
            .map(|stage| (stage, self.spend.stages.get(&stage).map_or(0, |spend| spend.spend)))
            .collect();
        let amounts = Column::sums(values.iter().copied(), MICROS, MONEY_DECIMALS);
        (amounts, Column::shares(values, self.spend.total.spend, SHARE_DECIMALS))
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
            .into_iter()
            .chain(self.interval_columns())
            .map(Some),
        )?;
        let baseline = self.baseline();
        let printed_spend = self.channel_spend();
        for (index, credit) in self.models.iter().enumerate() {
            let printed = self.channel_credit(credit);
            let intervals = self.intervals.as_ref().map(|intervals| &intervals.models[index].channels);
            for channel in self.channel_names() {
                let sums = credit.channels.get(&channel).copied().unwrap_or_default();
                let spend = self.spend.channels.get(&channel);
                let baseline_sums = baseline.map(|base| base.channels.get(&channel).copied().unwrap_or_default());
                let change =
                    baseline_sums.filter(|base| base.units > 0).map(|base| change_percent(sums.units, base.units));
                let fields = [
                    credit.model.to_owned(),
                    channel.clone(),
                    printed.conversions.cell(&channel),
                    printed.revenue.cell(&channel),
                    printed.share_of_conversions.cell(&channel),
                    printed.share_of_revenue.cell(&channel),
                    printed_spend.cell(&channel),
                    fixed(roas(sums, spend), 4),
                    fixed(cpa(sums, spend), 2),
                    fixed(change, 2),
                ];
                let bounds = intervals.map(|rows| interval_cells(rows.get(&channel))).into_iter().flatten();
                let cells: Vec<String> = fields.into_iter().chain(bounds).collect();
                writer.record(cells.iter().map(|cell| Some(cell.as_str())))?;
            }
        }
        Ok(())
    }

    /// `campaigns.csv`: each channel's campaigns add up to the channel's
    /// cells in `channels.csv`.
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write_campaigns(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        let header = ["model", "channel", "campaign", "conversions", "revenue", "spend", "roas", "cpa"];
        writer.record(header.into_iter().chain(self.interval_columns()).map(Some))?;
        let keys = self.campaign_keys();
        let printed_spend = self.campaign_spend();
        for (index, credit) in self.models.iter().enumerate() {
            let (conversions, revenue) = Self::campaign_credit(credit, &keys, &self.channel_credit(credit));
            let intervals = self.intervals.as_ref().map(|intervals| &intervals.models[index].campaigns);
            for key in &keys {
                let sums = credit.campaigns.get(key).copied().unwrap_or_default();
                let spend = self.spend.campaigns.get(key);
                let fields = [
                    credit.model.to_owned(),
                    key.0.clone(),
                    key.1.clone(),
                    conversions.cell(key),
                    revenue.cell(key),
                    printed_spend.cell(key),
                    fixed(roas(sums, spend), 4),
                    fixed(cpa(sums, spend), 2),
                ];
                let bounds = intervals.map(|rows| interval_cells(rows.get(key))).into_iter().flatten();
                let cells: Vec<String> = fields.into_iter().chain(bounds).collect();
                writer.record(cells.iter().map(|cell| Some(cell.as_str())))?;
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
            ["model", "stage", "conversions", "revenue", "share_of_revenue", "spend", "share_of_spend", "roas", "cpa"]
                .into_iter()
                .chain(self.interval_columns())
                .map(Some),
        )?;
        let (printed_spend, spend_shares) = self.stage_spend();
        for (index, credit) in self.models.iter().enumerate() {
            let printed = self.stage_credit(credit);
            let intervals = self.intervals.as_ref().map(|intervals| &intervals.models[index].stages);
            for stage in self.stages() {
                let sums = credit.stages.get(&stage).copied().unwrap_or_default();
                let spend = self.spend.stages.get(&stage);
                let fields = [
                    credit.model.to_owned(),
                    stage.as_str().to_owned(),
                    printed.conversions.cell(&stage),
                    printed.revenue.cell(&stage),
                    printed.share_of_revenue.cell(&stage),
                    printed_spend.cell(&stage),
                    spend_shares.cell(&stage),
                    fixed(roas(sums, spend), 4),
                    fixed(cpa(sums, spend), 2),
                ];
                let bounds = intervals.map(|rows| interval_cells(rows.get(&stage))).into_iter().flatten();
                let cells: Vec<String> = fields.into_iter().chain(bounds).collect();
                writer.record(cells.iter().map(|cell| Some(cell.as_str())))?;
            }
        }
        Ok(())
    }

    /// Every (channel, campaign) with credit under any model or with spend.
    fn campaign_keys(&self) -> BTreeSet<CampaignKey> {
        self.models
            .iter()
            .flat_map(|credit| credit.campaigns.keys().cloned())
            .chain(self.spend.campaigns.keys().cloned())
            .collect()
    }

    /// The interval columns the credit tables end with, when the run drew
    /// bootstrap replicates.
    fn interval_columns(&self) -> impl Iterator<Item = &'static str> {
        self.intervals.iter().flat_map(|_| INTERVAL_COLUMNS)
    }

    fn stages(&self) -> Vec<Stage> {
        let unknown_used = self.spend.stages.contains_key(&Stage::Unknown)
            || self.models.iter().any(|credit| credit.stages.contains_key(&Stage::Unknown));
        Stage::ALL.into_iter().filter(|&stage| stage != Stage::Unknown || unknown_used).collect()
    }
}

/// The columns of [`Reports::intervals`] in `channels.csv`, `campaigns.csv`
/// and `stages.csv`.
pub const INTERVAL_COLUMNS: [&str; 8] = [
    "conversions_lo",
    "conversions_hi",
    "revenue_lo",
    "revenue_hi",
    "share_of_conversions_lo",
    "share_of_conversions_hi",
    "roas_lo",
    "roas_hi",
];

/// The cells of [`INTERVAL_COLUMNS`] for one row (0 for a row no replicate
/// credits; ROAS empty without spend), each lower end rounded down and each
/// upper end up at the column's decimals, so that a printed interval holds
/// every value the exact one holds.
fn interval_cells(row: Option<&RowIntervals>) -> [String; 8] {
    let row = row.copied().unwrap_or_default();
    let ends = |interval: Interval, decimals: u32| {
        [round_end(interval.lo, decimals, false), round_end(interval.hi, decimals, true)]
    };
    let [conversions_lo, conversions_hi] = ends(row.conversions, CONVERSION_DECIMALS);
    let [revenue_lo, revenue_hi] = ends(row.revenue, MONEY_DECIMALS);
    let [share_lo, share_hi] = ends(row.share_of_conversions, SHARE_DECIMALS);
    let [roas_lo, roas_hi] = row.roas.map_or_else(|| [String::new(), String::new()], |roas| ends(roas, 4));
    [conversions_lo, conversions_hi, revenue_lo, revenue_hi, share_lo, share_hi, roas_lo, roas_hi]
}

/// `value` with `decimals` decimals, rounded up or down; a value within a
/// millionth of a step of a printed value (floating-point noise on an exact
/// decimal) is that value.
fn round_end(value: f64, decimals: u32, up: bool) -> String {
    let scale = 10_f64.powi(i32::try_from(decimals).unwrap_or(0));
    let scaled = value * scale;
    let nearest = scaled.round();
    let stepped = if (scaled - nearest).abs() <= 1e-6 * nearest.abs().max(1.0) {
        nearest
    } else if up {
        scaled.ceil()
    } else {
        scaled.floor()
    };
    fixed(Some(stepped / scale), decimals as usize)
}

/// `values` of campaigns, keyed by (channel, campaign), grouped by channel
/// with each channel's printed total.
fn by_channel(values: impl Iterator<Item = (CampaignKey, i128)>, total: impl Fn(&str) -> i128) -> CampaignGroups {
    let mut groups: BTreeMap<String, Vec<(CampaignKey, i128)>> = BTreeMap::new();
    for (key, value) in values {
        groups.entry(key.0.clone()).or_default().push((key, value));
    }
    groups.into_iter().map(|(channel, rows)| (rows, total(&channel))).collect()
}

/// A channel's removal effect, as `removal_effects.csv` writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RemovalEffect {
    /// `RE(c)` in the chain of `markov_order`.
    pub effect: f64,
    /// `RE(c) / Σ RE × 100`, the sum running over the channels `markov`
    /// credits in the period (0 for a channel it does not credit): the
    /// channel's share of the touched conversions. `None` when no credited
    /// channel has a positive effect (credit then stays as the journeys'
    /// equal split).
    pub share: Option<f64>,
}

/// The removal effects of the model with channel targets (`markov`), if it
/// ran, with their shares over the channels it credits: the same sum its
/// channel totals are rescaled by ([`Credits::rescale`]).
fn removal_effects(
    log: &EventLog,
    analysis: &Analysis,
    credited: &[ModelCredit],
) -> Option<BTreeMap<String, RemovalEffect>> {
    let (index, targets) =
        analysis.models.iter().enumerate().find_map(|(index, model)| Some((index, model.channel_targets()?)))?;
    let credited = &credited.get(index)?.channels;
    let effects: BTreeMap<&str, f64> =
        targets.iter().map(|(&code, &effect)| (log.channels.get(code), effect)).collect();
    let total: f64 = effects.iter().filter(|(name, _)| credited.contains_key(**name)).map(|(_, effect)| effect).sum();
    let rows = effects.into_iter().map(|(name, effect)| {
        let share = (total > 0.0).then(|| if credited.contains_key(name) { effect / total * 100.0 } else { 0.0 });
        (name.to_owned(), RemovalEffect { effect, share })
    });
    Some(rows.collect())
}

fn add(sums: &mut CreditSums, other: CreditSums) {
    sums.units += other.units;
    sums.revenue += other.revenue;
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

    fn sums(units: i128, revenue: i128) -> CreditSums {
        CreditSums { units, revenue }
    }

    /// Reports of one `linear` model over channels a, b and c, a third of a
    /// conversion each (c a billionth more), and 10.00 of revenue; a's
    /// credit in two campaigns; spend 1.005 on a and 2.005 on b.
    pub(super) fn thirds() -> Reports {
        let channels = [("a", sums(333_333_333, 3_333_333)), ("b", sums(333_333_333, 3_333_333))]
            .into_iter()
            .chain([("c", sums(333_333_334, 3_333_334))])
            .map(|(name, sums)| (name.to_owned(), sums))
            .collect();
        let campaigns = [
            (("a", "x"), sums(166_666_667, 1_666_667)),
            (("a", "y"), sums(166_666_666, 1_666_666)),
            (("b", ""), sums(333_333_333, 3_333_333)),
            (("c", ""), sums(333_333_334, 3_333_334)),
        ]
        .into_iter()
        .map(|((channel, campaign), sums)| ((channel.to_owned(), campaign.to_owned()), sums))
        .collect();
        let model = ModelCredit {
            model: "linear",
            channels,
            campaigns,
            stages: BTreeMap::from([(Stage::Awareness, sums(1_000_000_000, 10_000_000))]),
            total: sums(1_000_000_000, 10_000_000),
            positions: BTreeMap::new(),
        };
        let mut period = PeriodSpend::default();
        for (channel, amount) in [("a", 1_005_000), ("b", 2_005_000)] {
            period.channels.insert(channel.to_owned(), spend(amount));
            period.campaigns.insert((channel.to_owned(), String::new()), spend(amount));
            period.total.spend += i128::from(amount);
        }
        period.stages.insert(Stage::Awareness, period.total);
        Reports {
            models: vec![model],
            spend: period,
            channel_kpis: BTreeMap::new(),
            stage_kpis: BTreeMap::new(),
            touchpoint_scores: BTreeMap::new(),
            removal_effects: None,
            moments: BTreeMap::new(),
            moments_total: 0,
            moments_undecided: 0,
            diagnostics: Vec::new(),
            channel_paths: Vec::new(),
            stage_paths: Vec::new(),
            top: 100,
            intervals: None,
        }
    }

    fn lines(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Vec<String> {
        let mut bytes = Vec::new();
        write(&mut bytes).unwrap();
        String::from_utf8(bytes).unwrap().lines().map(str::to_owned).collect()
    }

    #[test]
    fn channels_and_campaigns_add_up_as_printed() {
        let reports = thirds();
        // Each cell rounded alone: 0.333333 three times, 3.33 three times.
        // The billionth and the millionth more make c the largest remainder.
        assert_eq!(
            lines(|sink| reports.write_channels(sink))[1..],
            [
                "linear,a,0.333333,3.33,33.3333,33.3333,1.01,3.3167,3.02,",
                "linear,b,0.333333,3.33,33.3333,33.3333,2.00,1.6625,6.02,",
                "linear,c,0.333334,3.34,33.3334,33.3334,,,,",
            ]
        );
        // a's campaigns add up to a's 0.333333 and 3.33; spend 1.005 and
        // 2.005 add up to 3.01, the tie going to the earlier row.
        assert_eq!(
            lines(|sink| reports.write_campaigns(sink))[1..],
            [
                "linear,a,,0.000000,0.00,1.01,0.0000,",
                "linear,a,x,0.166667,1.67,,,",
                "linear,a,y,0.166666,1.66,,,",
                "linear,b,,0.333333,3.33,2.00,1.6625,6.02",
                "linear,c,,0.333334,3.34,,,",
            ]
        );
        // On stdout, with one decimal: 0.3 + 0.3 + 0.4 = 1.0.
        let table = render(&reports, OutputFormat::Table);
        let cells: Vec<&str> =
            table.lines().skip(2).take(4).map(|line| line.split_whitespace().last().unwrap_or_default()).collect();
        assert_eq!(cells, ["0.3", "0.3", "0.4", "1.0"], "{table}");
    }

    #[test]
    fn intervals_follow_their_cells_in_the_files_and_on_stdout() {
        let mut reports = thirds();
        let row = |lo: f64, hi: f64| RowIntervals {
            conversions: Interval { lo, hi },
            revenue: Interval { lo: lo * 10.0, hi: hi * 10.0 },
            share_of_conversions: Interval { lo: lo * 100.0, hi: hi * 100.0 },
            share_of_channels: Interval { lo: lo * 100.0, hi: hi * 100.0 },
            roas: Some(Interval { lo: 3.0, hi: 3.5 }),
        };
        let without_roas = RowIntervals { roas: None, ..row(0.3, 0.4) };
        let channels = BTreeMap::from([("a".to_owned(), row(0.25, 0.412_345_67)), ("c".to_owned(), without_roas)]);
        reports.intervals = Some(Intervals {
            replicates: 50,
            level: 0.9,
            models: vec![crate::bootstrap::ModelIntervals { channels, ..Default::default() }],
            refits_failed: 0,
            estimates_outside: BTreeMap::new(),
        });
        let lines = lines(|sink| reports.write_channels(sink));
        assert!(lines[0].ends_with(",change_vs_last_click,conversions_lo,conversions_hi,revenue_lo,revenue_hi,share_of_conversions_lo,share_of_conversions_hi,roas_lo,roas_hi"));
        // Lower ends down, upper ends up; b has no row: 0 to 0, no ROAS
        // interval for c without spend.
        assert!(lines[1].ends_with(",0.250000,0.412346,2.50,4.13,25.0000,41.2346,3.0000,3.5000"), "{}", lines[1]);
        assert!(lines[2].ends_with(",0.000000,0.000000,0.00,0.00,0.0000,0.0000,,"), "{}", lines[2]);
        assert!(lines[3].ends_with(",0.300000,0.400000,3.00,4.00,30.0000,40.0000,,"), "{}", lines[3]);
        let table = render(&reports, OutputFormat::Table);
        assert!(table.contains("90 % bootstrap intervals over 50 resamples"), "{table}");
        assert!(table.contains("0.3 (0.2–0.5)") && table.contains("3.32 (3.00–3.50)"), "{table}");
    }

    #[test]
    fn stages_gain_roas_and_cpa() {
        let reports = thirds();
        let lines = lines(|sink| reports.write_stages(sink));
        assert_eq!(lines[0], "model,stage,conversions,revenue,share_of_revenue,spend,share_of_spend,roas,cpa");
        // 10.00 over 3.01 spent; 3.01 for one conversion.
        assert_eq!(lines[1], "linear,awareness,1.000000,10.00,100.0000,3.01,100.0000,3.3223,3.01");
        // No spend rows in consideration: no ROAS, no CPA.
        assert_eq!(lines[2], "linear,consideration,0.000000,0.00,0.0000,0.00,0.0000,,");
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
