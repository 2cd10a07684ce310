//! The simulated log: every user of a [`World`] played with every channel
//! on (see [`super::world`]).
//!
//! Each user draws from a stream of their own, derived from the seed and
//! the user's index, so the result does not depend on how rayon schedules
//! the work, and a user can be replayed alone.

use rand::Rng;
use rayon::prelude::*;

use super::draw::{Event, STREAM_DECOMPOSE, stream};
use super::scenario::World;
use super::world::{ALL_CHANNELS, Plan, replay};

/// Users simulated per parallel task.
const USERS_PER_CHUNK: u32 = 4_096;

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
    use crate::event::EventKind;
    use crate::generate::draw::{SPAN_END, SPAN_START};

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
