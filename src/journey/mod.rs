//! Journeys: per user, the touches that led to each conversion, and the
//! touches that never led to one.
//!
//! The rules (see `docs/journeys.md`):
//! - each conversion closes a journey whose path is the user's touches since
//!   the previous conversion, no older than the lookback window;
//! - a conversion with no touch in its window keeps an empty path;
//! - touches after a user's last conversion form one non-converting journey;
//! - a user's first conversion is a first purchase, every later one a repeat.
//!
//! Splitting is a pure function of one user's ordered events, so users can be
//! spread over threads, buckets or machines and the results concatenated.

mod stats;
mod transform;

use std::ops::Range;

use rayon::prelude::*;

pub use stats::{ConversionCounts, JourneyCounts, JourneyStats, PathLength, micros_to_units};
pub use transform::{PathTransform, TransformedPath};

use crate::event::EventKind;
use crate::event_log::EventLog;
use crate::time::Lookback;

/// Users handed to one parallel task.
const USERS_PER_TASK: usize = 4096;

/// Marks a journey without a conversion in [`Journeys::conversion`].
const NO_CONVERSION: usize = usize::MAX;

/// Every journey of a run, in user order and, within a user, in time order.
///
/// Paths are ranges of event indices into the [`EventLog`] they were built
/// from: a path is always a contiguous run of one user's touches.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Journeys {
    /// The journey's user code.
    pub user: Vec<u32>,
    /// First event index of the path.
    pub path_start: Vec<usize>,
    /// One past the last event index of the path.
    pub path_end: Vec<usize>,
    /// Event index of the closing conversion, `usize::MAX` for none.
    pub conversion: Vec<usize>,
    /// True when the conversion is the user's first.
    pub first_purchase: Vec<bool>,
    /// `user_starts[u]..user_starts[u + 1]` are user `u`'s journeys.
    pub user_starts: Vec<usize>,
    /// Touches before a conversion but outside its lookback window.
    pub touches_outside_window: u64,
}

/// One journey, borrowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journey {
    /// User code.
    pub user: u32,
    /// Event indices of the path's touches, oldest first.
    pub path: Range<usize>,
    /// Event index of the conversion, if the journey converted.
    pub conversion: Option<usize>,
    /// True for a user's first conversion.
    pub first_purchase: bool,
}

/// Into `into`, the touches of `journey`'s user from before its path that
/// are still within `memory` of its conversion, oldest first: what a model
/// reading the logged path sees ahead of the journey's own touches (their
/// effect need not end at a purchase, nor at the lookback). Returns how many
/// of them (the first ones) came before the user's previous purchase; the
/// others came after it but are older than the lookback. Empty for a
/// journey without conversion.
pub fn earlier_touches(log: &EventLog, journey: &Journey, memory: Lookback, into: &mut Vec<usize>) -> usize {
    into.clear();
    let Some(conversion) = journey.conversion else {
        return 0;
    };
    let at = log.time[conversion];
    let first = log.user_events(journey.user as usize).start;
    // Events are in time order: walk back from the path until one is too
    // old; touches before a purchase are carried.
    let mut carried = 0;
    let mut past_purchase = false;
    for index in (first..journey.path.start).rev() {
        if !memory.contains(log.time[index], at) {
            break;
        }
        if log.kind[index].is_touch() {
            into.push(index);
            carried += usize::from(past_purchase);
        } else if log.kind[index] == EventKind::Conversion {
            past_purchase = true;
        }
    }
    into.reverse();
    carried
}

impl Journeys {
    /// Splits every user's events into journeys.
    #[must_use]
    pub fn build(log: &EventLog, lookback: Lookback) -> Self {
        let users: Vec<usize> = (0..log.user_count()).collect();
        let parts: Vec<Self> = users
            .par_chunks(USERS_PER_TASK)
            .map(|chunk| {
                let mut part = Self::default();
                for &user in chunk {
                    part.push_user(log, user, lookback);
                }
                part
            })
            .collect();
        let mut journeys = Self::default();
        for part in parts {
            journeys.append(part);
        }
        journeys.user_starts.push(journeys.len());
        journeys
    }

    /// How many journeys there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// True when there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// Journey `index`.
    #[must_use]
    pub fn get(&self, index: usize) -> Journey {
        Journey {
            user: self.user[index],
            path: self.path_start[index]..self.path_end[index],
            conversion: (self.conversion[index] != NO_CONVERSION).then_some(self.conversion[index]),
            first_purchase: self.first_purchase[index],
        }
    }

