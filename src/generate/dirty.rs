//! The faults real logs carry, injected into a clean log with exact
//! bookkeeping.
//!
//! Every clean event meets one fate: kept as is, altered (one alteration at
//! most), duplicated (a byte-identical copy inserted elsewhere) or moved to
//! a random position. Fates are drawn per fixed-size chunk of the sorted log
//! from a stream seeded by (seed, chunk index), so the result does not depend
//! on the thread count.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::draw::{Event, STREAM_DIRT, stream};
use super::render::{CHANNEL_VARIANT_COUNT, TIMESTAMP_VARIANT_COUNT};
use super::{Expected, Injected};
use crate::event::EventKind;

/// Rows per random stream when drawing fates.
const ROWS_PER_CHUNK: usize = 65_536;

/// The spellings of an unparsable timestamp; the last is an empty field.
pub(crate) const BAD_TIMESTAMPS: [&str; 5] =
    ["2026-13-45T99:00:00Z", "yesterday", "03/15/2026 10:00", "2026-02-30T10:00:00Z", ""];

/// Event types no ingester should accept.
pub(crate) const UNKNOWN_EVENT_TYPES: [&str; 3] = ["pageview", "purchased", "add_to_cart"];

/// Unparsable revenue spellings; `None` stands for the row's own amount
/// with a decimal comma (`12,50`).
pub(crate) const BAD_REVENUES: [Option<&str>; 3] = [None, Some("abc"), Some("NaN")];

/// How a written row differs from its clean event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alteration {
    /// Written as simulated.
    None,
    /// Timestamp replaced by [`BAD_TIMESTAMPS`]`[n]`: rejected.
    BadTimestamp(u8),
    /// User id left empty: rejected.
    MissingUserId,
    /// Channel left empty on a touch: rejected.
    MissingChannel,
    /// Event type replaced by [`UNKNOWN_EVENT_TYPES`]`[n]`: rejected.
    UnknownEventType(u8),
    /// A conversion's revenue written negated: rejected.
    NegativeRevenue,
    /// A conversion's revenue replaced by [`BAD_REVENUES`]`[n]`: rejected.
    BadRevenue(u8),
    /// A touch carries this many cents of revenue: a warning, still valid.
    RevenueOnTouch(u16),
    /// The channel spelled differently (case, spaces, hyphens): valid.
    ChannelVariant(u8),
    /// The same instant in another valid timestamp spelling.
    TimestampVariant(u8),
}

impl Alteration {
    /// Whether a correct ingester keeps a row with this alteration.
    pub(crate) fn is_accepted(self) -> bool {
        matches!(self, Self::None | Self::RevenueOnTouch(_) | Self::ChannelVariant(_) | Self::TimestampVariant(_))
    }
}

/// One written data row: which event, spelled how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// Index into the sorted clean events.
    pub(crate) event: u32,
    /// How the row deviates from the event.
    pub(crate) alteration: Alteration,
}

/// The rows to write, in file order, with their bookkeeping.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Data rows in file order.
    pub(crate) rows: Vec<Row>,
    /// What was injected.
    pub(crate) injected: Injected,
    /// What an exact ingester must find.
    pub(crate) expected: Expected,
    /// Whether user ids are written in their unicode forms.
    pub(crate) unicode_ids: bool,
}

/// Where an event's row goes besides its own place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Movement {
    Stay,
    /// A copy is also written before clean row `position`.
    Duplicate(u32),
    /// The row itself is written before clean row `position` instead.
    Shuffle(u32),
}

/// The rows of the clean log: every event once, in order, unaltered.
pub(crate) fn clean(events: &[Event], users: u32) -> Layout {
    let rows: Vec<Row> =
        (0..events.len()).map(|index| Row { event: event_index(index), alteration: Alteration::None }).collect();
    let expected = expect(events, users, |_| true);
    Layout { rows, injected: Injected::default(), expected, unicode_ids: false }
}

