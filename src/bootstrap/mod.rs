//! Bootstrap intervals: how much each reported number would move if the
//! same marketing had reached another sample of users.
//!
//! A run with `bootstrap = R` resamples users with a Poisson bootstrap: in
//! replicate `r`, user `u` counts `w_r(u)` times, a Poisson(1) draw that
//! depends on nothing but the user id and `r` ([`user_weights`]). So a
//! user's weight is the same in every bucket, partition and thread, and a
//! replicate is just more sums that add up over users like every other sum:
//!
//! - first pass ([`ReplicateCount`]): the data-driven models' counts, each
//!   user's weighted `R` times (transition counts of `markov`'s chain,
//!   coalition counts of `shapley`'s game, exposure per feature of
//!   `incremental`'s rate), so that each replicate refits them;
//! - second pass ([`CreditReplicates`]): each conversion's credit under
//!   every model, weighted `R` times, per (model, channel, campaign, stage);
//!   for `shapley`, each converting channel set's weighted conversions and
//!   revenue; for `incremental`, what its first-order refit and recredit
//!   need ([`LinearSums`]).
//!
//! [`Intervals::compute`] then refits `markov` and `shapley` per replicate,
//! sets each replicate's channel totals from its own fit (as the full run
//! does from its fit), steps `incremental`'s terms and moves its credit
//! ([`linear`]), and takes percentiles of the `R` values of every row of
//! `channels.csv`, `campaigns.csv` and `stages.csv`. `docs/models.md` says
//! what the intervals mean and what they do not.

pub(crate) mod intervals;
pub mod linear;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use statrs::distribution::{DiscreteCDF, Poisson};

pub use self::intervals::{Fits, Interval, Intervals, ModelIntervals, RowIntervals, percentiles};
pub use self::linear::{Exposures, LinearSums};
use crate::aggregate::{Chunk, Partial};
use crate::attribution::CreditKey;
use crate::event_log::{EventLog, EventLogBuilder, NO_CHANNEL_CODE};
use crate::hash::FastMap;
use crate::models::chain::{Chain, Counts, StateKey, Target};
use crate::models::incremental::UserCounter;
use crate::models::shapley::{Coalitions, Shapley};

/// The most replicates a run may draw.
pub const MAX_REPLICATES: u32 = 10_000;

/// The largest weight drawn: `P(Poisson(1) > 20)` is below `10⁻¹⁹`, under
/// the resolution of the uniform draws.
const MAX_WEIGHT: u64 = 20;

/// `P(Poisson(1) ≤ k)` for `k` = 0 to [`MAX_WEIGHT`], from `statrs`, as
/// thresholds on 53-bit integers: `⌈P(Poisson(1) ≤ k) · 2⁵³⌉`, so that a
/// uniform draw `m / 2⁵³` is below the probability exactly when `m` is below
/// the threshold.
static THRESHOLDS: LazyLock<Vec<u64>> = LazyLock::new(|| match Poisson::new(1.0) {
    Ok(poisson) => (0..=MAX_WEIGHT)
        .map(|weight| {
            #[expect(clippy::cast_precision_loss, reason = "2⁵³, exact")]
            let scaled = (poisson.cdf(weight) * (1_u64 << 53) as f64).ceil();
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "in [0, 2⁵³]")]
            let threshold = scaled as u64;
            threshold
        })
        .collect(),
    Err(_) => vec![1 << 53],
});

/// The weights most draws stay below, compared without a branch.
const COMMON_WEIGHTS: usize = 8;

/// The increment of `SplitMix64` (`2⁶⁴ / φ`).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `index`-th output (from 1) of a `SplitMix64` generator seeded with
/// `seed`.
fn splitmix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The uniform draw that puts user `user` in or out of `incremental`'s
/// fit ([`crate::models::incremental::Sample`]): the top 53 bits of
/// `splitmix64(h, 0)`, with `h` the hash buckets are cut from
/// ([`crate::bucket::user_hash`]), an integer below 2^53. Index 0 is the
/// seed's own mix; the replicates' weights ([`user_weights`]) take 1 and up.
#[must_use]
pub fn user_draw(user: &str) -> u64 {
    splitmix64(crate::bucket::user_hash(user), 0) >> 11
}

