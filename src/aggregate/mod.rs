//! Sums over every journey of a set of users, which add up over disjoint
//! sets of users: what the first pass of a run counts ([`Aggregates`]), the
//! data-driven models are fitted on, and the reports read. The reports only
//! render them ([`crate::report`]); states carry and merge them
//! ([`crate::state`]).
//!
//! Every sum is a [`Partial`]: what one user and each of their journeys
//! add, and how the sums of two sets of users merge. [`walk`] goes over the
//! users once, in chunks, in parallel, transforms each journey's path once,
//! and hands both to the sums; [`Aggregates::compute`] walks once for all of
//! the first pass's, [`crate::report::Analysis::tally`] once for the second
//! pass's credit and moments of truth.

mod kpis;
mod paths;

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use self::kpis::{Counters, KpiCount, Kpis, is_video_channel, ratio, video_channels};
pub use self::paths::{ChannelPath, PathCount, PathKey, PathTable, PathTotals, Paths};
use crate::bootstrap::{ReplicateCount, Replicates};
use crate::config::{Config, Mode};
use crate::event_log::EventLog;
use crate::journey::{Journey, Journeys, TransformedPath};
use crate::models::chain::{Chain, Counts, StateKey, Target, add_counts};
use crate::models::incremental::{self, Incremental};
use crate::models::shapley::{Coalitions, Shapley, add_coalitions};
use crate::models::{self};

/// Users of one task of [`walk`].
const USERS_PER_CHUNK: usize = 1024;

/// One user, as [`walk`] hands them to each sum before their journeys.
#[derive(Clone, Copy)]
pub struct UserWalk<'a> {
    /// The log.
    pub log: &'a EventLog,
    /// Its journeys.
    pub journeys: &'a Journeys,
    /// The run's configuration.
    pub config: &'a Config,
    /// The user's number in `log`.
    pub user: usize,
}

/// One journey, as [`walk`] hands it to each sum.
#[derive(Clone)]
pub struct JourneyWalk<'a> {
    /// The log.
    pub log: &'a EventLog,
    /// The journey.
    pub journey: Journey,
    /// Its path's touches after the configured transform (none when it has
    /// no touch).
    pub touches: &'a [usize],
    /// Touches each of them stands for.
    pub counts: &'a [u32],
    /// The run's configuration.
    pub config: &'a Config,
}

/// Some consecutive users, as [`walk`] hands them to each sum: their
/// journeys' paths transformed once, one after the other in one buffer.
pub struct Chunk<'a> {
    log: &'a EventLog,
    journeys: &'a Journeys,
    config: &'a Config,
    users: std::ops::Range<usize>,
    /// The paths of the chunk's journeys.
    paths: &'a TransformedPath,
    /// Where each journey's path ends in `paths`.
    ends: &'a [usize],
}

impl Chunk<'_> {
    /// The chunk's users.
    pub fn users(&self) -> impl Iterator<Item = UserWalk<'_>> {
        self.users.clone().map(|user| UserWalk { log: self.log, journeys: self.journeys, config: self.config, user })
    }

    /// The chunk's journeys, user after user, each with its path.
    pub fn journeys(&self) -> impl Iterator<Item = JourneyWalk<'_>> {
        let first = self.journeys.user_starts[self.users.start];
        let last = self.journeys.user_starts[self.users.end];
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        (first..last).zip(starts.zip(self.ends)).map(|(index, (start, &end))| JourneyWalk {
            log: self.log,
            journey: self.journeys.get(index),
            touches: &self.paths.touches[start..end],
            counts: &self.paths.counts[start..end],
            config: self.config,
        })
    }
}

/// A sum over users that a walk counts (the first pass's counts, the second
/// pass's credit and moments of truth): what a user adds, what each of their
/// journeys adds, and the sum of two disjoint sets of users. Sums
/// are integers (or lists counted as integers), so the order users are
/// walked and parts merged in never changes them.
pub trait Partial: Send {
    /// What the sum is once counted: a [`Sum`] for the first pass's (which
    /// states merge and renumber), the credit and moments for the second's
    /// (counted in the fit's codes).
    type Output;

    /// Whether the sum reads the journeys the run credits alone
    /// ([`Config::credited_conversion`]; the second pass's): the walk leaves
    /// the other journeys' paths untransformed (empty).
    const CREDITED_ONLY: bool = false;

    /// The sum counted.
    fn finish(self) -> Self::Output;

