//! Percentile intervals of the report's rows over the replicates.

use std::collections::BTreeMap;

use rayon::prelude::*;
use statrs::statistics::{Data, OrderStatistics};

use super::linear::shift;
use super::{CreditReplicates, LinearSums, Replicates};
use crate::attribution::CreditKey;
use crate::event::{BASELINE_CHANNEL, NO_CHANNEL, Stage};
use crate::event_log::{BASELINE_CODE, EventLog, NO_CHANNEL_CODE};
use crate::models::chain::Chain;
use crate::models::shapley::Shapley;
use crate::models::{AttributionModel, CONVERSION_UNITS, Markov};
use crate::report::{CampaignKey, PeriodSpend, SpendTotals};

/// A two-sided interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Interval {
    /// Its lower end.
    pub lo: f64,
    /// Its upper end.
    pub hi: f64,
}

/// The intervals of one row of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowIntervals {
    /// Credited conversions.
    pub conversions: Interval,
    /// Credited revenue.
    pub revenue: Interval,
    /// Share of the model's credited conversions, in %.
    pub share_of_conversions: Interval,
    /// Share of the conversions the model credits to marketing channels
    /// (`(none)` and the baseline left out), in %: what `touchpath evaluate`
    /// compares with the truth.
    pub share_of_channels: Interval,
    /// Credited revenue ÷ spend, for rows with spend.
    pub roas: Option<Interval>,
}

/// One model's intervals, for every row it reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelIntervals {
    /// Per channel name.
    pub channels: BTreeMap<String, RowIntervals>,
    /// Per (channel, campaign).
    pub campaigns: BTreeMap<CampaignKey, RowIntervals>,
    /// Per stage.
    pub stages: BTreeMap<Stage, RowIntervals>,
}

/// Every model's intervals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intervals {
    /// How many replicates they come from.
    pub replicates: u32,
    /// Their coverage, such as 0.9.
    pub level: f64,
    /// Per model, in report order.
    pub models: Vec<ModelIntervals>,
    /// Replicates whose refit of a model failed (a chain whose solve did
    /// not converge), credited with the full data's fit instead.
    pub refits_failed: u64,
    /// Per model, the channels whose point estimate of conversions lies
    /// outside its own interval (set by the reports, which hold the
    /// points).
    pub estimates_outside: BTreeMap<&'static str, u64>,
}

/// What one replicate credits one row: conversions (credit units) and
/// revenue (millionths).
type Pair = (f64, f64);

/// One replicate's rows under one model.
#[derive(Default)]
pub(super) struct ReplicateRows {
    channels: BTreeMap<u32, Pair>,
    campaigns: BTreeMap<(u32, u32), Pair>,
    stages: BTreeMap<Stage, Pair>,
    total: Pair,
    /// Credit units to marketing channels.
    channel_units: f64,
    refit_failed: bool,
}

/// What the models of a run are, for the replicates' refits.
pub struct Fits<'a> {
    /// The run's models, fitted on every user.
    pub models: &'a [Box<dyn AttributionModel>],
    /// The first pass's replicate sums.
    pub replicates: &'a Replicates,
    /// The second pass's.
    pub credit: &'a CreditReplicates,
}

impl Intervals {
    /// Their coverage in %, as printed: `0.9` → `90`, `0.975` → `97.5`.
    #[must_use]
    pub fn level_percent(&self) -> String {
        let percent = format!("{:.1}", self.level * 100.0);
        percent.strip_suffix(".0").map_or_else(|| percent.clone(), str::to_owned)
    }

