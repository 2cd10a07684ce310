//! The accepted events of a run, in the compact columnar form every later
//! stage reads.
//!
//! Strings are dictionary-coded and every dictionary is sorted, so that a
//! code's order is its string's byte order: sorting by code sorts by name,
//! and the codes of a run never depend on file or row order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

use rayon::prelude::*;

use crate::event::{EventKind, Stage};

/// The channel code of a conversion that names no channel.
pub const NO_CHANNEL_CODE: u32 = u32::MAX;

/// The channel code of [`crate::event::BASELINE_CHANNEL`] in credit tables:
/// the share of a conversion that would have happened without marketing.
pub const BASELINE_CODE: u32 = u32::MAX - 1;

/// A sorted set of distinct strings; a string's code is its index.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dictionary {
    values: Vec<Box<str>>,
}

impl Dictionary {
    /// The string with code `code`.
    ///
    /// # Panics
    ///
    /// If `code` is not a code of this dictionary.
    #[must_use]
    pub fn get(&self, code: u32) -> &str {
        &self.values[code as usize]
    }

    /// The code of `value`, if present.
    #[must_use]
    pub fn code_of(&self, value: &str) -> Option<u32> {
        self.values.binary_search_by(|probe| probe.as_ref().cmp(value)).ok().and_then(|index| u32::try_from(index).ok())
    }

    /// How many distinct strings there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A dictionary of `values`, which must be sorted and distinct.
    pub(crate) fn from_sorted(values: Vec<Box<str>>) -> Self {
        debug_assert!(values.windows(2).all(|pair| pair[0] < pair[1]));
        Self { values }
    }

    /// True when the strings are sorted and distinct, as codes require.
    #[must_use]
    pub fn is_sorted(&self) -> bool {
        self.values.windows(2).all(|pair| pair[0] < pair[1])
    }

    /// The strings, in code order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.values.iter().map(AsRef::as_ref)
    }
}

/// Assigns codes to strings in first-seen order; [`Interner::into_sorted`]
/// then renumbers them in byte order.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    codes: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    values: Vec<Box<str>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, value: &str) -> u32 {
        if let Some(&code) = self.codes.get(value) {
            return code;
        }
        let code = u32::try_from(self.values.len()).unwrap_or_else(|_| panic_overflow());
        self.codes.insert(value.into(), code);
        self.values.push(value.into());
        code
    }

    pub(crate) fn values(&self) -> &[Box<str>] {
        &self.values
    }

    /// How many more distinct values could be added at most before codes run
    /// out.
    pub(crate) fn room(&self) -> usize {
        (u32::MAX as usize).saturating_sub(self.values.len())
    }
}

/// Strings coded in some order, to be renumbered in byte order.
pub(crate) trait IntoSorted {
    /// The sorted dictionary and, indexed by each code given so far, its
    /// code in the sorted dictionary.
    fn into_sorted(self) -> (Dictionary, Vec<u32>);
}

impl IntoSorted for Interner {
    fn into_sorted(self) -> (Dictionary, Vec<u32>) {
        let codes =
            (0..self.values.len()).map(|code| u32::try_from(code).unwrap_or_else(|_| panic_overflow())).collect();
        sort_codes(codes, self.values.len(), |code| &self.values[code as usize])
    }
}

/// Strings renumbered in byte order: `codes` are the codes given, `text`
/// the string of each, every code below `width`. Returns the sorted
/// dictionary and, indexed by code, each code's code in it (`u32::MAX` for
/// a number below `width` that is no code).
pub(crate) fn sort_codes<'a>(
    codes: Vec<u32>,
    width: usize,
    text: impl Fn(u32) -> &'a str + Sync,
) -> (Dictionary, Vec<u32>) {
    // Most comparisons are settled by the first 16 bytes, held inline, and
    // a string that short is all in them: two of equal prefixes compare by
    // length, and the dictionary copies it from there. Only longer strings
    // are read again, in sorted order, one cache miss or more each.
    let mut order: Vec<Sorted> = codes
        .into_par_iter()
        .map(|code| {
            let value = text(code);
            Sorted { prefix: prefix(value), length: value.len(), code }
        })
        .collect();
    order.par_sort_unstable_by(|left, right| {
        left.prefix.cmp(&right.prefix).then_with(|| match (left.inline(), right.inline()) {
            (Some(_), Some(_)) => left.length.cmp(&right.length),
            _ => text(left.code).cmp(text(right.code)),
        })
    });
    let mut remap = vec![u32::MAX; width];
    for (rank, sorted) in (0_u32..).zip(&order) {
        remap[sorted.code as usize] = rank;
    }
    let values = order
        .par_iter()
        .map(|sorted| {
            let bytes = sorted.prefix.to_be_bytes();
            let inline = sorted.inline().and_then(|length| std::str::from_utf8(&bytes[..length]).ok());
            Box::from(inline.unwrap_or_else(|| text(sorted.code)))
        })
        .collect();
    (Dictionary::from_sorted(values), remap)
}

