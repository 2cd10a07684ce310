//! The moment of truth: the touch that decided a new customer's first
//! purchase.
//!
//! With the first-order chain of the run (see `models::chain`), each state
//! has a probability of ending in a conversion. Touch `i` of a first-purchase
//! path gets the lift `P(conversion | state of touch i) − P(conversion |
//! state before it)` (the start state before the first touch). The moment of
//! truth is the touch with the largest positive lift; on a tie, the earlier
//! touch. Consecutive touches of one channel share a state, so a repeat has
//! lift 0 and is never the moment. A first purchase none of whose touches
//! has a positive lift has no moment of truth, and is counted as such.

use std::collections::BTreeMap;

use crate::hash::FastMap;

use crate::aggregate::{JourneyWalk, Partial};
use crate::config::Config;
use crate::event::Stage;
use crate::event_log::EventLog;
use crate::journey::Journeys;
use crate::models::chain::{Chain, START, next_state};
use crate::time::MICROS_PER_SECOND;

/// Conversion probability per state of a first-order chain.
#[derive(Clone, Debug)]
pub struct StateScores {
    chain_states: Vec<u128>,
    probabilities: Vec<f64>,
}

impl StateScores {
    /// Solves the chain once.
    ///
    /// # Errors
    ///
    /// As [`Chain::conversion_probabilities`].
    pub fn new(chain: &Chain) -> crate::Result<Self> {
        let solution = chain.conversion_probabilities(None)?;
        Ok(Self { chain_states: chain.states().to_vec(), probabilities: solution.probabilities })
    }

    /// P(conversion | state); 0 for a state the chain never saw.
    #[must_use]
    pub fn probability(&self, state: u128) -> f64 {
        self.chain_states.binary_search(&state).map_or(0.0, |index| self.probabilities[index])
    }

    /// P(conversion | the channel's state): the channel's touchpoint score.
    #[must_use]
    pub fn channel_score(&self, channel: u32) -> f64 {
        self.probability(next_state(START, channel, 1))
    }
}

/// How much a lift must exceed 0, or another lift, to count: the
/// probabilities are solved in floating point, and two states with the same
/// probability must not make a moment, or break a tie, by rounding.
pub const LIFT_TOLERANCE: f64 = 1e-12;

/// The index (in `path`) of the moment of truth: the touch with the largest
/// positive lift, the earliest on a tie; `None` when no touch has a positive
/// lift (or the path is empty).
#[must_use]
pub fn moment_of_truth(log: &EventLog, path: &[usize], scores: &StateScores) -> Option<usize> {
    let mut state = START;
    let mut previous = scores.probability(START);
    let mut best: Option<(usize, f64)> = None;
    for (index, &touch) in path.iter().enumerate() {
        state = next_state(state, log.channel[touch], 1);
        let current = scores.probability(state);
        let lift = current - previous;
        let floor = best.map_or(0.0, |(_, best_lift)| best_lift);
        if lift > floor + LIFT_TOLERANCE {
            best = Some((index, lift));
        }
        previous = current;
    }
    best.map(|(index, _)| index)
}

/// Moments of one (channel, stage).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MomentCounts {
    /// First purchases decided here.
    pub moments: u64,
    /// Touches before the moment → first purchases.
    pub touches_before: BTreeMap<u64, u64>,
    /// Minutes from the moment to the purchase → first purchases.
    pub minutes_to_purchase: BTreeMap<u64, u64>,
}

impl MomentCounts {
    fn merge(&mut self, other: Self) {
        self.moments += other.moments;
        for (key, count) in other.touches_before {
            *self.touches_before.entry(key).or_default() += count;
        }
        for (key, count) in other.minutes_to_purchase {
            *self.minutes_to_purchase.entry(key).or_default() += count;
        }
    }
}

/// Nearest-rank median of a histogram.
#[must_use]
pub fn median(histogram: &BTreeMap<u64, u64>) -> Option<u64> {
    let total: u64 = histogram.values().sum();
    let rank = total.div_ceil(2).max(1);
    let mut seen = 0;
    histogram.iter().find_map(|(&value, &count)| {
        seen += count;
        (seen >= rank).then_some(value)
    })
}

