//! What the fitted purchase rate is made of, and the sums it is fitted
//! from.
//!
//! A user's time is cut into *phases*: from their first event, or from a
//! purchase, to the next purchase or the end of the log. At each instant of
//! a phase the rate is a sum of features of the touches still in memory
//! ([`Feature`]): the phase's own, and those *carried* over from before the
//! phase's opening purchase, which have terms of their own; the fit needs,
//! per feature, its **exposure** (the time it was active, summed over every
//! phase of every user) and, per purchase, the features active at that
//! instant. Both are sums over users, exact in integers, so they merge
//! across threads, buckets and machines in any order ([`Counts::add`]).

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::PatternBuffer;
use crate::event::EventKind;
use crate::event_log::EventLog;
use crate::hash::FastMap;
use crate::time::MICROS_PER_DAY;

/// Microseconds in an hour.
const MICROS_PER_HOUR: i64 = MICROS_PER_DAY / 24;

/// Age bins of a touch's own effect: `[0, 1h)`, `[1h, 6h)`, `[6h, 1d)`,
/// `[1d, 3d)`, `[3d, 7d)`, `[7d, 14d)`, `[14d, memory)`.
pub const AGE_EDGES: [i64; 7] = [
    0,
    MICROS_PER_HOUR,
    6 * MICROS_PER_HOUR,
    MICROS_PER_DAY,
    3 * MICROS_PER_DAY,
    7 * MICROS_PER_DAY,
    14 * MICROS_PER_DAY,
];

/// How long a click or visit counts as *open*: the touches around it may
/// then work together with it (a session's closing).
pub const SESSION: i64 = MICROS_PER_HOUR;

/// Partners of an open touch younger than this are *recent*.
pub const RECENT: i64 = MICROS_PER_DAY;

/// One additive term of the purchase rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Feature {
    /// The rate without any touch: a prospect's, or a customer's after a
    /// first purchase.
    Baseline {
        /// After a first purchase.
        customer: bool,
    },
    /// One touch of `channel` and `kind`, whose age is in bin `bin` of
    /// [`AGE_EDGES`]; counted once per such touch.
    Touch {
        /// Channel code.
        channel: u32,
        /// Touch kind: 0 impression, 1 click, 2 visit.
        kind: u8,
        /// Age bin.
        bin: u8,
        /// The touch came before the purchase that opened the phase.
        carried: bool,
    },
    /// While the latest click or visit on `opener` is open (younger than
    /// [`SESSION`]), each other touch of `partner` within the memory;
    /// `recent` when the partner is younger than [`RECENT`]. The latest
    /// impression opens a session of its own (`seen`) beside it: a moment
    /// when an ad was seen is a moment to buy too, but not one a click
    /// should lose to.
    Session {
        /// Channel of the open touch.
        opener: u32,
        /// Channel of the other touch.
        partner: u32,
        /// The partner is younger than a day.
        recent: bool,
        /// The partner came before the purchase that opened the phase.
        carried: bool,
        /// The open touch is an impression (else a click or visit).
        seen: bool,
    },
    /// Channels `low < high` both touched within the memory, in the phase
    /// itself (carried touches make no pairs).
    Pair {
        /// The lower channel code.
        low: u32,
        /// The higher channel code.
        high: u32,
    },
}

/// One or two words per feature, each field in its own bits: equal features
/// hash equal, and a pattern of features hashes in a few writes.
impl std::hash::Hash for Feature {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let flag = |value: bool| u64::from(value);
        match *self {
            Self::Baseline { customer } => state.write_u64(flag(customer)),
            Self::Touch { channel, kind, bin, carried } => state.write_u64(
                1 << 62 | u64::from(channel) << 24 | u64::from(kind) << 16 | u64::from(bin) << 8 | flag(carried),
            ),
            Self::Session { opener, partner, recent, carried, seen } => {
                state.write_u64(2 << 62 | flag(seen) << 2 | flag(recent) << 1 | flag(carried));
                state.write_u64(u64::from(opener) << 32 | u64::from(partner));
            }
            Self::Pair { low, high } => {
                state.write_u64(3 << 62);
                state.write_u64(u64::from(low) << 32 | u64::from(high));
            }
        }
    }
}

impl Feature {
    /// The feature with channel codes renumbered by `code`.
    #[must_use]
    pub fn renumber(self, code: impl Fn(u32) -> u32) -> Self {
        match self {
            Self::Baseline { .. } => self,
            Self::Touch { channel, kind, bin, carried } => Self::Touch { channel: code(channel), kind, bin, carried },
            Self::Session { opener, partner, recent, carried, seen } => {
                Self::Session { opener: code(opener), partner: code(partner), recent, carried, seen }
            }
            Self::Pair { low, high } => {
                let (low, high) = (code(low), code(high));
                Self::Pair { low: low.min(high), high: low.max(high) }
            }
        }
    }

    /// The channels the term involves: none, one or two.
    #[must_use]
    pub fn channels(self) -> [Option<u32>; 2] {
        match self {
            Self::Baseline { .. } => [None, None],
            Self::Touch { channel, .. } => [Some(channel), None],
            Self::Session { opener, partner, .. } => [Some(opener), Some(partner)],
            Self::Pair { low, high } => [Some(low), Some(high)],
        }
    }
}

/// The features active at one purchase, sorted, with their counts.
pub type Pattern = Vec<(Feature, u32)>;

/// The sums the rate is fitted from, over some users.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Where the log's time ends: phases still open at the end of a user's
    /// events are counted up to it. Every part of one log has the same.
    pub end: i64,
    /// Per feature, microseconds active (times its count), over every
    /// phase.
    pub exposure: BTreeMap<Feature, i128>,
    /// Purchases per pattern of active features.
    pub purchases: Purchases,
}

/// Purchases per pattern of active features, as they were counted: each
/// pattern's features one after another in blocks ([`BLOCK_TERMS`]), a
/// pattern counted twice listed twice until [`Purchases::merged`] adds
/// them up. Counting a purchase is then a copy, not a list of its own, and
/// adding the purchases of other users moves their blocks, where a map by
/// pattern hashed every pattern on one thread (0.5 s at 15.8 million
/// events). The fit merges the patterns it codes in any case
/// ([`crate::models::incremental`]'s shards). Serialised as the map of
/// each pattern, once, to its purchases, sorted by pattern; two values are
/// equal when their merged patterns are.
#[derive(Clone, Debug, Default)]
pub struct Purchases {
    blocks: Vec<PatternBlock>,
}

/// Features of patterns per block at most (8 MiB): a block is filled,
/// never grown, so the list holds at most one block it does not use.
const BLOCK_TERMS: usize = 1 << 19;

/// Features of patterns in the first block of a list.
const FIRST_BLOCK_TERMS: usize = 1 << 10;

/// Some patterns of [`Purchases`], one after another.
pub type PatternBlock = PatternBuffer<(Feature, u32)>;