/// A string of [`sort_codes`]: its [`prefix`], its length and its code.
struct Sorted {
    prefix: u128,
    length: usize,
    code: u32,
}

impl Sorted {
    /// Its length when its prefix holds all of it.
    fn inline(&self) -> Option<usize> {
        (self.length <= 16).then_some(self.length)
    }
}

/// The first 16 bytes of `value`, zero-padded, as a big-endian number:
/// two strings whose prefixes differ compare as their prefixes do. Read as
/// two overlapping words in their places, not copied: a copy of a length
/// known only at run time is a call to `memcpy`, and this runs once per
/// user id coded ([`crate::ingest::users`]) and per id sorted.
pub(crate) fn prefix(value: &str) -> u128 {
    let bytes = value.as_bytes();
    let n = bytes.len().min(16);
    // Bytes `at..at + width`, big end first, where they sit among 16.
    let word = |at: usize, width: usize| -> u128 {
        let value = match width {
            8 => <[u8; 8]>::try_from(&bytes[at..at + 8]).map_or(0, u64::from_be_bytes),
            4 => <[u8; 4]>::try_from(&bytes[at..at + 4]).map_or(0, |word| u64::from(u32::from_be_bytes(word))),
            _ => u64::from(bytes[at]),
        };
        u128::from(value) << (8 * (16 - at - width))
    };
    match n {
        8.. => word(0, 8) | word(n - 8, 8),
        4.. => word(0, 4) | word(n - 4, 4),
        1.. => word(0, 1) | word(n / 2, 1) | word(n - 1, 1),
        0 => 0,
    }
}

#[cold]
fn panic_overflow() -> ! {
    // Ingest checks the room left before interning, so this is a defect.
    panic!("more than 4 294 967 295 distinct values in one dictionary")
}

/// One accepted event, its strings coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// User code.
    pub user: u32,
    /// Microseconds since the epoch, UTC.
    pub time: i64,
    /// What happened.
    pub kind: EventKind,
    /// Channel code, [`NO_CHANNEL_CODE`] for a conversion without one.
    pub channel: u32,
    /// Campaign code (the empty string when the log gives none).
    pub campaign: u32,
    /// Funnel stage.
    pub stage: Stage,
    /// Revenue in millionths of the currency unit; 0 on touches.
    pub revenue: i64,
}

impl Event {
    /// The order of a user's events: by time; at one instant touches before
    /// conversions, then by channel and campaign name; the remaining fields
    /// only make the order total, so it never depends on input order.
    fn order(&self, other: &Self) -> Ordering {
        (
            self.user,
            self.time,
            self.kind == EventKind::Conversion,
            self.channel,
            self.campaign,
            self.kind,
            self.stage,
            self.revenue,
        )
            .cmp(&(
                other.user,
                other.time,
                other.kind == EventKind::Conversion,
                other.channel,
                other.campaign,
                other.kind,
                other.stage,
                other.revenue,
            ))
    }
}

/// Every accepted event of a run, grouped by user and ordered within each.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventLog {
    /// User ids (NFC-normalised), sorted.
    pub users: Dictionary,
    /// Normalised channel names, sorted.
    pub channels: Dictionary,
    /// Campaign names, sorted.
    pub campaigns: Dictionary,
    /// `user_starts[u]..user_starts[u + 1]` are user `u`'s events.
    pub user_starts: Vec<usize>,
    /// Event times, microseconds since the epoch.
    pub time: Vec<i64>,
    /// Event kinds.
    pub kind: Vec<EventKind>,
    /// Channel codes.
    pub channel: Vec<u32>,
    /// Campaign codes.
    pub campaign: Vec<u32>,
    /// Stages.
    pub stage: Vec<Stage>,
    /// Revenue in millionths; 0 on touches.
    pub revenue: Vec<i64>,
}

