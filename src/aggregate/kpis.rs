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

use super::{Partial, Sum, UserWalk};
use crate::config::Config;
use crate::event::{EventKind, Stage};
use crate::event_log::EventLog;
use crate::journey::Journeys;
use crate::time::MICROS_PER_SECOND;

/// Units of a relative position: positions are summed as integers in
/// billionths so that the mean is exact whatever the summation order.
const POSITION_UNITS: i64 = 1_000_000_000;

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
    fn merge(&mut self, mut other: Self) {
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.visits += other.visits;
        self.views += other.views;
        self.reach += other.reach;
        self.journeys += other.journeys;
        self.converting_journeys += other.converting_journeys;
        self.position_units += other.position_units;
        self.converting_touches += other.converting_touches;
        // The smaller histogram goes into the larger.
        if other.minutes_to_conversion.len() > self.minutes_to_conversion.len() {
            std::mem::swap(&mut self.minutes_to_conversion, &mut other.minutes_to_conversion);
        }
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

impl Sum for Kpis {
    fn add(&mut self, other: Self) {
        let merged = std::mem::take(self).merge(other);
        *self = merged;
    }

    fn renumber(mut self, codes: &impl super::Recode) -> Self {
        self.channels = self.channels.into_iter().map(|(code, counters)| (codes.channel(code), counters)).collect();
        self
    }
}

impl Kpis {
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
        let video = video_channels(log);
        super::walk(log, journeys, config, || KpiCount::new(&video))
    }
}

/// By channel code, whether a channel is a video channel.
#[must_use]
pub fn video_channels(log: &EventLog) -> Vec<bool> {
    log.channels.iter().map(is_video_channel).collect()
}

/// Minutes to conversion counted in a dense array per channel and stage
/// (45 days and a half, half a MiB per owner at most); longer ones go to the
/// owner's histogram itself.
const DENSE_MINUTES: usize = 1 << 16;

/// One channel's or stage's counters while they are counted.
#[derive(Default)]
struct Slot {
    /// The counters, once a touch reached the owner.
    counters: Option<Counters>,
    /// Touches by minutes to conversion, below the dense limit.
    minutes: Vec<u64>,
}

impl Slot {
    fn merge(&mut self, other: Self) {
        if let Some(counters) = other.counters {
            self.counters.get_or_insert_with(Counters::default).merge(counters);
        }
        if other.minutes.len() > self.minutes.len() {
            self.minutes.resize(other.minutes.len(), 0);
        }
        for (count, more) in self.minutes.iter_mut().zip(other.minutes) {
            *count += more;
        }
    }

    /// The counters with the dense minutes in their histogram.
    fn finish(self) -> Option<Counters> {
        let mut counters = self.counters?;
        let dense = (0_u64..).zip(self.minutes).filter(|&(_, count)| count > 0);
        if counters.minutes_to_conversion.is_empty() {
            // In order already: the map is built in one go, where inserting
            // tens of thousands of minutes one by one walked the tree each time.
            counters.minutes_to_conversion = dense.collect();
        } else {
            for (minutes, count) in dense {
                *counters.minutes_to_conversion.entry(minutes).or_default() += count;
            }
        }
        Some(counters)
    }
}

/// [`Kpis`] being counted, user after user. Counters sit in a slot per
/// channel code and per stage rather than in maps, and the minutes from
/// each converting touch to its conversion in a dense array per slot: a
/// sorted map updated touch by touch, or in sorted batches, spent most of
/// the counting waiting on memory or sorting. The minutes reach the arrays
/// a million at a time, slot after slot ([`KpiCount::add_pending`]).
pub struct KpiCount<'a> {
    /// [`video_channels`] of the log.
    video: &'a [bool],
    /// One slot per channel code of the log, then one per stage
    /// ([`Stage::ALL`] order).
    slots: Vec<Slot>,
    /// Channels coded beyond the log's dictionary (a valid log has none).
    stray: Kpis,
    /// Minutes below this are counted densely.
    dense_minutes: usize,
    /// Scratch: the channels and stages a user reached, or a journey
    /// touched (a handful: a short list beats a hash set).
    channels: Vec<u32>,
    stages: Vec<Stage>,
    /// Dense minutes not yet in their slots' arrays: the slot in the high
    /// half, the minute in the low ([`KpiCount::add_pending`]).
    pending: Vec<u64>,
    /// Scratch: `pending` grouped by slot.
    grouped: Vec<u64>,
    /// How many dense minutes wait at most ([`PENDING_MINUTES`]).
    pending_limit: usize,
}

