//! Shapley value.

use std::cell::RefCell;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{AttributionModel, Diagnostics, Path};
use crate::config::Config;
use crate::event_log::EventLog;
use crate::hash::FastMap;
use crate::journey::{Journeys, TransformedPath};

/// Channel sets up to this size get exact Shapley values; larger ones are
/// estimated from seeded random orderings.
pub const EXACT_LIMIT: usize = 12;

/// Orderings sampled per player for sets above [`EXACT_LIMIT`].
const PERMUTATIONS_PER_PLAYER: usize = 2_000;

/// Credit by Shapley value, with the conversion rate as the value of a
/// coalition of channels.
///
/// - `v(S)` = conversions ÷ journeys among the journeys (converting or not,
///   with at least one touch, after the path transform) whose set of
///   channels is exactly `S`; 0 for a set never observed, and `v(∅) = 0`.
///   A channel never seen on its own thus gets nothing from the orderings
///   it opens, and little credit; [`Coverage`] counts how many of the sets
///   the games needed were never observed.
/// - Each converting journey with channel set `T` is credited by the Shapley
///   values of the game restricted to `T`:
///   `φ_i = Σ_{S ⊆ T∖{i}} |S|! (|T|−|S|−1)! / |T|! · (v(S ∪ {i}) − v(S))`,
///   exactly for `|T| ≤ 12`, and above that by averaging marginal
///   contributions over 2 000 × |T| random orderings drawn from a generator
///   seeded by the set itself (the same answer every run).
/// - `v` is not monotone: a channel can lower the conversion rate of the
///   sets it joins, and its Shapley value can be negative. Negative values
///   are set to 0 and the rest renormalised, so credits stay ≥ 0 and sum to
///   1 per conversion; if no value is positive, the channels share equally.
/// - A channel's share is split among its touches in the path in
///   proportion to the touches they stand for.
///
/// This is the real Shapley value (Shapley, 1953; applied to attribution by
/// Dalessandro et al., 2012, and Google's data-driven attribution): every
/// ordering of the channels is weighed. Some tools publish a leave-one-out
/// score, `v(T) − v(T ∖ {i})`, under the name "Shapley"; that only looks at
/// the last position of each channel and does not add up to `v(T)`.
#[derive(Clone, Debug, Default)]
pub struct Shapley {
    /// Normalised, clamped shares per converting channel set (sorted codes).
    shares: FastMap<Vec<u32>, Vec<f64>>,
    /// How much of the games the data observed.
    coverage: Coverage,
}

/// How much of the Shapley games the journeys observed, as `summary.json`
/// reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Distinct channel sets that converted: one game each.
    pub converting_sets: u64,
    /// Of which estimated from sampled orderings (more than [`EXACT_LIMIT`]
    /// channels) rather than computed exactly.
    pub sampled_sets: u64,
    /// Distinct non-empty channel sets whose value some game looked up:
    /// every subset of an exactly computed set, and the subsets the sampled
    /// orderings went through.
    pub coalitions_needed: u64,
    /// Of which no journey had exactly that set: their value was taken as 0.
    pub coalitions_missing: u64,
}

/// A hash set with the fast hasher of the hot loops.
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// The coalitions one game looked up.
#[derive(Default)]
struct Lookups {
    /// Those observed, by the address of their key in the coalition counts
    /// (each key is a distinct non-empty allocation, so its address names it).
    found: FastSet<usize>,
    /// Those never observed.
    missing: FastSet<Vec<u32>>,
}

impl Lookups {
    /// `v(set)`, recording the lookup.
    fn value(&mut self, coalitions: &Coalitions, set: &[u32]) -> f64 {
        if let Some((key, &(journeys, conversions))) = coalitions.get_key_value(set) {
            self.found.insert(key.as_ptr() as usize);
            #[expect(clippy::cast_precision_loss, reason = "a rate")]
            let rate = conversions as f64 / journeys as f64;
            return rate;
        }
        if !self.missing.contains(set) {
            self.missing.insert(set.to_vec());
        }
        0.0
    }

