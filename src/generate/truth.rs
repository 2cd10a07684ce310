//! The ground truth of a generated log: what each channel really caused.
//!
//! The causal game: `v(S)` = the purchases (and their revenue) the log
//! would hold had only the touches of the channels in `S` happened, every
//! other draw being the same ([`replay`] with common random numbers). So
//! `v(all)` is the log itself and `v(∅)` what would have happened without
//! any marketing. Per channel, the truth gives
//!
//! - its **Shapley value** in that game,
//!   `φ_c = Σ_{S ⊆ N∖{c}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {c}) − v(S))`,
//!   so that `Σ_c φ_c = v(all) − v(∅)`;
//! - its **removal effect**, `v(all) − v(all ∖ {c})`.
//!
//! The game is a sum over users, and a user's replays only change with the
//! channels of their own schedule (the others are null players in their
//! game), so each user's Shapley values are computed exactly over their own
//! channels and summed: the same numbers as the `2^n` replays of the whole
//! log (a test checks it by brute force), at a fraction of the cost. Sums
//! are kept as integers scaled by `k!` per user size `k`, so the result does
//! not depend on the order users are added in.

use std::io::{self, Write};

use rayon::prelude::*;

use super::catalog::{CHANNEL_COUNT, CHANNELS};
use super::scenario::World;
#[cfg(test)]
use super::world::ALL_CHANNELS;
use super::world::{ChannelSet, Outcome, Plan, replay};
use crate::output::CsvWriter;

/// Users handed to one parallel task.
const USERS_PER_TASK: u32 = 1_024;

/// The exact Shapley sums of users with `k` players, scaled by `k!`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sums {
    /// `[k][channel]`: Σ over users with `k` players of `k! · φ` in
    /// purchases.
    purchases: Vec<[i128; CHANNEL_COUNT]>,
    /// The same in revenue cents.
    revenue: Vec<[i128; CHANNEL_COUNT]>,
    /// Σ `v(all) − v(all ∖ {c})`, purchases and cents.
    removal: [(i64, i128); CHANNEL_COUNT],
    /// Σ `v(∅)`.
    baseline: (u64, u128),
    /// Σ `v(all)`: the log's purchases and revenue.
    total: (u64, u128),
}

impl Sums {
    fn new() -> Self {
        Self {
            purchases: vec![[0; CHANNEL_COUNT]; CHANNEL_COUNT + 1],
            revenue: vec![[0; CHANNEL_COUNT]; CHANNEL_COUNT + 1],
            removal: [(0, 0); CHANNEL_COUNT],
            baseline: (0, 0),
            total: (0, 0),
        }
    }

    fn merge(mut self, other: &Self) -> Self {
        for (mine, theirs) in self.purchases.iter_mut().zip(&other.purchases) {
            mine.iter_mut().zip(theirs).for_each(|(left, right)| *left += right);
        }
        for (mine, theirs) in self.revenue.iter_mut().zip(&other.revenue) {
            mine.iter_mut().zip(theirs).for_each(|(left, right)| *left += right);
        }
        for (mine, theirs) in self.removal.iter_mut().zip(other.removal) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        self.baseline = (self.baseline.0 + other.baseline.0, self.baseline.1 + other.baseline.1);
        self.total = (self.total.0 + other.total.0, self.total.1 + other.total.1);
        self
    }

