//! Conversion paths: which sequences of channels (and of funnel stages)
//! lead to conversions, counted per path; [`crate::report`] ranks and
//! writes them.

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

/// Journeys grouped by channel path and by stage path.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Paths {
    /// Per path of (channel code, touches it stands for); empty for
    /// conversions without touches.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub channels: FastMap<Vec<(u32, u32)>, PathTotals>,
    /// Per sequence of stages, consecutive repeats collapsed.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub stages: FastMap<Vec<Stage>, PathTotals>,
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
                (path.into_iter().map(|(code, count)| (codes.channel(code), count)).collect(), totals)
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
        let channels: Vec<(u32, u32)> =
            touches.iter().zip(counts).map(|(&touch, &count)| (log.channel[touch], count)).collect();
        let mut stages: Vec<Stage> = touches.iter().map(|&touch| log.stage[touch]).collect();
        stages.dedup();
        self.channels.entry(channels).or_default().add(totals);
        self.stages.entry(stages).or_default().add(totals);
    }

    fn merge(&mut self, other: Self) {
        self.add(other);
    }
}
