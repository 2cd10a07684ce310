//! Running the models over every converting journey, into exact totals that
//! merge in any order.
//!
//! Each conversion's credit is split into integer units ([`CONVERSION_UNITS`]
//! per conversion, millionths for revenue) by [`apportion`], and summed per
//! (model, channel, campaign, stage) in integers. Integer addition is exact
//! and commutative, so one thread or many, and any split of users into
//! batches, give the same totals to the last unit.

use std::collections::BTreeMap;

use crate::hash::FastMap;

use crate::aggregate::{JourneyWalk, Partial};
use crate::bootstrap::{CreditReplicates, LinearSums};
use crate::config::Config;
use crate::event::Stage;
use crate::event_log::{BASELINE_CODE, EventLog, NO_CHANNEL_CODE};
use crate::journey::{Journey, Journeys, TransformedPath};
use crate::models::{AttributionModel, CONVERSION_UNITS, Path, Split, apportion};

/// What a share of credit is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CreditKey {
    /// Channel code, [`NO_CHANNEL_CODE`] for conversions without touches.
    pub channel: u32,
    /// Campaign code.
    pub campaign: u32,
    /// Stage of the touch (of the conversion, for `(none)`).
    pub stage: Stage,
}

/// Summed credit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreditSums {
    /// Credited conversions, in [`CONVERSION_UNITS`] per conversion.
    pub units: i128,
    /// Credited revenue, in millionths.
    pub revenue: i128,
}

impl CreditSums {
    fn add(&mut self, other: Self) {
        self.units += other.units;
        self.revenue += other.revenue;
    }

    /// Credited conversions.
    #[must_use]
    pub fn conversions(self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "reporting only; sums stay exact")]
        let conversions = self.units as f64 / CONVERSION_UNITS as f64;
        conversions
    }

    /// Credited revenue.
    #[must_use]
    pub fn revenue(self) -> f64 {
        crate::journey::micros_to_units(self.revenue)
    }
}

/// Where in its path a touch sits: early (0), mid (1) or late (2), by the
/// centre of its slot, `c = (i + ½) / n`: early when `c ≤ ¼`, late when
/// `c ≥ ¾`. One touch is mid; of two, the first is early and the last late.
#[must_use]
pub fn position_bucket(index: usize, length: usize) -> usize {
    // Compare 4·(2i + 1) with 2n to stay in integers.
    let centre = 4 * (2 * index + 1);
    if centre <= 2 * length {
        0
    } else if centre >= 6 * length {
        2
    } else {
        1
    }
}

/// Credit per model and key: the partial state that threads (and, later,
/// machines) produce and merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credits {
    /// For each model, in the order given, its credit per key.
    pub per_model: Vec<FastMap<CreditKey, CreditSums>>,
    /// For each model, credit units per channel code landing early, mid and
    /// late in paths (see [`position_bucket`]); before any channel rescaling.
    pub positions: Vec<FastMap<u32, [i128; 3]>>,
    /// Conversions attributed (each once, whatever the number of models).
    pub conversions: u64,
    /// Their revenue, in millionths.
    pub revenue: i128,
    /// The same credit per bootstrap replicate, when the run draws
    /// replicates ([`crate::bootstrap`]).
    pub replicates: CreditReplicates,
}

impl Credits {
    /// Empty credit for `models` models.
    #[must_use]
    pub fn new(models: usize) -> Self {
        Self::with_replicates(models, 0)
    }

    /// Empty credit for `models` models and `replicates` bootstrap
    /// replicates.
    #[must_use]
    pub fn with_replicates(models: usize, replicates: u32) -> Self {
        Self {
            per_model: vec![FastMap::default(); models],
            positions: vec![FastMap::default(); models],
            conversions: 0,
            revenue: 0,
            replicates: CreditReplicates::new(replicates, models),
        }
    }

