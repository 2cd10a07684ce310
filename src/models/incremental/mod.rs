//! Incremental: credit by what each touch added to the chance of buying,
//! from a purchase rate fitted on every journey.

mod features;
mod linear;
mod solve;

use std::collections::BTreeMap;

use rayon::prelude::*;

pub use self::features::{
    AGE_EDGES, Counter, Counts, DenseSlots, Feature, Pattern, PhaseTouch, Purchases, RECENT, SESSION, Sample,
    UserCounter, active_features, kind_index,
};
pub use self::solve::{
    Answer, Coded, Fit, PatternBuffer, Patterns as ShardPatterns, Request, SHARDS, SharedSteps, Solver, merge_coded,
    settle, shard_of, shard_patterns, solve_with, split_shards,
};
use super::{AttributionModel, Path};
use crate::hash::FastMap;
use crate::time::MICROS_PER_DAY;

/// Credit by the incremental effect of each touch on the purchase rate.
///
/// **The fit.** A user's time is cut into phases (from the first event or a
/// purchase to the next purchase, or to the end of the log), and within a
/// phase purchases arrive at the rate
///
/// ```text
/// λ(t) = b + Σ_touches β(channel, kind, age) + Σ_session γ(opener, partner, recent) + Σ_pairs δ(c, d)
/// ```
///
/// — a baseline `b` (a prospect's, or a customer's), each touch's own
/// effect by its channel, kind and age (7 bins up to the lookback), the
/// effect of other touches while the latest click or visit is open (within
/// an hour: a session's closing), the same while the latest impression is
/// open (a session of its own beside the click's), and a term for each pair
/// of channels touched together. Every term is ≥ 0. The terms are the maximum
/// likelihood of the purchases under this rate (a Poisson process),
/// computed from sums over users: each term's exposure time and the terms
/// active at each purchase (see [`Counts`]). This is the additive hazard of
/// survival attribution (Zhang, Wei and Ren 2014; Ji and Wang 2017).
///
/// **The credit.** For a purchase at `T`, `v(S)` is the fitted rate at `T`
/// had only the touches of the channels in `S` happened. The baseline gets
/// `v(∅) / v(all)` of the purchase (reported as `(baseline)`, not given to
/// any channel), and each channel `c` its Shapley value in `v`,
/// `φ_c / v(all)` (Du et al. 2019, "causally driven incremental multi touch
/// attribution using a recurrent neural network", for the Shapley value of
/// a counterfactual rate). Negative values (a channel whose removal would
/// let an earlier click's session count) are set to 0 and the rest
/// renormalised. The values are exact for any number of channels, in
/// closed form ([`Incremental::shapley`]). A channel's credit is split among
/// its touches in proportion to the terms each brings, equally when those
/// are 0.
///
/// Assumptions, and when it fails, are in `docs/models.md`: touches are
/// taken as given (their arrival depends only on what the log shows), and
/// effects add up.
#[derive(Clone, Debug, PartialEq)]
pub struct Incremental {
    /// The fitted terms, purchases per day; terms at 0 are left out.
    terms: BTreeMap<Feature, f64>,
    /// The same, for crediting.
    lookup: Lookup,
    /// How long a touch can matter, microseconds.
    memory: i64,
    /// Each fitted term's position in `terms`.
    positions: FastMap<Feature, u32>,
    /// How the fit ended.
    fit: Fit,
}

impl Incremental {
    /// The model's name in reports.
    pub const NAME: &'static str = "incremental";

    /// The formula, in one line.
    pub const FORMULA: &'static str = "rate λ(t) = b + Σ β(channel, kind, age) + Σ γ(open click or impression × other touch) + \
         Σ δ(channel pair), fitted by maximum likelihood on every journey; a purchase's credit = Shapley value of \
         each channel in λ at the purchase, with λ(∅)/λ to (baseline)";

    /// Fits the terms on `counts`, counted with touches that matter for
    /// `memory` microseconds.
    #[must_use]
    pub fn fit(counts: &Counts, memory: i64) -> Self {
        let features = features_of(counts);
        let shards = coded_shards(counts, &Numbers::new(&features));
        let mut solver = Self::solver(counts);
        solve::solve(&mut solver, &shards);
        Self::solved(&features, solver, memory)
    }

    /// Fits the terms on the exposure of `counts`, the sums over the
    /// purchase patterns given for each request by `answer` (as
    /// [`solve::solve_with`]), whoever holds the patterns: coded as
    /// [`Numbers`] numbers [`features_of`] `counts`, split and merged into
    /// shards as [`shard_patterns`] does. The same fit, bit for bit, as
    /// [`Incremental::fit`] on counts that hold those patterns.
    ///
    /// # Errors
    ///
    /// Whatever `answer` returns.
    pub fn fit_with<E>(
        counts: &Counts,
        memory: i64,
        answer: impl FnMut(&Request, usize) -> Result<Vec<Answer>, E>,
    ) -> Result<Self, E> {
        let mut solver = Self::solver(counts);
        solve::solve_with(&mut solver, answer)?;
        Ok(Self::solved(&features_of(counts), solver, memory))
    }

    /// The fit on `counts` started from `start`'s terms (0 for a term it
    /// lacks) and stopped after `steps` Newton steps: near the full fit of
    /// `counts` in one or two steps when `start` was fitted on much the same
    /// purchases, such as a bootstrap replicate's start from the full log's.
    #[must_use]
    pub fn refit_from(counts: &Counts, memory: i64, start: &Self, steps: usize) -> Self {
        let features = features_of(counts);
        let shards = coded_shards(counts, &Numbers::new(&features));
        let (exposure, floors) = exposure_and_floors(counts);
        let mut solver = Solver::starting_at(exposure, floors, &start.values(&features), steps);
        solve::solve(&mut solver, &shards);
        Self::solved(&features, solver, memory)
    }

    /// The solver of the fit on `counts`, whose patterns are given to it by
    /// whoever holds them, numbered as [`features_of`] numbers features.
    #[must_use]
    pub fn solver(counts: &Counts) -> Solver {
        let (exposure, floors) = exposure_and_floors(counts);
        Solver::new(exposure, floors)
    }