    /// Adds one user: replays every subset of their players.
    fn add_user(&mut self, world: &World, plan: &Plan) {
        let players: Vec<usize> =
            (0..CHANNEL_COUNT).filter(|&channel| plan.players(world) & (1 << channel) != 0).collect();
        let count = players.len();
        let values: Vec<Outcome> =
            (0..1_usize << count).map(|subset| replay(world, plan, to_channels(subset, &players), None)).collect();
        let full = (1 << count) - 1;
        let (empty, all) = (values[0], values[full]);
        self.baseline.0 += u64::from(empty.purchases);
        self.baseline.1 += u128::from(empty.revenue_cents);
        self.total.0 += u64::from(all.purchases);
        self.total.1 += u128::from(all.revenue_cents);
        for (player, &channel) in players.iter().enumerate() {
            let bit = 1 << player;
            let without = values[full & !bit];
            self.removal[channel].0 += i64::from(all.purchases) - i64::from(without.purchases);
            self.removal[channel].1 += i128::from(all.revenue_cents) - i128::from(without.revenue_cents);
            let (mut purchases, mut revenue) = (0_i128, 0_i128);
            for subset in (0..=full).filter(|subset| subset & bit == 0) {
                let weight = shapley_weight(subset.count_ones() as usize, count);
                let (joined, alone) = (values[subset | bit], values[subset]);
                purchases += weight * (i128::from(joined.purchases) - i128::from(alone.purchases));
                revenue += weight * (i128::from(joined.revenue_cents) - i128::from(alone.revenue_cents));
            }
            self.purchases[count][channel] += purchases;
            self.revenue[count][channel] += revenue;
        }
    }
}

/// `|S|! (k − |S| − 1)!`: the Shapley weight of a coalition of `size`
/// among `players`, times `players!`.
fn shapley_weight(size: usize, players: usize) -> i128 {
    factorial(size) * factorial(players - size - 1)
}

fn factorial(value: usize) -> i128 {
    (1..=value).map(|factor| factor as i128).product()
}

/// The catalog channels a subset of `players` (bit `i` for `players[i]`)
/// stands for.
fn to_channels(subset: usize, players: &[usize]) -> ChannelSet {
    let mut channels = 0;
    for (index, &channel) in players.iter().enumerate() {
        if subset & (1 << index) != 0 {
            channels |= 1 << channel;
        }
    }
    channels
}

/// One channel's truth.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChannelTruth {
    /// The channel's name, as the log writes it.
    pub channel: String,
    /// Its Shapley value in purchases.
    pub conversions: f64,
    /// Its Shapley value in revenue (currency units).
    pub revenue: f64,
    /// `v(all) − v(all ∖ {c})` in purchases.
    pub removal_conversions: i64,
    /// The same in revenue.
    pub removal_revenue: f64,
}

/// What every channel of a generated log really caused.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Truth {
    /// Per catalog channel, by name.
    pub channels: Vec<ChannelTruth>,
    /// `v(∅)`: purchases without any marketing.
    pub baseline_conversions: u64,
    /// Their revenue.
    pub baseline_revenue: f64,
    /// `v(all)`: the purchases of the log.
    pub total_conversions: u64,
    /// Their revenue.
    pub total_revenue: f64,
}

impl Truth {
    /// Replays every user of `world` and seed `seed` with every subset of
    /// their channels.
    #[must_use]
    pub fn compute(world: &World, seed: u64, users: u32) -> Self {
        let sums = (0..users.div_ceil(USERS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let first = task * USERS_PER_TASK;
                let mut sums = Sums::new();
                for user in first..users.min(first + USERS_PER_TASK) {
                    sums.add_user(world, &Plan::draw(world, seed, user));
                }
                sums
            })
            .reduce(Sums::new, |left, right| left.merge(&right));
        Self::from_sums(&sums)
    }

    #[expect(clippy::cast_precision_loss, reason = "exact integer sums, reported as decimals")]
    fn from_sums(sums: &Sums) -> Self {
        let mut channels: Vec<ChannelTruth> = (0..CHANNEL_COUNT)
            .map(|channel| {
                let unscale = |table: &[[i128; CHANNEL_COUNT]]| -> f64 {
                    table.iter().enumerate().map(|(size, row)| row[channel] as f64 / factorial(size) as f64).sum()
                };
                ChannelTruth {
                    channel: CHANNELS[channel].name.to_owned(),
                    conversions: unscale(&sums.purchases),
                    revenue: unscale(&sums.revenue) / 100.0,
                    removal_conversions: sums.removal[channel].0,
                    removal_revenue: sums.removal[channel].1 as f64 / 100.0,
                }
            })
            .collect();
        channels.sort_by(|left, right| left.channel.cmp(&right.channel));
        Self {
            channels,
            baseline_conversions: sums.baseline.0,
            baseline_revenue: sums.baseline.1 as f64 / 100.0,
            total_conversions: sums.total.0,
            total_revenue: sums.total.1 as f64 / 100.0,
        }
    }

