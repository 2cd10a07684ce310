//! Conversion paths: which sequences of channels (and of funnel stages)
//! lead to conversions, counted per path; [`crate::report`] ranks and
//! writes them.

use std::hash::{BuildHasher, Hash, Hasher};

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
        Self { hash: foldhash::fast::FixedState::with_seed(0).hash_one(&steps), steps }
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
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub channels: FastMap<ChannelPath, PathTotals>,
    /// Per sequence of stages, consecutive repeats collapsed.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub stages: FastMap<PathKey<Stage>, PathTotals>,
}

impl Paths {
    /// Groups the journeys that end in the analysis period (at their
    /// conversion, or at their last touch when they did not convert).
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys, config: &Config) -> Self {
        super::walk(log, journeys, config, Self::default)
    }
}

impl Sum for Paths {
    /// Adds the totals of another set of journeys.
    fn add(&mut self, mut other: Self) {
        // The smaller map goes into the larger.
        if other.channels.len() > self.channels.len() {
            std::mem::swap(self, &mut other);
        }
        for (key, totals) in other.channels {
            self.channels.entry(key).or_default().add(totals);
        }
        for (key, totals) in other.stages {
            self.stages.entry(key).or_default().add(totals);
        }
    }

    fn renumber(mut self, codes: &impl super::Recode) -> Self {
        if codes.is_identity() {
            return self;
        }
        self.channels = self
            .channels
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

impl Partial for Paths {
    type Output = Self;

    fn finish(self) -> Self {
        self
    }

    /// Counts a journey that ends in the analysis period (at its conversion,
    /// or at its last touch when it did not convert).
    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let JourneyWalk { log, ref journey, touches, counts, config } = *walk;
        let Some(end) = journey.conversion.or_else(|| journey.path.clone().last()) else {
            return;
        };
        if !config.in_period(config.timezone.local_day(log.time[end])) {
            return;
        }
        let totals = PathTotals {
            journeys: 1,
            conversions: u64::from(journey.conversion.is_some()),
            revenue: journey.conversion.map_or(0, |conversion| i128::from(log.revenue[conversion])),
            touches: journey.path.len() as u64,
            time_to_conversion: match journey.conversion {
                Some(conversion) if !journey.path.is_empty() => {
                    i128::from(log.time[conversion] - log.time[journey.path.start])
                }
                _ => 0,
            },
        };
        let channels: Box<[(u32, u32)]> =
            touches.iter().zip(counts).map(|(&touch, &count)| (log.channel[touch], count)).collect();
        let mut stages: Vec<Stage> = touches.iter().map(|&touch| log.stage[touch]).collect();
        stages.dedup();
        self.channels.entry(PathKey::new(channels)).or_default().add(totals);
        self.stages.entry(PathKey::new(stages)).or_default().add(totals);
    }

    fn merge(&mut self, other: Self) {
        self.add(other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