    /// Adds what `walk`'s user adds before their journeys (nothing, unless
    /// the sum counts users or events).
    fn add_user(&mut self, walk: &UserWalk<'_>) {
        let _ = walk;
    }

    /// Adds one journey (nothing, unless the sum counts journeys).
    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let _ = walk;
    }

    /// Adds a chunk of users: each user, then each journey. A sum of sums
    /// hands the chunk to each of its own in turn, so that each keeps its
    /// tables warm over the whole chunk.
    fn add_chunk(&mut self, chunk: &Chunk<'_>) {
        for user in chunk.users() {
            self.add_user(&user);
        }
        for journey in chunk.journeys() {
            self.add_journey(&journey);
        }
    }

    /// Adds the sums of other users, disjoint from these.
    fn merge(&mut self, other: Self);
}

/// How one log's codes map to another's: what a [`Sum`] needs to join a
/// state with other codes (`state::remap::Codes`).
pub trait Recode {
    /// A channel's code in the other log (`(none)`'s stays).
    fn channel(&self, code: u32) -> u32;

    /// A chain state with the codes of its channels renumbered.
    fn state(&self, state: StateKey) -> StateKey;

    /// Whether every code stays as it is (nothing to renumber).
    fn is_identity(&self) -> bool {
        false
    }
}

/// A sum over a set of users once counted, as a state carries it (what a
/// [`Partial`] of the first pass finishes into): the sums of two disjoint
/// sets add up, the codes of one log renumber into another's, and it is
/// written into a state and read back with `serde` (maps sorted by key, so
/// that equal sums are equal bytes). [`Aggregates`] is one, made of one
/// per fitted model and report.
pub trait Sum: Default + Serialize + DeserializeOwned {
    /// Adds the sum of other users, disjoint from these: associative and
    /// commutative, with `Default` as identity.
    fn add(&mut self, other: Self);

    /// The same sum with every channel code renumbered by `codes`.
    #[must_use]
    fn renumber(self, codes: &impl Recode) -> Self;
}

/// A sum left out of this run.
impl<P: Partial> Partial for Option<P> {
    type Output = Option<P::Output>;

    const CREDITED_ONLY: bool = P::CREDITED_ONLY;

    fn finish(self) -> Self::Output {
        self.map(P::finish)
    }

    fn add_chunk(&mut self, chunk: &Chunk<'_>) {
        if let Some(part) = self {
            part.add_chunk(chunk);
        }
    }

    fn merge(&mut self, other: Self) {
        match (self.as_mut(), other) {
            (Some(part), Some(other)) => part.merge(other),
            (None, Some(other)) => *self = Some(other),
            (_, None) => {}
        }
    }
}

/// The sum `empty` starts of every user of `log` and their `journeys`,
/// finished: chunks of users in parallel, each journey's path transformed
/// once per chunk, the chunk handed to the sum ([`Partial::add_chunk`]).
pub fn walk<P: Partial>(
    log: &EventLog,
    journeys: &Journeys,
    config: &Config,
    empty: impl Fn() -> P + Sync,
) -> P::Output {
    walk_in_chunks(log, journeys, config, USERS_PER_CHUNK, empty).finish()
}

/// [`walk`] in chunks of `per_chunk` users.
///
/// One partial per worker thread, each taking the next chunk as it is free,
/// then merged: a partial's maps grow with the distinct paths and keys it
/// has seen, so merging one per rayon split (dozens on two cores) cost as
/// much as the walk itself. Which chunks a worker took never shows, since
/// every sum adds up over disjoint sets of users whatever their order.
fn walk_in_chunks<P: Partial>(
    log: &EventLog,
    journeys: &Journeys,
    config: &Config,
    per_chunk: usize,
    empty: impl Fn() -> P + Sync,
) -> P {
    let users = log.user_count();
    let chunks = users.div_ceil(per_chunk);
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().clamp(1, chunks.max(1));
    let parts: Vec<P> = (0..workers)
        .into_par_iter()
        .map(|_| {
            let (mut part, mut paths, mut ends) = (empty(), TransformedPath::default(), Vec::new());
            loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    return part;
                }
                let users = chunk * per_chunk..((chunk + 1) * per_chunk).min(users);
                paths.touches.clear();
                paths.counts.clear();
                ends.clear();
                for index in journeys.user_starts[users.start]..journeys.user_starts[users.end] {
                    let journey = journeys.get(index);
                    if !P::CREDITED_ONLY || config.credited_conversion(log, &journey).is_some() {
                        config.path_transform.append(log, journey.path, &mut paths);
                    }
                    ends.push(paths.touches.len());
                }
                part.add_chunk(&Chunk { log, journeys, config, users, paths: &paths, ends: &ends });
            }
        })
        .collect();
    parts.into_par_iter().reduce(&empty, |mut left, right| {
        left.merge(right);
        left
    })
}