    /// Adds another partial state into this one. Associative and commutative,
    /// with [`Credits::new`] as identity.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        if self.per_model.is_empty() {
            return other;
        }
        for (mine, theirs) in self.per_model.iter_mut().zip(other.per_model) {
            for (key, sums) in theirs {
                mine.entry(key).or_default().add(sums);
            }
        }
        for (mine, theirs) in self.positions.iter_mut().zip(other.positions) {
            for (channel, buckets) in theirs {
                let entry = mine.entry(channel).or_default();
                for (total, part) in entry.iter_mut().zip(buckets) {
                    *total += part;
                }
            }
        }
        self.conversions += other.conversions;
        self.revenue += other.revenue;
        self.replicates.add(other.replicates);
        self
    }

    /// Rescales the credit of each model with channel targets (`markov`) so
    /// that channel totals follow them; done once, on the credit of every
    /// journey.
    pub fn rescale(&mut self, models: &[Box<dyn AttributionModel>]) {
        for (model, table) in models.iter().zip(&mut self.per_model) {
            if let Some(targets) = model.channel_targets() {
                rescale(table, targets);
            }
        }
    }

    /// A model's total credit.
    #[must_use]
    pub fn total(&self, model: usize) -> CreditSums {
        let mut total = CreditSums::default();
        for sums in self.per_model[model].values() {
            total.add(*sums);
        }
        total
    }
}

/// Sets each channel's total to its share of `targets` (over the channels
/// credited in the table, `(none)` aside), keeping the conversions and
/// revenue the table credits, and splits each channel's new total among its
/// keys in proportion to what the per-conversion split gave them. Every step
/// is an exact integer apportionment.
fn rescale(table: &mut FastMap<CreditKey, CreditSums>, targets: &BTreeMap<u32, f64>) {
    let mut by_channel: BTreeMap<u32, Vec<CreditKey>> = BTreeMap::new();
    for key in table.keys().filter(|key| key.channel != NO_CHANNEL_CODE && key.channel != BASELINE_CODE) {
        by_channel.entry(key.channel).or_default().push(*key);
    }
    let channels: Vec<u32> = by_channel.keys().copied().collect();
    let weights: Vec<f64> = channels.iter().map(|channel| targets.get(channel).copied().unwrap_or(0.0)).collect();
    if weights.iter().all(|&weight| weight <= 0.0) {
        return;
    }
    let touched = |field: fn(&CreditSums) -> i128| -> Option<i64> {
        i64::try_from(by_channel.values().flatten().map(|key| field(&table[key])).sum::<i128>()).ok()
    };
    let (Some(units), Some(revenue)) = (touched(|sums| sums.units), touched(|sums| sums.revenue)) else {
        return;
    };
    let mut channel_units = vec![0; channels.len()];
    let mut channel_revenue = vec![0; channels.len()];
    apportion(units, &weights, &mut channel_units);
    apportion(revenue, &weights, &mut channel_revenue);
    for ((keys, &units), &revenue) in by_channel.values_mut().zip(&channel_units).zip(&channel_revenue) {
        keys.sort_unstable();
        #[expect(clippy::cast_precision_loss, reason = "proportions")]
        let unit_weights: Vec<f64> = keys.iter().map(|key| table[key].units as f64).collect();
        #[expect(clippy::cast_precision_loss, reason = "proportions")]
        let mut revenue_weights: Vec<f64> = keys.iter().map(|key| table[key].revenue as f64).collect();
        if revenue_weights.iter().all(|&weight| weight <= 0.0) {
            revenue_weights.clone_from(&unit_weights);
        }
        let mut key_units = vec![0; keys.len()];
        let mut key_revenue = vec![0; keys.len()];
        apportion(units, &unit_weights, &mut key_units);
        apportion(revenue, &revenue_weights, &mut key_revenue);
        for ((key, units), revenue) in keys.iter().zip(key_units).zip(key_revenue) {
            table.insert(*key, CreditSums { units: i128::from(units), revenue: i128::from(revenue) });
        }
    }
}

/// Credit sums by a slot per credit key, which a touch's key is looked up
/// for once per journey rather than once per model and touch; moved into
/// [`Credits`]' maps when a part is finished or merged. A key takes a row
/// of a model's map only when that model gave it credit, as when the maps
/// were filled directly.
struct DenseCredits {
    slot_of: FastMap<CreditKey, u32>,
    keys: Vec<CreditKey>,
    /// Per model, by slot.
    sums: Vec<Vec<DenseSums>>,
}

