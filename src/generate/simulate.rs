//! The simulated log: every user of a [`World`] played with every channel
//! on (see [`super::world`]), and the random streams and draws the
//! generator shares.
//!
//! Each user draws from a stream of their own, derived from the seed and
//! the user's index, so the result does not depend on how rayon schedules
//! the work, and a user can be replayed alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::catalog::{CampaignId, ChannelId};
use super::scenario::World;
use super::world::{ALL_CHANNELS, Plan, replay};
use crate::event::{EventKind, Stage};

/// 2026-01-01T00:00:00Z in seconds since the Unix epoch: the first instant
/// of the simulated quarter. Fixed so that output never depends on the date
/// the generator runs.
pub(crate) const SPAN_START: i64 = 1_767_225_600;

/// The number of days simulated: 2026-01-01 to 2026-03-31.
pub(crate) const SPAN_DAYS: usize = 90;

/// The first instant after the simulated quarter (2026-04-01T00:00:00Z).
pub(crate) const SPAN_END: i64 = SPAN_START + 90 * SECONDS_PER_DAY;
const _: () = assert!(SPAN_DAYS == 90, "SPAN_END assumes 90 days");

/// Seconds in a day.
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;

/// Users simulated per parallel task.
const USERS_PER_CHUNK: u32 = 4_096;

/// The number of unicode id templates (see `render::UNICODE_PREFIXES`).
pub(crate) const UNICODE_TEMPLATE_COUNT: u8 = 5;

/// Random-stream domains, so that the walks, the dirt and the spend noise
/// never share a stream.
pub(crate) const STREAM_WALKS: u64 = 1;
/// The domain of the dirty-injection streams.
pub(crate) const STREAM_DIRT: u64 = 2;
/// The domain of the spend-noise stream.
pub(crate) const STREAM_SPEND: u64 = 3;
/// The domain of the harvest-touch streams.
pub(crate) const STREAM_HARVEST: u64 = 4;
/// The domain of the streams that choose NFC or NFD spellings.
const STREAM_DECOMPOSE: u64 = 5;

/// One clean row of the log, before rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// Seconds since the Unix epoch, UTC.
    pub(crate) time: i64,
    /// The user's index, `0..users`.
    pub(crate) user: u32,
    /// Revenue in cents; 0 on touches.
    pub(crate) revenue_cents: u32,
    /// The channel of the touch, or of the touch that led to a purchase.
    pub(crate) channel: ChannelId,
    /// The campaign, or [`super::catalog::NO_CAMPAIGN`].
    pub(crate) campaign: CampaignId,
    /// The funnel stage the row carries.
    pub(crate) stage: Stage,
    /// What happened.
    pub(crate) kind: EventKind,
    /// 0 for a plain `u…` id, else `1..=UNICODE_TEMPLATE_COUNT`.
    pub(crate) unicode_template: u8,
    /// Whether a unicode id is written in NFD rather than NFC on this row.
    pub(crate) decomposed: bool,
}

/// A random stream for one purpose (`domain`) and one chunk of work.
pub(crate) fn stream(seed: u64, domain: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0_u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&domain.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(index);
    rng
}

/// Picks an index with probability proportional to its weight.
pub(crate) fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut target = rng.random::<f64>() * total;
    for (index, weight) in weights.iter().enumerate() {
        if target < *weight {
            return index;
        }
        target -= weight;
    }
    // Rounding can leave `target` a hair above the last weight: take the
    // last index with any weight.
    weights.iter().rposition(|weight| *weight > 0.0).unwrap_or(0)
}

/// A standard normal draw (Box–Muller; `rand_distr` is not a dependency).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let uniform: f64 = 1.0 - rng.random::<f64>();
    let angle: f64 = rng.random::<f64>() * std::f64::consts::TAU;
    (-2.0 * uniform.ln()).sqrt() * angle.cos()
}