    /// Each channel's share of the Shapley values, in conversions and
    /// revenue, by name.
    #[must_use]
    pub fn shares(&self) -> Vec<(&str, f64, f64)> {
        let conversions: f64 = self.channels.iter().map(|truth| truth.conversions).sum();
        let revenue: f64 = self.channels.iter().map(|truth| truth.revenue).sum();
        let share = |value: f64, total: f64| if total > 0.0 { value / total } else { 0.0 };
        self.channels
            .iter()
            .map(|truth| (truth.channel.as_str(), share(truth.conversions, conversions), share(truth.revenue, revenue)))
            .collect()
    }

    /// `truth.csv`: one row per channel, then `baseline` (`v(∅)`) and
    /// `total` (`v(all)`, the log's purchases).
    ///
    /// # Errors
    ///
    /// Whatever the sink returns.
    pub fn write(&self, sink: &mut dyn Write) -> io::Result<()> {
        let mut writer = CsvWriter::new(sink);
        writer.record(
            [
                "channel",
                "conversions",
                "revenue",
                "share_of_conversions",
                "share_of_revenue",
                "removal_conversions",
                "removal_revenue",
            ]
            .map(Some),
        )?;
        for (truth, (_, conversion_share, revenue_share)) in self.channels.iter().zip(self.shares()) {
            let fields = [
                truth.channel.clone(),
                format!("{:.6}", truth.conversions),
                format!("{:.2}", truth.revenue),
                format!("{conversion_share:.6}"),
                format!("{revenue_share:.6}"),
                truth.removal_conversions.to_string(),
                format!("{:.2}", truth.removal_revenue),
            ];
            writer.record(fields.iter().map(|field| Some(field.as_str())))?;
        }
        for (name, conversions, revenue) in [
            ("baseline", self.baseline_conversions, self.baseline_revenue),
            ("total", self.total_conversions, self.total_revenue),
        ] {
            let fields = [name.to_owned(), conversions.to_string(), format!("{revenue:.2}")];
            writer.record(fields.iter().map(|field| Some(field.as_str())).chain([None, None, None, None]))?;
        }
        Ok(())
    }
}

/// The whole game by brute force: `v(S)` for every subset of the catalog's
/// channels, each user replayed `2^n` times. For tests on tiny logs.
#[cfg(test)]
fn game(world: &World, seed: u64, users: u32) -> Vec<Outcome> {
    let mut values = vec![Outcome::default(); 1 << CHANNEL_COUNT];
    for user in 0..users {
        let plan = Plan::draw(world, seed, user);
        for (set, value) in values.iter_mut().enumerate() {
            let outcome = replay(world, &plan, ChannelSet::try_from(set).unwrap_or(ALL_CHANNELS), None);
            value.purchases += outcome.purchases;
            value.revenue_cents += outcome.revenue_cents;
        }
    }
    values
}