#[derive(Clone, Copy, Default)]
struct DenseSums {
    sums: CreditSums,
    /// Credit units by position in the path ([`position_bucket`]).
    positions: [i128; 3],
    credited: bool,
    positioned: bool,
}

impl DenseCredits {
    fn new(models: usize) -> Self {
        Self { slot_of: FastMap::default(), keys: Vec::new(), sums: vec![Vec::new(); models] }
    }

    /// The slot of `key`, made on first use.
    fn slot(&mut self, key: CreditKey) -> u32 {
        if let Some(&slot) = self.slot_of.get(&key) {
            return slot;
        }
        let slot = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.slot_of.insert(key, slot);
        self.keys.push(key);
        slot
    }

    /// The slot of each touch's key, into `slots`.
    fn slots_of(&mut self, log: &EventLog, touches: &[usize], slots: &mut Vec<u32>) {
        slots.extend(touches.iter().map(|&touch| {
            self.slot(CreditKey { channel: log.channel[touch], campaign: log.campaign[touch], stage: log.stage[touch] })
        }));
    }

    fn key(&self, slot: u32) -> CreditKey {
        self.keys[slot as usize]
    }

    fn entry(&mut self, model: usize, slot: u32) -> &mut DenseSums {
        let sums = &mut self.sums[model];
        let slot = slot as usize;
        if sums.len() <= slot {
            sums.resize(self.keys.len(), DenseSums::default());
        }
        &mut sums[slot]
    }

    fn add(&mut self, model: usize, slot: u32, sums: CreditSums) {
        let entry = self.entry(model, slot);
        entry.sums.add(sums);
        entry.credited = true;
    }

    fn add_position(&mut self, model: usize, slot: u32, bucket: usize, units: i128) {
        let entry = self.entry(model, slot);
        entry.positions[bucket] += units;
        entry.positioned = true;
    }

    /// Moves the sums into `credits`, leaving none here.
    fn flush(&mut self, credits: &mut Credits) {
        for ((sums, table), positions) in self.sums.iter_mut().zip(&mut credits.per_model).zip(&mut credits.positions) {
            for (dense, key) in sums.drain(..).zip(&self.keys) {
                if dense.credited {
                    table.entry(*key).or_default().add(dense.sums);
                }
                if dense.positioned {
                    let entry = positions.entry(key.channel).or_default();
                    for (total, part) in entry.iter_mut().zip(dense.positions) {
                        *total += part;
                    }
                }
            }
        }
    }
}

/// Scratch space reused across journeys by one task.
struct Scratch {
    credits: Credits,
    /// Credit of this scratch's journeys not yet in `credits`.
    dense: DenseCredits,
    /// The slot in `dense` of each touch of the transformed path and of
    /// the logged path of the journey being credited, found at the first
    /// model that credits it (empty until then).
    touch_slots: Vec<u32>,
    logged_slots: Vec<u32>,
    /// The journey's touches as logged, for models that read them so.
    logged: TransformedPath,
    weights: Vec<f64>,
    /// The weights scaled, to split a conversion's units and revenue by.
    split: Split,
    units: Vec<i64>,
    revenue: Vec<i64>,
    /// With bootstrap replicates: the user whose weights `replicate_weights`
    /// holds, one conversion's credit under one model, and a channel set.
    replicate_user: Option<u32>,
    replicate_weights: Vec<i64>,
    credited: Vec<(CreditKey, i64, i64)>,
    set: Vec<u32>,
    /// With `incremental`'s first-order replicates, one purchase's parts.
    first_order: FirstOrder,
}

/// One purchase's parts of `incremental`'s first-order replicate sums: its
/// shares' elasticities, by slot then by key, and its pattern.
#[derive(Default)]
struct FirstOrder {
    elasticities: Vec<(usize, u32, f64)>,
    keyed: Vec<(CreditKey, u32, f64)>,
    pattern: Vec<(u32, f64)>,
}