impl EventLog {
    /// How many events there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// True when there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// How many users there are.
    #[must_use]
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The index range of user `user`'s events.
    #[must_use]
    pub fn user_events(&self, user: usize) -> Range<usize> {
        self.user_starts[user]..self.user_starts[user + 1]
    }

    /// The latest event time, 0 for an empty log.
    #[must_use]
    pub fn latest(&self) -> i64 {
        self.time.iter().copied().max().unwrap_or(0)
    }

    /// The channel name of event `index`, `(none)` for a conversion without one.
    #[must_use]
    pub fn channel_name(&self, index: usize) -> &str {
        match self.channel[index] {
            NO_CHANNEL_CODE => crate::event::NO_CHANNEL,
            BASELINE_CODE => crate::event::BASELINE_CHANNEL,
            code => self.channels.get(code),
        }
    }

    /// Builds a log from events coded with three interners, in parts (one
    /// per parse task, say): renumbers codes in byte order, sorts, and drops
    /// exact duplicates. Returns the log and the number of duplicates
    /// dropped.
    ///
    /// User codes are dense, so the events are not sorted as a whole: each
    /// part's are recoded and dealt into ranges of consecutive users, and
    /// each range is sorted on its own, in cache, in parallel with the
    /// others. A user's events all fall in one range, and the ranges follow
    /// user order, so the ranges one after the other are the whole log in
    /// [`Event::order`] (a total order: the result never depends on the
    /// order of parts or of events within them). One comparison sort of
    /// all the events had taken a tenth of an in-memory run, and growing
    /// one vector of them as parts came in nearly as much again.
    pub(crate) fn assemble(
        parts: Vec<Vec<Event>>,
        users: impl IntoSorted,
        channels: Interner,
        campaigns: Interner,
    ) -> (Self, u64) {
        let (users, user_remap) = users.into_sorted();
        let (channels, channel_remap) = channels.into_sorted();
        let (campaigns, campaign_remap) = campaigns.into_sorted();
        let remaps = Remaps { user: &user_remap, channel: &channel_remap, campaign: &campaign_remap };
        let total: usize = parts.iter().map(Vec::len).sum();
        let ranges = UserRanges::new(users.len(), total);
        let sorted = ranges.sort(parts, &remaps);
        let kept: usize = sorted.iter().map(Vec::len).sum();
        let duplicates = (total - kept) as u64;

        let mut log = Self { users, channels, campaigns, ..Self::default() };
        log.fill(&sorted);
        (log, duplicates)
    }

    /// The columns and the user starts of `ranges` (each sorted, ranges in
    /// user order, no user in two), one task per range writing its stretch
    /// of every column. Gathered column by column, each collected in pieces
    /// then copied into one vector, they had left one core idle.
    fn fill(&mut self, ranges: &[Vec<Event>]) {
        let kept: usize = ranges.iter().map(Vec::len).sum();
        self.time = vec![0; kept];
        self.kind = vec![EventKind::Impression; kept];
        self.channel = vec![0; kept];
        self.campaign = vec![0; kept];
        self.stage = vec![Stage::Unknown; kept];
        self.revenue = vec![0; kept];
        let mut stretches = Vec::with_capacity(ranges.len());
        let mut rest = ColumnsMut {
            time: &mut self.time,
            kind: &mut self.kind,
            channel: &mut self.channel,
            campaign: &mut self.campaign,
            stage: &mut self.stage,
            revenue: &mut self.revenue,
        };
        let mut start = 0;
        for range in ranges {
            let (stretch, after) = rest.split_at(range.len());
            stretches.push((start, stretch));
            rest = after;
            start += range.len();
        }
        let starts: Vec<Vec<usize>> =
            stretches.into_par_iter().zip(ranges).map(|((start, stretch), range)| stretch.fill(start, range)).collect();
        self.user_starts = Vec::with_capacity(self.users.len() + 1);
        self.user_starts.extend(starts.into_iter().flatten());
        self.user_starts.push(kept);
    }
}

/// A stretch of every column of an [`EventLog`] being filled.
struct ColumnsMut<'a> {
    time: &'a mut [i64],
    kind: &'a mut [EventKind],
    channel: &'a mut [u32],
    campaign: &'a mut [u32],
    stage: &'a mut [Stage],
    revenue: &'a mut [i64],
}

