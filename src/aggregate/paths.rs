//! Conversion paths: which sequences of channels (and of funnel stages)
//! lead to conversions, counted per path; [`crate::report`] ranks and
//! writes them.

use std::hash::{BuildHasher, Hash, Hasher};

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::FastMap;

use super::{JourneyWalk, Partial, Sum};
use crate::config::Config;
use crate::event::Stage;
use crate::event_log::EventLog;
use crate::journey::Journeys;

/// Totals of the journeys that share one path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathTotals {
    /// Journeys with this path, converting or not.
    pub journeys: u64,
    /// Of which converted.
    pub conversions: u64,
    /// Their revenue, in millionths.
    pub revenue: i128,
    /// Logged touches of these journeys (before the path transform).
    pub touches: u64,
    /// Sum over converting journeys of the time from first touch to
    /// conversion, in microseconds.
    pub time_to_conversion: i128,
}

impl PathTotals {
    /// Adds the totals of the same path over other journeys.
    pub fn add(&mut self, other: Self) {
        self.journeys += other.journeys;
        self.conversions += other.conversions;
        self.revenue += other.revenue;
        self.touches += other.touches;
        self.time_to_conversion += other.time_to_conversion;
    }
}

/// A path as a map key: its steps, and their hash, computed once.
///
/// A map of paths holds about one per journey (most journeys of several
/// touches take a path of their own). Growing such a map, or merging two,
/// hashes every key again: hashed from its steps, each key was read from
/// wherever its steps lay in memory, which took a third of counting paths.
/// Its hash sits beside it instead, and is all the map hashes.
#[derive(Clone, Debug)]
pub struct PathKey<T> {
    hash: u64,
    steps: Box<[T]>,
}

impl<T: Hash> PathKey<T> {
    /// The key of the path `steps`.
    pub fn new(steps: impl Into<Box<[T]>>) -> Self {
        let steps = steps.into();
        Self { hash: path_hash(&steps), steps }
    }
}

impl<T> std::ops::Deref for PathKey<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.steps
    }
}

impl<T: PartialEq> PartialEq for PathKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.steps == other.steps
    }
}

impl<T: Eq> Eq for PathKey<T> {}

impl<T> Hash for PathKey<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// By steps, as the steps' slices order.
impl<T: Ord> PartialOrd for PathKey<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for PathKey<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.steps.cmp(&other.steps)
    }
}

/// Written as its steps alone (a sequence, as a vector of them is).
impl<T: Serialize> Serialize for PathKey<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.steps.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Hash> Deserialize<'de> for PathKey<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Self::new)
    }
}

/// A channel path: (channel code, touches it stands for) per step.
pub type ChannelPath = PathKey<(u32, u32)>;

/// Journeys grouped by channel path and by stage path.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Paths {
    /// Per path of (channel code, touches it stands for); empty for
    /// conversions without touches.
    pub channels: PathTable<(u32, u32)>,
    /// Per sequence of stages, consecutive repeats collapsed.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub stages: FastMap<PathKey<Stage>, PathTotals>,
}

impl Paths {
    /// Groups the journeys that end in the analysis period (at their
    /// conversion, or at their last touch when they did not convert).
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys, config: &Config) -> Self {
        super::walk(log, journeys, config, PathCount::default)
    }
}

impl Sum for Paths {
    /// Adds the totals of another set of journeys.
    fn add(&mut self, mut other: Self) {
        self.channels.add(std::mem::take(&mut other.channels));
        // The smaller map goes into the larger.
        if other.stages.len() > self.stages.len() {
            std::mem::swap(&mut self.stages, &mut other.stages);
        }
        for (key, totals) in other.stages {
            self.stages.entry(key).or_default().add(totals);
        }
    }

    fn renumber(mut self, codes: &impl super::Recode) -> Self {
        if codes.is_identity() {
            return self;
        }
        let channels = std::mem::take(&mut self.channels);
        self.channels = channels
            .into_iter()
            .map(|(path, totals)| {
                (
                    PathKey::new(path.iter().map(|&(code, count)| (codes.channel(code), count)).collect::<Vec<_>>()),
                    totals,
                )
            })
            .collect();
        self
    }
}

/// Parts of a [`PathTable`], by the top bits of a path's hash.
const TABLE_PARTS: usize = 256;

/// The part of a [`PathTable`] a path of hash `hash` goes to.
fn table_part(hash: u64) -> usize {
    (hash >> 56) as usize
}