impl Scratch {
    /// Every credit summed so far.
    fn into_credits(mut self) -> Credits {
        self.dense.flush(&mut self.credits);
        self.credits
    }

    fn new(models: usize, replicates: u32) -> Self {
        Self {
            credits: Credits::with_replicates(models, replicates),
            dense: DenseCredits::new(models),
            touch_slots: Vec::new(),
            logged_slots: Vec::new(),
            logged: TransformedPath::default(),
            weights: Vec::new(),
            split: Split::default(),
            units: Vec::new(),
            revenue: Vec::new(),
            replicate_user: None,
            replicate_weights: Vec::new(),
            credited: Vec::new(),
            set: Vec::new(),
            first_order: FirstOrder::default(),
        }
    }
}

/// Credits every converting journey whose conversion falls in the analysis
/// period with every model.
#[must_use]
pub fn attribute(
    log: &EventLog,
    journeys: &Journeys,
    models: &[Box<dyn AttributionModel>],
    config: &Config,
) -> Credits {
    let mut credits = credit(log, journeys, models, config);
    credits.rescale(models);
    credits
}

/// The credit of every converting journey in the period, before models with
/// channel targets rescale it ([`Credits::rescale`]): a sum over journeys,
/// so batches of users can be credited one after the other and merged.
#[must_use]
pub fn credit(log: &EventLog, journeys: &Journeys, models: &[Box<dyn AttributionModel>], config: &Config) -> Credits {
    crate::aggregate::walk(log, journeys, config, || CreditCount::new(models, config.bootstrap))
}

/// Credit sums being counted, journey after journey, in the walk over the
/// converting journeys ([`crate::aggregate::walk`]).
pub struct CreditCount<'a> {
    models: &'a [Box<dyn AttributionModel>],
    scratch: Scratch,
}

impl<'a> CreditCount<'a> {
    /// No journey credited yet by `models`, with `replicates` bootstrap
    /// replicates (0 for none).
    #[must_use]
    pub fn new(models: &'a [Box<dyn AttributionModel>], replicates: u32) -> Self {
        let mut scratch = Scratch::new(models.len(), replicates);
        if replicates > 0 {
            scratch.credits.replicates.linear = models.iter().enumerate().find_map(|(index, model)| {
                let fitted = model.as_incremental()?;
                Some(LinearSums::new(index, fitted.term_count(), replicates as usize))
            });
        }
        Self { models, scratch }
    }
}

impl Partial for CreditCount<'_> {
    type Output = Credits;

    /// The credit sums, before models with channel targets rescale them.
    fn finish(self) -> Credits {
        self.scratch.into_credits()
    }

    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let JourneyWalk { log, ref journey, touches, counts, config } = *walk;
        credit_journey(log, journey, touches, counts, self.models, config, &mut self.scratch);
    }

    fn merge(&mut self, other: Self) {
        self.scratch.dense.flush(&mut self.scratch.credits);
        let credits = std::mem::replace(&mut self.scratch.credits, Credits::new(0));
        self.scratch.credits = credits.merge(other.scratch.into_credits());
    }
}

/// Into `logged`, the touches a model reading the logged path credits for
/// `journey`: the user's earlier touches still within `incremental`'s memory
/// ([`crate::journey::earlier_touches`]), then the journey's own, each once;
/// returns how many are earlier, and how many of those came before the
/// user's previous purchase.
pub(crate) fn logged_path(
    log: &EventLog,
    journey: &Journey,
    config: &Config,
    logged: &mut TransformedPath,
) -> (usize, usize) {
    let carried = crate::journey::earlier_touches(log, journey, config.rate_memory(), &mut logged.touches);
    let earlier = logged.touches.len();
    logged.touches.extend(journey.path.clone());
    logged.counts.clear();
    logged.counts.resize(logged.touches.len(), 1);
    (earlier, carried)
}