impl ColumnsMut<'_> {
    /// The first `len` rows, and the rest.
    fn split_at(self, len: usize) -> (Self, Self) {
        let (time, time_rest) = self.time.split_at_mut(len);
        let (kind, kind_rest) = self.kind.split_at_mut(len);
        let (channel, channel_rest) = self.channel.split_at_mut(len);
        let (campaign, campaign_rest) = self.campaign.split_at_mut(len);
        let (stage, stage_rest) = self.stage.split_at_mut(len);
        let (revenue, revenue_rest) = self.revenue.split_at_mut(len);
        (
            Self { time, kind, channel, campaign, stage, revenue },
            Self {
                time: time_rest,
                kind: kind_rest,
                channel: channel_rest,
                campaign: campaign_rest,
                stage: stage_rest,
                revenue: revenue_rest,
            },
        )
    }

    /// Writes `events` (sorted, as many as the stretch has rows), the
    /// stretch starting at row `start` of the log, and returns the rows
    /// where each of its users starts.
    fn fill(self, start: usize, events: &[Event]) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut previous = None;
        for (offset, event) in events.iter().enumerate() {
            if previous != Some(event.user) {
                starts.push(start + offset);
                previous = Some(event.user);
            }
            self.time[offset] = event.time;
            self.kind[offset] = event.kind;
            self.channel[offset] = event.channel;
            self.campaign[offset] = event.campaign;
            self.stage[offset] = event.stage;
            self.revenue[offset] = event.revenue;
        }
        starts
    }
}

/// Sorts events in [`Event::order`]: by user and time, packed into one
/// integer compared at once, then each run of events of one user at one
/// instant (rare, and short) by the whole order.
fn sort_events(events: &mut [Event]) {
    #[expect(clippy::cast_sign_loss, reason = "the sign bit flipped, times order as unsigned numbers")]
    let key = |event: &Event| (u128::from(event.user) << 64) | u128::from((event.time as u64) ^ (1 << 63));
    events.sort_unstable_by_key(key);
    for run in events.chunk_by_mut(|left, right| key(left) == key(right)) {
        if run.len() > 1 {
            run.sort_unstable_by(Event::order);
        }
    }
}

/// Events of a range of users that [`EventLog::assemble`] sorts at once:
/// about a megabyte, so that a range sorts in a core's cache.
const EVENTS_PER_RANGE: usize = 1 << 15;

/// Most ranges of users [`EventLog::assemble`] deals events into: each group
/// of parts counts and fills a vector per range.
const MOST_RANGES: usize = 1 << 12;

/// Groups of parts dealt out at once, per thread.
const GROUPS_PER_THREAD: usize = 4;

/// Each code's code in the sorted dictionaries.
struct Remaps<'a> {
    user: &'a [u32],
    channel: &'a [u32],
    campaign: &'a [u32],
}

impl Remaps<'_> {
    fn recode(&self, event: &mut Event) {
        event.user = self.user[event.user as usize];
        if event.channel != NO_CHANNEL_CODE {
            event.channel = self.channel[event.channel as usize];
        }
        event.campaign = self.campaign[event.campaign as usize];
    }
}

/// Consecutive ranges of (sorted) user codes, of about the same number of
/// users each.
struct UserRanges {
    users: u64,
    count: usize,
}

impl UserRanges {
    /// Ranges of `users` users for `events` events, about
    /// [`EVENTS_PER_RANGE`] events each.
    fn new(users: usize, events: usize) -> Self {
        let count = (events / EVENTS_PER_RANGE).clamp(1, MOST_RANGES).min(users.max(1));
        Self { users: users.max(1) as u64, count }
    }

    /// The range of user `user`: a non-decreasing function of the code.
    fn of(&self, user: u32) -> usize {
        usize::try_from(u64::from(user) * self.count as u64 / self.users)
            .map_or(self.count - 1, |range| range.min(self.count - 1))
    }