/// Paths with their totals, each path once: in [`TABLE_PARTS`] parts by the
/// top bits of the path's hash, each part sorted by hash, then steps.
///
/// A map of paths holds about one entry per journey (most journeys of
/// several touches take a path of their own): counted into a hash map, each
/// journey waited on memory for the map's slot, then for the key it found
/// there. Counted as [`PathCount`] counts, each journey is appended to a
/// list, and once the walk is over the lists are dealt into the parts and
/// each part is summed on its own, small enough to stay in cache; two
/// tables add up part by part, each a merge of two sorted lists.
#[derive(Clone, Debug)]
pub struct PathTable<T> {
    /// Empty, or [`TABLE_PARTS`] parts.
    parts: Vec<Vec<(PathKey<T>, PathTotals)>>,
}

impl<T> Default for PathTable<T> {
    fn default() -> Self {
        Self { parts: Vec::new() }
    }
}

/// The order of a part: by hash, then steps.
fn entry_order<T: Ord>(left: &PathKey<T>, right: &PathKey<T>) -> std::cmp::Ordering {
    left.hash.cmp(&right.hash).then_with(|| left.steps.cmp(&right.steps))
}

impl<T: Ord + Hash + Send> PathTable<T> {
    /// Paths in no particular order, each once (equal ones are added).
    pub fn from_entries(entries: impl IntoIterator<Item = (PathKey<T>, PathTotals)>) -> Self {
        let mut parts: Vec<Vec<(PathKey<T>, PathTotals)>> = (0..TABLE_PARTS).map(|_| Vec::new()).collect();
        for (key, totals) in entries {
            parts[table_part(key.hash)].push((key, totals));
        }
        let mut table = Self { parts };
        table.parts.par_iter_mut().for_each(|part| {
            part.sort_unstable_by(|left, right| entry_order(&left.0, &right.0));
            let mut summed: Vec<(PathKey<T>, PathTotals)> = Vec::with_capacity(part.len());
            for (key, totals) in part.drain(..) {
                match summed.last_mut() {
                    Some(last) if last.0 == key => last.1.add(totals),
                    _ => summed.push((key, totals)),
                }
            }
            *part = summed;
        });
        table.trimmed()
    }

    /// Adds the totals of `other`, path by path.
    pub fn add(&mut self, mut other: Self) {
        if other.parts.is_empty() {
            return;
        }
        if self.parts.is_empty() {
            *self = other;
            return;
        }
        self.parts.par_iter_mut().zip(other.parts.par_iter_mut()).for_each(|(mine, theirs)| {
            let (mine_taken, theirs_taken) = (std::mem::take(mine), std::mem::take(theirs));
            *mine = merge_sorted(mine_taken, theirs_taken);
        });
    }
}

impl<T> PathTable<T> {
    /// How many paths.
    #[must_use]
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    /// Whether there is no path.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Vec::is_empty)
    }

    /// Removes every path.
    pub fn clear(&mut self) {
        self.parts.clear();
    }

    /// Every path with its totals, part by part.
    pub fn iter(&self) -> impl Iterator<Item = (&PathKey<T>, &PathTotals)> {
        self.parts.iter().flatten().map(|(key, totals)| (key, totals))
    }

    /// Every path, part by part.
    pub fn keys(&self) -> impl Iterator<Item = &PathKey<T>> {
        self.iter().map(|(key, _)| key)
    }

    /// The table without parts when it holds no path.
    fn trimmed(self) -> Self {
        if self.is_empty() { Self::default() } else { self }
    }
}

impl<T: Ord + Hash> PathTable<T> {
    /// The totals of the path `steps`.
    #[must_use]
    pub fn get(&self, steps: impl Into<Box<[T]>>) -> Option<&PathTotals> {
        let key = PathKey::new(steps);
        let part = self.parts.get(table_part(key.hash))?;
        let found = part.binary_search_by(|(path, _)| entry_order(path, &key)).ok()?;
        Some(&part[found].1)
    }
}

/// Two sorted parts as one, equal paths added.
fn merge_sorted<T: Ord>(
    left: Vec<(PathKey<T>, PathTotals)>,
    right: Vec<(PathKey<T>, PathTotals)>,
) -> Vec<(PathKey<T>, PathTotals)> {
    if left.is_empty() {
        return right;
    }
    if right.is_empty() {
        return left;
    }
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let order = match (left.peek(), right.peek()) {
            (Some(mine), Some(theirs)) => entry_order(&mine.0, &theirs.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return merged,
        };
        match order {
            std::cmp::Ordering::Less => merged.extend(left.next()),
            std::cmp::Ordering::Greater => merged.extend(right.next()),
            std::cmp::Ordering::Equal => {
                if let (Some((key, mut totals)), Some((_, more))) = (left.next(), right.next()) {
                    totals.add(more);
                    merged.push((key, totals));
                }
            }
        }
    }
}