/// The rows of the dirty log: faults, duplicates, variants and moved rows.
pub(crate) fn dirty(events: &[Event], users: u32, seed: u64) -> Layout {
    let event_count = event_index(events.len());
    let fates: Vec<(Alteration, Movement)> = events
        .par_chunks(ROWS_PER_CHUNK)
        .enumerate()
        .flat_map_iter(|(chunk, chunk_events)| {
            let mut rng = stream(seed, STREAM_DIRT, chunk as u64);
            let first = chunk * ROWS_PER_CHUNK;
            chunk_events
                .iter()
                .enumerate()
                .map(|(offset, event)| draw_fate(event, event_index(first + offset), event_count, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut fates = fates;
    keep_faulty_rows_distinct(events, &mut fates);
    let rows = arrange(&fates);
    let mut injected = count_injected(&fates);
    injected.unicode_user_rows = rows
        .iter()
        .filter(|row| events[row.event as usize].unicode_template != 0 && row.alteration != Alteration::MissingUserId)
        .count() as u64;
    let expected = expect(events, users, |index| fates[index].0.is_accepted());
    Layout { rows, injected, expected, unicode_ids: true }
}

fn event_index(index: usize) -> u32 {
    // `generate` caps the number of users so that event indices fit in u32.
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Draws one event's fate. Rates are per row (per conversion for the
/// revenue faults); see `docs/generator.md`.
#[expect(clippy::same_functions_in_if_condition, reason = "each `take` call tests the next band of one draw")]
fn draw_fate(event: &Event, index: u32, event_count: u32, rng: &mut ChaCha8Rng) -> (Alteration, Movement) {
    let conversion = event.kind == EventKind::Conversion;
    let mut draw = rng.random::<f64>();
    let mut take = |rate: f64| {
        let hit = draw < rate;
        draw -= rate;
        hit
    };
    if take(0.01) {
        return (Alteration::None, Movement::Duplicate(rng.random_range(0..=event_count)));
    }
    if take(0.05) {
        return (Alteration::None, Movement::Shuffle(distant_position(index, event_count, rng)));
    }
    let alteration = if take(0.003) {
        Alteration::BadTimestamp(pick(rng, BAD_TIMESTAMPS.len()))
    } else if take(0.002) {
        Alteration::MissingUserId
    } else if take(0.002) {
        Alteration::UnknownEventType(pick(rng, UNKNOWN_EVENT_TYPES.len()))
    } else if take(0.03) {
        Alteration::ChannelVariant(rng.random_range(0..CHANNEL_VARIANT_COUNT))
    } else if take(0.02) {
        Alteration::TimestampVariant(rng.random_range(0..TIMESTAMP_VARIANT_COUNT))
    } else if conversion && take(0.02) {
        Alteration::NegativeRevenue
    } else if conversion && take(0.01) {
        Alteration::BadRevenue(pick(rng, BAD_REVENUES.len()))
    } else if !conversion && take(0.002) {
        Alteration::MissingChannel
    } else if !conversion && take(0.005) {
        Alteration::RevenueOnTouch(rng.random_range(99..5_000))
    } else {
        Alteration::None
    };
    (alteration, Movement::Stay)
}

/// Two faulty rows that read the same would look like a duplicate to an
/// ingester that deduplicates before validating, blurring the counts. Only
/// a bad timestamp or a missing user id removes what makes a row unique
/// (the user's strictly increasing times), so the later of two such
/// look-alikes is written clean instead.
fn keep_faulty_rows_distinct(events: &[Event], fates: &mut [(Alteration, Movement)]) {
    let mut seen = HashSet::new();
    for (event, (alteration, _)) in events.iter().zip(fates.iter_mut()) {
        let (user, time, variant) = match *alteration {
            Alteration::BadTimestamp(variant) => (Some((event.user, event.decomposed)), None, variant),
            Alteration::MissingUserId => (None, Some(event.time), 0),
            _ => continue,
        };
        let key = (user, time, variant, event.channel, event.campaign, event.stage, event.kind, event.revenue_cents);
        if !seen.insert(key) {
            *alteration = Alteration::None;
        }
    }
}

fn pick(rng: &mut ChaCha8Rng, length: usize) -> u8 {
    u8::try_from(rng.random_range(0..length)).unwrap_or(0)
}

/// A random insertion point that actually moves row `index` (not right
/// before or after itself).
fn distant_position(index: u32, event_count: u32, rng: &mut ChaCha8Rng) -> u32 {
    for _ in 0..16 {
        let position = rng.random_range(0..=event_count);
        if position.abs_diff(index) > 1 {
            return position;
        }
    }
    // Only a log of two or three rows gets here; any place will do.
    rng.random_range(0..=event_count)
}

/// Lays the rows out: each moved or duplicated row is written before the
/// clean row its position names, in event order among equals.
fn arrange(fates: &[(Alteration, Movement)]) -> Vec<Row> {
    let mut inserts: Vec<(u32, u32)> = fates
        .iter()
        .enumerate()
        .filter_map(|(index, (_, movement))| match movement {
            Movement::Duplicate(position) | Movement::Shuffle(position) => Some((*position, event_index(index))),
            Movement::Stay => None,
        })
        .collect();
    inserts.sort_unstable();
    let mut rows = Vec::with_capacity(fates.len() + inserts.len());
    let mut pending = inserts.iter().peekable();
    for (index, (alteration, movement)) in fates.iter().enumerate() {
        let event = event_index(index);
        while let Some((_, inserted)) = pending.next_if(|(position, _)| *position == event) {
            rows.push(Row { event: *inserted, alteration: Alteration::None });
        }
        if !matches!(movement, Movement::Shuffle(_)) {
            rows.push(Row { event, alteration: *alteration });
        }
    }
    rows.extend(pending.map(|(_, inserted)| Row { event: *inserted, alteration: Alteration::None }));
    rows
}

/// Counts every injected fault and variant.
fn count_injected(fates: &[(Alteration, Movement)]) -> Injected {
    let mut injected = Injected::default();
    for (alteration, movement) in fates {
        match movement {
            Movement::Duplicate(_) => injected.duplicates += 1,
            Movement::Shuffle(_) => injected.shuffled_rows += 1,
            Movement::Stay => {}
        }
        let counter = match alteration {
            Alteration::None | Alteration::TimestampVariant(_) => continue,
            Alteration::BadTimestamp(_) => &mut injected.bad_timestamp,
            Alteration::MissingUserId => &mut injected.missing_user_id,
            Alteration::MissingChannel => &mut injected.missing_channel,
            Alteration::UnknownEventType(_) => &mut injected.unknown_event_type,
            Alteration::NegativeRevenue => &mut injected.negative_revenue,
            Alteration::BadRevenue(_) => &mut injected.bad_revenue,
            Alteration::RevenueOnTouch(_) => &mut injected.revenue_on_non_conversion,
            Alteration::ChannelVariant(_) => &mut injected.channel_variants,
        };
        *counter += 1;
    }
    injected
}

/// What an exact ingester finds when it keeps the events `accepted` selects
/// (each once: duplicates never add anything).
fn expect(events: &[Event], users: u32, accepted: impl Fn(usize) -> bool) -> Expected {
    const SEEN: u8 = 1;
    const BOUGHT: u8 = 2;
    let mut flags = vec![0_u8; users as usize];
    let mut expected = Expected::default();
    for (index, event) in events.iter().enumerate() {
        if !accepted(index) {
            continue;
        }
        expected.accepted += 1;
        let flag = &mut flags[event.user as usize];
        *flag |= SEEN;
        if event.kind == EventKind::Conversion {
            expected.conversions += 1;
            *flag |= BOUGHT;
        } else {
            expected.touches += 1;
        }
    }
    expected.users = flags.iter().filter(|flag| **flag & SEEN != 0).count() as u64;
    expected.first_conversions = flags.iter().filter(|flag| **flag & BOUGHT != 0).count() as u64;
    expected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::simulate::simulate;

    #[test]
    fn every_event_is_written_once_plus_its_duplicates() {
        let events = simulate(5, 5_000);
        let layout = dirty(&events, 5_000, 5);
        let mut written = vec![0_u32; events.len()];
        for row in &layout.rows {
            written[row.event as usize] += 1;
        }
        let twice = written.iter().filter(|count| **count == 2).count() as u64;
        assert!(written.iter().all(|count| (1..=2).contains(count)));
        assert_eq!(twice, layout.injected.duplicates);
        assert_eq!(layout.rows.len() as u64, events.len() as u64 + twice);
    }

    #[test]
    fn duplicated_and_moved_rows_are_never_altered() {
        let events = simulate(9, 5_000);
        let layout = dirty(&events, 5_000, 9);
        let mut altered = vec![false; events.len()];
        for row in layout.rows.iter().filter(|row| row.alteration != Alteration::None) {
            assert!(!altered[row.event as usize], "altered twice");
            altered[row.event as usize] = true;
        }
        let mut seen = vec![0_u8; events.len()];
        for row in &layout.rows {
            seen[row.event as usize] += 1;
            if seen[row.event as usize] == 2 {
                assert!(!altered[row.event as usize], "a duplicate of an altered row");
            }
        }
        let out_of_order = layout.rows.windows(2).filter(|pair| pair[0].event > pair[1].event).count();
        assert!(out_of_order > 0);
    }

    #[test]
    fn revenue_faults_only_hit_conversions_and_channel_faults_only_touches() {
        let events = simulate(13, 8_000);
        let layout = dirty(&events, 8_000, 13);
        for row in &layout.rows {
            let conversion = events[row.event as usize].kind == EventKind::Conversion;
            match row.alteration {
                Alteration::NegativeRevenue | Alteration::BadRevenue(_) => assert!(conversion),
                Alteration::MissingChannel | Alteration::RevenueOnTouch(_) => assert!(!conversion),
                _ => {}
            }
        }
        assert!(layout.injected.negative_revenue > 0 && layout.injected.bad_revenue > 0);
    }
}