    /// The model `solver` fitted, over `features` (see [`features_of`]).
    #[must_use]
    pub fn solved(features: &[Feature], solver: Solver, memory: i64) -> Self {
        let (theta, fit) = solver.finish();
        Self::with_values(features, theta, memory, fit)
    }

    /// Each of `features`' fitted term, 0 for those left out: the inverse
    /// of [`Incremental::with_values`].
    fn values(&self, features: &[Feature]) -> Vec<f64> {
        features.iter().map(|feature| self.terms.get(feature).copied().unwrap_or(0.0)).collect()
    }

    /// The model whose terms are `theta`, one value per feature of
    /// `features`, those above 0 kept; `fit` with their count.
    fn with_values(features: &[Feature], theta: Vec<f64>, memory: i64, fit: Fit) -> Self {
        let terms: BTreeMap<Feature, f64> = features
            .iter()
            .zip(theta)
            .filter(|(_, value)| *value > 0.0)
            .map(|(feature, value)| (*feature, value))
            .collect();
        let fit = Fit { terms: terms.len(), ..fit };
        Self::new(terms, memory, fit)
    }

    /// The model with fitted `terms` (those of [`Incremental::terms`]),
    /// touches that matter for `memory` microseconds, and its fit's report.
    #[must_use]
    pub fn new(terms: BTreeMap<Feature, f64>, memory: i64, fit: Fit) -> Self {
        let lookup = Lookup::new(&terms);
        let positions = terms
            .keys()
            .enumerate()
            .map(|(position, feature)| (*feature, u32::try_from(position).unwrap_or(u32::MAX)))
            .collect();
        Self { terms, lookup, memory, positions, fit }
    }

    /// The fitted terms, purchases per day.
    #[must_use]
    pub fn terms(&self) -> &BTreeMap<Feature, f64> {
        &self.terms
    }

    /// How the fit ended.
    #[must_use]
    pub fn report(&self) -> Fit {
        self.fit
    }

    /// A term's value, purchases per day (0 when not fitted).
    fn term(&self, feature: Feature) -> f64 {
        self.lookup.term(feature)
    }

    /// The rate of a pattern of active features.
    #[cfg(test)]
    fn rate(&self, pattern: &[(Feature, u32)]) -> f64 {
        pattern.iter().map(|(feature, count)| self.term(*feature) * f64::from(*count)).sum()
    }

    /// [`Incremental::credit_with`] in this thread's buffers.
    #[cfg(test)]
    fn credit(&self, touches: &[PhaseTouch], at: i64, customer: bool, weights: &mut [f64]) -> f64 {
        WORK.with_borrow_mut(|work| self.credit_with(touches, at, customer, weights, work))
    }

    /// The credit of one purchase at `at` after `touches`: per touch, and
    /// the baseline's part, in shares of the purchase; in `work`'s buffers.
    fn credit_with(
        &self,
        touches: &[PhaseTouch],
        at: i64,
        customer: bool,
        weights: &mut [f64],
        work: &mut Work,
    ) -> f64 {
        let Work { players, shares, members: (members, counts), game, .. } = work;
        players.fill(touches);
        if players.channels.is_empty() {
            weights.fill(0.0);
            return 1.0;
        }
        self.shapley_into(touches, (at, customer), players, None, shares, game);
        let Shares { values, own, total } = shares;
        let total = *total;
        if total <= 0.0 {
            weights.fill(0.0);
            return 1.0;
        }
        members_into(own, players, members, counts);
        let baseline_rate = self.term(Feature::Baseline { customer });
        // The channels' values below 0 count as 0.
        let sum: f64 = values.iter().map(|value| value.max(0.0)).sum();
        let marketing = (total - baseline_rate).max(0.0);
        for (index, &slot) in players.of_touch.iter().enumerate() {
            let channel_share = if sum > 0.0 { marketing * values[slot].max(0.0) / sum } else { 0.0 };
            weights[index] = split_among(channel_share, own[index], members[slot], counts[slot]);
        }
        if sum > 0.0 { total - marketing } else { total }
    }

    /// The Shapley values of the `players`' channels in the fitted rate at `at`,
    /// each touch's own terms, and the rate with every channel, in closed
    /// form: the rate is a sum of simple games whose values are known.
    ///
    /// - A touch term of channel `c` is a game of `c` alone: all to `c`.
    /// - A pair term counts when both channels are there: half to each.
    /// - A session term of the candidate opener `o` (the latest open touch of
    ///   its kind in a subset, younger than [`SESSION`]) with partner `c`
    ///   counts when `o` and `c` are in the subset and no later candidate's
    ///   channel is: with `A = {o, c}` (`a` players) and `B` the later
    ///   candidates' channels (`b` players), a game `1[A ⊆ S, B ∩ S = ∅]`,
    ///   whose Shapley value is `(a − 1)! b! / (a + b)!` for each player of
    ///   `A` and `−a! (b − 1)! / (a + b)!` for each of `B` (a random order
    ///   counts it for `i ∈ A` when `i` comes after the rest of `A` and
    ///   before all of `B`).
    ///
    /// Each touch's own terms, which split its channel's credit among the
    /// channel's touches: its touch term, half of each term of the open
    /// session it opens or partners, and an equal part of its channel's half
    /// of each pair term (among the phase's own touches).
    ///
    /// With `record`, also each term's part of each of these sums, as
    /// `(sum, term, amount)`: the sums are linear in the terms, so a term's
    /// part is its value times the sum's derivative in it.
    fn shapley(
        &self,
        touches: &[PhaseTouch],
        at: i64,
        customer: bool,
        players: &Players,
        record: Option<&mut Vec<(Part, Feature, f64)>>,
    ) -> Shares {
        let mut shares = Shares::default();
        self.shapley_into(touches, (at, customer), players, record, &mut shares, &mut Game::default());
        shares
    }