/// Into `weights`, the user's weight in each of `replicates` replicates:
/// replicate `r` takes the `(r + 1)`-th output of a `SplitMix64` generator
/// seeded with the user's hash (the one buckets are cut from,
/// [`crate::bucket::user_hash`]), keeps its top 53 bits as a uniform draw
/// `U` in `[0, 1)`, and returns the smallest `k` with `U < P(Poisson(1) ≤
/// k)` (inverse-CDF sampling).
pub fn user_weights(user: &str, replicates: usize, weights: &mut Vec<i64>) {
    weights.clear();
    let seed = crate::bucket::user_hash(user);
    let thresholds = THRESHOLDS.as_slice();
    let common = &thresholds[..COMMON_WEIGHTS.min(thresholds.len())];
    for replicate in 0..replicates {
        let draw = splitmix64(seed, replicate as u64 + 1) >> 11;
        // How many thresholds the draw reaches: counted without branches
        // for the common weights (the draw is random, a branch would be
        // mispredicted), then one by one in the rare tail.
        let mut weight = common.iter().map(|&threshold| usize::from(draw >= threshold)).sum::<usize>();
        if weight == COMMON_WEIGHTS {
            while weight + 1 < thresholds.len() && draw >= thresholds[weight] {
                weight += 1;
            }
        }
        weights.push(i64::try_from(weight).unwrap_or(0));
    }
}

/// Replicate `replicate` of `replicates` as a log of its own: each user of
/// `log` `w_r(u)` times ([`user_weights`]), copy `k` named `id` then `#k`.
/// A run on it is a full refit and recredit of that replicate: what the
/// replicate sums stand for, to check them against, on a small log.
#[must_use]
pub fn resample(log: &EventLog, replicates: usize, replicate: usize) -> EventLog {
    let mut builder = EventLogBuilder::new();
    let mut weights = Vec::new();
    for user in 0..log.user_count() {
        let name = log.users.get(u32::try_from(user).unwrap_or(u32::MAX));
        user_weights(name, replicates, &mut weights);
        for copy in 0..weights.get(replicate).copied().unwrap_or(0) {
            let copy_name = format!("{name}#{copy}");
            for index in log.user_events(user) {
                let channel = log.channel[index];
                builder = builder.event(
                    &copy_name,
                    log.time[index],
                    log.kind[index],
                    if channel == NO_CHANNEL_CODE { "" } else { log.channels.get(channel) },
                    log.campaigns.get(log.campaign[index]),
                    log.stage[index],
                    log.revenue[index],
                );
            }
        }
    }
    builder.build()
}

/// Adds `amount` times each weight to the replicate sums `into`.
fn add_weighted(into: &mut [i64], weights: &[i64], amount: i64) {
    if amount == 1 {
        for (sum, weight) in into.iter_mut().zip(weights) {
            *sum += weight;
        }
    } else if let Ok(amount) = u32::try_from(amount) {
        // Weights are at most MAX_WEIGHT: both factors fit in 32 bits, one
        // 32 × 32-bit multiply each, which vectorises (a 64-bit multiply
        // takes three; it was most of the first pass's replicate time with
        // `incremental`'s exposures).
        let amount = u64::from(amount);
        for (sum, &weight) in into.iter_mut().zip(weights) {
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a weight, 0 to 20")]
            let weight = u64::from(weight as u32);
            #[expect(clippy::cast_possible_wrap, reason = "below 2^37")]
            let product = (weight * amount) as i64;
            *sum += product;
        }
    } else {
        for (sum, weight) in into.iter_mut().zip(weights) {
            *sum += weight * amount;
        }
    }
}