/// Credits `journey`, the touches of its transformed path `touches`
/// standing for `counts` logged ones, when it converted in the analysis
/// period.
fn credit_journey(
    log: &EventLog,
    journey: &Journey,
    touches: &[usize],
    counts: &[u32],
    models: &[Box<dyn AttributionModel>],
    config: &Config,
    scratch: &mut Scratch,
) {
    let Some(conversion) = config.credited_conversion(log, journey) else {
        return;
    };
    let (revenue, customer) = (log.revenue[conversion], !journey.first_purchase);
    scratch.credits.conversions += 1;
    scratch.credits.revenue += i128::from(revenue);
    let with_replicates = scratch.credits.replicates.count > 0;
    if with_replicates {
        replicate_weights(log, journey, touches, scratch);
    }
    let (_, carried) = logged_path(log, journey, config, &mut scratch.logged);
    scratch.touch_slots.clear();
    scratch.logged_slots.clear();
    let replicates = &mut scratch.credits.replicates;
    let credited = &mut scratch.credited;
    let dense = &mut scratch.dense;
    for (index, model) in models.iter().enumerate() {
        credited.clear();
        let (touches, counts, key_slots) = if model.reads_logged_path() {
            (scratch.logged.touches.as_slice(), scratch.logged.counts.as_slice(), &mut scratch.logged_slots)
        } else {
            (touches, counts, &mut scratch.touch_slots)
        };
        if touches.is_empty() {
            // A model with a baseline knows what no touch means: the
            // purchase would have happened anyway.
            let channel = if model.reads_logged_path() { BASELINE_CODE } else { NO_CHANNEL_CODE };
            let key = CreditKey { channel, campaign: log.campaign[conversion], stage: log.stage[conversion] };
            let slot = dense.slot(key);
            dense.add(index, slot, CreditSums { units: i128::from(CONVERSION_UNITS), revenue: i128::from(revenue) });
            if with_replicates {
                credited.push((key, CONVERSION_UNITS, revenue));
                replicates.add_credit(index, credited, &scratch.replicate_weights);
                let weights = &scratch.replicate_weights;
                let purchase = Purchase { log, touches, path: None, customer, baseline: key, revenue, weights };
                add_first_order(replicates, index, model.as_ref(), &purchase, &mut scratch.first_order);
            }
            continue;
        }
        let path = Path::new(log, touches, counts, log.time[conversion])
            .repeat(!journey.first_purchase)
            .with_carried(if model.reads_logged_path() { carried } else { 0 });
        let length = path.len();
        // One slot per touch, and one for the baseline.
        scratch.weights.resize(length + 1, 0.0);
        scratch.units.resize(length + 1, 0);
        scratch.revenue.resize(length + 1, 0);
        scratch.weights[length] = model.weights_with_baseline(&path, &mut scratch.weights[..length]);
        // Without a baseline part, the split is over the touches alone.
        let slots = if scratch.weights[length] > 0.0 { length + 1 } else { length };
        scratch.units[length] = 0;
        scratch.revenue[length] = 0;
        scratch.split.set(&scratch.weights[..slots]);
        scratch.split.apportion(CONVERSION_UNITS, &mut scratch.units[..slots]);
        scratch.split.apportion(revenue, &mut scratch.revenue[..slots]);
        let baseline =
            CreditKey { channel: BASELINE_CODE, campaign: log.campaign[conversion], stage: log.stage[conversion] };
        if key_slots.is_empty() {
            dense.slots_of(log, touches, key_slots);
        }
        for (offset, slot) in key_slots.iter().map(|&slot| Some(slot)).chain([None]).enumerate() {
            if scratch.units[offset] == 0 && scratch.revenue[offset] == 0 {
                continue;
            }
            let units = i128::from(scratch.units[offset]);
            let slot = match slot {
                Some(slot) => {
                    dense.add_position(index, slot, position_bucket(offset, length), units);
                    slot
                }
                None => dense.slot(baseline),
            };
            dense.add(index, slot, CreditSums { units, revenue: i128::from(scratch.revenue[offset]) });
            if with_replicates {
                credited.push((dense.key(slot), scratch.units[offset], scratch.revenue[offset]));
            }
        }
        if with_replicates {
            replicates.add_credit(index, credited, &scratch.replicate_weights);
            let weights = &scratch.replicate_weights;
            let purchase = Purchase { log, touches, path: Some(&path), customer, baseline, revenue, weights };
            add_first_order(replicates, index, model.as_ref(), &purchase, &mut scratch.first_order);
        }
    }
}