    /// The `level` percentile intervals of every row under every model,
    /// over the replicates of `fits`; rows are named with `log`'s
    /// dictionaries; ROAS divides by `spend`. The rows are the reports'
    /// (`channels`, `campaigns`, `stages`): rows no replicate credits get
    /// intervals of 0.
    #[must_use]
    pub fn compute(
        log: &EventLog,
        fits: &Fits<'_>,
        spend: &PeriodSpend,
        level: f64,
        rows: (&[String], &[CampaignKey], &[Stage]),
    ) -> Self {
        let count = fits.credit.count as usize;
        let mut refits_failed = 0;
        let models = fits
            .models
            .iter()
            .enumerate()
            .map(|(index, model)| {
                let Some(table) = fits.credit.per_model.get(index) else {
                    return ModelIntervals::default();
                };
                let mut keys: Vec<(&CreditKey, &Vec<i64>)> = table.iter().collect();
                keys.sort_unstable_by_key(|(key, _)| **key);
                // `incremental`: each replicate's first-order move of the terms.
                let linear = fits
                    .credit
                    .linear
                    .as_ref()
                    // No purchase credited: no credit moves with the terms.
                    .filter(|sums| sums.model as usize == index && !sums.jacobian.is_empty())
                    .zip(model.as_incremental())
                    .map(|(sums, fitted)| (sums, super::linear::steps(fitted, sums, &fits.replicates.exposure, count)));
                let replicates: Vec<ReplicateRows> = (0..count)
                    .into_par_iter()
                    .map(|replicate| {
                        let moved = linear.as_ref().map(|(sums, moves)| (*sums, moves[replicate].as_deref()));
                        replicate_rows(model.as_ref(), fits, &keys, replicate, moved)
                    })
                    .collect();
                refits_failed += replicates.iter().filter(|rows| rows.refit_failed).count() as u64;
                model_intervals(log, &replicates, spend, level, rows)
            })
            .collect();
        Self { replicates: fits.credit.count, level, models, refits_failed, estimates_outside: BTreeMap::new() }
    }
}

/// The channel totals (credit units, revenue) a model refitted on
/// replicate `replicate` sets, for the models whose fit sets them; `None`
/// for the others, whose replicate credit is each conversion's credit
/// weighted. The flag is true when the refit failed.
fn channel_targets(
    model: &dyn AttributionModel,
    fits: &Fits<'_>,
    channels: &BTreeMap<u32, Pair>,
    replicate: usize,
) -> (Option<BTreeMap<u32, Pair>>, bool) {
    let touched = |code: &u32| *code != NO_CHANNEL_CODE && *code != BASELINE_CODE;
    match model.name() {
        "markov" => {
            let refitted = fits.replicates.chain(replicate).map(|chain: Chain| Markov::new(&chain));
            let (effects, failed) = match &refitted {
                Some(Ok(markov)) => (Some(markov.removal_effects().clone()), false),
                _ => (model.channel_targets().cloned(), true),
            };
            let Some(effects) = effects else {
                return (None, failed);
            };
            // As the full run's rescale: over the channels the replicate's
            // conversions credit, the touched credit in proportion to the
            // removal effects.
            let credited: Vec<(u32, Pair)> = channels
                .iter()
                .filter(|(code, pair)| touched(code) && pair.0 > 0.0)
                .map(|(&code, &pair)| (code, pair))
                .collect();
            let weight = |code: u32| effects.get(&code).copied().filter(|effect| *effect > 0.0).unwrap_or(0.0);
            let total_weight: f64 = credited.iter().map(|&(code, _)| weight(code)).sum();
            if total_weight <= 0.0 {
                return (None, failed);
            }
            let units: f64 = credited.iter().map(|(_, pair)| pair.0).sum();
            let revenue: f64 = credited.iter().map(|(_, pair)| pair.1).sum();
            let targets = credited
                .iter()
                .map(|&(code, _)| {
                    let share = weight(code) / total_weight;
                    (code, (units * share, revenue * share))
                })
                .collect();
            (Some(targets), failed)
        }
        "shapley" => {
            let game = Shapley::from_coalitions(&fits.replicates.coalitions(replicate));
            let count = fits.credit.count as usize;
            let mut targets: BTreeMap<u32, Pair> = BTreeMap::new();
            let mut sets: Vec<(&Vec<u32>, &Vec<i64>)> = fits.credit.sets.iter().collect();
            sets.sort_unstable_by(|left, right| left.0.cmp(right.0));
            for (set, values) in sets {
                let (units, revenue) = (values[replicate], values[count + replicate]);
                if units == 0 && revenue == 0 {
                    continue;
                }
                #[expect(clippy::cast_precision_loss, reason = "replicate sums, reported as decimals")]
                let (units, revenue) = (units as f64, revenue as f64);
                #[expect(clippy::cast_precision_loss, reason = "a set of a few channels")]
                let equal = 1.0 / set.len().max(1) as f64;
                for (position, &code) in set.iter().enumerate() {
                    let share = game.shares(set).map_or(equal, |shares| shares[position]);
                    let target = targets.entry(code).or_default();
                    target.0 += units * share;
                    target.1 += revenue * share;
                }
            }
            (Some(targets), false)
        }
        _ => (None, false),
    }
}