    /// Every journey, in order.
    #[must_use = "iterators are lazy"]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Journey> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }

    /// The journeys of user `user`.
    #[must_use = "iterators are lazy"]
    pub fn of_user(&self, user: usize) -> impl ExactSizeIterator<Item = Journey> + '_ {
        (self.user_starts[user]..self.user_starts[user + 1]).map(|index| self.get(index))
    }

    /// Splits one user's events; a pure function of those events.
    fn push_user(&mut self, log: &EventLog, user: usize, lookback: Lookback) {
        self.user_starts.push(self.len());
        let events = log.user_events(user);
        let user_code = u32::try_from(user).unwrap_or(u32::MAX);
        let mut segment_start = events.start;
        let mut first_purchase = true;
        for index in events.clone() {
            if log.kind[index] != EventKind::Conversion {
                continue;
            }
            let converted_at = log.time[index];
            // Times ascend, so the touches outside the window are a prefix.
            let mut path_start = segment_start;
            while path_start < index && !lookback.contains(log.time[path_start], converted_at) {
                path_start += 1;
            }
            self.touches_outside_window += (path_start - segment_start) as u64;
            self.push(user_code, path_start..index, index, first_purchase);
            first_purchase = false;
            segment_start = index + 1;
        }
        if segment_start < events.end {
            self.push(user_code, segment_start..events.end, NO_CONVERSION, false);
        }
    }

    fn push(&mut self, user: u32, path: Range<usize>, conversion: usize, first_purchase: bool) {
        self.user.push(user);
        self.path_start.push(path.start);
        self.path_end.push(path.end);
        self.conversion.push(conversion);
        self.first_purchase.push(first_purchase);
    }

    fn append(&mut self, mut part: Self) {
        let offset = self.len();
        self.user_starts.extend(part.user_starts.iter().map(|start| start + offset));
        self.user.append(&mut part.user);
        self.path_start.append(&mut part.path_start);
        self.path_end.append(&mut part.path_end);
        self.conversion.append(&mut part.conversion);
        self.first_purchase.append(&mut part.first_purchase);
        self.touches_outside_window += part.touches_outside_window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::time::{Duration, MICROS_PER_DAY};

    const DAY: i64 = MICROS_PER_DAY;

    fn paths(log: &EventLog, journeys: &Journeys) -> Vec<(String, Vec<String>, bool, bool)> {
        journeys
            .iter()
            .map(|journey| {
                (
                    log.users.get(journey.user).to_owned(),
                    journey.path.clone().map(|index| log.channel_name(index).to_owned()).collect(),
                    journey.conversion.is_some(),
                    journey.first_purchase,
                )
            })
            .collect()
    }

    #[test]
    fn earlier_touches_are_those_before_the_path_still_in_memory() {
        let log = EventLogBuilder::new()
            .touch("u", 0, "display")
            .touch("u", DAY, "search")
            .conversion("u", 2 * DAY, 10)
            .touch("u", 10 * DAY, "email")
            .conversion("u", 11 * DAY, 20)
            .touch("u", 40 * DAY, "video")
            .conversion("u", 45 * DAY, 30)
            .touch("v", 0, "display")
            .touch("v", 20 * DAY, "email")
            .conversion("v", 45 * DAY, 40)
            .build();
        let lookback = Lookback::new(Duration::days(30));
        let journeys = Journeys::build(&log, lookback);
        let mut earlier = Vec::new();
        let names = |earlier: &[usize]| earlier.iter().map(|&index| log.channel_name(index)).collect::<Vec<_>>();
        let of = |index: usize, memory: Lookback, earlier: &mut Vec<usize>| {
            earlier_touches(&log, &journeys.get(index), memory, earlier)
        };
        // The first purchase has nothing before it; the second sees both
        // touches of the first journey (9 and 10 days old), not the purchase,
        // both carried across it.
        assert_eq!(of(0, lookback, &mut earlier), 0);
        assert!(earlier.is_empty());
        assert_eq!(of(1, lookback, &mut earlier), 2);
        assert_eq!(names(&earlier), ["display", "search"]);
        // At day 45 the email touch is 35 days old: outside 30 days.
        assert_eq!(of(2, lookback, &mut earlier), 0);
        assert!(earlier.is_empty());
        // With 40 days it is in, and the older ones (44 and 45 days) are not.
        assert_eq!(of(2, Lookback::new(Duration::days(40)), &mut earlier), 1);
        assert_eq!(names(&earlier), ["email"]);
        // Without a limit, every earlier touch, all before a purchase.
        assert_eq!(of(2, Lookback::NONE, &mut earlier), 3);
        assert_eq!(names(&earlier), ["display", "search", "email"]);
        // v's display touch is 45 days old: not in its 30-day journey, but
        // earlier with a 60-day memory, and not carried (no purchase since).
        assert_eq!(names(&journeys.get(3).path.collect::<Vec<_>>()), ["email"]);
        assert_eq!(of(3, Lookback::new(Duration::days(60)), &mut earlier), 0);
        assert_eq!(names(&earlier), ["display"]);
    }

    #[test]
    fn conversions_split_paths_and_mark_first_and_repeat() {
        let log = EventLogBuilder::new()
            .touch("u", 0, "display")
            .touch("u", DAY, "search")
            .conversion("u", 2 * DAY, 10)
            .touch("u", 3 * DAY, "email")
            .conversion("u", 4 * DAY, 20)
            .touch("u", 5 * DAY, "video")
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        assert_eq!(
            paths(&log, &journeys),
            [
                ("u".into(), vec!["display".into(), "search".into()], true, true),
                ("u".into(), vec!["email".into()], true, false),
                ("u".into(), vec!["video".into()], false, false),
            ]
        );
        assert_eq!(journeys.user_starts, [0, 3]);
    }

    #[test]
    fn the_window_drops_old_touches_and_counts_them() {
        let log = EventLogBuilder::new()
            .touch("u", 0, "display")
            .touch("u", 5 * DAY, "video")
            .touch("u", 9 * DAY, "search")
            .conversion("u", 12 * DAY, 0)
            .build();
        let week = Lookback::new(Duration::days(7));
        let journeys = Journeys::build(&log, week);
        assert_eq!(paths(&log, &journeys)[0].1, ["video", "search"]);
        assert_eq!(journeys.touches_outside_window, 1);
        // Exactly at the edge of the window still counts.
        let edge = Journeys::build(&log, Lookback::new(Duration::days(12)));
        assert_eq!(edge.touches_outside_window, 0);
        let unlimited = Journeys::build(&log, Lookback::NONE);
        assert_eq!(paths(&log, &unlimited)[0].1.len(), 3);
    }

    #[test]
    fn conversions_without_touches_keep_an_empty_path() {
        let log = EventLogBuilder::new()
            .touch("a", 0, "email")
            .conversion("a", DAY, 5)
            .conversion("a", DAY, 7)
            .conversion("b", 0, 1)
            .touch("c", 0, "video")
            .conversion("c", 60 * DAY, 1)
            .build();
        let journeys = Journeys::build(&log, Lookback::default());
        let found = paths(&log, &journeys);
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].1, ["email"]);
        assert!(found[1].1.is_empty() && found[1].2 && !found[1].3, "second conversion at the same instant");
        assert!(found[2].1.is_empty() && found[2].3, "b converted with no touch");
        assert!(found[3].1.is_empty(), "c's only touch is outside the window");
        assert_eq!(journeys.touches_outside_window, 1);
    }

    #[test]
    fn a_touch_at_the_conversion_instant_belongs_to_it() {
        let log = EventLogBuilder::new().conversion("u", DAY, 1).touch("u", DAY, "direct").build();
        let journeys = Journeys::build(&log, Lookback::default());
        assert_eq!(paths(&log, &journeys), [("u".into(), vec!["direct".into()], true, true)]);
    }

    #[test]
    fn users_never_share_journeys_and_results_do_not_depend_on_task_size() {
        let mut builder = EventLogBuilder::new();
        for user in 0..10_000 {
            let name = format!("user{user:05}");
            builder = builder.touch(&name, 0, "email");
            if user % 3 == 0 {
                builder = builder.conversion(&name, DAY, 1);
            }
        }
        let log = builder.build();
        let journeys = Journeys::build(&log, Lookback::default());
        assert_eq!(journeys.len(), 10_000);
        assert_eq!(journeys.user_starts.len(), 10_001);
        let mut sequential = Journeys::default();
        for user in 0..log.user_count() {
            sequential.push_user(&log, user, Lookback::default());
        }
        sequential.user_starts.push(sequential.len());
        assert_eq!(journeys, sequential);
    }
}