/// Adds replicate sums keyed alike.
fn add_tables<K: std::hash::Hash + Eq>(into: &mut FastMap<K, Vec<i64>>, other: FastMap<K, Vec<i64>>) {
    for (key, values) in other {
        match into.get_mut(&key) {
            Some(sums) => {
                for (sum, value) in sums.iter_mut().zip(values) {
                    *sum += value;
                }
            }
            None => {
                into.insert(key, values);
            }
        }
    }
}

/// The first pass's sums per replicate: what `markov` and `shapley` are
/// refitted on. Each user's counts are weighted by the user's weight in
/// each replicate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicates {
    /// How many replicates (0: no bootstrap).
    pub count: u32,
    /// The order of `markov`'s chain, when `markov` runs.
    pub order: Option<u8>,
    /// `markov`'s transition counts: (from, to) → one weighted count per
    /// replicate.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub transitions: FastMap<(StateKey, Target), Vec<i64>>,
    /// Journeys counted in the chain, per replicate.
    pub journeys: Vec<i64>,
    /// `shapley`'s coalitions: channel set → weighted journeys of each
    /// replicate, then weighted conversions of each.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub coalitions: FastMap<Vec<u32>, Vec<i64>>,
    /// `incremental`'s exposure per feature, when it runs: the users' whole
    /// seconds, then weighted by each replicate ([`linear`]).
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub exposure: Exposures,
}

impl Replicates {
    /// Adds the sums of other users (disjoint from these).
    pub fn add(&mut self, other: Self) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        add_tables(&mut self.transitions, other.transitions);
        add_tables(&mut self.coalitions, other.coalitions);
        add_tables(&mut self.exposure, other.exposure);
        for (sum, value) in self.journeys.iter_mut().zip(other.journeys) {
            *sum += value;
        }
    }

    /// The same sums with every channel code renumbered by `channel`
    /// (`state` renumbers a chain state).
    #[must_use]
    pub fn renumber(self, channel: impl Fn(u32) -> u32 + Copy, state: impl Fn(StateKey) -> StateKey) -> Self {
        let target = |target: Target| match target {
            Target::State(key) => Target::State(state(key)),
            other => other,
        };
        Self {
            transitions: self
                .transitions
                .into_iter()
                .map(|((from, to), values)| ((state(from), target(to)), values))
                .collect(),
            coalitions: self
                .coalitions
                .into_iter()
                .map(|(set, values)| {
                    let mut set: Vec<u32> = set.into_iter().map(channel).collect();
                    set.sort_unstable();
                    (set, values)
                })
                .collect(),
            exposure: self.exposure.into_iter().map(|(feature, values)| (feature.renumber(channel), values)).collect(),
            ..self
        }
    }

    /// True when every sum holds one value per replicate (two for a
    /// coalition): what a state read from disk must hold.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        let count = self.count as usize;
        (count == 0 && self.journeys.is_empty() || self.journeys.len() == count)
            && self.transitions.values().all(|values| values.len() == count)
            && self.coalitions.values().all(|values| values.len() == 2 * count)
            && self.exposure.values().all(|values| values.len() == 1 + count)
    }

    /// Replicate `replicate`'s chain, when `markov` runs.
    #[must_use]
    pub fn chain(&self, replicate: usize) -> Option<Chain> {
        let order = self.order?;
        let counts: Counts = self
            .transitions
            .iter()
            .filter_map(|(&key, values)| {
                u64::try_from(values[replicate]).ok().filter(|&count| count > 0).map(|count| (key, count))
            })
            .collect();
        let journeys = u64::try_from(self.journeys.get(replicate).copied().unwrap_or(0)).unwrap_or(0);
        Some(Chain::from_counts(&counts, order, journeys))
    }

    /// Replicate `replicate`'s Shapley game.
    #[must_use]
    pub fn coalitions(&self, replicate: usize) -> Coalitions {
        let count = self.count as usize;
        self.coalitions
            .iter()
            .filter_map(|(set, values)| {
                let journeys = u64::try_from(values[replicate]).ok().filter(|&journeys| journeys > 0)?;
                let conversions = u64::try_from(values[count + replicate]).unwrap_or(0);
                Some((set.clone(), (journeys, conversions)))
            })
            .collect()
    }
}