    /// [`Incremental::shapley`] into `shares`, with `game`'s buffers.
    #[expect(clippy::too_many_lines, reason = "three families of terms in closed form, each recorded as it adds")]
    fn shapley_into(
        &self,
        touches: &[PhaseTouch],
        (at, customer): (i64, bool),
        players: &Players,
        mut record: Option<&mut Vec<(Part, Feature, f64)>>,
        shares: &mut Shares,
        game: &mut Game,
    ) {
        let Players { channels, of_touch } = players;
        let count = channels.len();
        let recording = record.is_some();
        let mut note = |part: Part, feature: Feature, amount: f64| {
            if let Some(record) = record.as_deref_mut()
                && amount != 0.0
            {
                record.push((part, feature, amount));
            }
        };
        let alive = |touch: &PhaseTouch| touch.in_memory(at, self.memory);
        let Game { members, partners, terms, later } = game;
        refill(&mut shares.values, count, 0.0);
        refill(&mut shares.own, touches.len(), 0.0);
        shares.total = self.term(Feature::Baseline { customer });
        note(Part::Total, Feature::Baseline { customer }, shares.total);
        // Touch terms; the phase's own touches per channel make pairs.
        refill(members, count, 0);
        for (index, touch) in touches.iter().enumerate().filter(|(_, touch)| alive(touch)) {
            let feature = touch.term_at(at);
            let value = self.term(feature);
            let slot = of_touch[index];
            shares.own[index] += value;
            shares.values[slot] += value;
            shares.total += value;
            note(Part::Own(index), feature, value);
            note(Part::Value(slot), feature, value);
            note(Part::Total, feature, value);
            members[slot] += u32::from(!touch.carried);
        }
        for low in (0..count).filter(|&low| members[low] > 0) {
            for high in (low + 1..count).filter(|&high| members[high] > 0) {
                let feature = Feature::Pair { low: channels[low], high: channels[high] };
                let value = self.term(feature);
                if value == 0.0 {
                    continue;
                }
                shares.values[low] += value / 2.0;
                shares.values[high] += value / 2.0;
                shares.total += value;
                note(Part::Value(low), feature, value / 2.0);
                note(Part::Value(high), feature, value / 2.0);
                note(Part::Total, feature, value);
                for (index, _) in touches.iter().enumerate().filter(|(_, touch)| alive(touch) && !touch.carried) {
                    let channel = of_touch[index];
                    if channel == low || channel == high {
                        shares.own[index] += value / 2.0 / f64::from(members[channel]);
                        note(Part::Own(index), feature, value / 2.0 / f64::from(members[channel]));
                    }
                }
            }
        }
        // Sessions: the candidates of each kind, latest first; `terms`
        // holds each partner's term and value, when recording.
        refill(partners, count, 0.0);
        for seen in [false, true] {
            later.clear();
            for (rank, opener) in features::session_candidates(touches, at, seen).enumerate() {
                let channel = of_touch[opener];
                if later.contains(&channel) {
                    // A later candidate of its own channel always closes it.
                    continue;
                }
                partners.fill(0.0);
                terms.clear();
                for (index, partner) in touches.iter().enumerate() {
                    if index == opener || !alive(partner) {
                        continue;
                    }
                    let feature = partner.partner_term(&touches[opener], at, seen);
                    let value = self.term(feature);
                    partners[of_touch[index]] += value;
                    if rank == 0 {
                        // The open session, with every channel.
                        shares.own[opener] += value / 2.0;
                        shares.own[index] += value / 2.0;
                        shares.total += value;
                        note(Part::Own(opener), feature, value / 2.0);
                        note(Part::Own(index), feature, value / 2.0);
                        note(Part::Total, feature, value);
                    }
                    if recording && value != 0.0 {
                        terms.push((of_touch[index], feature, value));
                    }
                }
                #[expect(clippy::cast_precision_loss, reason = "a handful of candidates")]
                let b = later.len() as f64;
                for (partner, &value) in partners.iter().enumerate() {
                    if value == 0.0 || later.contains(&partner) {
                        continue;
                    }
                    let (inside, outside) = if partner == channel {
                        (1.0 / (b + 1.0), if b > 0.0 { 1.0 / (b * (b + 1.0)) } else { 0.0 })
                    } else {
                        let inside = 1.0 / ((b + 1.0) * (b + 2.0));
                        (inside, if b > 0.0 { 2.0 / (b * (b + 1.0) * (b + 2.0)) } else { 0.0 })
                    };
                    shares.values[channel] += value * inside;
                    if partner != channel {
                        shares.values[partner] += value * inside;
                    }
                    for &closing in later.iter() {
                        shares.values[closing] -= value * outside;
                    }
                    for &(_, feature, value) in terms.iter().filter(|(of, _, _)| *of == partner) {
                        note(Part::Value(channel), feature, value * inside);
                        if partner != channel {
                            note(Part::Value(partner), feature, value * inside);
                        }
                        for &closing in later.iter() {
                            note(Part::Value(closing), feature, -value * outside);
                        }
                    }
                }
                later.push(channel);
            }
        }
    }
}

/// `values` made `len` copies of `value`, in the room it has.
fn refill<T: Copy>(values: &mut Vec<T>, len: usize, value: T) {
    values.clear();
    values.resize(len, value);
}

/// The buffers crediting a purchase fills ([`Incremental::credit_with`]), kept
/// from one purchase to the next on each thread: a handful per purchase,
/// millions of purchases.
#[derive(Default)]
struct Work {
    /// The purchase's touches.
    touches: Vec<PhaseTouch>,
    players: Players,
    shares: Shares,
    /// [`members_into`]'s sums and counts.
    members: (Vec<f64>, Vec<u32>),
    game: Game,
}

/// The buffers of [`Incremental::shapley_into`].
#[derive(Default)]
struct Game {
    /// Per channel, its touches of the phase itself.
    members: Vec<u32>,
    /// Per channel, the session terms of an opener's partners.
    partners: Vec<f64>,
    /// Each partner's channel, term and value, when recording.
    terms: Vec<(usize, Feature, f64)>,
    /// The channels of the later session candidates.
    later: Vec<usize>,
}

thread_local! {
    /// The buffers of [`Incremental::credit_with`] on this thread.
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::new(Work::default());
}