/// One credited purchase, as `incremental`'s first-order sums read it.
struct Purchase<'a> {
    log: &'a EventLog,
    /// The touches credited, on `path` (none without touches).
    touches: &'a [usize],
    path: Option<&'a Path<'a>>,
    /// After a first purchase.
    customer: bool,
    /// The key of the baseline's part.
    baseline: CreditKey,
    revenue: i64,
    /// The user's weights.
    weights: &'a [i64],
}

/// Adds `purchase` to `incremental`'s first-order replicate sums, when
/// `model` (the `index`-th) is the one they are kept for: its pattern and
/// rate (the baseline's alone without touches), the elasticities of its
/// shares per key, with the user's weights.
fn add_first_order(
    replicates: &mut CreditReplicates,
    index: usize,
    model: &dyn AttributionModel,
    purchase: &Purchase<'_>,
    parts: &mut FirstOrder,
) {
    let (Some(linear), Some(fitted)) =
        (replicates.linear.as_mut().filter(|linear| linear.model as usize == index), model.as_incremental())
    else {
        return;
    };
    let Purchase { log, touches, path, customer, baseline, revenue, weights } = *purchase;
    parts.elasticities.clear();
    let rate = if let Some(path) = path {
        fitted.purchase_derivatives(path, &mut parts.elasticities, &mut parts.pattern)
    } else {
        fitted.baseline_purchase(customer, &mut parts.pattern)
    };
    parts.keyed.clear();
    parts.keyed.extend(parts.elasticities.iter().map(|&(slot, term, elasticity)| {
        let key = touches.get(slot).map_or(baseline, |&touch| CreditKey {
            channel: log.channel[touch],
            campaign: log.campaign[touch],
            stage: log.stage[touch],
        });
        (key, term, elasticity)
    }));
    linear.add_purchase(weights, rate, &parts.pattern, &parts.keyed, revenue);
}