/// [`Replicates`] being counted in the first pass's walk: each user's
/// counts, then the user's weights.
pub struct ReplicateCount {
    replicates: Replicates,
    shapley: bool,
    /// Counts each user's phases when `incremental` runs.
    hazard: Option<UserCounter>,
    /// The weights of the chunk's users, user after user.
    weights: Vec<i64>,
    transitions: Counts,
    journeys: u64,
    coalitions: Coalitions,
    set: Vec<u32>,
}

impl ReplicateCount {
    /// No user counted yet, for `count` replicates of `markov`'s chain of
    /// `order` (when it runs), of `shapley`'s game (when `shapley`) and of
    /// `incremental`'s exposure (when `hazard` gives the end of the log's
    /// time and the touches' memory to count it with).
    #[must_use]
    pub fn new(count: u32, order: Option<u8>, shapley: bool, hazard: Option<(i64, i64)>) -> Self {
        Self {
            replicates: Replicates { count, order, journeys: vec![0; count as usize], ..Replicates::default() },
            shapley,
            hazard: hazard.map(|(end, memory)| UserCounter::new(end, memory)),
            weights: Vec::new(),
            transitions: Counts::default(),
            journeys: 0,
            coalitions: Coalitions::default(),
            set: Vec::new(),
        }
    }

    /// Adds the counts of the chunk's user `index`, held in the scratch
    /// tables, with the user's weights (drawn for the chunk in `weights`).
    fn flush(&mut self, index: usize) {
        let count = self.replicates.count as usize;
        let weights = &self.weights[index * count..(index + 1) * count];
        for (key, transitions) in self.transitions.drain() {
            let sums = self.replicates.transitions.entry(key).or_insert_with(|| vec![0; count]);
            add_weighted(sums, weights, i64::try_from(transitions).unwrap_or(i64::MAX));
        }
        add_weighted(&mut self.replicates.journeys, weights, i64::try_from(self.journeys).unwrap_or(i64::MAX));
        self.journeys = 0;
        for (set, (journeys, conversions)) in self.coalitions.drain() {
            let sums = self.replicates.coalitions.entry(set).or_insert_with(|| vec![0; 2 * count]);
            let (journey_sums, conversion_sums) = sums.split_at_mut(count);
            add_weighted(journey_sums, weights, i64::try_from(journeys).unwrap_or(i64::MAX));
            add_weighted(conversion_sums, weights, i64::try_from(conversions).unwrap_or(i64::MAX));
        }
    }
}

impl Partial for ReplicateCount {
    type Output = Replicates;

    fn finish(self) -> Replicates {
        self.replicates
    }

    fn add_chunk(&mut self, chunk: &Chunk<'_>) {
        // Each user's weights, drawn once for the chunk.
        let count = self.replicates.count as usize;
        let first = chunk.users().next().map_or(0, |user| user.user);
        self.weights.clear();
        let mut drawn = Vec::with_capacity(count);
        for user in chunk.users() {
            user_weights(user.log.users.get(u32::try_from(user.user).unwrap_or(u32::MAX)), count, &mut drawn);
            self.weights.extend_from_slice(&drawn);
            if let Some(counter) = &mut self.hazard {
                let exposure = counter.count(user.log, user.user);
                linear::add_user_exposure(&mut self.replicates.exposure, exposure, &drawn);
            }
        }
        if self.replicates.order.is_none() && !self.shapley {
            return;
        }
        let mut current: Option<u32> = None;
        for walk in chunk.journeys() {
            if let Some(user) = current
                && user != walk.journey.user
            {
                self.flush(user as usize - first);
            }
            current = Some(walk.journey.user);
            let converted = walk.journey.conversion.is_some();
            if let Some(order) = self.replicates.order {
                self.journeys += Chain::count_journey(&mut self.transitions, walk.log, walk.touches, converted, order);
            }
            if self.shapley {
                Shapley::count_journey(&mut self.coalitions, &mut self.set, walk.log, walk.touches, converted);
            }
        }
        if let Some(user) = current {
            self.flush(user as usize - first);
        }
    }