/// The fitted terms as crediting reads them, a few for each touch of every
/// purchase (0 for a term not fitted).
type Lookup = SlotTable<f64>;

/// A value per feature, read feature by feature on a hot path: in an array
/// laid out by [`DenseSlots`] when the features have few channels (no
/// hashing), else in a hash map.
#[derive(Clone, Debug, PartialEq)]
enum SlotTable<T> {
    /// By [`DenseSlots::slot`], the baselines beside; the table's `absent`
    /// value where no feature was given.
    Dense { slots: DenseSlots, values: Vec<T>, baselines: [T; 2] },
    /// By feature.
    Hashed(FastMap<Feature, T>),
}

impl<T: Copy> SlotTable<T> {
    /// The table of `entries`; `absent` fills the array where no entry is.
    fn of(entries: impl Iterator<Item = (Feature, T)> + Clone, absent: T) -> Self {
        let channels = entries
            .clone()
            .flat_map(|(feature, _)| feature.channels())
            .flatten()
            .max()
            .map_or(0, |code| code.saturating_add(1));
        let Some(slots) = usize::try_from(channels).ok().and_then(DenseSlots::new) else {
            return Self::Hashed(entries.collect());
        };
        let (mut values, mut baselines) = (vec![absent; slots.size()], [absent; 2]);
        for (feature, value) in entries {
            match (feature, slots.slot(feature)) {
                (Feature::Baseline { customer }, _) => baselines[usize::from(customer)] = value,
                (_, Some(slot)) => values[slot] = value,
                (_, None) => {}
            }
        }
        Self::Dense { slots, values, baselines }
    }

    /// The value of `feature`: the array's (`absent` where no entry was
    /// given), or the map's; `None` for a feature the array has no slot
    /// for or the map does not hold.
    fn get(&self, feature: Feature) -> Option<T> {
        match (self, feature) {
            (Self::Dense { baselines, .. }, Feature::Baseline { customer }) => Some(baselines[usize::from(customer)]),
            (Self::Dense { slots, values, .. }, _) => slots.slot(feature).map(|slot| values[slot]),
            (Self::Hashed(values), _) => values.get(&feature).copied(),
        }
    }
}

impl Lookup {
    fn new(terms: &BTreeMap<Feature, f64>) -> Self {
        Self::of(terms.iter().map(|(feature, value)| (*feature, *value)), 0.0)
    }

    /// A term's value (0 when not fitted).
    fn term(&self, feature: Feature) -> f64 {
        self.get(feature).unwrap_or(0.0)
    }
}

/// One of the sums [`Incremental::shapley`] gives, whose parts by term it
/// can record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// A channel's Shapley value (by its position among the channels).
    Value(usize),
    /// A touch's own terms (by its position among the touches).
    Own(usize),
    /// The rate with every channel.
    Total,
}

/// What [`Incremental::shapley`] gives for one purchase.
#[derive(Default)]
struct Shares {
    /// Per channel, its Shapley value in the fitted rate.
    values: Vec<f64>,
    /// Per touch, its own terms.
    own: Vec<f64>,
    /// The rate with every channel.
    total: f64,
}

/// Into `members` and `counts`, per channel (by `slot`, of `channels`),
/// the own terms of its touches summed and its touches counted: what
/// splits the channel's credit among them ([`split_among`]).
fn members_into(own: &[f64], players: &Players, members: &mut Vec<f64>, counts: &mut Vec<u32>) {
    refill(members, players.channels.len(), 0.0);
    refill(counts, players.channels.len(), 0);
    for (&slot, value) in players.of_touch.iter().zip(own) {
        members[slot] += value;
        counts[slot] += 1;
    }
}

/// The channels of a purchase's touches, the players of its Shapley
/// values: sorted, once each, and each touch's position among them (found
/// once, where every sum over touches reads it).
#[derive(Default)]
struct Players {
    channels: Vec<u32>,
    of_touch: Vec<usize>,
}

impl Players {
    fn of(touches: &[PhaseTouch]) -> Self {
        let mut players = Self::default();
        players.fill(touches);
        players
    }

    /// The players of `touches`, in the room these have.
    fn fill(&mut self, touches: &[PhaseTouch]) {
        let Self { channels, of_touch } = self;
        channels.clear();
        channels.extend(touches.iter().map(|touch| touch.channel));
        channels.sort_unstable();
        channels.dedup();
        of_touch.clear();
        of_touch.extend(touches.iter().map(|touch| channels.binary_search(&touch.channel).unwrap_or(0)));
    }
}

/// A touch's part of its channel's credit `channel_share`: in proportion
/// to its `own` terms among the channel's `members`, equally among the
/// channel's `count` touches when those are 0.
fn split_among(channel_share: f64, own: f64, members: f64, count: u32) -> f64 {
    if members > 0.0 { channel_share * own / members } else { channel_share / f64::from(count) }
}

/// The fit's exposure per feature of `counts` (days, in [`features_of`]'s
/// order) and its floors: the baselines, kept above 0.
fn exposure_and_floors(counts: &Counts) -> (Vec<f64>, Vec<usize>) {
    #[expect(clippy::cast_precision_loss, reason = "microseconds to days, far below 2^52 days")]
    let exposure: Vec<f64> = counts.exposure.values().map(|&time| time as f64 / MICROS_PER_DAY as f64).collect();
    (exposure, baseline_positions(counts.exposure.keys()))
}

/// The positions of the baselines among `features`: the terms a fit keeps
/// above 0.
fn baseline_positions<'a>(features: impl Iterator<Item = &'a Feature>) -> Vec<usize> {
    features
        .enumerate()
        .filter(|(_, feature)| matches!(feature, Feature::Baseline { .. }))
        .map(|(position, _)| position)
        .collect()
}

/// The features the fit on `counts` numbers, in order: those with an
/// exposure.
#[must_use]
pub fn features_of(counts: &Counts) -> Vec<Feature> {
    counts.exposure.keys().copied().collect()
}