/// Dense minutes [`KpiCount`] holds before it adds them to their slots'
/// arrays (8 MiB of them).
const PENDING_MINUTES: usize = 1 << 20;

/// The slot of a pending dense minute.
fn slot_of_code(code: u64) -> usize {
    (code >> 32) as usize
}

/// The minute of a pending dense minute.
#[expect(clippy::cast_possible_truncation, reason = "the low half, below 2^32")]
fn minute_of_code(code: u64) -> usize {
    (code & u64::from(u32::MAX)) as usize
}

/// Whose counters: a channel's or a stage's.
#[derive(Clone, Copy)]
enum Owner {
    Channel(u32),
    Stage(Stage),
}

impl<'a> KpiCount<'a> {
    /// No user counted yet, in a log whose video channels are `video`.
    #[must_use]
    pub fn new(video: &'a [bool]) -> Self {
        Self {
            video,
            slots: (0..video.len() + Stage::ALL.len()).map(|_| Slot::default()).collect(),
            stray: Kpis::default(),
            dense_minutes: DENSE_MINUTES,
            channels: Vec::new(),
            stages: Vec::new(),
            pending: Vec::new(),
            grouped: Vec::new(),
            pending_limit: PENDING_MINUTES,
        }
    }

    /// The slot of `owner`; `None` for a channel beyond the dictionary.
    fn slot_of(&self, owner: Owner) -> Option<usize> {
        match owner {
            Owner::Channel(channel) => usize::try_from(channel).ok().filter(|&code| code < self.video.len()),
            Owner::Stage(stage) => Some(self.video.len() + stage as usize),
        }
    }

    /// The counters of `owner`, started if new.
    fn counters(&mut self, owner: Owner) -> &mut Counters {
        match (self.slot_of(owner), owner) {
            (Some(slot), _) => self.slots[slot].counters.get_or_insert_with(Counters::default),
            (None, Owner::Channel(channel)) => self.stray.channels.entry(channel).or_default(),
            (None, Owner::Stage(stage)) => self.stray.stages.entry(stage).or_default(),
        }
    }

    /// One more touch `minutes` before its conversion, for `owner`.
    fn add_minutes(&mut self, owner: Owner, minutes: u64) {
        let dense = self.dense_minutes;
        if let Some(index) = usize::try_from(minutes).ok().filter(|&minutes| minutes < dense)
            && let Some(slot) = self.slot_of(owner)
        {
            self.pending.push(((slot as u64) << 32) | index as u64);
            if self.pending.len() >= self.pending_limit {
                self.add_pending();
            }
            return;
        }
        *self.counters(owner).minutes_to_conversion.entry(minutes).or_default() += 1;
    }

    /// Adds the pending dense minutes to their slots' arrays, slot after
    /// slot. Each minute added as it came cost a wait on memory: the arrays
    /// of every channel and stage (up to half a MiB each) do not fit in a
    /// core's cache together, one slot's does.
    fn add_pending(&mut self) {
        let mut ends = vec![0_usize; self.slots.len() + 1];
        for &code in &self.pending {
            ends[slot_of_code(code) + 1] += 1;
        }
        for index in 1..ends.len() {
            ends[index] += ends[index - 1];
        }
        self.grouped.clear();
        self.grouped.resize(self.pending.len(), 0);
        let mut next = ends.clone();
        for &code in &self.pending {
            let at = &mut next[slot_of_code(code)];
            self.grouped[*at] = code;
            *at += 1;
        }
        for (slot, range) in self.slots.iter_mut().zip(ends.windows(2)) {
            for &code in &self.grouped[range[0]..range[1]] {
                let index = minute_of_code(code);
                if slot.minutes.len() <= index {
                    slot.minutes.resize(index + 1, 0);
                }
                slot.minutes[index] += 1;
            }
        }
        self.pending.clear();
    }