impl Purchases {
    /// Adds `count` purchases of `pattern`.
    pub fn push(&mut self, pattern: &[(Feature, u32)], count: u64) {
        let last = self.blocks.last();
        if !last.is_some_and(|block| block.has_room(pattern.len())) {
            // Blocks start small and double up to their size: a list of a
            // few users' patterns holds little it does not use.
            let size = last.map_or(FIRST_BLOCK_TERMS, |block| (2 * block.capacity()).min(BLOCK_TERMS));
            self.blocks.push(PatternBlock::with_capacity(size.max(pattern.len())));
        }
        if let Some(block) = self.blocks.last_mut() {
            block.push(count, pattern);
        }
    }

    /// Patterns listed, a pattern counted twice twice.
    #[must_use]
    pub fn len(&self) -> usize {
        self.blocks.iter().map(PatternBuffer::len).sum()
    }

    /// No purchase.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(PatternBuffer::is_empty)
    }

    /// The blocks of patterns, to be read in parallel.
    #[must_use]
    pub fn blocks(&self) -> &[PatternBlock] {
        &self.blocks
    }

    /// Each pattern listed with its purchases, in the order counted.
    pub fn iter(&self) -> impl Iterator<Item = (&[(Feature, u32)], u64)> {
        self.blocks.iter().flat_map(PatternBuffer::patterns)
    }

    /// Adds the purchases of `other`.
    pub fn append(&mut self, mut other: Self) {
        self.blocks.append(&mut other.blocks);
    }

    /// Each pattern once, with its purchases added up, sorted by pattern.
    #[must_use]
    pub fn merged(&self) -> Vec<(Pattern, u64)> {
        let mut listed: Vec<(&[(Feature, u32)], u64)> = self.iter().collect();
        listed.par_sort_unstable_by(|left, right| left.0.cmp(right.0));
        let mut merged: Vec<(Pattern, u64)> = Vec::new();
        for (pattern, count) in listed {
            match merged.last_mut() {
                Some((last, total)) if last.as_slice() == pattern => *total += count,
                _ => merged.push((pattern.to_vec(), count)),
            }
        }
        merged
    }
}

impl FromIterator<(Pattern, u64)> for Purchases {
    fn from_iter<I: IntoIterator<Item = (Pattern, u64)>>(patterns: I) -> Self {
        let mut purchases = Self::default();
        for (pattern, count) in patterns {
            purchases.push(&pattern, count);
        }
        purchases
    }
}

impl PartialEq for Purchases {
    fn eq(&self, other: &Self) -> bool {
        self.merged() == other.merged()
    }
}

impl Eq for Purchases {}

impl Serialize for Purchases {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.merged())
    }
}

impl<'de> Deserialize<'de> for Purchases {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let merged = BTreeMap::<Pattern, u64>::deserialize(deserializer)?;
        Ok(merged.into_iter().collect())
    }
}

impl Counts {
    /// Adds the counts of other users. Associative and commutative, with
    /// the empty counts as identity.
    pub fn add(&mut self, other: Self) {
        self.end = self.end.max(other.end);
        for (feature, time) in other.exposure {
            *self.exposure.entry(feature).or_default() += time;
        }
        self.purchases.append(other.purchases);
    }

    /// The counts with channel codes renumbered by `code`.
    #[must_use]
    pub fn renumber(self, code: impl Fn(u32) -> u32 + Copy) -> Self {
        let mut renumbered = Self { end: self.end, ..Self::default() };
        for (feature, time) in self.exposure {
            *renumbered.exposure.entry(feature.renumber(code)).or_default() += time;
        }
        let mut renumbered_pattern = Vec::new();
        for (pattern, count) in self.purchases.iter() {
            renumbered_pattern.clear();
            renumbered_pattern.extend(pattern.iter().map(|&(feature, n)| (feature.renumber(code), n)));
            renumbered_pattern.sort_unstable();
            renumbered.purchases.push(&renumbered_pattern, count);
        }
        renumbered
    }

    /// Counts every phase of every user of `log`; `end` is the end of the
    /// log's time (phases still open end there) and `memory` how long a
    /// touch can matter (the lookback).
    #[must_use]
    pub fn count(log: &EventLog, end: i64, memory: i64) -> Self {
        (0..log.user_count())
            .into_par_iter()
            .with_min_len(2048)
            .fold(
                || Counter::new(log.channels.len(), end, memory),
                |mut counter, user| {
                    counter.add_user(log, user);
                    counter
                },
            )
            .reduce(
                || Counter::new(log.channels.len(), end, memory),
                |mut left, right| {
                    left.merge(right);
                    left
                },
            )
            .finish()
    }
}

/// [`Counts`] being counted, user after user: [`Counts::count`] over a set
/// of users, in parts that merge.
pub struct Counter {
    tally: Tally,
    /// Scratch of one user's touches.
    touches: Vec<PhaseTouch>,
    end: i64,
    memory: i64,
    sample: Sample,
}

impl Counter {
    /// Counts with a log of `channels` channels, `end` and `memory` as in
    /// [`Counts::count`].
    #[must_use]
    pub fn new(channels: usize, end: i64, memory: i64) -> Self {
        Self { tally: Tally::new(channels), touches: Vec::new(), end, memory, sample: Sample::EVERY_USER }
    }

    /// The same, counting only the users of `sample`.
    #[must_use]
    pub fn sampled(self, sample: Sample) -> Self {
        Self { sample, ..self }
    }

    /// Counts every phase of user `user` of `log`, when the sample holds
    /// the user.
    pub fn add_user(&mut self, log: &EventLog, user: usize) {
        if self.sample.holds(log, user) {
            self.tally.add_user(log, user, self.end, self.memory, &mut self.touches);
        }
    }

    /// Adds the counts of other users.
    pub fn merge(&mut self, other: Self) {
        self.tally.add(other.tally);
    }

    /// The counts.
    #[must_use]
    pub fn finish(mut self) -> Counts {
        let purchases = std::mem::take(&mut self.tally.purchases);
        Counts { end: self.end, exposure: self.tally.into_exposure(), purchases }
    }
}

/// One user's exposure at a time, for sums weighted by the user (a
/// bootstrap replicate's exposure, [`crate::bootstrap::linear`]): the same
/// phases and exposures as [`Counter`] counts.
pub struct UserCounter {
    tally: Tally,
    touches: Vec<PhaseTouch>,
    end: i64,
    memory: i64,
}

impl UserCounter {
    /// For a log whose time ends at `end`, touches that matter for
    /// `memory` microseconds (as [`Counter::new`]).
    #[must_use]
    pub fn new(end: i64, memory: i64) -> Self {
        // Hashed: only the user's own terms are there to visit; no patterns.
        Self { tally: Tally::default(), touches: Vec::new(), end, memory }
    }

    /// User `user`'s exposure per feature (microseconds times count).
    pub fn count(&mut self, log: &EventLog, user: usize) -> &FastMap<Feature, i128> {
        self.tally.exposure.clear();
        self.tally.add_user(log, user, self.end, self.memory, &mut self.touches);
        &self.tally.exposure
    }
}

/// The users whose phases the fit counts
/// ([`crate::config::Config::incremental_sample`]): a user is in when the
/// draw from the hash of their id ([`crate::bootstrap::user_draw`], uniform
/// over the integers below 2^53) is below `share · 2^53`. The same users in
/// every run, bucket, thread and engine, and a smaller share's users are
/// among a larger one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Draws below this are in (`share · 2^53`); `None` for every user.
    below: Option<u64>,
}

