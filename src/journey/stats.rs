//! Counts and path-length statistics of a run's journeys.

use serde::Serialize;

use super::Journeys;
use crate::event_log::EventLog;

/// Conversion counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ConversionCounts {
    /// All conversions.
    pub total: u64,
    /// Users' first purchases (new customers).
    pub first: u64,
    /// Later purchases (loyalty).
    pub repeat: u64,
    /// Conversions with no touch in their window, credited to `(none)`.
    pub without_touches: u64,
}

/// Journey counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JourneyCounts {
    /// Journeys closed by a conversion.
    pub converting: u64,
    /// Touches after a user's last conversion (or of a user who never bought).
    pub non_converting: u64,
}

/// Touches per converting journey.
///
/// Percentiles are nearest-rank: the smallest length that at least p % of
/// converting journeys do not exceed. All are 0 when nothing converted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PathLength {
    /// Mean touches per converting journey.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Longest.
    pub max: u64,
}

/// Everything the run summary says about journeys.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JourneyStats {
    /// Users with at least one accepted event.
    pub users: u64,
    /// Accepted touches (every event but conversions).
    pub touches: u64,
    /// Touches dropped by the lookback window.
    pub touches_outside_window: u64,
    /// Conversion counts.
    pub conversions: ConversionCounts,
    /// Revenue of all conversions, in millionths.
    #[serde(skip)]
    pub revenue_micros: i128,
    /// Journey counts.
    pub journeys: JourneyCounts,
    /// Touches per converting journey.
    pub path_length: PathLength,
    /// `length_counts[n]` = converting journeys with `n` touches: what
    /// [`JourneyStats::path_length`] is computed from, kept so that the
    /// statistics of disjoint sets of users merge exactly.
    #[serde(skip)]
    pub length_counts: Vec<u64>,
}

impl JourneyStats {
    /// Computes the statistics of `journeys` built from `log`.
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys) -> Self {
        let mut stats = Self {
            users: log.user_count() as u64,
            touches: log.kind.iter().filter(|kind| kind.is_touch()).count() as u64,
            touches_outside_window: journeys.touches_outside_window,
            ..Self::default()
        };
        let mut length_counts: Vec<u64> = Vec::new();
        for journey in journeys.iter() {
            let Some(conversion) = journey.conversion else {
                stats.journeys.non_converting += 1;
                continue;
            };
            stats.journeys.converting += 1;
            stats.conversions.total += 1;
            if journey.first_purchase {
                stats.conversions.first += 1;
            } else {
                stats.conversions.repeat += 1;
            }
            if journey.path.is_empty() {
                stats.conversions.without_touches += 1;
            }
            stats.revenue_micros += i128::from(log.revenue[conversion]);
            let length = journey.path.len();
            if length_counts.len() <= length {
                length_counts.resize(length + 1, 0);
            }
            length_counts[length] += 1;
        }
        stats.path_length = PathLength::from_counts(&length_counts);
        stats.length_counts = length_counts;
        stats
    }

    /// Adds the statistics of another set of users (disjoint from these).
    pub fn merge(&mut self, other: &Self) {
        self.users += other.users;
        self.touches += other.touches;
        self.touches_outside_window += other.touches_outside_window;
        self.conversions.total += other.conversions.total;
        self.conversions.first += other.conversions.first;
        self.conversions.repeat += other.conversions.repeat;
        self.conversions.without_touches += other.conversions.without_touches;
        self.revenue_micros += other.revenue_micros;
        self.journeys.converting += other.journeys.converting;
        self.journeys.non_converting += other.journeys.non_converting;
        if self.length_counts.len() < other.length_counts.len() {
            self.length_counts.resize(other.length_counts.len(), 0);
        }
        for (mine, theirs) in self.length_counts.iter_mut().zip(&other.length_counts) {
            *mine += theirs;
        }
        self.path_length = PathLength::from_counts(&self.length_counts);
    }

    /// Total revenue in currency units.
    #[must_use]
    pub fn revenue(&self) -> f64 {
        micros_to_units(self.revenue_micros)
    }
}

/// Converts millionths to units for display.
#[must_use]
pub fn micros_to_units(micros: i128) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "display only; sums stay exact in integers")]
    let units = micros as f64 / 1e6;
    units
}

impl PathLength {
    /// From `counts[length]` = how many journeys have that many touches.
    fn from_counts(counts: &[u64]) -> Self {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Self::default();
        }
        let touches: u64 = counts.iter().zip(0_u64..).map(|(count, length)| count * length).sum();
        #[expect(clippy::cast_precision_loss, reason = "a mean for display")]
        let mean = touches as f64 / total as f64;
        let percentile = |percent: u64| {
            // Nearest rank: ceil(p/100 × n), at least 1.
            let rank = (percent * total).div_ceil(100).max(1);
            let mut seen = 0;
            for (length, count) in (0_u64..).zip(counts) {
                seen += count;
                if seen >= rank {
                    return length;
                }
            }
            counts.len() as u64 - 1
        };
        Self {
            mean: (mean * 1e4).round() / 1e4,
            p50: percentile(50),
            p90: percentile(90),
            max: counts.len() as u64 - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::time::{Lookback, MICROS_PER_DAY};

    #[test]
    fn nearest_rank_percentiles() {
        // Lengths 1, 2, 2, 3, 10.
        let mut counts = vec![0; 11];
        counts[1] = 1;
        counts[2] = 2;
        counts[3] = 1;
        counts[10] = 1;
        let length = PathLength::from_counts(&counts);
        assert_eq!((length.p50, length.p90, length.max), (2, 10, 10));
        assert!((length.mean - 3.6).abs() < 1e-12);
        assert_eq!(PathLength::from_counts(&[]), PathLength::default());
    }

    #[test]
    fn counts_add_up() {
        let day = MICROS_PER_DAY;
        let log = EventLogBuilder::new()
            .touch("a", 0, "email")
            .touch("a", day, "search")
            .conversion("a", 2 * day, 12_500_000)
            .conversion("a", 3 * day, 2_500_000)
            .touch("b", 0, "video")
            .conversion("c", 0, 0)
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        let stats = JourneyStats::compute(&log, &journeys);
        assert_eq!(stats.users, 3);
        assert_eq!(stats.touches, 3);
        assert_eq!(stats.conversions, ConversionCounts { total: 3, first: 2, repeat: 1, without_touches: 2 });
        assert_eq!(stats.journeys, JourneyCounts { converting: 3, non_converting: 1 });
        assert_eq!(stats.revenue_micros, 15_000_000);
        assert_eq!((stats.path_length.p50, stats.path_length.max), (0, 2));
    }
}