    fn merge(&mut self, other: Self) {
        self.replicates.add(other.replicates);
    }
}

/// The second pass's sums per replicate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReplicates {
    /// How many replicates (0: no bootstrap).
    pub count: u32,
    /// For each model, its credit per key: the weighted credit units of
    /// each replicate, then the weighted revenue (millionths) of each.
    pub per_model: Vec<FastMap<CreditKey, Vec<i64>>>,
    /// Converting channel sets (of the transformed path, as `shapley`
    /// reads it): the weighted conversions of each replicate, in credit
    /// units, then the weighted revenue of each.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub sets: FastMap<Vec<u32>, Vec<i64>>,
    /// `incremental`'s sums for its first-order refit, when it runs.
    pub linear: Option<LinearSums>,
}

impl CreditReplicates {
    /// Empty sums of `count` replicates for `models` models.
    #[must_use]
    pub fn new(count: u32, models: usize) -> Self {
        let per_model = if count == 0 { Vec::new() } else { vec![FastMap::default(); models] };
        Self { count, per_model, sets: FastMap::default(), linear: None }
    }

    /// Adds the sums of other users (disjoint from these).
    pub fn add(&mut self, other: Self) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        for (mine, theirs) in self.per_model.iter_mut().zip(other.per_model) {
            add_tables(mine, theirs);
        }
        add_tables(&mut self.sets, other.sets);
        match (&mut self.linear, other.linear) {
            (Some(mine), Some(theirs)) => mine.add(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// True when the sums hold two values per replicate for `models` models
    /// (or none without replicates): what a credit read from disk must hold.
    #[must_use]
    pub fn is_consistent(&self, models: usize) -> bool {
        let count = 2 * self.count as usize;
        if self.count == 0 {
            return self.per_model.is_empty() && self.sets.is_empty() && self.linear.is_none();
        }
        self.per_model.len() == models
            && self.per_model.iter().flat_map(FastMap::values).all(|values| values.len() == count)
            && self.sets.values().all(|values| values.len() == count)
            && self.linear.as_ref().is_none_or(|linear| linear.is_consistent(self.count as usize, models))
    }

    /// Adds one conversion's credit under model `model`, `(key, units,
    /// revenue)` per touch (keys may repeat), with the user's `weights`.
    pub fn add_credit(&mut self, model: usize, credited: &mut [(CreditKey, i64, i64)], weights: &[i64]) {
        let count = self.count as usize;
        let table = &mut self.per_model[model];
        credited.sort_unstable_by_key(|&(key, _, _)| key);
        let mut index = 0;
        while index < credited.len() {
            let key = credited[index].0;
            let (mut units, mut revenue) = (0, 0);
            while index < credited.len() && credited[index].0 == key {
                units += credited[index].1;
                revenue += credited[index].2;
                index += 1;
            }
            let sums = table.entry(key).or_insert_with(|| vec![0; 2 * count]);
            let (unit_sums, revenue_sums) = sums.split_at_mut(count);
            add_weighted(unit_sums, weights, units);
            add_weighted(revenue_sums, weights, revenue);
        }
    }

    /// Adds one conversion with touches of the channels `set` (sorted,
    /// distinct) and `revenue`, with the user's `weights`.
    pub fn add_set(&mut self, set: &[u32], revenue: i64, weights: &[i64]) {
        let count = self.count as usize;
        let sums = match self.sets.get_mut(set) {
            Some(sums) => sums,
            None => self.sets.entry(set.to_vec()).or_insert_with(|| vec![0; 2 * count]),
        };
        let (unit_sums, revenue_sums) = sums.split_at_mut(count);
        add_weighted(unit_sums, weights, crate::models::CONVERSION_UNITS);
        add_weighted(revenue_sums, weights, revenue);
    }
}

#[cfg(test)]
mod tests;