    /// Adds the lookups of another game (into the larger of the two).
    fn merge(self, other: Self) -> Self {
        let size = |lookups: &Self| lookups.found.len() + lookups.missing.len();
        let (mut larger, smaller) = if size(&self) >= size(&other) { (self, other) } else { (other, self) };
        larger.found.extend(smaller.found);
        larger.missing.extend(smaller.missing);
        larger
    }
}

/// (journeys, conversions) per channel set (sorted codes).
pub type Coalitions = FastMap<Vec<u32>, (u64, u64)>;

/// Adds the coalition counts of other journeys into `into`.
pub fn add_coalitions(into: &mut Coalitions, other: Coalitions) {
    for (set, (journeys, conversions)) in other {
        let entry = into.entry(set).or_default();
        entry.0 += journeys;
        entry.1 += conversions;
    }
}

impl Shapley {
    /// Counts coalitions over all journeys and computes the shares of every
    /// channel set that converted.
    #[must_use]
    pub fn fit(log: &EventLog, journeys: &Journeys, config: &Config) -> Self {
        Self::from_coalitions(&Self::count(log, journeys, config))
    }

    /// The coalition counts [`Shapley::fit`] works from: sums over users.
    #[must_use]
    pub fn count(log: &EventLog, journeys: &Journeys, config: &Config) -> Coalitions {
        let (mut coalitions, mut path, mut set) = (Coalitions::default(), TransformedPath::default(), Vec::new());
        for index in 0..journeys.len() {
            let journey = journeys.get(index);
            config.path_transform.apply(log, journey.path.clone(), &mut path);
            Self::count_journey(&mut coalitions, &mut set, log, &path.touches, journey.conversion.is_some());
        }
        coalitions
    }

    /// Adds one journey, the touches of its path transformed, to
    /// `coalitions` (when it has a touch); `set` is scratch space.
    pub fn count_journey(
        coalitions: &mut Coalitions,
        set: &mut Vec<u32>,
        log: &EventLog,
        touches: &[usize],
        converted: bool,
    ) {
        if touches.is_empty() {
            return;
        }
        fill_set(set, touches.iter().map(|&touch| log.channel[touch]));
        let converted = u64::from(converted);
        // Look up by slice first: a key is allocated once per distinct set.
        if let Some(entry) = coalitions.get_mut(set.as_slice()) {
            entry.0 += 1;
            entry.1 += converted;
        } else {
            coalitions.insert(set.clone(), (1, converted));
        }
    }

    /// Shares for every converting set, from (journeys, conversions) per set.
    #[must_use]
    pub fn from_coalitions(coalitions: &Coalitions) -> Self {
        let converting: Vec<&Vec<u32>> =
            coalitions.iter().filter(|(_, (_, conversions))| *conversions > 0).map(|(set, _)| set).collect();
        let (shares, lookups) = converting
            .par_iter()
            .map(|set| {
                let lookups = RefCell::new(Lookups::default());
                let value = |members: &[u32]| lookups.borrow_mut().value(coalitions, members);
                let raw = if set.len() <= EXACT_LIMIT { exact(set, &value) } else { sampled(set, &value) };
                ((*set).clone(), normalise(raw), lookups.into_inner())
            })
            .fold(
                || (FastMap::default(), Lookups::default()),
                |(mut shares, lookups), (set, set_shares, set_lookups)| {
                    shares.insert(set, set_shares);
                    (shares, lookups.merge(set_lookups))
                },
            )
            .reduce(
                || (FastMap::default(), Lookups::default()),
                |(mut left, left_lookups), (right, right_lookups)| {
                    left.extend(right);
                    (left, left_lookups.merge(right_lookups))
                },
            );
        let coverage = Coverage {
            converting_sets: converting.len() as u64,
            sampled_sets: converting.iter().filter(|set| set.len() > EXACT_LIMIT).count() as u64,
            coalitions_needed: (lookups.found.len() + lookups.missing.len()) as u64,
            coalitions_missing: lookups.missing.len() as u64,
        };
        Self { shares, coverage }
    }