/// The number of each feature of a fit (its position among the features
/// [`features_of`] gives), as coding the purchase patterns reads it: tens
/// of millions of lookups on a large log, one per feature of every pattern.
#[derive(Clone, Debug)]
pub struct Numbers(SlotTable<u32>);

impl Numbers {
    /// A slot of the dense array with no feature.
    const NONE: u32 = u32::MAX;

    /// The numbers of `features`, in order.
    #[must_use]
    pub fn new(features: &[Feature]) -> Self {
        let numbered = features
            .iter()
            .enumerate()
            .map(|(position, feature)| (*feature, u32::try_from(position).unwrap_or(Self::NONE)));
        Self(SlotTable::of(numbered, Self::NONE))
    }

    /// The number of `feature`; `None` when it is not among the features.
    #[must_use]
    pub fn get(&self, feature: Feature) -> Option<u32> {
        self.0.get(feature).filter(|&number| number != Self::NONE)
    }
}

/// The purchase patterns of `counts` coded with `numbers`, split into
/// shards ([`solve::shard_of`]) and merged ([`solve::shard_patterns`]).
/// Coded patterns take half the memory of the counted ones (8 bytes a
/// pair, not 16), and the merged shards as much again: memory holds the
/// coded patterns of every shard, then the merged ones shard by shard as
/// each shard's coded ones are let go.
fn coded_shards(counts: &Counts, numbers: &Numbers) -> Vec<solve::Patterns> {
    // A pattern counted more than once is coded each time: the shard
    // merges them as it merges patterns that code alike.
    let coded: Vec<Vec<PatternBuffer>> = counts
        .purchases
        .blocks()
        .par_iter()
        .map(|block| {
            let mut shards = vec![PatternBuffer::default(); solve::SHARDS];
            let mut coded = Vec::new();
            for (pattern, count) in block.patterns() {
                code_pattern_into(pattern.iter().copied(), numbers, &mut coded);
                shards[solve::shard_of(&coded)].push(count, &coded);
            }
            shards
        })
        .collect();
    let mut shards: Vec<Vec<PatternBuffer>> = (0..solve::SHARDS).map(|_| Vec::new()).collect();
    for piece in coded {
        for (shard, buffer) in shards.iter_mut().zip(piece) {
            shard.push(buffer);
        }
    }
    shards.into_par_iter().map(|buffers| PatternBuffer::merged(&buffers)).collect()
}

/// A pattern by the numbers of its features, sorted; features without a
/// number (never exposed) left out.
#[must_use]
pub fn code_pattern(pattern: impl Iterator<Item = (Feature, u32)>, numbers: &Numbers) -> Coded {
    let mut coded: Coded = Vec::with_capacity(pattern.size_hint().1.unwrap_or_default());
    code_pattern_into(pattern, numbers, &mut coded);
    coded
}

/// [`code_pattern`] into `coded`, which it clears first.
fn code_pattern_into(pattern: impl Iterator<Item = (Feature, u32)>, numbers: &Numbers, coded: &mut Coded) {
    coded.clear();
    coded.extend(pattern.filter_map(|(feature, times)| Some((numbers.get(feature)?, times))));
    coded.sort_unstable();
}

impl AttributionModel for Incremental {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn formula(&self) -> String {
        Self::FORMULA.to_owned()
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        self.weights_with_baseline(path, weights);
    }

    fn weights_with_baseline(&self, path: &Path<'_>, weights: &mut [f64]) -> f64 {
        WORK.with_borrow_mut(|work| {
            let mut touches = std::mem::take(&mut work.touches);
            linear::phase_touches_into(path, &mut touches);
            let baseline = self.credit_with(&touches, path.converted_at, path.customer, weights, work);
            work.touches = touches;
            baseline
        })
    }

    fn reads_logged_path(&self) -> bool {
        true
    }

    fn diagnostics(&self) -> Option<super::Diagnostics> {
        Some(super::Diagnostics::Incremental(self.fit))
    }

    fn as_incremental(&self) -> Option<&Incremental> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = MICROS_PER_DAY / 24;

    /// A model with the given terms.
    fn model(terms: &[(Feature, f64)]) -> Incremental {
        Incremental::new(
            terms.iter().copied().collect(),
            30 * MICROS_PER_DAY,
            Fit { iterations: 0, log_likelihood: 0.0, residual: 0.0, terms: 0, features: 0 },
        )
    }

    #[test]
    fn features_are_numbered_by_position_in_an_array_or_a_map() {
        let features = |last_channel: u32| {
            vec![
                Feature::Baseline { customer: true },
                Feature::Touch { channel: 2, kind: 1, bin: 3, carried: false },
                Feature::Session { opener: 2, partner: 0, recent: true, carried: true, seen: false },
                Feature::Pair { low: 0, high: last_channel },
            ]
        };
        let absent = [
            Feature::Baseline { customer: false },
            Feature::Touch { channel: 2, kind: 1, bin: 3, carried: true },
            Feature::Session { opener: 0, partner: 2, recent: true, carried: true, seen: false },
            Feature::Pair { low: 1, high: 2 },
            Feature::Touch { channel: 99, kind: 0, bin: 0, carried: false },
        ];
        // 4 channels fit the array; 41 do not.
        for (last_channel, dense) in [(3, true), (40, false)] {
            let features = features(last_channel);
            let numbers = Numbers::new(&features);
            assert_eq!(matches!(numbers.0, SlotTable::Dense { .. }), dense);
            for (position, feature) in features.iter().enumerate() {
                assert_eq!(numbers.get(*feature), Some(u32::try_from(position).unwrap()), "{feature:?}");
            }
            for feature in absent {
                assert_eq!(numbers.get(feature), None, "{feature:?}");
            }
        }
    }

    const EMAIL: u32 = 0;
    const SEARCH: u32 = 1;

    /// An email impression two hours before the purchase at `AT`, then a
    /// search click ten minutes before it.
    const AT: i64 = 10 * MICROS_PER_DAY;
    const TOUCHES: [PhaseTouch; 2] = [
        PhaseTouch { time: AT - 2 * HOUR, channel: EMAIL, kind: 0, carried: false },
        PhaseTouch { time: AT - HOUR / 6, channel: SEARCH, kind: 1, carried: false },
    ];

