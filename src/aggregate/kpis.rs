//! Funnel KPIs per channel and per stage, from the log and the journeys.
//!
//! Event counts (impressions, clicks, visits, reach) cover touches whose
//! local date is in the analysis period; journey figures cover journeys that
//! end in it (at their conversion, or at their last touch when they did not
//! convert). Every sum is an integer, so totals never depend on thread count.
//!
//! `kpis.csv` puts them beside spend, the costs per impression, view and
//! click, and the featured model's credit, CPA and ROAS (see
//! [`crate::report`]).

use std::collections::BTreeMap;

use crate::hash::FastMap;

use rayon::prelude::*;

use crate::config::Config;
use crate::event::{EventKind, Stage};
use crate::event_log::EventLog;
use crate::journey::Journeys;
use crate::time::MICROS_PER_SECOND;

/// Units of a relative position: positions are summed as integers in
/// billionths so that the mean is exact whatever the summation order.
const POSITION_UNITS: i64 = 1_000_000_000;

/// Users handed to one parallel task, at least.
const USERS_PER_TASK: usize = 1024;

/// The counters behind one KPI row.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Impressions in the log.
    pub impressions: u64,
    /// Clicks in the log.
    pub clicks: u64,
    /// Visits in the log.
    pub visits: u64,
    /// Views in the log: impressions on video channels (see
    /// [`is_video_channel`]).
    pub views: u64,
    /// Distinct users with a touch.
    pub reach: u64,
    /// Journeys with at least one touch.
    pub journeys: u64,
    /// Of which converted.
    pub converting_journeys: u64,
    /// Sum of relative positions in converting paths, in billionths.
    pub position_units: i128,
    /// Touches in converting paths.
    pub converting_touches: u64,
    /// Minutes from touch to conversion → touches, for converting paths.
    pub minutes_to_conversion: BTreeMap<u64, u64>,
}

impl Counters {
    fn merge(&mut self, other: Self) {
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.visits += other.visits;
        self.views += other.views;
        self.reach += other.reach;
        self.journeys += other.journeys;
        self.converting_journeys += other.converting_journeys;
        self.position_units += other.position_units;
        self.converting_touches += other.converting_touches;
        for (minutes, count) in other.minutes_to_conversion {
            *self.minutes_to_conversion.entry(minutes).or_default() += count;
        }
    }

    /// Converting journeys ÷ journeys touched.
    #[must_use]
    pub fn conversion_rate(&self) -> Option<f64> {
        ratio(self.converting_journeys, self.journeys)
    }

    /// Mean relative position in converting paths: 0 first, 1 last.
    #[must_use]
    pub fn average_position(&self) -> Option<f64> {
        if self.converting_touches == 0 {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "a mean for display")]
        let mean = self.position_units as f64 / POSITION_UNITS as f64 / self.converting_touches as f64;
        Some(mean)
    }

    /// Median time from touch to conversion, in hours (to the minute).
    /// Nearest-rank median: the smallest value at least half the touches do
    /// not exceed.
    #[must_use]
    pub fn median_hours_to_conversion(&self) -> Option<f64> {
        let total: u64 = self.minutes_to_conversion.values().sum();
        let rank = total.div_ceil(2).max(1);
        let mut seen = 0;
        for (&minutes, &count) in &self.minutes_to_conversion {
            seen += count;
            if seen >= rank {
                #[expect(clippy::cast_precision_loss, reason = "display")]
                return Some(minutes as f64 / 60.0);
            }
        }
        None
    }
}

/// `numerator ÷ denominator`, `None` for a zero denominator.
#[must_use]
pub fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "display")]
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// True for a video channel: one whose (normalised) name has the word
/// `video` (`video`, `online_video`, `video_ads`; not `videogames`). The log
/// knows impressions, clicks and visits, not views, so a view is counted as
/// an impression on a video channel, where the cost per view of video
/// platforms is their cost per impression.
#[must_use]
pub fn is_video_channel(channel: &str) -> bool {
    channel.split('_').any(|word| word == "video")
}

/// KPI counters per channel code and per stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kpis {
    /// Per channel code.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub channels: FastMap<u32, Counters>,
    /// Per stage.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub stages: FastMap<Stage, Counters>,
}

impl Kpis {
    /// Adds the counters of another set of users (disjoint from these).
    pub fn add(&mut self, other: Self) {
        let merged = std::mem::take(self).merge(other);
        *self = merged;
    }

    fn merge(mut self, other: Self) -> Self {
        for (channel, counters) in other.channels {
            self.channels.entry(channel).or_default().merge(counters);
        }
        for (stage, counters) in other.stages {
            self.stages.entry(stage).or_default().merge(counters);
        }
        self
    }