    fn add_user(&mut self, log: &EventLog, journeys: &Journeys, config: &Config, user: usize) {
        let mut channels = std::mem::take(&mut self.channels);
        let mut stages = std::mem::take(&mut self.stages);
        channels.clear();
        // The channels the user reached so far: a bit each below 128 (a
        // log's channels usually are), listed beyond; the stages, a bit each.
        let (mut reached_channels, mut reached_stages) = (0_u128, 0_u8);
        for index in log.user_events(user) {
            let kind = log.kind[index];
            if !kind.is_touch() || !config.in_period_at(log.time[index]) {
                continue;
            }
            let (channel, stage) = (log.channel[index], log.stage[index]);
            let view = kind == EventKind::Impression && self.video.get(channel as usize).copied().unwrap_or(false);
            let new_channel = match 1_u128.checked_shl(channel) {
                Some(bit) => {
                    let new = reached_channels & bit == 0;
                    reached_channels |= bit;
                    new
                }
                None if channels.contains(&channel) => false,
                None => {
                    channels.push(channel);
                    true
                }
            };
            let stage_bit = 1 << stage as u8;
            let new_stage = reached_stages & stage_bit == 0;
            reached_stages |= stage_bit;
            for (owner, new) in [(Owner::Channel(channel), new_channel), (Owner::Stage(stage), new_stage)] {
                let counters = self.counters(owner);
                counters.views += u64::from(view);
                counters.reach += u64::from(new);
                match kind {
                    EventKind::Impression => counters.impressions += 1,
                    EventKind::Click => counters.clicks += 1,
                    EventKind::Visit => counters.visits += 1,
                    EventKind::Conversion => {}
                }
            }
        }
        for journey in journeys.of_user(user) {
            let Some(last) = journey.conversion.or_else(|| journey.path.clone().last()) else {
                continue;
            };
            if journey.path.is_empty() || !config.in_period_at(log.time[last]) {
                continue;
            }
            let converted = journey.conversion.is_some();
            distinct_codes(journey.path.clone().map(|index| log.channel[index]), &mut channels);
            let reached = journey.path.clone().fold(0_u8, |reached, index| reached | 1 << log.stage[index] as u8);
            stages.clear();
            stages.extend(Stage::ALL.into_iter().filter(|&stage| reached & 1 << stage as u8 != 0));
            let owners = channels.iter().map(|&channel| Owner::Channel(channel));
            for owner in owners.chain(stages.iter().map(|&stage| Owner::Stage(stage))) {
                let counters = self.counters(owner);
                counters.journeys += 1;
                counters.converting_journeys += u64::from(converted);
            }
            if let Some(conversion) = journey.conversion {
                self.add_positions(log, &journey.path, log.time[conversion]);
            }
        }
        self.channels = channels;
        self.stages = stages;
    }

    /// Relative position `i / (n − 1)` of each touch of a converting path
    /// (a single touch counts as 0.5: it is both first and last), and its
    /// time to the conversion.
    fn add_positions(&mut self, log: &EventLog, path: &std::ops::Range<usize>, converted_at: i64) {
        let last = path.len() - 1;
        for (offset, index) in path.clone().enumerate() {
            // In 64 bits unless a path has billions of touches: a 128-bit
            // division is a library call, once per converting touch.
            let position = match (POSITION_UNITS as u64).checked_mul(offset as u64) {
                _ if last == 0 => i128::from(POSITION_UNITS / 2),
                Some(scaled) => i128::from(scaled / last as u64),
                None => i128::from(POSITION_UNITS) * offset as i128 / last as i128,
            };
            let minutes = u64::try_from((converted_at - log.time[index]) / (60 * MICROS_PER_SECOND)).unwrap_or(0);
            for owner in [Owner::Channel(log.channel[index]), Owner::Stage(log.stage[index])] {
                let counters = self.counters(owner);
                counters.position_units += position;
                counters.converting_touches += 1;
                self.add_minutes(owner, minutes);
            }
        }
    }
}

/// The distinct values of `codes` into `out`, in ascending order: by a bit
/// mask while every code is below 128 (a log's channels usually are), by
/// sorting otherwise.
fn distinct_codes(codes: impl Iterator<Item = u32> + Clone, out: &mut Vec<u32>) {
    out.clear();
    let mut seen = 0_u128;
    for code in codes.clone() {
        if code >= u128::BITS {
            out.extend(codes);
            out.sort_unstable();
            out.dedup();
            return;
        }
        seen |= 1 << code;
    }
    while seen != 0 {
        out.push(seen.trailing_zeros());
        seen &= seen - 1;
    }
}