/// Sets the bootstrap weights of `journey`'s user in `scratch` (unless they
/// are there already), and adds the conversion to the replicates of its
/// channel set (`touches`, the transformed path's, as `shapley` reads it).
fn replicate_weights(log: &EventLog, journey: &Journey, touches: &[usize], scratch: &mut Scratch) {
    let replicates = &mut scratch.credits.replicates;
    if scratch.replicate_user != Some(journey.user) {
        crate::bootstrap::user_weights(
            log.users.get(journey.user),
            replicates.count as usize,
            &mut scratch.replicate_weights,
        );
        scratch.replicate_user = Some(journey.user);
    }
    if touches.is_empty() {
        return;
    }
    let Some(conversion) = journey.conversion else {
        return;
    };
    scratch.set.clear();
    scratch.set.extend(touches.iter().map(|&touch| log.channel[touch]));
    scratch.set.sort_unstable();
    scratch.set.dedup();
    replicates.add_set(&scratch.set, log.revenue[conversion], &scratch.replicate_weights);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::models::registry;
    use crate::time::{Lookback, MICROS_PER_DAY};

    /// Random users: each a list of (channel index, is conversion, revenue).
    fn log_strategy() -> impl Strategy<Value = Vec<Vec<(u8, bool, u32)>>> {
        proptest::collection::vec(
            proptest::collection::vec((0_u8..6, proptest::bool::weighted(0.25), 0_u32..100_000), 1..12),
            1..40,
        )
    }

    fn build(users: &[Vec<(u8, bool, u32)>]) -> EventLog {
        let channels = ["direct", "display", "email", "paid_search", "paid_social", "video"];
        let mut builder = EventLogBuilder::new();
        for (user, events) in users.iter().enumerate() {
            let name = format!("user{user}");
            for (step, &(channel, conversion, revenue)) in events.iter().enumerate() {
                let time = i64::try_from(step).unwrap() * MICROS_PER_DAY / 2;
                builder = if conversion {
                    builder.conversion(&name, time, i64::from(revenue) * 10_000)
                } else {
                    builder.touch(&name, time, channels[usize::from(channel)])
                };
            }
        }
        builder.build()
    }

    proptest! {
        #[test]
        fn every_model_credits_each_conversion_exactly_once(users in log_strategy()) {
            let log = build(&users);
            let config = Config::default();
            let journeys = Journeys::build(&log, Lookback::default());
            let models = registry(&config);
            let credits = attribute(&log, &journeys, &models, &config);
            let conversions = log.kind.iter().filter(|kind| !kind.is_touch()).count() as u64;
            let revenue: i128 = log.revenue.iter().map(|&value| i128::from(value)).sum();
            prop_assert_eq!(credits.conversions, conversions);
            for model in 0..models.len() {
                let total = credits.total(model);
                prop_assert_eq!(total.units, i128::from(conversions) * i128::from(CONVERSION_UNITS));
                prop_assert_eq!(total.revenue, revenue);
                prop_assert!(credits.per_model[model].values().all(|sums| sums.units >= 0 && sums.revenue >= 0));
            }
        }

        #[test]
        fn merging_is_associative_and_commutative(users in log_strategy(), split in 0_usize..40, second in 0_usize..40) {
            let log = build(&users);
            let config = Config::default();
            let journeys = Journeys::build(&log, Lookback::default());
            let models = registry(&config);
            let part = |range: std::ops::Range<usize>| {
                let mut credits = Credits::new(models.len());
                let mut scratch = Scratch::new(models.len(), 5);
                let mut path = TransformedPath::default();
                for index in range {
                    let journey = journeys.get(index);
                    config.path_transform.apply(&log, journey.path.clone(), &mut path);
                    credit_journey(&log, &journey, &path.touches, &path.counts, &models, &config, &mut scratch);
                }
                credits = credits.merge(scratch.into_credits());
                credits
            };
            let count = journeys.len();
            let (first, second) = (split.min(count), second.min(count));
            let (low, high) = (first.min(second), first.max(second));
            let whole = part(0..count);
            let left_first = part(0..low).merge(part(low..high)).merge(part(high..count));
            let right_first = part(high..count).merge(part(0..low).merge(part(low..high)));
            prop_assert_eq!(&whole, &left_first);
            prop_assert_eq!(&whole, &right_first);
            prop_assert_eq!(&whole, &Credits::new(models.len()).merge(whole.clone()));
        }
    }

    #[test]
    fn position_buckets() {
        let buckets = |length| (0..length).map(|index| position_bucket(index, length)).collect::<Vec<_>>();
        assert_eq!(buckets(1), [1]);
        assert_eq!(buckets(2), [0, 2]);
        assert_eq!(buckets(4), [0, 1, 1, 2]);
        assert_eq!(buckets(8), [0, 0, 1, 1, 1, 1, 2, 2]);
    }

    #[test]
    fn zero_revenue_still_credits_one_conversion() {
        let log = EventLogBuilder::new().touch("u", 0, "email").touch("u", 1, "video").conversion("u", 2, 0).build();
        let config = Config::default();
        let journeys = Journeys::build(&log, Lookback::default());
        let models = registry(&config);
        let credits = attribute(&log, &journeys, &models, &config);
        for model in 0..models.len() {
            assert_eq!(credits.total(model), CreditSums { units: i128::from(CONVERSION_UNITS), revenue: 0 });
            assert!(credits.per_model[model].values().all(|sums| sums.revenue == 0));
        }
    }

    #[test]
    fn conversions_without_touches_go_to_none() {
        let log = EventLogBuilder::new().conversion("u", 0, 5_000_000).build();
        let config = Config::default();
        let journeys = Journeys::build(&log, Lookback::default());
        let credits = attribute(&log, &journeys, &registry(&config), &config);
        for table in &credits.per_model {
            let (key, sums) = table.iter().next().unwrap();
            assert_eq!(key.channel, NO_CHANNEL_CODE);
            assert_eq!(*sums, CreditSums { units: i128::from(CONVERSION_UNITS), revenue: 5_000_000 });
        }
    }
}