/// Moments of truth per (channel code, stage).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    /// Per (channel code, stage).
    pub counts: FastMap<(u32, Stage), MomentCounts>,
    /// First purchases with at least one touch, in the period.
    pub total: u64,
    /// Of which without a moment of truth: no touch had a positive lift.
    pub undecided: u64,
}

impl Moments {
    /// Finds the moment of truth of every first purchase in the period.
    #[must_use]
    pub fn find(log: &EventLog, journeys: &Journeys, scores: &StateScores, config: &Config) -> Self {
        crate::aggregate::walk(log, journeys, config, || MomentCount::new(scores))
    }

    /// Counts touch `moment` of `touches` as the moment of truth of
    /// `conversion`.
    fn count(&mut self, log: &EventLog, touches: &[usize], moment: usize, conversion: usize) {
        let touch = touches[moment];
        let counts = self.counts.entry((log.channel[touch], log.stage[touch])).or_default();
        counts.moments += 1;
        *counts.touches_before.entry(moment as u64).or_default() += 1;
        let minutes = u64::try_from((log.time[conversion] - log.time[touch]) / (60 * MICROS_PER_SECOND)).unwrap_or(0);
        *counts.minutes_to_purchase.entry(minutes).or_default() += 1;
    }

    /// Adds the moments of other journeys. Associative and commutative, with
    /// [`Moments::default`] as identity.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        for (key, counts) in other.counts {
            self.counts.entry(key).or_default().merge(counts);
        }
        self.total += other.total;
        self.undecided += other.undecided;
        self
    }
}

/// Moments of truth being counted, journey after journey, in the walk over
/// the converting journeys ([`crate::aggregate::walk`]).
pub struct MomentCount<'a> {
    scores: &'a StateScores,
    /// The moments so far.
    pub moments: Moments,
}

impl<'a> MomentCount<'a> {
    /// No moment counted yet, with the touchpoint scores `scores`.
    #[must_use]
    pub fn new(scores: &'a StateScores) -> Self {
        Self { scores, moments: Moments::default() }
    }
}