#[cfg(test)]
#[expect(clippy::cast_precision_loss, reason = "small test sums")]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::generate::scenario::Scenario;
    use crate::generate::simulate::simulate_world;

    fn world(name: &str) -> World {
        Scenario::shipped(name).and_then(|scenario| scenario.world().ok()).expect("a shipped scenario")
    }

    /// Shapley values of the whole game by the textbook formula over every
    /// channel.
    fn brute_force_shapley(values: &[Outcome]) -> Vec<(f64, f64)> {
        let players = CHANNEL_COUNT;
        (0..players)
            .map(|channel| {
                let bit = 1 << channel;
                let mut sums = (0.0, 0.0);
                for subset in (0..values.len()).filter(|subset| subset & bit == 0) {
                    let weight =
                        shapley_weight(subset.count_ones() as usize, players) as f64 / factorial(players) as f64;
                    let (joined, alone) = (values[subset | bit], values[subset]);
                    sums.0 += weight * (f64::from(joined.purchases) - f64::from(alone.purchases));
                    sums.1 += weight * (joined.revenue_cents as f64 - alone.revenue_cents as f64) / 100.0;
                }
                sums
            })
            .collect()
    }

    #[test]
    fn per_user_shapley_values_equal_the_brute_force_game() {
        for name in ["default", "synergy", "harvesting"] {
            let world = world(name);
            let (seed, users) = (3, 120);
            let values = game(&world, seed, users);
            let truth = Truth::compute(&world, seed, users);
            let expected = brute_force_shapley(&values);
            for (channel, (conversions, revenue)) in expected.iter().enumerate() {
                let name = CHANNELS[channel].name;
                let found = truth.channels.iter().find(|truth| truth.channel == name).unwrap();
                assert!(
                    (found.conversions - conversions).abs() < 1e-9,
                    "{name}: {} vs {conversions}",
                    found.conversions
                );
                assert!((found.revenue - revenue).abs() < 1e-6, "{name}: {} vs {revenue}", found.revenue);
                let all = values[usize::from(ALL_CHANNELS)];
                let without = values[usize::from(ALL_CHANNELS & !(1 << channel))];
                assert_eq!(found.removal_conversions, i64::from(all.purchases) - i64::from(without.purchases));
            }
            assert_eq!(truth.baseline_conversions, u64::from(values[0].purchases));
            assert_eq!(truth.total_conversions, u64::from(values[usize::from(ALL_CHANNELS)].purchases));
        }
    }

    #[test]
    fn shapley_values_add_up_to_the_log_minus_the_baseline() {
        for (name, _) in crate::generate::scenario::SHIPPED {
            let world = world(name);
            let truth = Truth::compute(&world, 11, 3_000);
            let events = simulate_world(&world, 11, 3_000);
            let purchases = events.iter().filter(|event| event.kind == EventKind::Conversion).count() as u64;
            let revenue: u64 = events.iter().map(|event| u64::from(event.revenue_cents)).sum();
            assert_eq!(truth.total_conversions, purchases, "{name}");
            assert!((truth.total_revenue - revenue as f64 / 100.0).abs() < 1e-6, "{name}");
            let shapley: f64 = truth.channels.iter().map(|channel| channel.conversions).sum();
            let expected = (truth.total_conversions - truth.baseline_conversions) as f64;
            assert!((shapley - expected).abs() < 1e-6, "{name}: {shapley} vs {expected}");
            let shapley_revenue: f64 = truth.channels.iter().map(|channel| channel.revenue).sum();
            assert!((shapley_revenue - (truth.total_revenue - truth.baseline_revenue)).abs() < 1e-4, "{name}");
        }
    }

    #[test]
    fn a_harvesting_channel_causes_nothing() {
        let world = world("harvesting");
        let truth = Truth::compute(&world, 5, 2_000);
        for harvester in ["direct", "paid_search"] {
            let found = truth.channels.iter().find(|truth| truth.channel == harvester).unwrap();
            assert_eq!((found.conversions, found.removal_conversions), (0.0, 0), "{harvester}");
        }
        let events = simulate_world(&world, 5, 2_000);
        let direct = events
            .iter()
            .filter(|event| event.kind.is_touch() && CHANNELS[usize::from(event.channel)].name == "direct");
        assert!(direct.count() > 100, "harvest touches are logged");
    }

    #[test]
    fn the_same_seed_gives_the_same_truth_whatever_the_thread_count() {
        let world = world("default");
        let many = Truth::compute(&world, 9, 5_000);
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let one = single.install(|| Truth::compute(&world, 9, 5_000));
        assert_eq!(many, one);
    }
}