    /// The normalised shares of a channel set (sorted codes), if it converted.
    #[must_use]
    pub fn shares(&self, set: &[u32]) -> Option<&[f64]> {
        self.shares.get(set).map(Vec::as_slice)
    }

    /// How much of the games the journeys observed: sets computed exactly
    /// or by sampling, coalitions needed and never observed.
    #[must_use]
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }
}

/// Fills `set` with the sorted distinct channel codes of a path.
fn fill_set(set: &mut Vec<u32>, codes: impl Iterator<Item = u32>) {
    set.clear();
    set.extend(codes);
    set.sort_unstable();
    set.dedup();
}

thread_local! {
    /// Per-thread scratch for [`Shapley::weights`], which runs once per
    /// conversion: a channel set and touch counts without allocating.
    static SCRATCH: std::cell::RefCell<(Vec<u32>, Vec<u64>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Exact Shapley values over all subsets, as bitmasks of `set`'s positions.
fn exact(set: &[u32], value: &dyn Fn(&[u32]) -> f64) -> Vec<f64> {
    let players = set.len();
    let subsets = 1_usize << players;
    let mut members = Vec::with_capacity(players);
    let values: Vec<f64> = (0..subsets)
        .map(|mask| {
            members.clear();
            members.extend((0..players).filter(|bit| mask & (1 << bit) != 0).map(|bit| set[bit]));
            if members.is_empty() { 0.0 } else { value(&members) }
        })
        .collect();
    // weight[s] = s! (n − s − 1)! / n!
    let mut factorial = vec![1.0_f64; players + 1];
    for index in 1..=players {
        #[expect(clippy::cast_precision_loss, reason = "n ≤ 12")]
        let step = index as f64;
        factorial[index] = factorial[index - 1] * step;
    }
    let weight: Vec<f64> =
        (0..players).map(|size| factorial[size] * factorial[players - size - 1] / factorial[players]).collect();
    (0..players)
        .map(|player| {
            let bit = 1 << player;
            (0..subsets)
                .filter(|mask| mask & bit == 0)
                .map(|mask| weight[mask.count_ones() as usize] * (values[mask | bit] - values[mask]))
                .sum()
        })
        .collect()
}

/// Mean marginal contributions over seeded random orderings.
fn sampled(set: &[u32], value: &dyn Fn(&[u32]) -> f64) -> Vec<f64> {
    // FNV-1a of the codes: the same set always draws the same orderings.
    let seed = set
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &code| (hash ^ u64::from(code)).wrapping_mul(0x0100_0000_01b3));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let players = set.len();
    let rounds = PERMUTATIONS_PER_PLAYER * players;
    let mut order: Vec<usize> = (0..players).collect();
    let mut totals = vec![0.0; players];
    let mut coalition: Vec<u32> = Vec::with_capacity(players);
    for _ in 0..rounds {
        order.shuffle(&mut rng);
        coalition.clear();
        let mut previous = 0.0;
        for &player in &order {
            let position = coalition.partition_point(|&code| code < set[player]);
            coalition.insert(position, set[player]);
            let current = value(&coalition);
            totals[player] += current - previous;
            previous = current;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "a mean")]
    let rounds = rounds as f64;
    totals.into_iter().map(|total| total / rounds).collect()
}

/// Negative values to 0, then shares summing to 1 (equal when none is
/// positive).
fn normalise(values: Vec<f64>) -> Vec<f64> {
    let clamped: Vec<f64> =
        values.into_iter().map(|value| if value.is_finite() && value > 0.0 { value } else { 0.0 }).collect();
    let sum: f64 = clamped.iter().sum();
    if sum <= 0.0 {
        #[expect(clippy::cast_precision_loss, reason = "a share")]
        let equal = 1.0 / clamped.len().max(1) as f64;
        return vec![equal; clamped.len()];
    }
    clamped.into_iter().map(|value| value / sum).collect()
}

impl Shapley {
    /// The formula, before any fitting.
    pub const FORMULA: &'static str = "Shapley value of each channel in the game v(S) = conversion rate of journeys with \
                                       exactly channels S, negatives set to 0";
}

impl AttributionModel for Shapley {
    fn name(&self) -> &'static str {
        "shapley"
    }

    fn formula(&self) -> String {
        Self::FORMULA.to_owned()
    }

    fn diagnostics(&self) -> Option<Diagnostics> {
        Some(Diagnostics::Shapley(self.coverage))
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        SCRATCH.with_borrow_mut(|(set, touches_per_channel)| {
            fill_set(set, (0..path.len()).map(|index| path.channel_code(index)));
            let Some(shares) = self.shares(set) else {
                weights.fill(1.0);
                return;
            };
            touches_per_channel.clear();
            touches_per_channel.resize(set.len(), 0);
            let position = |code: u32| set.binary_search(&code).unwrap_or(0);
            for index in 0..path.len() {
                touches_per_channel[position(path.channel_code(index))] += u64::from(path.count(index));
            }
            for (index, weight) in weights.iter_mut().enumerate() {
                let channel = position(path.channel_code(index));
                #[expect(clippy::cast_precision_loss, reason = "touch counts are small")]
                let share = shares[channel] * f64::from(path.count(index)) / touches_per_channel[channel] as f64;
                *weight = share;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coalitions(table: &[(&[u32], u64, u64)]) -> Coalitions {
        table.iter().map(|&(set, journeys, conversions)| (set.to_vec(), (journeys, conversions))).collect()
    }

    fn rate(game: &Coalitions, set: &[u32]) -> f64 {
        game.get(set).map_or(0.0, |&(journeys, conversions)| {
            f64::from(u32::try_from(conversions).unwrap()) / f64::from(u32::try_from(journeys).unwrap())
        })
    }

    fn close(actual: &[f64], expected: &[f64]) -> bool {
        actual.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-12)
    }

    #[test]
    fn two_channels_by_hand() {
        // v(a) = 0.2, v(b) = 0.1, v(ab) = 0.5:
        // φa = ½·0.2 + ½·(0.5 − 0.1) = 0.3, φb = ½·0.1 + ½·(0.5 − 0.2) = 0.2.
        let game = coalitions(&[(&[0], 10, 2), (&[1], 10, 1), (&[0, 1], 10, 5)]);
        let value = |set: &[u32]| rate(&game, set);
        assert!(close(&exact(&[0, 1], &value), &[0.3, 0.2]));
        let shapley = Shapley::from_coalitions(&game);
        assert!(close(shapley.shares(&[0, 1]).unwrap(), &[0.6, 0.4]));
    }

    #[test]
    fn three_channels_by_hand() {
        // v: a .1, b .2, c 0, ab .4, ac .2, bc .3, abc .6 →
        // φa = .1/3 + .2/6 + .2/6 + .3/3 = .2, φb = .3, φc = .1.
        let game = coalitions(&[
            (&[0], 10, 1),
            (&[1], 10, 2),
            (&[2], 10, 0),
            (&[0, 1], 10, 4),
            (&[0, 2], 10, 2),
            (&[1, 2], 10, 3),
            (&[0, 1, 2], 10, 6),
        ]);
        let value = |set: &[u32]| rate(&game, set);
        assert!(close(&exact(&[0, 1, 2], &value), &[0.2, 0.3, 0.1]));
        let shapley = Shapley::from_coalitions(&game);
        assert!(close(shapley.shares(&[0, 1, 2]).unwrap(), &[1.0 / 3.0, 0.5, 1.0 / 6.0]));
        // Sets that never converted get no shares.
        assert!(shapley.shares(&[2]).is_none());
    }

    #[test]
    fn negative_values_are_clamped() {
        // φa = ½·0.5 + ½·(0.2 − 0.1) = 0.3; φb = ½·0.1 + ½·(0.2 − 0.5) = −0.1 → 0.
        let game = coalitions(&[(&[0], 10, 5), (&[1], 10, 1), (&[0, 1], 10, 2)]);
        let shapley = Shapley::from_coalitions(&game);
        assert!(close(shapley.shares(&[0, 1]).unwrap(), &[1.0, 0.0]));
    }

    #[test]
    fn coalitions_never_observed_are_counted() {
        // b and c are never seen alone, nor together: v(b) = v(c) = v(bc) = 0.
        // The games of ab and abc need a, b, c, ab, ac, bc and abc: 7
        // coalitions, of which b, c and bc are missing.
        let game = coalitions(&[(&[0], 10, 2), (&[0, 1], 10, 5), (&[0, 2], 10, 1), (&[0, 1, 2], 10, 6)]);
        let shapley = Shapley::from_coalitions(&game);
        let expected = Coverage { converting_sets: 4, sampled_sets: 0, coalitions_needed: 7, coalitions_missing: 3 };
        assert_eq!(shapley.coverage(), expected);
        // With v(b) = 0 instead of a rate, b gains only when it comes last:
        // φa = ½·0.2 + ½·(0.5 − 0) = 0.35, φb = ½·0 + ½·(0.5 − 0.2) = 0.15.
        assert!(close(shapley.shares(&[0, 1]).unwrap(), &[0.7, 0.3]));
        // A fully observed game misses nothing; a set that never converted
        // is needed (by ac) but is no game of its own.
        let full = coalitions(&[(&[0], 10, 1), (&[2], 10, 0), (&[0, 2], 10, 2)]);
        let expected = Coverage { converting_sets: 2, sampled_sets: 0, coalitions_needed: 3, coalitions_missing: 0 };
        assert_eq!(Shapley::from_coalitions(&full).coverage(), expected);
    }

    #[test]
    fn sets_estimated_by_sampling_are_counted() {
        // One converting set of 13 channels, above the exact limit, seen
        // alone: every coalition its orderings go through but itself is
        // missing.
        let players: Vec<u32> = (0..13).collect();
        let game = coalitions(&[(&players, 4, 1), (&[0, 1], 3, 1), (&[7], 5, 0)]);
        let coverage = Shapley::from_coalitions(&game).coverage();
        assert_eq!((coverage.converting_sets, coverage.sampled_sets), (2, 1));
        // The ab game needs a, b and ab. The 26 000 orderings of the large
        // set each go through 12 of its proper subsets and the set itself:
        // every singleton, and {7} and ab among them. Observed and needed:
        // ab, {7} and the whole set.
        assert!(coverage.coalitions_needed > 13 && coverage.coalitions_needed < 1 << 13, "{coverage:?}");
        assert_eq!(coverage.coalitions_needed - coverage.coalitions_missing, 3, "{coverage:?}");
        assert_eq!(Shapley::from_coalitions(&game).coverage(), coverage, "the same orderings every time");
    }

    #[test]
    fn sampling_approaches_the_exact_values_and_is_repeatable() {
        // An additive game: every channel adds 0.01 whatever the others, so
        // every ordering gives the same marginals and sampling is exact.
        let players: Vec<u32> = (0..14).collect();
        let value = |set: &[u32]| f64::from(u32::try_from(set.len()).unwrap()) * 0.01;
        let estimate = sampled(&players, &value);
        assert!(estimate.iter().all(|&share| (share - 0.01).abs() < 1e-12), "{estimate:?}");
        // A non-additive game on 8 channels: sampling within 1 % of exact.
        let players: Vec<u32> = (0..8).collect();
        let value = |set: &[u32]| {
            let weight: f64 = set.iter().map(|&code| f64::from(code + 1)).sum();
            (weight / 36.0).powi(2)
        };
        let exact_values = exact(&players, &value);
        let estimate = sampled(&players, &value);
        for (estimated, exact_value) in estimate.iter().zip(&exact_values) {
            assert!(
                (estimated - exact_value).abs() < 0.01 * exact_values.iter().sum::<f64>(),
                "{estimate:?} vs {exact_values:?}"
            );
        }
        assert_eq!(sampled(&players, &value), estimate);
    }
}