/// Replicate `replicate`'s rows under `model`, from its weighted credit per
/// key (sorted, so that every sum is taken in one order), each channel set
/// to the total its refit gives when the model's fit sets channel totals,
/// and each key moved to first order by the refit's relative `moves` of
/// the terms when `linear` gives them (`incremental`; `None` inside when
/// its step failed).
pub(super) fn replicate_rows(
    model: &dyn AttributionModel,
    fits: &Fits<'_>,
    keys: &[(&CreditKey, &Vec<i64>)],
    replicate: usize,
    linear: Option<(&LinearSums, Option<&[f64]>)>,
) -> ReplicateRows {
    let count = fits.credit.count as usize;
    let pair = |key: &CreditKey, values: &Vec<i64>| {
        #[expect(clippy::cast_precision_loss, reason = "replicate sums, reported as decimals")]
        let (units, revenue) = (values[replicate] as f64, values[count + replicate] as f64);
        let (unit_move, revenue_move) = match linear {
            Some((sums, Some(moves))) => sums.jacobian.get(key).map_or((0.0, 0.0), |row| shift(row, moves)),
            _ => (0.0, 0.0),
        };
        (units + unit_move, revenue + revenue_move)
    };
    // Each key's pair once: moving it costs a sum over the terms.
    let pairs: Vec<Pair> = keys.iter().map(|(key, values)| pair(key, values)).collect();
    let mut rows = ReplicateRows { refit_failed: matches!(linear, Some((_, None))), ..ReplicateRows::default() };
    for ((key, _), &(units, revenue)) in keys.iter().zip(&pairs) {
        let channel = rows.channels.entry(key.channel).or_default();
        channel.0 += units;
        channel.1 += revenue;
    }
    let (targets, failed) = channel_targets(model, fits, &rows.channels, replicate);
    rows.refit_failed |= failed;
    let mut factors: BTreeMap<u32, Pair> = BTreeMap::new();
    if let Some(targets) = &targets {
        for (code, channel) in &mut rows.channels {
            if *code == NO_CHANNEL_CODE || *code == BASELINE_CODE {
                continue;
            }
            let target = targets.get(code).copied().unwrap_or_default();
            let factor = |target: f64, raw: f64| if raw > 0.0 { target / raw } else { 0.0 };
            factors.insert(*code, (factor(target.0, channel.0), factor(target.1, channel.1)));
            *channel = target;
        }
        // A channel the refit credits that no conversion's split gave
        // anything (the full fit gives it nothing): its row only.
        for (code, target) in targets {
            rows.channels.entry(*code).or_insert(*target);
        }
    }
    for ((key, _), &(mut units, mut revenue)) in keys.iter().zip(&pairs) {
        if let Some(&(unit_factor, revenue_factor)) = factors.get(&key.channel) {
            units *= unit_factor;
            revenue *= revenue_factor;
        }
        let campaign = rows.campaigns.entry((key.channel, key.campaign)).or_default();
        campaign.0 += units;
        campaign.1 += revenue;
        let stage = rows.stages.entry(key.stage).or_default();
        stage.0 += units;
        stage.1 += revenue;
    }
    rows.total = rows.channels.values().fold((0.0, 0.0), |total, pair| (total.0 + pair.0, total.1 + pair.1));
    rows.channel_units = rows
        .channels
        .iter()
        .filter(|(code, _)| **code != NO_CHANNEL_CODE && **code != BASELINE_CODE)
        .map(|(_, pair)| pair.0)
        .sum();
    rows
}