/// Transition counts of one chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCounts {
    /// (from, to) → journeys that made the step.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub transitions: Counts,
    /// Journeys counted.
    pub journeys: u64,
}

impl Sum for ChainCounts {
    fn add(&mut self, other: Self) {
        add_counts(&mut self.transitions, other.transitions);
        self.journeys += other.journeys;
    }

    fn renumber(self, codes: &impl Recode) -> Self {
        let target = |target: Target| match target {
            Target::State(state) => Target::State(codes.state(state)),
            other => other,
        };
        Self {
            transitions: self
                .transitions
                .into_iter()
                .map(|((from, to), count)| ((codes.state(from), target(to)), count))
                .collect(),
            journeys: self.journeys,
        }
    }
}

impl ChainCounts {
    /// The chain of order `order` these counts describe.
    #[must_use]
    pub fn chain(&self, order: u8) -> Chain {
        Chain::from_counts(&self.transitions, order, self.journeys)
    }
}

/// Counts over every journey of a set of users, each a sum over users.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregates {
    /// The first-order chain (touchpoint scores, moments of truth, and
    /// `markov` in order 1).
    pub first_order: ChainCounts,
    /// The chain of `markov_order` when it is above 1 and `markov` runs.
    pub higher_order: ChainCounts,
    /// The Shapley game's coalitions, when `shapley` runs.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub coalitions: Coalitions,
    /// KPI counters.
    pub kpis: Kpis,
    /// Path totals.
    pub paths: Paths,
    /// The purchase-rate sums `incremental` is fitted on, when it runs.
    pub hazard: incremental::Counts,
    /// The data-driven models' counts per bootstrap replicate, when the run
    /// draws replicates ([`crate::bootstrap`]).
    pub replicates: Replicates,
}

/// A chain's counts of one order, being counted.
struct ChainCount {
    order: u8,
    counts: ChainCounts,
}

impl Partial for ChainCount {
    type Output = ChainCounts;

    fn finish(self) -> ChainCounts {
        self.counts
    }

    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let converted = walk.journey.conversion.is_some();
        let counts = &mut self.counts;
        counts.journeys += Chain::count_journey(&mut counts.transitions, walk.log, walk.touches, converted, self.order);
    }

    fn merge(&mut self, other: Self) {
        self.counts.add(other.counts);
    }
}

/// The Shapley game's coalitions, being counted, with a channel set to
/// reuse.
#[derive(Default)]
struct CoalitionCount {
    coalitions: Coalitions,
    set: Vec<u32>,
}

impl Partial for CoalitionCount {
    type Output = Coalitions;

    fn finish(self) -> Coalitions {
        self.coalitions
    }

    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let converted = walk.journey.conversion.is_some();
        Shapley::count_journey(&mut self.coalitions, &mut self.set, walk.log, walk.touches, converted);
    }

    fn merge(&mut self, other: Self) {
        add_coalitions(&mut self.coalitions, other.coalitions);
    }
}

impl Partial for incremental::Counter {
    type Output = incremental::Counts;

    fn finish(self) -> incremental::Counts {
        incremental::Counter::finish(self)
    }

    fn add_user(&mut self, walk: &UserWalk<'_>) {
        self.add_user(walk.log, walk.user);
    }

    fn merge(&mut self, other: Self) {
        incremental::Counter::merge(self, other);
    }
}

/// Every sum of [`Aggregates`] a run counts, being counted.
struct Counting<'a> {
    paths: PathCount,
    first_order: Option<ChainCount>,
    higher_order: Option<ChainCount>,
    coalitions: Option<CoalitionCount>,
    hazard: Option<incremental::Counter>,
    kpis: Option<KpiCount<'a>>,
    replicates: Option<ReplicateCount>,
}