    #[test]
    fn shapley_over_the_fitted_rate_by_hand() {
        // b = 1; the impression (1h–6h old) 2; the click (< 1h) 3; the click's
        // session with the email touch 4, which only counts when both are there.
        let model = model(&[
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 1, carried: false }, 2.0),
            (Feature::Touch { channel: SEARCH, kind: 1, bin: 0, carried: false }, 3.0),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: true, carried: false, seen: false }, 4.0),
        ]);
        // v(∅) = 1, v(email) = 3, v(search) = 4, v(both) = 10: email's Shapley
        // value is ½(3 − 1) + ½(10 − 4) = 4, search's ½(4 − 1) + ½(10 − 3) = 5.
        let mut weights = [0.0; 2];
        let baseline = model.credit(&TOUCHES, AT, false, &mut weights);
        assert!((baseline - 1.0).abs() < 1e-12, "{baseline}");
        assert!((weights[0] - 4.0).abs() < 1e-12 && (weights[1] - 5.0).abs() < 1e-12, "{weights:?}");
    }

    #[test]
    fn an_impression_opens_a_session_of_its_own_beside_the_open_click() {
        // A search click 20 minutes before the purchase, an email impression
        // 10 minutes before it: the click's session with the email touch (4)
        // stays open, and the impression's with the search touch (2) opens
        // beside it. v(∅) = v(email) = v(search) = 1, v(both) = 7: 3 each.
        let touches = [
            PhaseTouch { time: AT - HOUR / 3, channel: SEARCH, kind: 1, carried: false },
            PhaseTouch { time: AT - HOUR / 6, channel: EMAIL, kind: 0, carried: false },
        ];
        let model = model(&[
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: true, carried: false, seen: false }, 4.0),
            (Feature::Session { opener: EMAIL, partner: SEARCH, recent: true, carried: false, seen: true }, 2.0),
        ]);
        let mut weights = [0.0; 2];
        let baseline = model.credit(&touches, AT, false, &mut weights);
        assert!((baseline - 1.0).abs() < 1e-12, "{baseline}");
        assert!((weights[0] - 3.0).abs() < 1e-12 && (weights[1] - 3.0).abs() < 1e-12, "{weights:?}");
        // An impression more than an hour old is closed: the click's session
        // alone, 2 each.
        let older = [touches[0], PhaseTouch { time: AT - 2 * HOUR, ..touches[1] }];
        let baseline = model.credit(&older, AT, false, &mut weights);
        assert!((baseline - 1.0).abs() < 1e-12, "{baseline}");
        assert!((weights[0] - 2.0).abs() < 1e-12 && (weights[1] - 2.0).abs() < 1e-12, "{weights:?}");
    }

    #[test]
    fn the_shapley_values_add_up_to_the_rate_the_features_give() {
        // The subsets' rates are summed from parts gathered per channel, pair
        // and open touch; with every channel they must be the rate of
        // `active_features`, and with none the baseline: the values add up
        // to the difference (efficiency), whatever touch is open.
        let third = 30;
        let model = model(&[
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 1, carried: false }, 2.0),
            (Feature::Touch { channel: SEARCH, kind: 1, bin: 0, carried: false }, 3.0),
            (Feature::Touch { channel: third, kind: 2, bin: 0, carried: false }, 0.5),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: true, carried: false, seen: false }, 4.0),
            (Feature::Session { opener: third, partner: EMAIL, recent: true, carried: false, seen: false }, 1.5),
            (Feature::Session { opener: third, partner: SEARCH, recent: true, carried: false, seen: false }, 0.25),
            (Feature::Pair { low: EMAIL, high: SEARCH }, 0.75),
            (Feature::Pair { low: SEARCH, high: third }, 0.125),
            (Feature::Session { opener: EMAIL, partner: SEARCH, recent: true, carried: false, seen: true }, 0.6),
            (Feature::Session { opener: EMAIL, partner: third, recent: true, carried: false, seen: true }, 0.3),
            (Feature::Session { opener: EMAIL, partner: EMAIL, recent: true, carried: false, seen: true }, 0.2),
        ]);
        let visit = PhaseTouch { time: AT - HOUR / 12, channel: third, kind: 2, carried: false };
        // An email impression within the hour opens a session of its own.
        let seen = PhaseTouch { time: AT - HOUR / 4, ..TOUCHES[0] };
        for touches in [
            &TOUCHES[..],
            &[TOUCHES[0], TOUCHES[1], visit],
            &[TOUCHES[0], visit, TOUCHES[1]],
            &[TOUCHES[0], seen, TOUCHES[1], visit],
        ] {
            let mut pattern = Vec::new();
            active_features(touches, AT, false, model.memory, &mut pattern);
            let Shares { values, total, .. } = model.shapley(touches, AT, false, &Players::of(touches), None);
            let sum: f64 = values.iter().sum();
            // The rate with every channel is the features' rate, which the
            // credit uses as the purchase's total.
            assert!((total - model.rate(&pattern)).abs() < 1e-12, "{touches:?}: {total}");
            assert!((sum - (model.rate(&pattern) - 1.0)).abs() < 1e-12, "{touches:?}: {values:?}");
        }
    }

    /// The Shapley values of `channels` by every subset: `v(S)` is the rate
    /// with only the touches of `S`, with the session of the latest open
    /// touch of each kind in `S`.
    fn by_subsets(model: &Incremental, touches: &[PhaseTouch], at: i64, channels: &[u32]) -> Vec<f64> {
        let count = channels.len();
        let slot = |touch: &PhaseTouch| channels.binary_search(&touch.channel).unwrap_or(0);
        let rate = |subset: usize| {
            let kept: Vec<PhaseTouch> =
                touches.iter().copied().filter(|touch| subset & (1 << slot(touch)) != 0).collect();
            let mut pattern = Vec::new();
            active_features(&kept, at, false, model.memory, &mut pattern);
            model.rate(&pattern)
        };
        let rates: Vec<f64> = (0..1_usize << count).map(rate).collect();
        let factorial =
            |value: usize| (1..=value).map(|factor| f64::from(u32::try_from(factor).unwrap_or(0))).product::<f64>();
        (0..count)
            .map(|player| {
                (0..rates.len())
                    .filter(|subset| subset & (1 << player) == 0)
                    .map(|subset| {
                        let size = subset.count_ones() as usize;
                        factorial(size) * factorial(count - size - 1) / factorial(count)
                            * (rates[subset | 1 << player] - rates[subset])
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn the_closed_form_is_the_shapley_value_over_every_subset() {
        // Random terms and touches of five channels, several candidates of
        // each kind open at once, some touches of one channel: the closed
        // form against the 2^5 subsets' rates.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            u32::try_from(seed % u64::from(bound)).unwrap_or(0)
        };
        for _ in 0..200 {
            let mut terms = vec![(Feature::Baseline { customer: false }, 1.0)];
            for opener in 0..5 {
                for partner in 0..5 {
                    for seen in [false, true] {
                        let value = f64::from(next(4)) * 0.5;
                        let feature = Feature::Session { opener, partner, recent: true, carried: false, seen };
                        terms.push((feature, value));
                    }
                    if opener < partner {
                        terms.push((Feature::Pair { low: opener, high: partner }, f64::from(next(3)) * 0.25));
                    }
                }
                for kind in 0..3 {
                    terms.push((Feature::Touch { channel: opener, kind, bin: 0, carried: false }, f64::from(next(5))));
                }
            }
            let model = model(&terms);
            let mut touches: Vec<PhaseTouch> = (0..2 + next(6))
                .map(|_| PhaseTouch {
                    time: AT - (1 + i64::from(next(50))) * HOUR / 60,
                    channel: next(5),
                    kind: u8::try_from(next(3)).unwrap_or(0),
                    carried: false,
                })
                .collect();
            touches.sort_by_key(|touch| touch.time);
            let players = Players::of(&touches);
            let Shares { values, .. } = model.shapley(&touches, AT, false, &players, None);
            let expected = by_subsets(&model, &touches, AT, &players.channels);
            for (value, expected) in values.iter().zip(&expected) {
                assert!((value - expected).abs() < 1e-9, "{touches:?}: {values:?} against {expected:?}");
            }
        }
    }

    #[test]
    fn a_touch_from_before_the_previous_purchase_is_credited_by_its_carried_terms() {
        // The email impression came before the customer's previous purchase
        // (2 days before this one); the search click is the journey's own.
        let touches = [
            PhaseTouch { time: AT - 2 * MICROS_PER_DAY, channel: EMAIL, kind: 0, carried: true },
            PhaseTouch { time: AT - HOUR / 6, channel: SEARCH, kind: 1, carried: false },
        ];
        let model = model(&[
            (Feature::Baseline { customer: true }, 1.0),
            // Fresh terms of the same touch do not apply to a carried one.
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 3, carried: false }, 100.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 3, carried: true }, 2.0),
            (Feature::Touch { channel: SEARCH, kind: 1, bin: 0, carried: false }, 3.0),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: false, carried: true, seen: false }, 4.0),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: false, carried: false, seen: false }, 100.0),
            // Carried touches make no pairs.
            (Feature::Pair { low: EMAIL, high: SEARCH }, 100.0),
        ]);
        // v(∅) = 1, v(email) = 3, v(search) = 4, v(both) = 10, as above.
        let mut weights = [0.0; 2];
        let baseline = model.credit(&touches, AT, true, &mut weights);
        assert!((baseline - 1.0).abs() < 1e-12, "{baseline}");
        assert!((weights[0] - 4.0).abs() < 1e-12 && (weights[1] - 5.0).abs() < 1e-12, "{weights:?}");
    }

    #[test]
    fn an_earlier_touch_without_a_purchase_since_is_credited_by_its_fresh_terms() {
        // A display impression 40 days before the purchase (older than a
        // 30-day lookback, within a 60-day memory) and a search click 10
        // minutes before it, no purchase between: the impression comes before
        // the journey but is not carried. v(∅) = 1, v(display) = 3,
        // v(search) = 4, v(both) = 6: 2 and 3 (with its carried term, 100).
        use crate::event::{EventKind, Stage};
        use crate::event_log::EventLogBuilder;
        let at = 40 * MICROS_PER_DAY;
        let log = EventLogBuilder::new()
            .event("u", 0, EventKind::Impression, "display", "", Stage::Awareness, 0)
            .event("u", at - HOUR / 6, EventKind::Click, "search", "", Stage::Consideration, 0)
            .conversion("u", at, 1_000_000)
            .build();
        let code = |name: &str| log.channels.code_of(name).expect("a channel of the log");
        let (display, search) = (code("display"), code("search"));
        let terms = [
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Touch { channel: display, kind: 0, bin: 6, carried: false }, 2.0),
            (Feature::Touch { channel: display, kind: 0, bin: 6, carried: true }, 100.0),
            (Feature::Touch { channel: search, kind: 1, bin: 0, carried: false }, 3.0),
        ];
        let fit = Fit { iterations: 0, log_likelihood: 0.0, residual: 0.0, terms: 0, features: 0 };
        let model = Incremental::new(terms.into_iter().collect(), 60 * MICROS_PER_DAY, fit);
        let (touches, counts) = ([0, 1], [1, 1]);
        let path = Path::new(&log, &touches, &counts, at).with_carried(0);
        let mut weights = [0.0; 2];
        let baseline = model.weights_with_baseline(&path, &mut weights);
        assert!((baseline - 1.0).abs() < 1e-12, "{baseline}");
        assert!((weights[0] - 2.0).abs() < 1e-12 && (weights[1] - 3.0).abs() < 1e-12, "{weights:?}");
        // Before a purchase, the same touch is carried: its carried term.
        let carried = Path::new(&log, &touches, &counts, at).with_carried(1);
        model.weights_with_baseline(&carried, &mut weights);
        assert!((weights[0] - 100.0).abs() < 1e-9, "{weights:?}");
    }

    #[test]
    fn a_carried_click_opens_no_session() {
        // The click came before the previous purchase, ten minutes ago: its
        // session ended with that purchase, so the impression since has no
        // session term with it.
        let touches = [
            PhaseTouch { time: AT - HOUR / 6, channel: SEARCH, kind: 1, carried: true },
            PhaseTouch { time: AT - HOUR / 12, channel: EMAIL, kind: 0, carried: false },
        ];
        let model = model(&[
            (Feature::Baseline { customer: true }, 1.0),
            (Feature::Touch { channel: SEARCH, kind: 1, bin: 0, carried: true }, 1.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 0, carried: false }, 2.0),
            (Feature::Session { opener: SEARCH, partner: EMAIL, recent: true, carried: false, seen: false }, 100.0),
        ]);
        let mut weights = [0.0; 2];
        let baseline = model.credit(&touches, AT, true, &mut weights);
        assert_eq!((baseline, weights), (1.0, [1.0, 2.0]));
    }

    #[test]
    fn a_customer_purchase_starts_from_the_customer_baseline() {
        let model = model(&[
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Baseline { customer: true }, 6.0),
            (Feature::Touch { channel: SEARCH, kind: 1, bin: 0, carried: false }, 2.0),
        ]);
        let mut weights = [0.0; 2];
        let baseline = model.credit(&TOUCHES, AT, true, &mut weights);
        // The email impression has no term: 6 of 8 is the baseline's, 2 search's.
        assert_eq!((baseline, weights), (6.0, [0.0, 2.0]));
    }

    #[test]
    fn touches_of_one_channel_share_its_credit_by_their_own_terms() {
        let touches = [
            PhaseTouch { time: AT - 3 * MICROS_PER_DAY - HOUR, channel: EMAIL, kind: 0, carried: false },
            PhaseTouch { time: AT - 2 * HOUR, channel: EMAIL, kind: 0, carried: false },
        ];
        let model = model(&[
            (Feature::Baseline { customer: false }, 2.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 1, carried: false }, 3.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 4, carried: false }, 1.0),
        ]);
        let mut weights = [0.0; 2];
        let baseline = model.credit(&touches, AT, false, &mut weights);
        assert_eq!((baseline, weights), (2.0, [1.0, 3.0]));
    }

    #[test]
    fn a_purchase_the_model_cannot_explain_goes_to_the_baseline() {
        // No term at all (an empty fit): the whole purchase is the baseline's.
        let mut weights = [7.0; 2];
        let baseline = model(&[]).credit(&TOUCHES, AT, false, &mut weights);
        assert_eq!((baseline, weights), (1.0, [0.0, 0.0]));
        // Touches too old to matter add nothing either.
        let old = [PhaseTouch { time: AT - 31 * MICROS_PER_DAY, channel: EMAIL, kind: 0, carried: false }];
        let model = model(&[
            (Feature::Baseline { customer: false }, 2.0),
            (Feature::Touch { channel: EMAIL, kind: 0, bin: 6, carried: false }, 3.0),
        ]);
        let mut weights = [0.0; 1];
        assert_eq!((model.credit(&old, AT, false, &mut weights), weights), (2.0, [0.0]));
    }

    #[test]
    fn the_fit_recovers_a_rate_from_its_own_sums() {
        // 100 days as a prospect with 10 purchases: b = 0.1 a day; 5 days
        // after an email touch with 3 purchases: the touch adds 0.6 − 0.1 = 0.5.
        let touch = Feature::Touch { channel: EMAIL, kind: 0, bin: 4, carried: false };
        let baseline = Feature::Baseline { customer: false };
        let mut counts = Counts::default();
        counts.exposure.insert(baseline, i128::from(105 * MICROS_PER_DAY));
        counts.exposure.insert(touch, i128::from(5 * MICROS_PER_DAY));
        counts.purchases.push(&[(baseline, 1)], 10);
        counts.purchases.push(&[(baseline, 1), (touch, 1)], 3);
        let fitted = Incremental::fit(&counts, 30 * MICROS_PER_DAY);
        assert!((fitted.terms()[&baseline] - 0.1).abs() < 1e-6, "{:?}", fitted.terms());
        assert!((fitted.terms()[&touch] - 0.5).abs() < 1e-6, "{:?}", fitted.terms());
        assert!(fitted.report().residual < 1e-6);

        // Refitted from that fit on a resample with 2 more purchases after
        // the touch (5 in 5 days: 1 − 0.1 = 0.9), by the terms' names: a
        // new feature (never exposed before) starts at 0.
        let other = Feature::Touch { channel: EMAIL, kind: 1, bin: 4, carried: false };
        counts.exposure.insert(other, i128::from(MICROS_PER_DAY));
        counts.purchases.push(&[(baseline, 1), (touch, 1)], 2);
        let refit = Incremental::refit_from(&counts, 30 * MICROS_PER_DAY, &fitted, 0);
        assert_eq!(refit.terms(), fitted.terms(), "no step: the start");
        let refit = Incremental::refit_from(&counts, 30 * MICROS_PER_DAY, &fitted, 20);
        assert!((refit.terms()[&touch] - 0.9).abs() < 1e-6, "{:?}", refit.terms());
        assert!((refit.terms()[&baseline] - 0.1).abs() < 1e-6 && !refit.terms().contains_key(&other));

        // One step with the full counts' Hessian, as a replicate's
        // (`replicate_steps`, over the fitted terms, the baseline first):
        // the resample's gradient at the fit is (10/0.1 + 5/0.6 − 105,
        // 5/0.6 − 5) = (10/3, 10/3) and the full counts' Hessian
        // (1000 + 3/0.36, 3/0.36; 3/0.36, 3/0.36), so the step is (0, 0.4):
        // t = 0.9, the refit's.
        let pair = 3.0 / 0.36;
        let stepped = fitted.replicate_steps(vec![1000.0 + pair, pair, pair]).step(&[10.0 / 3.0, 10.0 / 3.0]);
        assert!((stepped[1] - 0.9).abs() < 1e-9 && (stepped[0] - 0.1).abs() < 1e-9, "{stepped:?}");
    }
}