impl Partial for MomentCount<'_> {
    type Output = Moments;

    fn finish(self) -> Moments {
        self.moments
    }

    /// Counts the moment of truth of a first purchase in the analysis period
    /// with a touch.
    fn add_journey(&mut self, walk: &JourneyWalk<'_>) {
        let JourneyWalk { log, ref journey, touches, config, .. } = *walk;
        if journey.first_purchase
            && !journey.path.is_empty()
            && let Some(conversion) = config.credited_conversion(log, journey)
        {
            self.moments.total += 1;
            match moment_of_truth(log, touches, self.scores) {
                Some(moment) => self.moments.count(log, touches, moment, conversion),
                None => self.moments.undecided += 1,
            }
        }
    }

    fn merge(&mut self, other: Self) {
        self.moments = std::mem::take(&mut self.moments).merge(other.moments);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::models::chain::Target;

    /// A hand-built first-order chain. Codes: a = 0, b = 1, c = 2.
    /// P(start) = 1/6 · 0.1 + 1/6 = 0.18333; P(a) = 0.1, P(b) = 0.5,
    /// P(c) = 0.5.
    fn scores() -> StateScores {
        let state = |code| next_state(START, code, 1);
        let counts: crate::hash::FastMap<(u128, Target), u64> = [
            ((START, Target::State(state(0))), 1),
            ((START, Target::Null), 4),
            ((START, Target::Conversion), 1),
            ((state(0), Target::Conversion), 1),
            ((state(0), Target::Null), 9),
            ((state(1), Target::Conversion), 1),
            ((state(1), Target::Null), 1),
            ((state(2), Target::Conversion), 1),
            ((state(2), Target::Null), 1),
        ]
        .into_iter()
        .collect();
        StateScores::new(&Chain::from_counts(&counts, 1, 16)).unwrap()
    }

    /// User `u`'s touches of `channels`, one a second (events 0, 1, ...),
    /// and a user `v` who touches a, b and c so that the codes are those of
    /// [`scores`].
    fn path_log(channels: &[&str]) -> EventLog {
        let mut builder = EventLogBuilder::new().touch("v", 0, "a").touch("v", 1, "b").touch("v", 2, "c");
        for (second, channel) in (0_i64..).zip(channels) {
            builder = builder.touch("u", second * MICROS_PER_SECOND, channel);
        }
        let log = builder.build();
        assert!(channels.is_empty() || log.user_events(0).len() == channels.len(), "u's events come first");
        log
    }

    fn moment(channels: &[&str]) -> Option<usize> {
        let log = path_log(channels);
        let touches: Vec<usize> = (0..channels.len()).collect();
        moment_of_truth(&log, &touches, &scores())
    }

    #[test]
    fn the_largest_positive_lift_wins() {
        let scores = scores();
        assert!((scores.probability(START) - (0.1 / 6.0 + 1.0 / 6.0)).abs() < 1e-12);
        assert!((scores.channel_score(1) - 0.5).abs() < 1e-12);
        // a: 0.1 − 0.183 < 0; b: 0.5 − 0.1 = 0.4; c: 0.5 − 0.5 = 0.
        assert_eq!(moment(&["a", "b", "c"]), Some(1));
        // c: 0.5 − 0.183 = 0.317; a: −0.4; b: 0.4.
        assert_eq!(moment(&["c", "a", "b"]), Some(2));
        assert_eq!(moment(&[]), None);
    }

    #[test]
    fn ties_go_to_the_earlier_touch() {
        // a, b, a, b: both b's lift by 0.4; the first one decided.
        assert_eq!(moment(&["a", "b", "a", "b"]), Some(1));
        // b, then c (lift 0), then b again (lift 0): still the first b.
        assert_eq!(moment(&["b", "c", "b"]), Some(0));
    }

    #[test]
    fn a_repeat_never_beats_an_earlier_touch() {
        // a lowers the chance (−0.083); repeating it lifts by 0, which is
        // not a positive lift: no moment, rather than the repeat.
        assert_eq!(moment(&["a", "a"]), None);
        // b lifts by 0.317; its repeat (0) does not take over.
        assert_eq!(moment(&["b", "b", "b"]), Some(0));
        // However many repeats.
        assert_eq!(moment(&["a", "a", "a"]), None);
    }

    #[test]
    fn first_purchases_without_a_positive_lift_are_counted_as_undecided() {
        let minute = 60 * MICROS_PER_SECOND;
        let log = EventLogBuilder::new()
            .touch("u1", 0, "a")
            .conversion("u1", minute, 0)
            .touch("u2", 0, "b")
            .conversion("u2", 2 * minute, 0)
            .touch("u3", 0, "a")
            .touch("u3", minute, "b")
            .conversion("u3", 5 * minute, 0)
            .touch("u4", 0, "a")
            .touch("u4", minute, "a")
            .conversion("u4", 2 * minute, 0)
            .conversion("u4", 3 * minute, 0)
            .build();
        let journeys = Journeys::build(&log, crate::time::Lookback::default());
        let moments = Moments::find(&log, &journeys, &scores(), &Config::default());
        // u4's second purchase is a repeat, and has no touch: not counted.
        assert_eq!((moments.total, moments.undecided), (4, 2));
        assert_eq!(moments.counts.len(), 1);
        let b = &moments.counts[&(1, Stage::Unknown)];
        assert_eq!(b.moments, 2);
        assert_eq!(b.touches_before, BTreeMap::from([(0, 1), (1, 1)]));
        assert_eq!(b.minutes_to_purchase, BTreeMap::from([(2, 1), (4, 1)]));
        // Merging keeps both counts.
        let twice = moments.clone().merge(moments);
        assert_eq!((twice.total, twice.undecided, twice.counts[&(1, Stage::Unknown)].moments), (8, 4, 4));
    }

    #[test]
    fn medians_are_nearest_rank() {
        let histogram: BTreeMap<u64, u64> = [(1, 2), (5, 1), (9, 2)].into_iter().collect();
        assert_eq!(median(&histogram), Some(5));
        assert_eq!(median(&BTreeMap::new()), None);
    }
}