impl Partial for Counting<'_> {
    type Output = Aggregates;

    fn finish(self) -> Aggregates {
        Aggregates {
            first_order: self.first_order.finish().unwrap_or_default(),
            higher_order: self.higher_order.finish().unwrap_or_default(),
            coalitions: self.coalitions.finish().unwrap_or_default(),
            kpis: self.kpis.finish().unwrap_or_default(),
            paths: self.paths.finish(),
            hazard: self.hazard.finish().unwrap_or_default(),
            replicates: self.replicates.finish().unwrap_or_default(),
        }
    }

    fn add_chunk(&mut self, chunk: &Chunk<'_>) {
        self.paths.add_chunk(chunk);
        self.first_order.add_chunk(chunk);
        self.higher_order.add_chunk(chunk);
        self.coalitions.add_chunk(chunk);
        self.hazard.add_chunk(chunk);
        self.kpis.add_chunk(chunk);
        self.replicates.add_chunk(chunk);
    }

    fn merge(&mut self, other: Self) {
        self.paths.merge(other.paths);
        self.first_order.merge(other.first_order);
        self.higher_order.merge(other.higher_order);
        self.coalitions.merge(other.coalitions);
        self.hazard.merge(other.hazard);
        self.kpis.merge(other.kpis);
        self.replicates.merge(other.replicates);
    }
}

impl Aggregates {
    /// Counts what `mode` reports on, in one walk over the users and their
    /// journeys ([`walk`]); `end` is where the whole log's time ends (see
    /// [`crate::ingest::EventIngest::latest`]).
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys, config: &Config, mode: Mode, end: i64) -> Self {
        Self::count_in_chunks(log, journeys, config, mode, end, USERS_PER_CHUNK)
    }

    /// [`Aggregates::compute`], walking chunks of `per_chunk` users.
    fn count_in_chunks(
        log: &EventLog,
        journeys: &Journeys,
        config: &Config,
        mode: Mode,
        end: i64,
        per_chunk: usize,
    ) -> Self {
        if mode == Mode::Validate {
            return Self::default();
        }
        let attributes = mode != Mode::Paths;
        let chain = |order: u8| ChainCount { order, counts: ChainCounts::default() };
        let higher = attributes && models::is_selected(config, "markov") && config.markov_order > 1;
        let shapley = attributes && models::is_selected(config, "shapley");
        let hazard = attributes && models::is_selected(config, Incremental::NAME);
        let memory = config.rate_memory().memory();
        let video = video_channels(log);
        // Replicates of the fits that set credit: `markov`'s chain,
        // `shapley`'s game, `incremental`'s exposure.
        let markov = attributes && models::is_selected(config, "markov");
        let replicated = config.bootstrap > 0 && (markov || shapley || hazard);
        let replicate_order = markov.then_some(config.markov_order);
        walk_in_chunks(log, journeys, config, per_chunk, || Counting {
            paths: PathCount::default(),
            first_order: attributes.then(|| chain(1)),
            higher_order: higher.then(|| chain(config.markov_order)),
            coalitions: shapley.then(CoalitionCount::default),
            hazard: hazard.then(|| {
                incremental::Counter::new(log.channels.len(), end, memory)
                    .sampled(incremental::Sample::new(config.incremental_sample))
            }),
            kpis: attributes.then(|| KpiCount::new(&video)),
            replicates: replicated.then(|| {
                ReplicateCount::new(config.bootstrap, replicate_order, shapley, hazard.then_some((end, memory)))
            }),
        })
        .finish()
    }
}

impl Sum for Aggregates {
    fn add(&mut self, other: Self) {
        Sum::add(&mut self.first_order, other.first_order);
        Sum::add(&mut self.higher_order, other.higher_order);
        add_coalitions(&mut self.coalitions, other.coalitions);
        Sum::add(&mut self.kpis, other.kpis);
        Sum::add(&mut self.paths, other.paths);
        Sum::add(&mut self.hazard, other.hazard);
        Sum::add(&mut self.replicates, other.replicates);
    }

    fn renumber(self, codes: &impl Recode) -> Self {
        if codes.is_identity() {
            // Nothing to renumber: merging into a large state stays as cheap
            // as the state merged into it.
            return self;
        }
        Self {
            first_order: self.first_order.renumber(codes),
            higher_order: self.higher_order.renumber(codes),
            coalitions: self
                .coalitions
                .into_iter()
                .map(|(set, counts)| {
                    let mut set: Vec<u32> = set.into_iter().map(|code| codes.channel(code)).collect();
                    set.sort_unstable();
                    (set, counts)
                })
                .collect(),
            kpis: self.kpis.renumber(codes),
            paths: self.paths.renumber(codes),
            hazard: Sum::renumber(self.hazard, codes),
            replicates: Sum::renumber(self.replicates, codes),
        }
    }
}

impl Sum for incremental::Counts {
    fn add(&mut self, other: Self) {
        incremental::Counts::add(self, other);
    }

    fn renumber(self, codes: &impl Recode) -> Self {
        incremental::Counts::renumber(self, |code| codes.channel(code))
    }
}