    /// The events of `parts`, recoded by `remaps`, in one sorted vector per
    /// range (duplicates dropped), ranges in user order.
    fn sort(&self, parts: Vec<Vec<Event>>, remaps: &Remaps<'_>) -> Vec<Vec<Event>> {
        let per_group = parts.len().div_ceil(rayon::current_num_threads() * GROUPS_PER_THREAD).max(1);
        // Each group of parts: its events recoded, then dealt into ranges.
        let dealt: Vec<Vec<Vec<Event>>> = parts
            .into_par_iter()
            .chunks(per_group)
            .map(|mut group| {
                let mut sizes = vec![0_usize; self.count];
                for event in group.iter_mut().flatten() {
                    remaps.recode(event);
                    sizes[self.of(event.user)] += 1;
                }
                let mut ranges: Vec<Vec<Event>> = sizes.into_iter().map(Vec::with_capacity).collect();
                for part in group {
                    for event in part {
                        ranges[self.of(event.user)].push(event);
                    }
                }
                ranges
            })
            .collect();
        // Each range: its pieces from every group, sorted.
        let mut pieces: Vec<Vec<Vec<Event>>> = (0..self.count).map(|_| Vec::with_capacity(dealt.len())).collect();
        for group in dealt {
            for (range, piece) in pieces.iter_mut().zip(group) {
                range.push(piece);
            }
        }
        pieces
            .into_par_iter()
            .map(|pieces| {
                let mut events = deal_by_user(&pieces);
                drop(pieces);
                events.dedup();
                events
            })
            .collect()
    }
}

/// The events of `pieces` (of a range of users) in [`Event::order`]: dealt
/// to their users by a counting sort on the user code, dense within a
/// range, then each user's few events sorted on their own. A comparison
/// sort of the whole range by user and time had taken most of the
/// assembly.
fn deal_by_user(pieces: &[Vec<Event>]) -> Vec<Event> {
    let events = pieces.iter().flatten();
    let Some(&first) = events.clone().next() else {
        return Vec::new();
    };
    let (low, high) =
        events.clone().fold((first.user, first.user), |(low, high), event| (low.min(event.user), high.max(event.user)));
    // `starts[user - low]`: where the user's events begin, once summed.
    let mut starts = vec![0_usize; (high - low) as usize + 2];
    for event in events.clone() {
        starts[(event.user - low) as usize + 1] += 1;
    }
    for index in 1..starts.len() {
        starts[index] += starts[index - 1];
    }
    let total = starts[starts.len() - 1];
    // Filled from the first event, every place then written.
    let mut dealt = vec![first; total];
    let mut next = starts.clone();
    for event in events {
        let at = &mut next[(event.user - low) as usize];
        dealt[*at] = *event;
        *at += 1;
    }
    for user in starts.windows(2) {
        if user[1] - user[0] > 1 {
            sort_events(&mut dealt[user[0]..user[1]]);
        }
    }
    dealt
}

/// A user whose events were set aside because there were too many of them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetAsideUser {
    /// The user id.
    pub user: String,
    /// Accepted events (after deduplication).
    pub events: u64,
    /// Of which conversions.
    pub conversions: u64,
    /// The first event's instant, microseconds since the epoch.
    pub first: i64,
    /// The last event's instant.
    pub last: i64,
}

impl EventLog {
    /// Removes every user with more than `limit` events (none when `limit`
    /// is 0) and returns them in user id order. Such a "user" is almost
    /// always a bot or a shared placeholder id; kept, it would dominate the
    /// per-user work and, through its conversions, the credit.
    ///
    /// The dictionaries of channels and campaigns are kept whole, so a
    /// channel seen only by a removed user still appears, with no credit.
    pub fn set_aside_users(&mut self, limit: u64) -> Vec<SetAsideUser> {
        if limit == 0 {
            return Vec::new();
        }
        let heavy = |user: usize| (self.user_starts[user + 1] - self.user_starts[user]) as u64 > limit;
        if !(0..self.user_count()).any(heavy) {
            return Vec::new();
        }
        let mut removed = Vec::new();
        let mut kept = Self {
            channels: std::mem::take(&mut self.channels),
            campaigns: std::mem::take(&mut self.campaigns),
            ..Self::default()
        };
        let mut users = Vec::with_capacity(self.user_count());
        for user in 0..self.user_count() {
            let range = self.user_events(user);
            let name = std::mem::take(&mut self.users.values[user]);
            if heavy(user) {
                removed.push(SetAsideUser {
                    user: name.into_string(),
                    events: range.len() as u64,
                    conversions: self.kind[range.clone()].iter().filter(|kind| **kind == EventKind::Conversion).count()
                        as u64,
                    first: self.time[range.start],
                    last: self.time[range.end - 1],
                });
                continue;
            }
            users.push(name);
            kept.user_starts.push(kept.time.len());
            kept.time.extend_from_slice(&self.time[range.clone()]);
            kept.kind.extend_from_slice(&self.kind[range.clone()]);
            kept.channel.extend_from_slice(&self.channel[range.clone()]);
            kept.campaign.extend_from_slice(&self.campaign[range.clone()]);
            kept.stage.extend_from_slice(&self.stage[range.clone()]);
            kept.revenue.extend_from_slice(&self.revenue[range]);
        }
        kept.user_starts.push(kept.time.len());
        kept.users = Dictionary { values: users };
        *self = kept;
        removed
    }
}