impl<T: Ord + Hash + Send> FromIterator<(PathKey<T>, PathTotals)> for PathTable<T> {
    fn from_iter<I: IntoIterator<Item = (PathKey<T>, PathTotals)>>(entries: I) -> Self {
        Self::from_entries(entries)
    }
}

impl<T> IntoIterator for PathTable<T> {
    type Item = (PathKey<T>, PathTotals);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<(PathKey<T>, PathTotals)>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.into_iter().flatten()
    }
}

impl<T: PartialEq> PartialEq for PathTable<T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for PathTable<T> {}

/// Written as a map sorted by path, as a hash map of paths is written (so
/// that states keep their bytes).
impl<T: Ord + Serialize> Serialize for PathTable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::hash::serialize_entries_sorted(self.iter(), serializer)
    }
}

impl<'de, T: Deserialize<'de> + Ord + Hash + Send> Deserialize<'de> for PathTable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Ord + Hash + Send> serde::de::Visitor<'de> for Entries<T> {
            type Value = PathTable<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a map of paths to their totals")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(entry) = map.next_entry::<PathKey<T>, PathTotals>()? {
                    entries.push(entry);
                }
                Ok(PathTable::from_entries(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// One journey's channel path as [`PathCount`] keeps it until the walk is
/// over: its hash, how many steps it has (in its worker's list of steps,
/// after the previous journey's), and what it adds to its path's totals.
#[derive(Clone, Copy, Debug)]
struct JourneyPath {
    hash: u64,
    steps: u32,
    touches: u32,
    converted: bool,
    revenue: i64,
    time_to_conversion: i64,
}

impl JourneyPath {
    fn totals(&self) -> PathTotals {
        PathTotals {
            journeys: 1,
            conversions: u64::from(self.converted),
            revenue: i128::from(self.revenue),
            touches: u64::from(self.touches),
            time_to_conversion: i128::from(self.time_to_conversion),
        }
    }
}

/// One worker's journeys: their paths, and the paths' steps one journey
/// after the other.
#[derive(Debug, Default)]
struct WorkerJourneys {
    journeys: Vec<JourneyPath>,
    steps: Vec<(u32, u32)>,
}

/// [`Paths`] being counted: each journey's channel path appended to a list
/// as it comes (one stream of writes, which leaves the other counts' tables
/// in cache), the list dealt into the parts of the table ([`PathTable`])
/// once every worker is done, and each part summed on its own, in
/// parallel; the few stage sequences in a map by hash, found without
/// building a key.
#[derive(Debug, Default)]
pub struct PathCount {
    /// Per worker, its journeys (this one's last).
    workers: Vec<WorkerJourneys>,
    /// Stage sequences with their totals, by hash (the sequences of one
    /// hash, almost always one).
    stages: FastMap<u64, Vec<(PathKey<Stage>, PathTotals)>>,
    /// Scratch: a journey's stages.
    stage_steps: Vec<Stage>,
}

impl PathCount {
    /// Adds `totals` to the stage sequence `steps`.
    fn add_stages(
        stages: &mut FastMap<u64, Vec<(PathKey<Stage>, PathTotals)>>,
        steps: &[Stage],
        hash: u64,
        totals: PathTotals,
    ) {
        let sequences = stages.entry(hash).or_default();
        match sequences.iter_mut().find(|(path, _)| **path == *steps) {
            Some((_, sum)) => sum.add(totals),
            None => sequences.push((PathKey { hash, steps: steps.into() }, totals)),
        }
    }
}

/// A journey of [`PathCount`]'s workers, dealt into its part: its hash, its
/// worker, where its steps start, and the journey.
type Dealt = (u64, usize, usize, usize);

/// Every worker's journeys dealt into the parts of the table, each part's
/// in the order they came.
fn deal(workers: &[WorkerJourneys]) -> Vec<Vec<Dealt>> {
    let mut parts: Vec<Vec<Dealt>> = (0..TABLE_PARTS).map(|_| Vec::new()).collect();
    for (worker, journeys) in workers.iter().enumerate() {
        let mut start = 0;
        for (index, journey) in journeys.journeys.iter().enumerate() {
            parts[table_part(journey.hash)].push((journey.hash, worker, start, index));
            start += journey.steps as usize;
        }
    }
    parts
}

/// The journeys of one part, `dealt`, summed path by path, sorted by hash
/// then steps.
fn sum_part(workers: &[WorkerJourneys], mut dealt: Vec<Dealt>) -> Vec<(ChannelPath, PathTotals)> {
    let steps_of = |&(_, worker, start, index): &Dealt| {
        let journeys = &workers[worker];
        &journeys.steps[start..start + journeys.journeys[index].steps as usize]
    };
    // By hash, then by steps where a hash's journeys differ: the journeys
    // of one hash almost always share their path (64 bits), and comparing
    // each with the first is cheaper than a sort comparing steps at every
    // tie.
    dealt.sort_unstable_by_key(|entry| entry.0);
    for run in dealt.chunk_by_mut(|left, right| left.0 == right.0) {
        if let Some((first, rest)) = run.split_first()
            && rest.iter().any(|entry| steps_of(entry) != steps_of(first))
        {
            run.sort_unstable_by(|left, right| steps_of(left).cmp(steps_of(right)));
        }
    }
    let mut summed: Vec<(ChannelPath, PathTotals)> = Vec::new();
    for entry in &dealt {
        let totals = workers[entry.1].journeys[entry.3].totals();
        match summed.last_mut() {
            Some((key, sum)) if key.hash == entry.0 && *key.steps == *steps_of(entry) => sum.add(totals),
            _ => summed.push((PathKey { hash: entry.0, steps: steps_of(entry).into() }, totals)),
        }
    }
    summed
}

impl Partial for PathCount {
    type Output = Paths;

    fn finish(self) -> Paths {
        let workers = self.workers;
        let dealt = deal(&workers);
        let parts: Vec<Vec<(ChannelPath, PathTotals)>> =
            dealt.into_par_iter().map(|dealt| sum_part(&workers, dealt)).collect();
        // The journeys' lists are freed on a thread of their own.
        rayon::spawn(move || drop(workers));
        let stages = self.stages.into_values().flatten().collect();
        Paths { channels: PathTable { parts }.trimmed(), stages }
    }

    /// Counts a journey that ends in the analysis period (at its conversion,
    /// or at its last touch when it did not convert).
    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let JourneyWalk { log, ref journey, touches, counts, config } = *walk;
        let Some(end) = journey.conversion.or_else(|| journey.path.clone().last()) else {
            return;
        };
        if !config.in_period_at(log.time[end]) {
            return;
        }
        if self.workers.is_empty() {
            self.workers.push(WorkerJourneys::default());
        }
        let Some(mine) = self.workers.last_mut() else { return };
        let start = mine.steps.len();
        mine.steps.extend(touches.iter().zip(counts).map(|(&touch, &count)| (log.channel[touch], count)));
        let path = JourneyPath {
            hash: path_hash(&mine.steps[start..]),
            steps: u32::try_from(touches.len()).unwrap_or(u32::MAX),
            touches: u32::try_from(journey.path.len()).unwrap_or(u32::MAX),
            converted: journey.conversion.is_some(),
            revenue: journey.conversion.map_or(0, |conversion| log.revenue[conversion]),
            time_to_conversion: match journey.conversion {
                Some(conversion) if !journey.path.is_empty() => log.time[conversion] - log.time[journey.path.start],
                _ => 0,
            },
        };
        mine.journeys.push(path);
        self.stage_steps.clear();
        self.stage_steps.extend(touches.iter().map(|&touch| log.stage[touch]));
        self.stage_steps.dedup();
        let hash = path_hash(&self.stage_steps);
        Self::add_stages(&mut self.stages, &self.stage_steps, hash, path.totals());
    }

    fn merge(&mut self, mut other: Self) {
        // This worker's journeys stay last, where the walk appends.
        other.workers.append(&mut self.workers);
        self.workers = other.workers;
        for (hash, sequences) in other.stages {
            for (path, totals) in sequences {
                Self::add_stages(&mut self.stages, &path, hash, totals);
            }
        }
    }
}

/// The hash a [`PathKey`] of `steps` carries.
fn path_hash<T: Hash>(steps: &[T]) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(journeys: u64, revenue: i128) -> PathTotals {
        PathTotals { journeys, conversions: 1, revenue, touches: 2 * journeys, time_to_conversion: 7 }
    }

    /// Journeys of two workers summed path by path, in order of hash then
    /// steps: two paths given one hash (a collision, forged here) stay
    /// apart, and a hash's paths are sorted by steps.
    #[test]
    fn a_part_sums_each_path_once_even_when_hashes_collide() {
        type Steps = Vec<(u32, u32)>;
        let worker = |paths: &[(u64, &Steps, i64)]| WorkerJourneys {
            journeys: paths
                .iter()
                .map(|&(hash, steps, revenue)| JourneyPath {
                    hash,
                    steps: u32::try_from(steps.len()).unwrap(),
                    touches: 1,
                    converted: revenue > 0,
                    revenue,
                    time_to_conversion: 0,
                })
                .collect(),
            steps: paths.iter().flat_map(|&(_, steps, _)| steps.iter().copied()).collect(),
        };
        let (a, b, c): (Steps, Steps, Steps) = (vec![(2, 1)], vec![(1, 1), (3, 1)], vec![(1, 2)]);
        let workers = [
            worker(&[(7, &a, 10), (7, &b, 0), (3, &c, 5), (7, &a, 20)]),
            worker(&[(7, &b, 30), (3, &c, 0), (7, &a, 1)]),
        ];
        let mut dealt = Vec::new();
        for (worker, journeys) in workers.iter().enumerate() {
            let mut start = 0;
            for (index, journey) in journeys.journeys.iter().enumerate() {
                dealt.push((journey.hash, worker, start, index));
                start += journey.steps as usize;
            }
        }
        let summed: Vec<(u64, Steps, u64, i128)> = sum_part(&workers, dealt)
            .into_iter()
            .map(|(key, totals)| (key.hash, key.steps.to_vec(), totals.journeys, totals.revenue))
            .collect();
        assert_eq!(summed, [(3, c, 2, 5), (7, b, 2, 30), (7, a, 3, 31)]);
    }

    /// A hash map of paths as states wrote it.
    #[derive(serde::Serialize)]
    struct AsMap(#[serde(serialize_with = "crate::hash::serialize_sorted")] FastMap<ChannelPath, PathTotals>);

    /// Equal paths add up, a table adds another part by part, and it is
    /// written as a hash map of the same paths is (states keep their bytes).
    #[test]
    fn a_path_table_holds_each_path_once() {
        let key = |steps: &[(u32, u32)]| ChannelPath::new(steps.to_vec());
        let left = PathTable::from_entries([
            (key(&[(1, 1), (2, 1)]), totals(1, 10)),
            (key(&[(2, 1)]), totals(1, 5)),
            (key(&[(1, 1), (2, 1)]), totals(2, 20)),
            (key(&[]), totals(1, 1)),
        ]);
        assert_eq!(left.len(), 3);
        let mut both = totals(1, 10);
        both.add(totals(2, 20));
        assert_eq!(left.get(vec![(1, 1), (2, 1)]), Some(&both));
        assert_eq!(left.get(vec![(2, 1), (1, 1)]), None);
        let right = PathTable::from_entries([(key(&[(2, 1)]), totals(4, 40)), (key(&[(3, 2)]), totals(1, 3))]);
        let mut sum = left.clone();
        sum.add(right.clone());
        let all: PathTable<(u32, u32)> = left.clone().into_iter().chain(right.clone()).collect();
        assert_eq!(sum, all);
        assert_eq!(sum.len(), 4);
        let mut five = totals(1, 5);
        five.add(totals(4, 40));
        assert_eq!(sum.get(vec![(2, 1)]), Some(&five));
        // Adding nothing, or to nothing.
        let mut empty = PathTable::default();
        empty.add(left.clone());
        assert_eq!(empty, left);
        let mut same = left.clone();
        same.add(PathTable::default());
        assert_eq!(same, left);
        assert!(PathTable::<(u32, u32)>::from_entries([]).is_empty());
        // The bytes of a hash map of the same paths, and back.
        let map: FastMap<ChannelPath, PathTotals> = sum.iter().map(|(key, totals)| (key.clone(), *totals)).collect();
        let bytes = postcard::to_stdvec(&sum).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&AsMap(map)).unwrap());
        assert_eq!(postcard::from_bytes::<PathTable<(u32, u32)>>(&bytes).unwrap(), sum);
    }

    /// Random logs: the path totals, counted a user per chunk by several
    /// workers, are each journey's summed path by path.
    mod counted {
        use proptest::prelude::*;

        use super::super::*;
        use crate::event::{EventKind, Stage};
        use crate::event_log::EventLogBuilder;
        use crate::journey::TransformedPath;
        use crate::time::MICROS_PER_DAY;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]

            #[test]
            fn path_totals_are_the_journeys_summed(
                users in proptest::collection::vec(
                    proptest::collection::vec((0_usize..3, 0_usize..3, proptest::bool::weighted(0.3), 0_u8..60), 1..10),
                    1..30,
                ),
                transform in proptest::sample::select(vec!["none", "first", "frequency"]),
            ) {
                let mut builder = EventLogBuilder::new();
                for (user, events) in users.iter().enumerate() {
                    let (name, mut time) = (format!("user{user:02}"), 0);
                    for &(channel, stage, conversion, hours) in events {
                        time += i64::from(hours) * MICROS_PER_DAY / 24;
                        builder = if conversion {
                            builder.conversion(&name, time, 1_000_000 + i64::from(hours))
                        } else {
                            let (channel, stage) = (["a", "b", "c"][channel], Stage::ALL[stage]);
                            builder.event(&name, time, EventKind::Click, channel, "", stage, 0)
                        };
                    }
                }
                let log = builder.build();
                let config = Config { path_transform: transform.parse().unwrap(), ..Config::default() };
                let journeys = Journeys::build(&log, config.lookback);
                let mut expected = Paths::default();
                let mut channels: FastMap<ChannelPath, PathTotals> = FastMap::default();
                let mut path = TransformedPath::default();
                for index in 0..journeys.len() {
                    let journey = journeys.get(index);
                    let Some(end) = journey.conversion.or_else(|| journey.path.clone().last()) else { continue };
                    let converted = journey.conversion.map(|conversion| (conversion, log.revenue[conversion]));
                    let totals = PathTotals {
                        journeys: 1,
                        conversions: u64::from(converted.is_some()),
                        revenue: converted.map_or(0, |(_, revenue)| i128::from(revenue)),
                        touches: journey.path.len() as u64,
                        time_to_conversion: match converted {
                            Some((conversion, _)) if !journey.path.is_empty() => {
                                i128::from(log.time[conversion] - log.time[journey.path.start])
                            }
                            _ => 0,
                        },
                    };
                    if !config.in_period_at(log.time[end]) {
                        continue;
                    }
                    path.touches.clear();
                    path.counts.clear();
                    config.path_transform.append(&log, journey.path.clone(), &mut path);
                    let steps: Vec<(u32, u32)> =
                        path.touches.iter().zip(&path.counts).map(|(&touch, &count)| (log.channel[touch], count)).collect();
                    channels.entry(PathKey::new(steps)).or_default().add(totals);
                    let mut stages: Vec<Stage> = path.touches.iter().map(|&touch| log.stage[touch]).collect();
                    stages.dedup();
                    expected.stages.entry(PathKey::new(stages)).or_default().add(totals);
                }
                expected.channels = channels.into_iter().collect();
                let counted = crate::aggregate::walk_in_chunks(&log, &journeys, &config, 1, PathCount::default).finish();
                prop_assert_eq!(&counted, &expected);
                prop_assert_eq!(counted.channels.len(), counted.channels.iter().count());
            }
        }
    }

    /// A path key is written as its steps are, reads back equal, and orders
    /// and compares as its steps do.
    #[test]
    fn a_path_key_stands_for_its_steps() {
        let steps = vec![(3_u32, 1_u32), (1, 2)];
        let key = ChannelPath::new(steps.clone());
        let bytes = postcard::to_stdvec(&key).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&steps).unwrap());
        assert_eq!(postcard::from_bytes::<ChannelPath>(&bytes).unwrap(), key);
        let shorter = ChannelPath::new(vec![(3, 1)]);
        let other = ChannelPath::new(vec![(3, 1), (1, 3)]);
        assert!(shorter < key && key < other);
        assert_ne!(key, other);
        assert_eq!(&*key, steps.as_slice());
        let mut map: FastMap<ChannelPath, u32> = FastMap::default();
        *map.entry(key).or_default() += 1;
        *map.entry(ChannelPath::new(steps)).or_default() += 1;
        *map.entry(other).or_default() += 1;
        assert_eq!(map.len(), 2);
        assert_eq!(map[&ChannelPath::new(vec![(3, 1), (1, 2)])], 2);
    }
}