impl Sum for Replicates {
    fn add(&mut self, other: Self) {
        Replicates::add(self, other);
    }

    fn renumber(self, codes: &impl Recode) -> Self {
        Replicates::renumber(self, |code| codes.channel(code), |state| codes.state(state))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::{EventKind, Stage};
    use crate::event_log::EventLogBuilder;
    use crate::journey::PathTransform;
    use crate::time::MICROS_PER_DAY;

    const CHANNELS: [&str; 4] = ["display", "email", "search", "video"];

    /// Users of (channel, is conversion, hours since the previous event).
    fn log_of(users: &[Vec<(usize, bool, u8)>]) -> EventLog {
        let mut builder = EventLogBuilder::new();
        for (user, events) in users.iter().enumerate() {
            let name = format!("user{user:02}");
            let mut time = 0;
            for &(channel, conversion, hours) in events {
                time += i64::from(hours) * MICROS_PER_DAY / 24;
                builder = if conversion {
                    builder.conversion(&name, time, 1_000_000)
                } else {
                    let kind = if hours % 2 == 0 { EventKind::Click } else { EventKind::Impression };
                    builder.event(&name, time, kind, CHANNELS[channel], "", Stage::Consideration, 0)
                };
            }
        }
        builder.build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every sum is the same whatever the chunks the users are walked in
        /// (one user a chunk, a few, all), with each path transform.
        #[test]
        fn the_sums_do_not_depend_on_the_chunks(
            users in proptest::collection::vec(
                proptest::collection::vec((0_usize..4, proptest::bool::weighted(0.3), 0_u8..60), 1..12),
                1..24,
            ),
            transform in proptest::sample::select(vec!["none", "exposure", "first", "frequency", "remove-if-not-all=email"]),
        ) {
            let log = log_of(&users);
            let config = Config {
                markov_order: 2,
                path_transform: transform.parse::<PathTransform>().unwrap(),
                ..Config::default()
            };
            let journeys = Journeys::build(&log, config.lookback);
            let whole = Aggregates::count_in_chunks(&log, &journeys, &config, Mode::Attribute, log.latest(), 1024);
            // A log of purchases without a touch has no chain to count.
            prop_assume!(whole.first_order.journeys > 0);
            for per_chunk in [1, 2, 5] {
                let chunked =
                    Aggregates::count_in_chunks(&log, &journeys, &config, Mode::Attribute, log.latest(), per_chunk);
                prop_assert_eq!(&chunked, &whole);
            }
            // And each sum is what its own count over the journeys gives.
            prop_assert_eq!(&whole.paths, &Paths::compute(&log, &journeys, &config));
            let (transitions, counted) = Chain::count(&log, &journeys, &config, 2);
            prop_assert_eq!(&whole.higher_order, &ChainCounts { transitions, journeys: counted });
            prop_assert_eq!(&whole.coalitions, &Shapley::count(&log, &journeys, &config));
            let memory = config.rate_memory().memory();
            prop_assert_eq!(&whole.hazard, &incremental::Counts::count(&log, log.latest(), memory));
        }

        /// With `incremental_sample`, `incremental`'s counts are those of the
        /// users the sample holds alone; every other sum is unchanged.
        #[test]
        fn a_sampled_fit_counts_the_users_of_the_sample_alone(
            users in proptest::collection::vec(
                proptest::collection::vec((0_usize..4, proptest::bool::weighted(0.3), 0_u8..60), 1..8),
                1..40,
            ),
            share in proptest::sample::select(vec![0.25, 0.5, 0.75]),
        ) {
            let log = log_of(&users);
            let journeys = Journeys::build(&log, Config::default().lookback);
            let count = |config: &Config| {
                Aggregates::count_in_chunks(&log, &journeys, config, Mode::Attribute, log.latest(), 3)
            };
            let whole = count(&Config::default());
            let mut sampled = count(&Config { incremental_sample: share, ..Config::default() });
            let sample = incremental::Sample::new(share);
            let memory = Config::default().rate_memory().memory();
            let mut counter = incremental::Counter::new(log.channels.len(), log.latest(), memory);
            for user in 0..log.user_count() {
                if sample.holds_id(log.users.get(u32::try_from(user).unwrap())) {
                    counter.add_user(&log, user);
                }
            }
            prop_assert_eq!(&sampled.hazard, &counter.finish());
            sampled.hazard = whole.hazard.clone();
            prop_assert_eq!(&sampled, &whole);
        }
    }
}