impl Sample {
    /// Every user, without a draw.
    pub const EVERY_USER: Self = Self { below: None };

    /// The users drawn with probability `share`; every user from 1 up.
    #[must_use]
    pub fn new(share: f64) -> Self {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a share in [0, 1) of 2^53")]
        let below = (share < 1.0).then(|| (share.max(0.0) * DRAWS) as u64);
        Self { below }
    }

    /// Whether the user with id `id` is in.
    #[must_use]
    pub fn holds_id(self, id: &str) -> bool {
        self.below.is_none_or(|below| crate::bootstrap::user_draw(id) < below)
    }

    /// Whether user `user` of `log` is in.
    #[must_use]
    pub fn holds(self, log: &EventLog, user: usize) -> bool {
        self.below.is_none() || self.holds_id(log.users.get(u32::try_from(user).unwrap_or(u32::MAX)))
    }
}

/// `2^53`: the draws of [`Sample`] are the integers below it.
const DRAWS: f64 = 9_007_199_254_740_992.0;

/// Logs with at most this many channels count their touch, session and
/// pair terms in arrays; more, in a hash map.
const DENSE_CHANNELS: usize = 32;

/// Touch terms per channel: 3 kinds × 7 age bins × carried or not.
const TOUCH_SLOTS: usize = 3 * 7 * 2;

/// Session terms per (opener, partner): opened by an impression or not ×
/// recent or not × carried or not.
const SESSION_SLOTS: usize = 2 * 2 * 2;

/// Where each touch, session and pair term of a log with few channels sits
/// in an array: touches by channel, kind, bin and carriage, then sessions by
/// opener, partner, kind of opener, recency and carriage, then pairs; the
/// baselines have no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseSlots {
    channels: usize,
}

impl DenseSlots {
    /// The layout for channel codes below `channels`; `None` above
    /// [`DENSE_CHANNELS`] channels.
    #[must_use]
    pub fn new(channels: usize) -> Option<Self> {
        (channels <= DENSE_CHANNELS).then_some(Self { channels })
    }

    /// Slots in all.
    #[must_use]
    pub fn size(self) -> usize {
        TOUCH_SLOTS * self.channels + (SESSION_SLOTS + 1) * self.channels * self.channels
    }

    /// The slot of a term; `None` for the baselines and channel codes out of
    /// range.
    #[must_use]
    pub fn slot(self, feature: Feature) -> Option<usize> {
        let count = self.channels;
        let code = |channel: u32| usize::try_from(channel).ok().filter(|&code| code < count);
        let touches = TOUCH_SLOTS * count;
        match feature {
            Feature::Baseline { .. } => None,
            Feature::Touch { channel, kind, bin, carried } => code(channel)
                .map(|channel| ((channel * 3 + usize::from(kind)) * 7 + usize::from(bin)) * 2 + usize::from(carried)),
            Feature::Session { opener, partner, recent, carried, seen } => {
                let (opener, partner) = (code(opener)?, code(partner)?);
                let flags = usize::from(seen) * 4 + usize::from(recent) * 2 + usize::from(carried);
                Some(touches + (opener * count + partner) * SESSION_SLOTS + flags)
            }
            Feature::Pair { low, high } => {
                Some(touches + SESSION_SLOTS * count * count + code(low)? * count + code(high)?)
            }
        }
    }

    /// The slot of the touch term of `channel`, `kind` and `carried` in
    /// the first age bin; age bin `bin`'s is `2 · bin` further. `None` for
    /// a channel code out of range.
    #[must_use]
    pub fn touch_slot(self, channel: u32, kind: u8, carried: bool) -> Option<usize> {
        self.slot(Feature::Touch { channel, kind, bin: 0, carried })
    }

    /// The slot of the session term of `opener` and `partner` of kind
    /// `seen`, neither recent nor carried; a recent partner's is 2 further,
    /// a carried one's 1. `None` for a channel code out of range.
    #[must_use]
    pub fn session_slot(self, opener: u32, partner: u32, seen: bool) -> Option<usize> {
        self.slot(Feature::Session { opener, partner, recent: false, carried: false, seen })
    }

    /// Where slot `slot` comes in the features' order ([`Feature`]'s
    /// `Ord`): the slots are laid out in that order, but for a session
    /// term's flags, laid out (seen, recent, carried) where the order is
    /// (recent, carried, seen).
    #[must_use]
    pub fn order(self, slot: usize) -> usize {
        self.flags_swapped(slot, 4)
    }

    /// The slot that comes `order`-th in the features' order: the inverse
    /// of [`DenseSlots::order`].
    #[must_use]
    pub fn slot_in_order(self, order: usize) -> usize {
        self.flags_swapped(order, 2)
    }

    /// `index` with its session flags `high · low + rest` rearranged to
    /// `rest · (SESSION_SLOTS / low) + high`: with `low` 4, (seen; recent,
    /// carried) to (recent, carried; seen), and with `low` 2 back. Other
    /// slots stay where they are.
    fn flags_swapped(self, index: usize, low: usize) -> usize {
        if !self.sessions().contains(&index) {
            return index;
        }
        let flags = (index - self.sessions().start) % SESSION_SLOTS;
        index - flags + flags % low * (SESSION_SLOTS / low) + flags / low
    }

    /// The session terms' slots.
    fn sessions(self) -> std::ops::Range<usize> {
        TOUCH_SLOTS * self.channels..(TOUCH_SLOTS + SESSION_SLOTS * self.channels) * self.channels
    }

    /// The term of slot `slot`.
    #[must_use]
    pub fn feature(self, slot: usize) -> Feature {
        let count = self.channels;
        let channel = |index: usize| u32::try_from(index).unwrap_or(u32::MAX);
        let touches = TOUCH_SLOTS * count;
        if slot < touches {
            let (rest, carried) = (slot / 2, slot % 2 == 1);
            let (channel_kind, bin) = (rest / 7, rest % 7);
            Feature::Touch {
                channel: channel(channel_kind / 3),
                kind: to_u8(channel_kind % 3),
                bin: to_u8(bin),
                carried,
            }
        } else if slot < touches + SESSION_SLOTS * count * count {
            let rest = slot - touches;
            let (pair, flags) = (rest / SESSION_SLOTS, rest % SESSION_SLOTS);
            let (seen, recent, carried) = (flags & 4 != 0, flags & 2 != 0, flags & 1 != 0);
            Feature::Session { opener: channel(pair / count), partner: channel(pair % count), recent, carried, seen }
        } else {
            let rest = slot - touches - SESSION_SLOTS * count * count;
            Feature::Pair { low: channel(rest / count), high: channel(rest % count) }
        }
    }
}

/// [`Counts`] while they are being counted: the terms of touches in an
/// array indexed by channel (when the log has few channels), the others
/// hashed.
#[derive(Default)]
struct Tally {
    /// The array's layout, when the log has few channels.
    slots: Option<DenseSlots>,
    /// Touch, session and pair terms by [`DenseSlots::slot`].
    dense: Vec<i128>,
    exposure: FastMap<Feature, i128>,
    /// Each purchase's pattern, when they are counted (exposure alone, for
    /// [`UserCounter`], otherwise).
    purchases: Purchases,
    counts_purchases: bool,
    /// Scratch of the pair terms, kept between phases.
    pairs: PairScratch,
    /// Scratch of a purchase's pattern, kept between purchases.
    pattern: PatternScratch,
}

