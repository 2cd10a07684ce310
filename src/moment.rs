//! The moment of truth: the touch that decided a new customer's first
//! purchase.
//!
//! With the first-order chain of the run (see `models::chain`), each state
//! has a probability of ending in a conversion. Touch `i` of a first-purchase
//! path gets the lift `P(conversion | state of touch i) − P(conversion |
//! state before it)` (the start state before the first touch). The moment of
//! truth is the touch with the largest lift; on a tie, the later touch.
//! Consecutive touches of one channel share a state, so a repeat has lift 0.

use std::collections::BTreeMap;

use crate::hash::FastMap;

use rayon::prelude::*;

use crate::config::Config;
use crate::event::Stage;
use crate::event_log::EventLog;
use crate::journey::{Journeys, TransformedPath};
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

/// The index (in `path`) of the moment of truth, `None` for an empty path.
#[must_use]
pub fn moment_of_truth(log: &EventLog, path: &[usize], scores: &StateScores) -> Option<usize> {
    let mut state = START;
    let mut previous = scores.probability(START);
    let mut best: Option<(usize, f64)> = None;
    for (index, &touch) in path.iter().enumerate() {
        state = next_state(state, log.channel[touch], 1);
        let current = scores.probability(state);
        let lift = current - previous;
        if best.is_none_or(|(_, best_lift)| lift >= best_lift) {
            best = Some((index, lift));
        }
        previous = current;
    }
    best.map(|(index, _)| index)
}

/// Moments of one (channel, stage).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    /// Per (channel code, stage).
    pub counts: FastMap<(u32, Stage), MomentCounts>,
    /// First purchases with at least one touch, in the period.
    pub total: u64,
}

impl Moments {
    /// Finds the moment of truth of every first purchase in the period.
    #[must_use]
    pub fn find(log: &EventLog, journeys: &Journeys, scores: &StateScores, config: &Config) -> Self {
        (0..journeys.len())
            .into_par_iter()
            .with_min_len(4096)
            .fold(
                || (Self::default(), TransformedPath::default()),
                |(mut moments, mut path), index| {
                    let journey = journeys.get(index);
                    if let Some(conversion) = journey.conversion
                        && journey.first_purchase
                        && !journey.path.is_empty()
                        && config.in_period(config.timezone.local_day(log.time[conversion]))
                    {
                        config.path_transform.apply(log, journey.path.clone(), &mut path);
                        if let Some(moment) = moment_of_truth(log, &path.touches, scores) {
                            let touch = path.touches[moment];
                            let counts = moments.counts.entry((log.channel[touch], log.stage[touch])).or_default();
                            counts.moments += 1;
                            *counts.touches_before.entry(moment as u64).or_default() += 1;
                            let minutes =
                                u64::try_from((log.time[conversion] - log.time[touch]) / (60 * MICROS_PER_SECOND))
                                    .unwrap_or(0);
                            *counts.minutes_to_purchase.entry(minutes).or_default() += 1;
                            moments.total += 1;
                        }
                    }
                    (moments, path)
                },
            )
            .map(|(moments, _)| moments)
            .reduce(Self::default, Self::merge)
    }

    /// Adds the moments of other journeys. Associative and commutative, with
    /// [`Moments::default`] as identity.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        for (key, counts) in other.counts {
            self.counts.entry(key).or_default().merge(counts);
        }
        self.total += other.total;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::models::chain::Target;

    #[test]
    fn the_largest_lift_wins_and_ties_go_to_the_later_touch() {
        // Codes: a = 0, b = 1, c = 2. P(start) = 0.2; P(a) = 0.1, P(b) = 0.5, P(c) = 0.5.
        let log = EventLogBuilder::new().touch("u", 0, "a").touch("u", 1, "b").touch("u", 2, "c").build();
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
        let chain = Chain::from_counts(&counts, 1, 16);
        let scores = StateScores::new(&chain).unwrap();
        // P(start) = 1/6 · 0.1 + 1/6 = 0.18333.
        assert!((scores.probability(START) - (0.1 / 6.0 + 1.0 / 6.0)).abs() < 1e-12);
        // a: 0.1 − 0.183 < 0; b: 0.5 − 0.1 = 0.4; c: 0.5 − 0.5 = 0.
        assert_eq!(moment_of_truth(&log, &[0, 1, 2], &scores), Some(1));
        // a, b, a, b: b's lifts tie at 0.4; the later one wins.
        let repeat =
            EventLogBuilder::new().touch("u", 0, "a").touch("u", 1, "b").touch("u", 2, "a").touch("u", 3, "b").build();
        assert_eq!(moment_of_truth(&repeat, &[0, 1, 2, 3], &scores), Some(3));
        assert_eq!(moment_of_truth(&log, &[], &scores), None);
        assert!((scores.channel_score(1) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn medians_are_nearest_rank() {
        let histogram: BTreeMap<u64, u64> = [(1, 2), (5, 1), (9, 2)].into_iter().collect();
        assert_eq!(median(&histogram), Some(5));
        assert_eq!(median(&BTreeMap::new()), None);
    }
}