impl Partial for KpiCount<'_> {
    type Output = Kpis;

    /// The counters.
    fn finish(mut self) -> Kpis {
        self.add_pending();
        let channels = self.video.len();
        let mut kpis = self.stray;
        for (index, slot) in self.slots.into_iter().enumerate() {
            let Some(counters) = slot.finish() else {
                continue;
            };
            match index.checked_sub(channels) {
                None => kpis.channels.entry(u32::try_from(index).unwrap_or(u32::MAX)).or_default().merge(counters),
                Some(stage) => kpis.stages.entry(Stage::ALL[stage]).or_default().merge(counters),
            }
        }
        kpis
    }

    fn add_user(&mut self, walk: &UserWalk<'_>) {
        KpiCount::add_user(self, walk.log, walk.journeys, walk.config, walk.user);
    }

    fn merge(&mut self, mut other: Self) {
        other.add_pending();
        for (slot, more) in self.slots.iter_mut().zip(other.slots) {
            slot.merge(more);
        }
        self.stray.add(other.stray);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::time::{Lookback, MICROS_PER_DAY};

    #[test]
    fn distinct_codes_come_out_once_each_in_order() {
        let mut out = vec![7];
        distinct_codes([5, 0, 127, 5, 3, 0].into_iter(), &mut out);
        assert_eq!(out, [0, 3, 5, 127]);
        // A code past the mask's bits: sorted instead, the same set.
        distinct_codes([5, 0, 128, 5, 3, 1_000_000, 0].into_iter(), &mut out);
        assert_eq!(out, [0, 3, 5, 128, 1_000_000]);
        distinct_codes(std::iter::empty(), &mut out);
        assert!(out.is_empty());
    }

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
        // Each journey counts once per stage it reached, however many touches.
        let awareness = &kpis.stages[&Stage::Awareness];
        assert_eq!((awareness.journeys, awareness.converting_journeys), (2, 1));
        assert_eq!((conversion_stage.journeys, conversion_stage.converting_journeys), (2, 1));
    }

    #[test]
    fn minutes_go_to_the_histograms_the_same_dense_or_not() {
        // Three users with converting paths of several touches, counted one
        // user per part and merged, with every minute, some or none counted
        // densely.
        let mut builder = EventLogBuilder::new();
        for (user, minutes) in [("a", [90, 30, 5]), ("b", [600, 30, 1]), ("c", [30, 30, 2])] {
            for (step, before) in minutes.iter().enumerate() {
                let channel = ["email", "search", "video"][step];
                builder =
                    builder.touch(user, 1_000 * 60 * MICROS_PER_SECOND - before * 60 * MICROS_PER_SECOND, channel);
            }
            builder = builder.conversion(user, 1_000 * 60 * MICROS_PER_SECOND, 1_000_000);
        }
        let log = builder.build();
        let journeys = Journeys::build(&log, Config::default().lookback);
        let config = Config::default();
        let video = video_channels(&log);
        let expected = Kpis::compute(&log, &journeys, &config);
        assert_eq!(expected.channels[&log.channels.code_of("search").unwrap()].minutes_to_conversion, [(30, 3)].into());
        // Dense minutes added to their arrays as they come (one waiting at
        // most), a few at a time, or when the count is merged or finished.
        for (limit, pending) in [0, 1, 2, 4, 31, 1000].into_iter().flat_map(|limit| [1, 2, 5, 1000].map(|p| (limit, p)))
        {
            let parts = (0..log.user_count()).map(|user| {
                let mut part = KpiCount::new(&video);
                part.dense_minutes = limit;
                part.pending_limit = pending;
                part.add_user(&log, &journeys, &config, user);
                part
            });
            let merged = parts.reduce(|mut left, right| {
                Partial::merge(&mut left, right);
                left
            });
            assert_eq!(merged.unwrap().finish(), expected, "{limit} {pending}");
        }
        // All three users in one count, their minutes waiting until it is
        // finished.
        let mut whole = KpiCount::new(&video);
        for user in 0..log.user_count() {
            whole.add_user(&log, &journeys, &config, user);
        }
        assert_eq!(whole.pending.len(), 18, "two owners for each of the nine converting touches");
        assert_eq!(whole.finish(), expected);
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

    #[test]
    fn reach_counts_each_user_once_beyond_the_first_128_channels() {
        // Channels `c000`..`c129` code as their numbers; 129 is past the
        // mask of a user's channels, 5 within it.
        let mut builder = EventLogBuilder::new();
        for channel in 0..130 {
            builder = builder.touch("z", channel, &format!("c{channel:03}"));
        }
        let log = builder
            .touch("a", 0, "c129")
            .touch("a", 1, "c005")
            .touch("a", 2, "c129")
            .touch("a", 3, "c005")
            .touch("b", 0, "c129")
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        let kpis = Kpis::compute(&log, &journeys, &Config::default());
        for (channel, clicks, reach) in [(129, 4, 3), (5, 3, 2)] {
            let counters = &kpis.channels[&channel];
            assert_eq!((counters.clicks, counters.reach), (clicks, reach), "c{channel:03}");
        }
    }
}