/// What [`Tally::pattern`] reuses from one purchase to the next: the
/// pattern's counts by [`DenseSlots::slot`], the places of the slots
/// counted in the features' order ([`DenseSlots::order`]), and the channels
/// touched.
#[derive(Default)]
struct PatternScratch {
    counts: Vec<u32>,
    orders: Vec<u32>,
    channels: Vec<u32>,
}

/// What [`Tally::add_pairs`] reuses from one phase to the next: each touch's
/// window by channel, the windows merged per channel, and where each
/// channel's merged windows are.
#[derive(Default)]
struct PairScratch {
    windows: Vec<(u32, i64, i64)>,
    merged: Vec<(i64, i64)>,
    channels: Vec<(u32, std::ops::Range<usize>)>,
}

impl Tally {
    fn new(channels: usize) -> Self {
        let slots = DenseSlots::new(channels);
        Self { slots, dense: vec![0; slots.map_or(0, DenseSlots::size)], counts_purchases: true, ..Self::default() }
    }

    fn add_exposure(&mut self, feature: Feature, time: i64) {
        let time = i128::from(time);
        match self.slots.and_then(|slots| slots.slot(feature)) {
            Some(slot) => self.dense[slot] += time,
            None => *self.exposure.entry(feature).or_default() += time,
        }
    }

    fn add(&mut self, mut other: Self) {
        for (mine, theirs) in self.dense.iter_mut().zip(&other.dense) {
            *mine += theirs;
        }
        for (feature, time) in other.exposure {
            *self.exposure.entry(feature).or_default() += time;
        }
        self.purchases.append(std::mem::take(&mut other.purchases));
    }

    /// Every term with its exposure: a term appears once it was active for
    /// some time (the baselines once a phase of theirs was seen).
    fn into_exposure(self) -> BTreeMap<Feature, i128> {
        let dense = self.dense.iter().enumerate().filter(|&(_, &time)| time != 0);
        let mut exposure: BTreeMap<Feature, i128> = match self.slots {
            Some(slots) => dense.map(|(slot, &time)| (slots.feature(slot), time)).collect(),
            None => BTreeMap::new(),
        };
        exposure.extend(self.exposure);
        exposure
    }

    fn add_user(&mut self, log: &EventLog, user: usize, end: i64, memory: i64, touches: &mut Vec<PhaseTouch>) {
        let events = log.user_events(user);
        let Some(first) = events.clone().next() else {
            return;
        };
        touches.clear();
        let (mut start, mut customer) = (log.time[first], false);
        let mut pattern = Vec::new();
        for event in events {
            let kind = log.kind[event];
            if kind.is_touch() {
                touches.push(PhaseTouch {
                    time: log.time[event],
                    channel: log.channel[event],
                    kind: kind_index(kind),
                    carried: false,
                });
                continue;
            }
            let time = log.time[event];
            self.add_phase(touches, start, time, customer, memory);
            if self.counts_purchases {
                self.pattern(touches, time, customer, memory, &mut pattern);
                self.purchases.push(&pattern, 1);
            }
            // The touches still in memory go on into the next phase, carried.
            touches.retain(|touch| time.saturating_sub(touch.time) <= memory);
            for touch in touches.iter_mut() {
                touch.carried = true;
            }
            (start, customer) = (time, true);
        }
        self.add_phase(touches, start, end.max(start), customer, memory);
    }

    /// The features active at `time`, as [`active_features`] gives them:
    /// where the log has few channels, counted in an array by slot, and the
    /// slots counted sorted by their places in the features' order
    /// ([`DenseSlots::order`]), plain integers, rather than the features
    /// listed and sorted field by field (sorting took most of the pattern's
    /// time).
    fn pattern(&mut self, touches: &[PhaseTouch], time: i64, customer: bool, memory: i64, out: &mut Pattern) {
        let Some(slots) = self.slots else {
            return active_features(touches, time, customer, memory, out);
        };
        let PatternScratch { counts, orders, channels } = &mut self.pattern;
        counts.resize(slots.size(), 0);
        orders.clear();
        let mut missing = false;
        for_each_active_term(touches, time, memory, channels, |feature| match slots.slot(feature) {
            Some(slot) => {
                if counts[slot] == 0 {
                    // Below 2^32: at most 32 channels have slots.
                    orders.push(u32::try_from(slots.order(slot)).unwrap_or(u32::MAX));
                }
                counts[slot] += 1;
            }
            None => missing = true,
        });
        orders.sort_unstable();
        out.clear();
        out.push((Feature::Baseline { customer }, 1));
        for &order in orders.iter() {
            let slot = slots.slot_in_order(order as usize);
            out.push((slots.feature(slot), counts[slot]));
            counts[slot] = 0;
        }
        // A channel code beyond the array (none in a valid log): the list.
        if missing {
            active_features(touches, time, customer, memory, out);
        }
    }

    /// Adds the exposure of one phase, `[start, end)`, with its touches.
    fn add_phase(&mut self, touches: &[PhaseTouch], start: i64, end: i64, customer: bool, memory: i64) {
        *self.exposure.entry(Feature::Baseline { customer }).or_default() += i128::from(end - start);
        for touch in touches {
            let upper = end.min(touch.time.saturating_add(memory));
            // The first bin's slot, found once per touch: the term of each
            // bin is then an offset from it.
            let first = self.slots.and_then(|slots| slots.touch_slot(touch.channel, touch.kind, touch.carried));
            for (bin, &low) in AGE_EDGES.iter().enumerate() {
                let opens = touch.time + low;
                if opens >= upper {
                    // This bin and every later one begin after the touch
                    // leaves the phase or the memory.
                    break;
                }
                let high = AGE_EDGES.get(bin + 1).map_or(upper, |&edge| upper.min(touch.time + edge));
                let time = high - opens.max(start);
                if time > 0 {
                    match first {
                        Some(slot) => self.dense[slot + 2 * bin] += i128::from(time),
                        None => self.add_exposure(
                            Feature::Touch {
                                channel: touch.channel,
                                kind: touch.kind,
                                bin: to_u8(bin),
                                carried: touch.carried,
                            },
                            time,
                        ),
                    }
                }
            }
        }
        self.add_sessions(touches, end, memory);
        self.add_pairs(touches, start, end, memory);
    }