/// Simulates every user of the default scenario and returns their events
/// sorted by time, then user.
#[cfg(test)]
pub(crate) fn simulate(seed: u64, users: u32) -> Vec<Event> {
    let world = super::scenario::Scenario::shipped("default").and_then(|scenario| scenario.world().ok());
    simulate_world(&world.expect("the default scenario resolves"), seed, users)
}

/// Simulates every user of `world` and returns their events sorted by
/// time, then user.
pub(crate) fn simulate_world(world: &World, seed: u64, users: u32) -> Vec<Event> {
    let chunk_count = users.div_ceil(USERS_PER_CHUNK);
    let chunks: Vec<Vec<Event>> = (0..chunk_count)
        .into_par_iter()
        .map(|chunk| {
            let first = chunk * USERS_PER_CHUNK;
            let last = users.min(first + USERS_PER_CHUNK);
            let mut events = Vec::with_capacity((last - first) as usize * 6);
            for user in first..last {
                let plan = Plan::draw(world, seed, user);
                let start = events.len();
                replay(world, &plan, ALL_CHANNELS, Some(&mut events));
                decompose(seed, user, &mut events[start..]);
            }
            events
        })
        .collect();
    let mut events = chunks.concat();
    // A user's times strictly increase, so (time, user) is unique and the
    // unstable sort is deterministic.
    events.par_sort_unstable_by_key(|event| (event.time, event.user));
    events
}

/// Writes half of a unicode user's rows in NFD rather than NFC, at random.
fn decompose(seed: u64, user: u32, events: &mut [Event]) {
    if events.first().is_none_or(|event| event.unicode_template == 0) {
        return;
    }
    let mut rng = stream(seed, STREAM_DECOMPOSE, u64::from(user));
    for event in events {
        event.decomposed = rng.random_bool(0.5);
    }
}

#[cfg(test)]
#[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^52")]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn span_start_is_new_year_2026() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|time| time.and_utc().timestamp());
        assert_eq!(start, Some(SPAN_START));
    }

    #[test]
    fn each_users_times_strictly_increase_within_the_quarter() {
        let events = simulate(7, 3_000);
        let mut last_time: HashMap<u32, i64> = HashMap::new();
        for event in &events {
            assert!((SPAN_START..SPAN_END).contains(&event.time));
            if let Some(previous) = last_time.insert(event.user, event.time) {
                assert!(event.time > previous, "user {} goes back in time", event.user);
            }
        }
        assert!(events.windows(2).all(|pair| (pair[0].time, pair[0].user) < (pair[1].time, pair[1].user)));
    }

    #[test]
    fn funnel_shape_is_realistic() {
        let users = 20_000;
        let events = simulate(11, users);
        let per_user = events.len() as f64 / f64::from(users);
        assert!((4.5..=6.5).contains(&per_user), "{per_user} events per user");
        let mut purchases: HashMap<u32, u32> = HashMap::new();
        for event in events.iter().filter(|event| event.kind == EventKind::Conversion) {
            *purchases.entry(event.user).or_default() += 1;
        }
        let converters = purchases.len() as f64 / f64::from(users);
        assert!((0.25..=0.35).contains(&converters), "{converters} converted");
        let repeaters = purchases.values().filter(|count| **count > 1).count();
        assert!(repeaters > purchases.len() / 10, "{repeaters} repeat buyers");
    }

    #[test]
    fn revenue_centres_around_sixty() {
        let events = simulate(3, 10_000);
        let revenues: Vec<f64> = events
            .iter()
            .filter(|event| event.kind == EventKind::Conversion)
            .map(|event| f64::from(event.revenue_cents) / 100.0)
            .collect();
        let mean = revenues.iter().sum::<f64>() / revenues.len() as f64;
        assert!((50.0..=70.0).contains(&mean), "mean revenue {mean}");
        assert!(events.iter().filter(|event| event.kind.is_touch()).all(|event| event.revenue_cents == 0));
    }
}