/// Builds small logs by hand, for tests and examples.
#[derive(Debug, Default)]
pub struct EventLogBuilder {
    events: Vec<Event>,
    users: Interner,
    channels: Interner,
    campaigns: Interner,
}

impl EventLogBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a touch of `channel` by `user` at `time` (microseconds).
    #[must_use]
    pub fn touch(self, user: &str, time: i64, channel: &str) -> Self {
        self.event(user, time, EventKind::Click, channel, "", Stage::Unknown, 0)
    }

    /// Adds a conversion by `user` at `time` worth `revenue` millionths.
    #[must_use]
    pub fn conversion(self, user: &str, time: i64, revenue: i64) -> Self {
        self.event(user, time, EventKind::Conversion, "", "", Stage::Conversion, revenue)
    }

    /// Adds any event; an empty `channel` means none.
    #[expect(clippy::too_many_arguments, reason = "one argument per event field")]
    #[must_use]
    pub fn event(
        mut self,
        user: &str,
        time: i64,
        kind: EventKind,
        channel: &str,
        campaign: &str,
        stage: Stage,
        revenue: i64,
    ) -> Self {
        let user = self.users.intern(user);
        let channel = if channel.is_empty() { NO_CHANNEL_CODE } else { self.channels.intern(channel) };
        let campaign = self.campaigns.intern(campaign);
        self.events.push(Event { user, time, kind, channel, campaign, stage, revenue });
        self
    }

    /// The assembled log.
    #[must_use]
    pub fn build(self) -> EventLog {
        EventLog::assemble(vec![self.events], self.users, self.channels, self.campaigns).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix read in words is the first 16 bytes copied and
    /// zero-padded, at every length.
    #[test]
    fn a_prefix_is_the_first_sixteen_bytes_zero_padded() {
        let text = "abcdefghijklmnopqrstü";
        for length in 0..=text.len() {
            let Some(value) = text.get(..length) else { continue };
            let mut bytes = [0_u8; 16];
            let head = &value.as_bytes()[..length.min(16)];
            bytes[..head.len()].copy_from_slice(head);
            assert_eq!(prefix(value), u128::from_be_bytes(bytes), "{value:?}");
        }
    }

    #[test]
    fn codes_follow_byte_order_whatever_the_input_order() {
        let log = EventLogBuilder::new()
            .touch("zoe", 5, "video")
            .touch("adam", 9, "email")
            .touch("adam", 3, "display")
            .conversion("adam", 9, 1_000_000)
            .build();
        assert_eq!(log.users.iter().collect::<Vec<_>>(), ["adam", "zoe"]);
        assert_eq!(log.channels.iter().collect::<Vec<_>>(), ["display", "email", "video"]);
        assert_eq!(log.user_starts, [0, 3, 4]);
        assert_eq!(log.time, [3, 9, 9, 5]);
        assert_eq!(log.kind[2], EventKind::Conversion);
        assert_eq!(log.channel_name(2), "(none)");
        assert_eq!(log.channels.code_of("email"), Some(1));
    }

    #[test]
    fn exact_duplicates_are_dropped_and_counted() {
        let mut users = Interner::default();
        let channels = Interner::default();
        let mut campaigns = Interner::default();
        let event = Event {
            user: users.intern("u"),
            time: 1,
            kind: EventKind::Conversion,
            channel: NO_CHANNEL_CODE,
            campaign: campaigns.intern(""),
            stage: Stage::Conversion,
            revenue: 5,
        };
        let other = Event { revenue: 6, ..event };
        let (log, duplicates) =
            EventLog::assemble(vec![vec![event, other], vec![event, event]], users, channels, campaigns);
        assert_eq!((log.len(), duplicates), (2, 2));
    }

    #[test]
    fn users_above_the_limit_are_set_aside_whole() {
        let mut builder = EventLogBuilder::new().touch("ana", 1, "email").conversion("ana", 2, 0);
        for time in 0..5 {
            builder = builder.touch("bot", time, "display");
        }
        builder = builder.conversion("bot", 9, 7).touch("cy", 4, "video");
        let mut log = builder.build();
        assert!(log.clone().set_aside_users(0).is_empty(), "0 turns the check off");
        assert!(log.clone().set_aside_users(6).is_empty(), "six events are allowed by a limit of 6");

        let removed = log.set_aside_users(5);
        assert_eq!(removed, [SetAsideUser { user: "bot".to_owned(), events: 6, conversions: 1, first: 0, last: 9 }]);
        assert_eq!(log.users.iter().collect::<Vec<_>>(), ["ana", "cy"]);
        assert_eq!(log.user_starts, [0, 2, 3]);
        assert_eq!(log.time, [1, 2, 4]);
        assert_eq!(log.channel_name(2), "video");
        assert_eq!(log.channels.iter().collect::<Vec<_>>(), ["display", "email", "video"]);
    }

    proptest::proptest! {
        /// Codes follow byte order, whether two ids differ in their first 16
        /// bytes or only after them (or only in a trailing NUL), and ids of
        /// up to 16 bytes come back whole from their prefix (a character of
        /// two bytes may end one).
        #[test]
        fn sorted_codes_follow_byte_order(
            ids in proptest::collection::vec("(user-00000000000\\x00?)?[a-cü\\x00]{0,3}[0-9]{0,20}", 0..60)
        ) {
            let mut interner = Interner::default();
            let codes: Vec<u32> = ids.iter().map(|id| interner.intern(id)).collect();
            let (dictionary, remap) = interner.into_sorted();
            let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
            expected.sort_unstable();
            expected.dedup();
            proptest::prop_assert_eq!(dictionary.iter().collect::<Vec<_>>(), expected);
            for (id, code) in ids.iter().zip(codes) {
                proptest::prop_assert_eq!(dictionary.get(remap[code as usize]), id.as_str());
            }
        }
    }

    proptest::proptest! {
        /// Events dealt into ranges of users, each range sorted on its own,
        /// are the events sorted whole in [`Event::order`], duplicates
        /// dropped: whatever the number of ranges and of parts, and however
        /// the events fall into parts. Few users, instants and channels, so
        /// that ties and duplicates are common.
        #[test]
        fn ranges_sorted_one_by_one_are_the_events_sorted_whole(
            fields in proptest::collection::vec((0_u32..40, -3_i64..4, 0_u8..3, 0_u32..3, 0_i64..2), 0..400),
            cuts in proptest::collection::vec(0_usize..400, 0..6),
            count in 1_usize..9,
        ) {
            let kinds = [EventKind::Click, EventKind::Impression, EventKind::Conversion];
            let events: Vec<Event> = fields
                .iter()
                .map(|&(user, time, kind, channel, revenue)| Event {
                    user,
                    time: time * (i64::MAX / 4),
                    kind: kinds[usize::from(kind)],
                    channel: if channel == 2 { NO_CHANNEL_CODE } else { channel },
                    campaign: 0,
                    stage: Stage::Unknown,
                    revenue,
                })
                .collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(events.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([events.len()]) {
                parts.push(events[start..cut].to_vec());
                start = cut;
            }
            let identity: Vec<u32> = (0..40).collect();
            let remaps = Remaps { user: &identity, channel: &identity, campaign: &identity };
            let sorted: Vec<Event> = UserRanges { users: 40, count }.sort(parts, &remaps).concat();
            let mut expected = events;
            expected.sort_by(Event::order);
            expected.dedup();
            proptest::prop_assert_eq!(sorted, expected);
        }
    }

    #[test]
    fn ties_put_touches_before_conversions_then_order_by_channel() {
        let log =
            EventLogBuilder::new().conversion("u", 10, 0).touch("u", 10, "search").touch("u", 10, "display").build();
        assert_eq!(log.kind, [EventKind::Click, EventKind::Click, EventKind::Conversion]);
        assert_eq!(log.channel_name(0), "display");
        assert_eq!(log.channel_name(1), "search");
    }
}