    /// Session terms: while each opener is the latest open click or visit
    /// (or the latest open impression) of the phase, every other touch in
    /// memory is its partner.
    fn add_sessions(&mut self, touches: &[PhaseTouch], end: i64, memory: i64) {
        for seen in [false, true] {
            // Touches are in time order: the partners in memory while the
            // session is open are `first..last`. Both ends only move
            // forward from one opener to the next (`from` grows, and so does
            // `until`: a session closes by the next one's opening).
            let (mut first, mut last) = (0, 0);
            let mut openers = (0..touches.len()).filter(|&index| touches[index].opens(seen)).peekable();
            while let Some(opener) = openers.next() {
                let from = touches[opener].time;
                let next = openers.peek().map_or(i64::MAX, |&next| touches[next].time);
                let until = end.min(from + SESSION).min(next);
                if until <= from {
                    continue;
                }
                while touches.get(first).is_some_and(|touch| touch.time.saturating_add(memory) <= from) {
                    first += 1;
                }
                while touches.get(last).is_some_and(|touch| touch.time < until) {
                    last += 1;
                }
                let channel = touches[opener].channel;
                for (_, partner) in
                    touches.iter().enumerate().take(last).skip(first).filter(|&(index, _)| index != opener)
                {
                    // The partner's terms are offsets from one slot, found
                    // once per partner.
                    let slot = self.slots.and_then(|slots| slots.session_slot(channel, partner.channel, seen));
                    partner_exposure(partner, (from, until), memory, |recent, time| match slot {
                        Some(slot) => {
                            self.dense[slot + 2 * usize::from(recent) + usize::from(partner.carried)] +=
                                i128::from(time);
                        }
                        None => self.add_exposure(partner.session_term(channel, recent, seen), time),
                    });
                }
            }
        }
    }

    /// Pair terms: the time both channels have a touch of the phase within
    /// the memory.
    fn add_pairs(&mut self, touches: &[PhaseTouch], start: i64, end: i64, memory: i64) {
        let mut scratch = std::mem::take(&mut self.pairs);
        let PairScratch { windows, merged, channels } = &mut scratch;
        windows.clear();
        for touch in touches.iter().filter(|touch| !touch.carried) {
            let window = (touch.time.max(start), end.min(touch.time.saturating_add(memory)));
            if window.1 > window.0 {
                windows.push((touch.channel, window.0, window.1));
            }
        }
        // By channel, then start: each channel's windows merged into
        // disjoint intervals, one run of `merged` per channel.
        windows.sort_unstable();
        merged.clear();
        channels.clear();
        for &(channel, low, high) in windows.iter() {
            match (channels.last_mut(), merged.last_mut()) {
                (Some((last_channel, _)), Some(last)) if *last_channel == channel && low <= last.1 => {
                    last.1 = last.1.max(high);
                }
                (Some((last_channel, range)), _) if *last_channel == channel => {
                    merged.push((low, high));
                    range.end = merged.len();
                }
                _ => {
                    channels.push((channel, merged.len()..merged.len() + 1));
                    merged.push((low, high));
                }
            }
        }
        for (index, (low, left)) in channels.iter().enumerate() {
            for (high, right) in &channels[index + 1..] {
                let time = overlap(&merged[left.clone()], &merged[right.clone()]);
                if time > 0 {
                    self.add_exposure(Feature::Pair { low: *low, high: *high }, time);
                }
            }
        }
        self.pairs = scratch;
    }
}

/// A touch in memory during a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseTouch {
    /// Microseconds since the epoch.
    pub time: i64,
    /// Channel code.
    pub channel: u32,
    /// 0 impression, 1 click, 2 visit.
    pub kind: u8,
    /// The touch came before the purchase that opened the phase.
    pub carried: bool,
}

impl PhaseTouch {
    /// Whether the touch opens a session of its kind: an impression when
    /// `seen`, else a click or visit, of the phase itself (a carried one
    /// closed its session with the purchase).
    #[must_use]
    pub fn opens(&self, seen: bool) -> bool {
        (self.kind == 0) == seen && !self.carried
    }

    /// Whether the touch is in memory at `at`: not after it, and at most
    /// `memory` before it.
    #[must_use]
    pub fn in_memory(&self, at: i64, memory: i64) -> bool {
        self.time <= at && at - self.time <= memory
    }

    /// The touch's own term at `at`, by its age then.
    #[must_use]
    pub fn term_at(&self, at: i64) -> Feature {
        Feature::Touch { channel: self.channel, kind: self.kind, bin: age_bin(at - self.time), carried: self.carried }
    }

    /// The term the touch brings at `at` as a partner of `opener`'s session
    /// of kind `seen`.
    #[must_use]
    pub fn partner_term(&self, opener: &Self, at: i64, seen: bool) -> Feature {
        self.session_term(opener.channel, at - self.time < RECENT, seen)
    }

    /// The term the touch brings as a partner of a session of kind `seen`
    /// opened on channel `opener`, `recent` or not.
    #[must_use]
    pub fn session_term(&self, opener: u32, recent: bool, seen: bool) -> Feature {
        Feature::Session { opener, partner: self.channel, recent, carried: self.carried, seen }
    }
}

/// The touch whose session of kind `seen` is open at `at`: the latest of
/// `touches` up to `at` that opens one, if younger than [`SESSION`].
#[must_use]
pub fn open_session(touches: &[PhaseTouch], at: i64, seen: bool) -> Option<usize> {
    session_candidates(touches, at, seen).next()
}

/// The touches that could hold the session of kind `seen` open at `at`,
/// latest first: those up to `at` that open one and are younger than
/// [`SESSION`]. Without the later ones, the next is the open one.
pub fn session_candidates(touches: &[PhaseTouch], at: i64, seen: bool) -> impl Iterator<Item = usize> + '_ {
    (0..touches.len())
        .rev()
        .filter(move |&index| touches[index].opens(seen) && touches[index].time <= at)
        .take_while(move |&index| at - touches[index].time < SESSION)
}

/// The kind's index among the touch kinds.
#[must_use]
pub fn kind_index(kind: EventKind) -> u8 {
    match kind {
        EventKind::Impression => 0,
        EventKind::Click => 1,
        EventKind::Visit | EventKind::Conversion => 2,
    }
}

/// The age bin of a touch `age` microseconds old.
#[must_use]
pub fn age_bin(age: i64) -> u8 {
    to_u8(AGE_EDGES.iter().rposition(|&edge| age >= edge).unwrap_or(0))
}

fn to_u8(value: usize) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

/// The features active at `time` given the `touches` in memory (carried
/// ones first, then the phase's, up to `time`, in time order), sorted, into
/// `out`.
pub fn active_features(touches: &[PhaseTouch], time: i64, customer: bool, memory: i64, out: &mut Pattern) {
    out.clear();
    out.push((Feature::Baseline { customer }, 1));
    for_each_active_term(touches, time, memory, &mut Vec::new(), |feature| out.push((feature, 1)));
    // Equal features add up into one count.
    super::solve::sort_adding(out);
}

/// Each term active at `time` but the baseline, once per touch that brings
/// it (a term may come more than once), in no particular order; `channels`
/// is scratch.
fn for_each_active_term(
    touches: &[PhaseTouch],
    time: i64,
    memory: i64,
    channels: &mut Vec<u32>,
    mut term: impl FnMut(Feature),
) {
    let alive = |touch: &PhaseTouch| touch.in_memory(time, memory);
    for touch in touches.iter().filter(|touch| alive(touch)) {
        term(touch.term_at(time));
    }
    for seen in [false, true] {
        if let Some(opener) = open_session(touches, time, seen) {
            for (index, partner) in touches.iter().enumerate() {
                if index != opener && alive(partner) {
                    term(partner.partner_term(&touches[opener], time, seen));
                }
            }
        }
    }
    channels.clear();
    channels.extend(touches.iter().filter(|touch| alive(touch) && !touch.carried).map(|touch| touch.channel));
    channels.sort_unstable();
    channels.dedup();
    for (index, &low) in channels.iter().enumerate() {
        for &high in &channels[index + 1..] {
            term(Feature::Pair { low, high });
        }
    }
}