impl ReplicateRows {
    /// A channel's credit units and revenue (millionths).
    #[cfg(test)]
    pub(super) fn channel(&self, code: u32) -> Pair {
        self.channels.get(&code).copied().unwrap_or_default()
    }
}

/// The intervals of one model's rows from its replicates' rows.
fn model_intervals(
    log: &EventLog,
    replicates: &[ReplicateRows],
    spend: &PeriodSpend,
    level: f64,
    (channels, campaigns, stages): (&[String], &[CampaignKey], &[Stage]),
) -> ModelIntervals {
    let channel_code = |name: &str| match name {
        NO_CHANNEL => Some(NO_CHANNEL_CODE),
        BASELINE_CHANNEL => Some(BASELINE_CODE),
        _ => log.channels.code_of(name),
    };
    let channel_rows = channels
        .iter()
        .map(|name| {
            let values = |rows: &ReplicateRows| channel_code(name).and_then(|code| rows.channels.get(&code).copied());
            (name.clone(), row_intervals(replicates, values, spend.channels.get(name), level))
        })
        .collect();
    let campaign_rows = campaigns
        .iter()
        .map(|key| {
            let codes = channel_code(&key.0).zip(log.campaigns.code_of(&key.1));
            let values = |rows: &ReplicateRows| codes.and_then(|codes| rows.campaigns.get(&codes).copied());
            (key.clone(), row_intervals(replicates, values, spend.campaigns.get(key), level))
        })
        .collect();
    let stage_rows = stages
        .iter()
        .map(|&stage| {
            let values = |rows: &ReplicateRows| rows.stages.get(&stage).copied();
            (stage, row_intervals(replicates, values, spend.stages.get(&stage), level))
        })
        .collect();
    ModelIntervals { channels: channel_rows, campaigns: campaign_rows, stages: stage_rows }
}

/// The intervals of one row, whose value in a replicate `values` gives.
fn row_intervals(
    replicates: &[ReplicateRows],
    values: impl Fn(&ReplicateRows) -> Option<Pair>,
    spend: Option<&SpendTotals>,
    level: f64,
) -> RowIntervals {
    #[expect(clippy::cast_precision_loss, reason = "units per conversion, exact in f64")]
    let units = CONVERSION_UNITS as f64;
    let micros = 1_000_000.0;
    let mut conversions = Vec::with_capacity(replicates.len());
    let mut revenue = Vec::with_capacity(replicates.len());
    let mut shares = Vec::with_capacity(replicates.len());
    let mut channel_shares = Vec::with_capacity(replicates.len());
    let share = |part: f64, whole: f64| if whole > 0.0 { part / whole * 100.0 } else { 0.0 };
    for rows in replicates {
        let (row_units, row_revenue) = values(rows).unwrap_or_default();
        conversions.push(row_units / units);
        revenue.push(row_revenue / micros);
        shares.push(share(row_units, rows.total.0));
        channel_shares.push(share(row_units, rows.channel_units));
    }
    let roas = spend.filter(|spend| spend.spend > 0).map(|spend| {
        let amount = spend.amount();
        percentiles(revenue.iter().map(|value| value / amount).collect(), level)
    });
    RowIntervals {
        conversions: percentiles(conversions, level),
        revenue: percentiles(revenue, level),
        share_of_conversions: percentiles(shares, level),
        share_of_channels: percentiles(channel_shares, level),
        roas,
    }
}

/// The central `level` interval of `values`: their `(1 − level) / 2` and
/// `(1 + level) / 2` quantiles (`statrs`' estimator, R's type 8).
#[must_use]
pub fn percentiles(values: Vec<f64>, level: f64) -> Interval {
    if values.is_empty() {
        return Interval::default();
    }
    let mut data = Data::new(values);
    Interval { lo: data.quantile((1.0 - level) / 2.0), hi: data.quantile(f64::midpoint(1.0, level)) }
}