    /// Counts every user's touches and journeys.
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys, config: &Config) -> Self {
        let video: Vec<bool> = log.channels.iter().map(is_video_channel).collect();
        (0..log.user_count())
            .into_par_iter()
            .with_min_len(USERS_PER_TASK)
            .fold(Self::default, |mut kpis, user| {
                kpis.add_user(log, journeys, config, &video, user);
                kpis
            })
            .reduce(Self::default, Self::merge)
    }

    /// `video` tells, by channel code, the video channels.
    fn add_user(&mut self, log: &EventLog, journeys: &Journeys, config: &Config, video: &[bool], user: usize) {
        // A user reaches a handful of channels and stages: a short list
        // beats a hash set.
        let mut channels_reached: Vec<u32> = Vec::new();
        let mut stages_reached: Vec<Stage> = Vec::new();
        for index in log.user_events(user) {
            let kind = log.kind[index];
            if !kind.is_touch() || !config.in_period(config.timezone.local_day(log.time[index])) {
                continue;
            }
            let (channel, stage) = (log.channel[index], log.stage[index]);
            let view = kind == EventKind::Impression && video.get(channel as usize).copied().unwrap_or(false);
            for counters in [self.channels.entry(channel).or_default(), self.stages.entry(stage).or_default()] {
                counters.views += u64::from(view);
                match kind {
                    EventKind::Impression => counters.impressions += 1,
                    EventKind::Click => counters.clicks += 1,
                    EventKind::Visit => counters.visits += 1,
                    EventKind::Conversion => {}
                }
            }
            if !channels_reached.contains(&channel) {
                channels_reached.push(channel);
                self.channels.entry(channel).or_default().reach += 1;
            }
            if !stages_reached.contains(&stage) {
                stages_reached.push(stage);
                self.stages.entry(stage).or_default().reach += 1;
            }
        }
        for journey in journeys.of_user(user) {
            let Some(last) = journey.conversion.or_else(|| journey.path.clone().last()) else {
                continue;
            };
            if journey.path.is_empty() || !config.in_period(config.timezone.local_day(log.time[last])) {
                continue;
            }
            let converted = journey.conversion.is_some();
            let mut touched_channels: Vec<u32> = journey.path.clone().map(|index| log.channel[index]).collect();
            touched_channels.sort_unstable();
            touched_channels.dedup();
            let mut touched_stages: Vec<Stage> = journey.path.clone().map(|index| log.stage[index]).collect();
            touched_stages.sort_unstable();
            touched_stages.dedup();
            for channel in touched_channels {
                let counters = self.channels.entry(channel).or_default();
                counters.journeys += 1;
                counters.converting_journeys += u64::from(converted);
            }
            for stage in touched_stages {
                let counters = self.stages.entry(stage).or_default();
                counters.journeys += 1;
                counters.converting_journeys += u64::from(converted);
            }
            if let Some(conversion) = journey.conversion {
                self.add_positions(log, &journey.path, log.time[conversion]);
            }
        }
    }

    /// Relative position `i / (n − 1)` of each touch of a converting path
    /// (a single touch counts as 0.5: it is both first and last), and its
    /// time to the conversion.
    fn add_positions(&mut self, log: &EventLog, path: &std::ops::Range<usize>, converted_at: i64) {
        let last = path.len() - 1;
        for (offset, index) in path.clone().enumerate() {
            let position = if last == 0 {
                i128::from(POSITION_UNITS / 2)
            } else {
                i128::from(POSITION_UNITS) * offset as i128 / last as i128
            };
            let minutes = u64::try_from((converted_at - log.time[index]) / (60 * MICROS_PER_SECOND)).unwrap_or(0);
            for counters in
                [self.channels.entry(log.channel[index]).or_default(), self.stages.entry(log.stage[index]).or_default()]
            {
                counters.position_units += position;
                counters.converting_touches += 1;
                *counters.minutes_to_conversion.entry(minutes).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::time::{Lookback, MICROS_PER_DAY};

    #[test]
    fn counters_by_hand() {
        let hour = 3600 * MICROS_PER_SECOND;
        let log = EventLogBuilder::new()
            .event("a", 0, EventKind::Impression, "video", "", Stage::Awareness, 0)
            .event("a", hour, EventKind::Impression, "video", "", Stage::Awareness, 0)
            .event("a", 2 * hour, EventKind::Click, "search", "", Stage::Conversion, 0)
            .conversion("a", 4 * hour, 1)
            .event("b", 0, EventKind::Impression, "video", "", Stage::Awareness, 0)
            .event("b", MICROS_PER_DAY, EventKind::Visit, "direct", "", Stage::Conversion, 0)
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        let kpis = Kpis::compute(&log, &journeys, &Config::default());
        let video = &kpis.channels[&log.channels.code_of("video").unwrap()];
        assert_eq!((video.impressions, video.reach, video.journeys, video.converting_journeys), (3, 2, 2, 1));
        // Every impression on video is a view; the awareness stage has only those.
        assert_eq!((video.views, kpis.stages[&Stage::Awareness].views), (3, 3));
        // Positions in a's path of three: 0 and 0.5.
        assert_eq!(video.average_position(), Some(0.25));
        // 4 h and 3 h before the conversion: the nearest-rank median is 3 h.
        assert_eq!(video.median_hours_to_conversion(), Some(3.0));
        assert_eq!(video.conversion_rate(), Some(0.5));
        let search = &kpis.channels[&log.channels.code_of("search").unwrap()];
        assert_eq!((search.clicks, search.average_position(), search.views), (1, Some(1.0), 0));
        let conversion_stage = &kpis.stages[&Stage::Conversion];
        assert_eq!((conversion_stage.clicks, conversion_stage.visits, conversion_stage.reach), (1, 1, 2));
    }

    #[test]
    fn video_channels_are_named_so() {
        for channel in ["video", "online_video", "video_ads", "ctv_video_q1"] {
            assert!(is_video_channel(channel), "{channel}");
        }
        for channel in ["videogames", "display", "", "vid", "paid_social"] {
            assert!(!is_video_channel(channel), "{channel}");
        }
    }

    #[test]
    fn a_single_touch_sits_in_the_middle() {
        let log = EventLogBuilder::new().touch("a", 0, "email").conversion("a", 1, 0).build();
        let journeys = Journeys::build(&log, Lookback::default());
        let kpis = Kpis::compute(&log, &journeys, &Config::default());
        assert_eq!(kpis.channels[&0].average_position(), Some(0.5));
    }
}