/// What a session `[from, until)` brings the terms of `partner`, a touch
/// that matters for `memory`: the time both are live while the partner is
/// younger than [`RECENT`], and the time after, each given to `add` with
/// whether the partner is recent (its term is then
/// [`PhaseTouch::session_term`]); a part of no time is left out.
fn partner_exposure(partner: &PhaseTouch, (from, until): (i64, i64), memory: i64, mut add: impl FnMut(bool, i64)) {
    let alive = (partner.time.max(from), until.min(partner.time.saturating_add(memory)));
    let split = partner.time.saturating_add(RECENT);
    for (recent, low, high) in [(true, alive.0, alive.1.min(split)), (false, alive.0.max(split), alive.1)] {
        if high > low {
            add(recent, high - low);
        }
    }
}

/// The total length of the intersection of two sorted lists of disjoint
/// intervals.
fn overlap(left: &[(i64, i64)], right: &[(i64, i64)]) -> i64 {
    let (mut total, mut i, mut j) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        let (low, high) = (left[i].0.max(right[j].0), left[i].1.min(right[j].1));
        total += (high - low).max(0);
        if left[i].1 < right[j].1 { i += 1 } else { j += 1 }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stage;
    use crate::event_log::EventLogBuilder;

    const MINUTE: i64 = MICROS_PER_HOUR / 60;
    const MEMORY: i64 = 30 * MICROS_PER_DAY;

    /// Whether each of `user0` to `user11` is in a sample of half the users.
    const GOLDEN_HALF: [bool; 12] = [false, true, true, true, false, true, true, false, false, false, true, false];

    #[test]
    fn the_sample_holds_about_its_share_of_users_the_same_in_every_run() {
        let ids: Vec<String> = (0..10_000).map(|user| format!("user{user}")).collect();
        let held = |share: f64| ids.iter().filter(|id| Sample::new(share).holds_id(id)).count();
        // Binomial(10 000, 0.25): a standard deviation of 43 users.
        assert!((2_300..=2_700).contains(&held(0.25)), "{}", held(0.25));
        assert_eq!(held(1.0), ids.len());
        assert_eq!(held(1e-9), 0);
        // A smaller share holds a subset of a larger one's users.
        let half: Vec<&String> = ids.iter().filter(|id| Sample::new(0.5).holds_id(id)).collect();
        assert!(ids.iter().filter(|id| Sample::new(0.25).holds_id(id)).all(|id| half.contains(&id)));
        // The draw is a fixed function of the id: these users are in or out
        // of a half sample in every run, build and machine.
        let first: Vec<bool> = ids[..12].iter().map(|id| Sample::new(0.5).holds_id(id)).collect();
        assert_eq!(first, GOLDEN_HALF);
    }

    /// One user: an email impression at 0, a search click at 10 min, a
    /// purchase at 30 min, then two days as a customer to the end of the
    /// log.
    fn one_journey(user: &str, builder: EventLogBuilder) -> EventLogBuilder {
        builder
            .event(user, 0, EventKind::Impression, "email", "", Stage::Awareness, 0)
            .event(user, 10 * MINUTE, EventKind::Click, "search", "", Stage::Consideration, 0)
            .conversion(user, 30 * MINUTE, 1_000_000)
    }

    #[test]
    fn exposure_and_purchase_patterns_by_hand() {
        let log = one_journey("u", EventLogBuilder::new()).build();
        let end = 30 * MINUTE + 2 * MICROS_PER_DAY;
        let counts = Counts::count(&log, end, MEMORY);
        let (email, search) = (0, 1);
        let expected: BTreeMap<Feature, i128> = [
            // Before the purchase, 30 minutes as a prospect...
            (Feature::Baseline { customer: false }, 30 * MINUTE),
            // ... the impression in its first hour all along, the click for 20 minutes,
            (Feature::Touch { channel: email, kind: 0, bin: 0, carried: false }, 30 * MINUTE),
            (Feature::Touch { channel: search, kind: 1, bin: 0, carried: false }, 20 * MINUTE),
            // the click open with the impression as a recent partner, the
            // impression open (a session of its own kind) with the click as
            // its partner, and the two channels together, from the click to
            // the purchase.
            (
                Feature::Session { opener: search, partner: email, recent: true, carried: false, seen: false },
                20 * MINUTE,
            ),
            (
                Feature::Session { opener: email, partner: search, recent: true, carried: false, seen: true },
                20 * MINUTE,
            ),
            (Feature::Pair { low: email, high: search }, 20 * MINUTE),
            // After it, two days as a customer, with both touches carried
            // through their bins: the impression from 30 minutes old, the click
            // from 20 minutes old, to the end of the log.
            (Feature::Baseline { customer: true }, 2 * MICROS_PER_DAY),
            (Feature::Touch { channel: email, kind: 0, bin: 0, carried: true }, 30 * MINUTE),
            (Feature::Touch { channel: email, kind: 0, bin: 1, carried: true }, 5 * MICROS_PER_HOUR),
            (Feature::Touch { channel: email, kind: 0, bin: 2, carried: true }, 18 * MICROS_PER_HOUR),
            (Feature::Touch { channel: email, kind: 0, bin: 3, carried: true }, MICROS_PER_DAY + 30 * MINUTE),
            (Feature::Touch { channel: search, kind: 1, bin: 0, carried: true }, 40 * MINUTE),
            (Feature::Touch { channel: search, kind: 1, bin: 1, carried: true }, 5 * MICROS_PER_HOUR),
            (Feature::Touch { channel: search, kind: 1, bin: 2, carried: true }, 18 * MICROS_PER_HOUR),
            (Feature::Touch { channel: search, kind: 1, bin: 3, carried: true }, MICROS_PER_DAY + 20 * MINUTE),
        ]
        .into_iter()
        .map(|(feature, time)| (feature, i128::from(time)))
        .collect();
        assert_eq!(counts.exposure, expected);
        let pattern = vec![
            (Feature::Baseline { customer: false }, 1),
            (Feature::Touch { channel: email, kind: 0, bin: 0, carried: false }, 1),
            (Feature::Touch { channel: search, kind: 1, bin: 0, carried: false }, 1),
            (Feature::Session { opener: email, partner: search, recent: true, carried: false, seen: true }, 1),
            (Feature::Session { opener: search, partner: email, recent: true, carried: false, seen: false }, 1),
            (Feature::Pair { low: email, high: search }, 1),
        ];
        assert_eq!(counts.purchases.merged(), [(pattern, 1)]);
        assert_eq!(counts.end, end);
    }

    #[test]
    fn touches_age_through_the_bins_and_leave_after_the_memory() {
        let log = EventLogBuilder::new().event("u", 0, EventKind::Impression, "video", "", Stage::Awareness, 0).build();
        let memory = 10 * MICROS_PER_DAY;
        let counts = Counts::count(&log, 40 * MICROS_PER_DAY, memory);
        let bins: Vec<i128> = (0..7)
            .map(|bin| {
                counts.exposure.get(&Feature::Touch { channel: 0, kind: 0, bin, carried: false }).copied().unwrap_or(0)
            })
            .collect();
        let (hour, day) = (i128::from(MICROS_PER_HOUR), i128::from(MICROS_PER_DAY));
        // [0, 1h), [1h, 6h), [6h, 1d), [1d, 3d), [3d, 7d), [7d, 14d) cut at the
        // 10-day memory, and nothing after it.
        assert_eq!(bins, [hour, 5 * hour, 18 * hour, 2 * day, 4 * day, 3 * day, 0]);
        assert_eq!(counts.exposure[&Feature::Baseline { customer: false }], 40 * day);
        assert!(counts.purchases.is_empty());
    }

    #[test]
    fn touches_before_a_purchase_carry_into_the_next_phase_with_terms_of_their_own() {
        // An email impression at 0 and a purchase at 30 min; a search click at
        // day 2 and a purchase 10 min later; the log ends at day 3.
        let (email, search) = (0, 1);
        let two_days = 2 * MICROS_PER_DAY;
        let log = EventLogBuilder::new()
            .event("u", 0, EventKind::Impression, "email", "", Stage::Awareness, 0)
            .conversion("u", 30 * MINUTE, 1_000_000)
            .event("u", two_days, EventKind::Click, "search", "", Stage::Consideration, 0)
            .conversion("u", two_days + 10 * MINUTE, 1_000_000)
            .build();
        let counts = Counts::count(&log, 3 * MICROS_PER_DAY, MEMORY);
        let (hour, day) = (MICROS_PER_HOUR, MICROS_PER_DAY);
        let touch = |channel, kind, bin, carried| Feature::Touch { channel, kind, bin, carried };
        let expected: BTreeMap<Feature, i128> = [
            (Feature::Baseline { customer: false }, 30 * MINUTE),
            // A customer from 30 min to the end of the log.
            (Feature::Baseline { customer: true }, 3 * day - 30 * MINUTE),
            (touch(email, 0, 0, false), 30 * MINUTE),
            // After the first purchase the impression is carried, through its
            // bins: the rest of its first hour, 1–6 h, 6 h–1 d, and 1–3 d (to
            // the end of the log, across the second purchase).
            (touch(email, 0, 0, true), 30 * MINUTE),
            (touch(email, 0, 1, true), 5 * hour),
            (touch(email, 0, 2, true), 18 * hour),
            (touch(email, 0, 3, true), 2 * day),
            // The click: 10 minutes in its own phase, then carried.
            (touch(search, 1, 0, false), 10 * MINUTE),
            (touch(search, 1, 0, true), 50 * MINUTE),
            (touch(search, 1, 1, true), 5 * hour),
            (touch(search, 1, 2, true), 18 * hour),
            // The click opens a session whose partner is the carried
            // impression, older than a day; carried touches make no pair and
            // open no session.
            (
                Feature::Session { opener: search, partner: email, recent: false, carried: true, seen: false },
                10 * MINUTE,
            ),
        ]
        .into_iter()
        .map(|(feature, time)| (feature, i128::from(time)))
        .collect();
        assert_eq!(counts.exposure, expected);
        let first = vec![(Feature::Baseline { customer: false }, 1), (touch(email, 0, 0, false), 1)];
        let second = vec![
            (Feature::Baseline { customer: true }, 1),
            (touch(email, 0, 3, true), 1),
            (touch(search, 1, 0, false), 1),
            (Feature::Session { opener: search, partner: email, recent: false, carried: true, seen: false }, 1),
        ];
        let patterns = counts.purchases.merged();
        let mut wanted = vec![(first, 1), (second, 1)];
        wanted.sort();
        assert_eq!(patterns, wanted);
    }

    #[test]
    fn counts_of_parts_add_up_to_the_counts_of_the_whole() {
        let end = 5 * MICROS_PER_DAY;
        let whole = one_journey("b", one_journey("a", EventLogBuilder::new())).build();
        let left = one_journey("a", EventLogBuilder::new()).build();
        let right = one_journey("b", EventLogBuilder::new()).build();
        let (left, right) = (Counts::count(&left, end, MEMORY), Counts::count(&right, end, MEMORY));
        let mut sum = left.clone();
        sum.add(right.clone());
        let mut other_order = right;
        other_order.add(left.clone());
        assert_eq!(sum, Counts::count(&whole, end, MEMORY));
        assert_eq!(sum, other_order);
        let mut with_identity = left.clone();
        with_identity.add(Counts { end, ..Counts::default() });
        assert_eq!(with_identity, left);
    }

    /// Purchases as a map by pattern, written as [`Counts`] wrote them.
    #[derive(Serialize)]
    struct AsMap(#[serde(serialize_with = "crate::hash::serialize_sorted")] FastMap<Pattern, u64>);

    #[test]
    fn purchases_listed_as_counted_merge_into_the_map_of_patterns() {
        // 3 000 purchases of 34 patterns (over several blocks), some with
        // more than one purchase at once, each pattern's features sorted.
        let pattern = |index: u32| -> Pattern {
            let mut pattern = vec![(Feature::Baseline { customer: index % 2 == 1 }, 1)];
            pattern.extend((0..index % 5).map(|bin| {
                (Feature::Touch { channel: index % 8, kind: 1, bin: to_u8(bin as usize), carried: false }, bin + 1)
            }));
            pattern
        };
        let (mut listed, mut other) = (Purchases::default(), Purchases::default());
        let mut by_hand: BTreeMap<Pattern, u64> = BTreeMap::new();
        for purchase in 0..3_000_u32 {
            let (pattern, count) = (pattern(purchase % 40), u64::from(purchase % 3 + 1));
            *by_hand.entry(pattern.clone()).or_default() += count;
            let into = if purchase % 7 == 0 { &mut other } else { &mut listed };
            into.push(&pattern, count);
        }
        assert!(listed.blocks().len() > 1, "{} blocks", listed.blocks().len());
        let mut both = listed.clone();
        both.append(other.clone());
        assert_eq!(both.len(), 3_000);
        let merged: Vec<(Pattern, u64)> = by_hand.clone().into_iter().collect();
        assert_eq!(both.merged(), merged);
        // Added in either order, the same; not the same as a part.
        other.append(listed.clone());
        assert_eq!(other, both);
        assert_ne!(listed, both);

        // Written as the map of each pattern to its purchases, sorted, and
        // read back to the same purchases.
        let map: FastMap<Pattern, u64> = by_hand.into_iter().collect();
        let bytes = postcard::to_stdvec(&both).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&AsMap(map)).unwrap());
        let read: Purchases = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(read, both);
        assert_eq!(read.len(), merged.len());
    }

    /// The session terms of one phase, every touch taken as each opener's
    /// partner (rather than those in memory while it is open): what
    /// [`Tally::add_sessions`] counts.
    fn sessions_one_by_one(touches: &[PhaseTouch], end: i64, memory: i64) -> BTreeMap<Feature, i128> {
        let mut terms = BTreeMap::new();
        for seen in [false, true] {
            let openers: Vec<usize> = (0..touches.len()).filter(|&index| touches[index].opens(seen)).collect();
            for (position, &opener) in openers.iter().enumerate() {
                let from = touches[opener].time;
                let next = openers.get(position + 1).map_or(i64::MAX, |&next| touches[next].time);
                let until = end.min(from + SESSION).min(next);
                // Every other touch: one that is not live while the session
                // is open brings nothing.
                for (_, partner) in touches.iter().enumerate().filter(|&(index, _)| index != opener) {
                    let channel = touches[opener].channel;
                    partner_exposure(partner, (from, until), memory, |recent, time| {
                        *terms.entry(partner.session_term(channel, recent, seen)).or_default() += i128::from(time);
                    });
                }
            }
        }
        terms
    }

    /// One phase's touches, in time order, those carried from before it
    /// first, and the phase's end.
    fn any_phase() -> impl proptest::strategy::Strategy<Value = (Vec<PhaseTouch>, i64)> {
        use proptest::prelude::*;
        let hour = MICROS_PER_HOUR;
        // Gaps from nothing to a few days, so that sessions close early or
        // late and partners are recent, old, or leave the memory.
        let gap = prop_oneof![0..hour, 0..2 * hour, 0..3 * MICROS_PER_DAY, Just(0_i64)];
        let touch = (gap, 0..3_u32, 0..3_u8, any::<bool>());
        (proptest::collection::vec(touch, 0..24), 0..4 * MICROS_PER_DAY).prop_map(|(touches, after)| {
            let mut time = 0;
            let mut phase: Vec<PhaseTouch> = touches
                .into_iter()
                .map(|(gap, channel, kind, carried)| {
                    time += gap;
                    PhaseTouch { time, channel, kind, carried }
                })
                .collect();
            let mut carried = true;
            for touch in &mut phase {
                carried &= touch.carried;
                touch.carried = carried;
            }
            (phase, time + after)
        })
    }

    /// A memory that outlasts the phases, one that some touches leave during
    /// them, and one shorter than a session.
    fn any_memory() -> impl proptest::strategy::Strategy<Value = i64> {
        proptest::prop_oneof![
            proptest::strategy::Just(MEMORY),
            proptest::strategy::Just(2 * MICROS_PER_DAY),
            proptest::strategy::Just(MICROS_PER_HOUR / 2),
        ]
    }

    proptest::proptest! {
        #[test]
        fn sessions_are_counted_as_partner_by_partner(
            phase in any_phase(),
            memory in any_memory(),
        ) {
            let (touches, end) = phase;
            let wanted = sessions_one_by_one(&touches, end, memory);
            for mut tally in [Tally::new(3), Tally::default()] {
                tally.add_sessions(&touches, end, memory);
                proptest::prop_assert_eq!(tally.into_exposure(), wanted.clone());
            }
        }
    }

    /// The touch terms of one phase `[start, end)`, bin by bin: each age
    /// bin's interval met with the phase and the memory, for every bin.
    fn touch_terms_bin_by_bin(touches: &[PhaseTouch], start: i64, end: i64, memory: i64) -> BTreeMap<Feature, i128> {
        let mut terms = BTreeMap::new();
        for touch in touches {
            for (bin, &edge) in AGE_EDGES.iter().enumerate() {
                let low = (touch.time + edge).max(start);
                let high = AGE_EDGES
                    .get(bin + 1)
                    .map_or(i64::MAX, |&next| touch.time + next)
                    .min(end)
                    .min(touch.time.saturating_add(memory));
                if high > low {
                    let feature = Feature::Touch {
                        channel: touch.channel,
                        kind: touch.kind,
                        bin: to_u8(bin),
                        carried: touch.carried,
                    };
                    *terms.entry(feature).or_default() += i128::from(high - low);
                }
            }
        }
        terms
    }

    proptest::proptest! {
        #[test]
        fn touch_terms_are_counted_as_bin_by_bin(
            phase in any_phase(),
            memory in any_memory(),
        ) {
            let (touches, end) = phase;
            // The phase opens at its first own touch (or at its end).
            let start = touches.iter().find(|touch| !touch.carried).map_or(end, |touch| touch.time);
            let wanted = touch_terms_bin_by_bin(&touches, start, end, memory);
            for mut tally in [Tally::new(3), Tally::default()] {
                tally.add_phase(&touches, start, end, false, memory);
                let touch_terms: BTreeMap<Feature, i128> = tally
                    .into_exposure()
                    .into_iter()
                    .filter(|(feature, _)| matches!(feature, Feature::Touch { .. }))
                    .collect();
                proptest::prop_assert_eq!(touch_terms, wanted.clone());
            }
        }
    }

    #[test]
    fn terms_are_offsets_from_their_first_slot() {
        let slots = DenseSlots::new(3).unwrap();
        for slot in 0..slots.size() {
            match slots.feature(slot) {
                Feature::Touch { channel, kind, bin, carried } => {
                    assert_eq!(slots.touch_slot(channel, kind, carried), Some(slot - 2 * usize::from(bin)));
                }
                Feature::Session { opener, partner, recent, carried, seen } => {
                    let offset = 2 * usize::from(recent) + usize::from(carried);
                    assert_eq!(slots.session_slot(opener, partner, seen), Some(slot - offset));
                }
                Feature::Pair { .. } | Feature::Baseline { .. } => {}
            }
        }
        assert_eq!(slots.touch_slot(3, 0, false), None);
        assert_eq!(slots.session_slot(0, 3, true), None);
    }

    #[test]
    fn slots_in_their_order_are_features_in_theirs() {
        let slots = DenseSlots::new(3).unwrap();
        let mut by_slot: Vec<usize> = (0..slots.size()).collect();
        by_slot.sort_unstable_by_key(|&slot| slots.order(slot));
        let features: Vec<Feature> = by_slot.iter().map(|&slot| slots.feature(slot)).collect();
        let mut sorted = features.clone();
        sorted.sort_unstable();
        assert_eq!(features, sorted);
        // The order is a numbering of the slots, and `slot_in_order` its
        // inverse.
        let mut orders: Vec<usize> = (0..slots.size()).map(|slot| slots.order(slot)).collect();
        assert!((0..slots.size()).all(|slot| slots.slot_in_order(slots.order(slot)) == slot));
        orders.sort_unstable();
        assert_eq!(orders, (0..slots.size()).collect::<Vec<_>>());
    }

    proptest::proptest! {
        #[test]
        fn patterns_counted_by_slot_are_the_sorted_lists(
            phase in any_phase(),
            at in 0..6 * MICROS_PER_DAY,
            customer in proptest::bool::ANY,
            memory in any_memory(),
        ) {
            let (touches, _) = phase;
            let mut wanted = Vec::new();
            active_features(&touches, at, customer, memory, &mut wanted);
            // Three channels fit the array; one channel fewer leaves some
            // touches beyond it, and the list is taken.
            for channels in [3, 2] {
                let (mut tally, mut pattern) = (Tally::new(channels), vec![(Feature::Baseline { customer }, 7)]);
                tally.pattern(&touches, at, customer, memory, &mut pattern);
                proptest::prop_assert_eq!(&pattern, &wanted);
                // The scratch is left empty for the next purchase.
                proptest::prop_assert!(tally.pattern.counts.iter().all(|&count| count == 0));
            }
        }
    }
}
