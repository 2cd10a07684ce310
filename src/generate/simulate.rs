//! The user walks: every user moves through the funnel as a Markov chain
//! over channels, building purchase intent until they buy or drift away.
//!
//! Users are simulated in fixed-size chunks, each with its own random
//! stream derived from the seed and the chunk index, so the result does not
//! depend on how rayon schedules the chunks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::catalog::{
    CAMPAIGNS, CHANNEL_COUNT, CHANNELS, CampaignId, ChannelId, NO_CAMPAIGN, TOUCH_KINDS, campaigns_of,
};
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

/// Users simulated per random stream; fixed so the output does not depend on
/// the thread count.
const USERS_PER_CHUNK: u32 = 4_096;

/// Share of users whose id is written with non-ASCII characters (in dirty
/// mode).
const UNICODE_USER_SHARE: f64 = 0.01;

/// The number of unicode id templates (see `render::UNICODE_PREFIXES`).
pub(crate) const UNICODE_TEMPLATE_COUNT: u8 = 5;

/// How much an event kind adds to intent, relative to the channel's lift:
/// an impression is seen in passing, a click or visit is chosen.
const KIND_LIFT: [f64; 3] = [0.6, 1.0, 1.0];

/// How likely a purchase is right after each event kind, per unit of intent:
/// people rarely buy right after an impression.
const KIND_CLOSING: [f64; 3] = [0.26, 0.92, 1.05];

/// The largest chance of a purchase after any one touch.
const MAX_HAZARD: f64 = 0.6;

/// Chance that a prospect drifts away after a touch without buying.
const PROSPECT_CHURN: f64 = 0.13;

/// Chance that a customer drifts away after a touch without buying again.
const CUSTOMER_CHURN: f64 = 0.25;

/// Chance that a buyer stays in touch with the brand after a purchase.
const STAY_AFTER_PURCHASE: f64 = 0.6;

/// Repeat buyers need less persuasion but are also less excited: their
/// intent starts here after a purchase.
const CUSTOMER_BASE_INTENT: f64 = 0.05;

/// Median first-purchase revenue, in currency units (lognormal).
const REVENUE_MEDIAN: f64 = 52.0;

/// Spread of the revenue's logarithm.
const REVENUE_SIGMA: f64 = 0.55;

/// Repeat purchases are somewhat smaller.
const REPEAT_REVENUE_FACTOR: f64 = 0.8;

/// A guard against pathological walks; the churn rates make this rare.
const MAX_EVENTS_PER_USER: usize = 200;

/// Random-stream domains, so that the walks, the dirt and the spend noise
/// never share a stream.
pub(crate) const STREAM_WALKS: u64 = 1;
/// The domain of the dirty-injection streams.
pub(crate) const STREAM_DIRT: u64 = 2;
/// The domain of the spend-noise stream.
pub(crate) const STREAM_SPEND: u64 = 3;

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
    /// The campaign, or [`NO_CAMPAIGN`].
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

/// Simulates every user and returns their events sorted by time, then user.
pub(crate) fn simulate(seed: u64, users: u32) -> Vec<Event> {
    let chunk_count = users.div_ceil(USERS_PER_CHUNK);
    let chunks: Vec<Vec<Event>> = (0..chunk_count)
        .into_par_iter()
        .map(|chunk| {
            let first = chunk * USERS_PER_CHUNK;
            let last = users.min(first + USERS_PER_CHUNK);
            let mut rng = stream(seed, STREAM_WALKS, u64::from(chunk));
            let mut events = Vec::with_capacity((last - first) as usize * 6);
            for user in first..last {
                walk(user, &mut rng, &mut events);
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

/// Where a user stands between two touches.
struct Walker {
    user: u32,
    unicode_template: u8,
    time: i64,
    channel: ChannelId,
    intent: f64,
    touches: u32,
    purchases: u32,
}

/// Simulates one user, appending their events in time order.
fn walk(user: u32, rng: &mut ChaCha8Rng, events: &mut Vec<Event>) {
    let unicode_template =
        if rng.random_bool(UNICODE_USER_SHARE) { rng.random_range(1..=UNICODE_TEMPLATE_COUNT) } else { 0 };
    let entry_weights: [f64; CHANNEL_COUNT] = std::array::from_fn(|index| CHANNELS[index].entry_weight);
    let mut walker = Walker {
        user,
        unicode_template,
        // Arrivals spread over the quarter; late arrivals are cut off at its
        // end like a real extract.
        time: SPAN_START + rng.random_range(0..SPAN_END - SPAN_START - SECONDS_PER_DAY),
        channel: to_channel_id(pick_weighted(rng, &entry_weights)),
        intent: 0.0,
        touches: 0,
        purchases: 0,
    };
    let first_event = events.len();
    while walker.time < SPAN_END && events.len() - first_event < MAX_EVENTS_PER_USER {
        let kind_index = pick_weighted(rng, &CHANNELS[usize::from(walker.channel)].kind_weights);
        let touch = touch_event(&walker, kind_index, rng);
        events.push(touch);
        walker.touches += 1;
        let profile = &CHANNELS[usize::from(walker.channel)];
        walker.intent += profile.lift * KIND_LIFT[kind_index];
        let hazard = (walker.intent * KIND_CLOSING[kind_index]).min(MAX_HAZARD);
        if rng.random_bool(hazard) {
            if !purchase(&mut walker, &touch, rng, events) {
                break;
            }
        } else {
            let churn = if walker.purchases == 0 { PROSPECT_CHURN } else { CUSTOMER_CHURN };
            if rng.random_bool(churn) {
                break;
            }
            walker.time += touch_gap(rng);
        }
        walker.channel = next_channel(walker.channel, walker.purchases > 0, rng);
    }
    for event in &mut events[first_event..] {
        event.decomposed = unicode_template != 0 && rng.random_bool(0.5);
    }
}

/// Builds the touch the walker makes now.
fn touch_event(walker: &Walker, kind_index: usize, rng: &mut ChaCha8Rng) -> Event {
    let campaign = pick_campaign(walker, rng);
    let profile = &CHANNELS[usize::from(walker.channel)];
    let stage = match (walker.purchases > 0, profile.customer_stage) {
        (true, Some(stage)) => stage,
        _ if campaign == NO_CAMPAIGN => profile.default_stage,
        _ => CAMPAIGNS[usize::from(campaign)].stage,
    };
    Event {
        time: walker.time,
        user: walker.user,
        revenue_cents: 0,
        channel: walker.channel,
        campaign,
        stage,
        kind: TOUCH_KINDS[kind_index],
        unicode_template: walker.unicode_template,
        decomposed: false,
    }
}

/// Records a purchase shortly after `touch`; returns whether the user stays
/// in touch afterwards (and within the quarter).
fn purchase(walker: &mut Walker, touch: &Event, rng: &mut ChaCha8Rng, events: &mut Vec<Event>) -> bool {
    // Checkout takes from two minutes to six hours after the last touch.
    walker.time += rng.random_range(120..6 * 3_600);
    if walker.time >= SPAN_END {
        return false;
    }
    let factor = if walker.purchases == 0 { 1.0 } else { REPEAT_REVENUE_FACTOR };
    let revenue = REVENUE_MEDIAN * factor * (REVENUE_SIGMA * standard_normal(rng)).exp();
    let revenue_cents = to_cents(revenue);
    events.push(Event {
        time: walker.time,
        revenue_cents,
        stage: Stage::Conversion,
        kind: EventKind::Conversion,
        ..*touch
    });
    walker.purchases += 1;
    walker.intent = CUSTOMER_BASE_INTENT;
    if !rng.random_bool(STAY_AFTER_PURCHASE) {
        return false;
    }
    // Customers come back days later, not minutes.
    walker.time += rng.random_range(SECONDS_PER_DAY..20 * SECONDS_PER_DAY);
    true
}

/// An amount in cents, at least one currency unit.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the amount is positive, and the cast saturates on an astronomically unlikely huge draw"
)]
fn to_cents(amount: f64) -> u32 {
    ((amount * 100.0).round() as u32).max(100)
}

/// Chooses the campaign of a touch on the walker's channel.
fn pick_campaign(walker: &Walker, rng: &mut ChaCha8Rng) -> CampaignId {
    let mut ids = [NO_CAMPAIGN; 4];
    let mut weights = [0.0; 4];
    for (slot, (id, campaign)) in campaigns_of(walker.channel).take(4).enumerate() {
        ids[slot] = id;
        weights[slot] = if walker.touches < campaign.minimum_touches {
            0.0
        } else if walker.purchases > 0 {
            campaign.customer_weight
        } else {
            campaign.prospect_weight
        };
    }
    if ids[0] == NO_CAMPAIGN {
        return NO_CAMPAIGN;
    }
    ids[pick_weighted(rng, &weights)]
}

/// The gap before the next touch: minutes, hours or days, with a tail of
/// weeks so that some touches fall outside a 30-day lookback.
fn touch_gap(rng: &mut ChaCha8Rng) -> i64 {
    let bucket = rng.random::<f64>();
    if bucket < 0.35 {
        rng.random_range(30..3_600)
    } else if bucket < 0.70 {
        rng.random_range(3_600..SECONDS_PER_DAY)
    } else if bucket < 0.96 {
        rng.random_range(SECONDS_PER_DAY..12 * SECONDS_PER_DAY)
    } else {
        rng.random_range(12 * SECONDS_PER_DAY..40 * SECONDS_PER_DAY)
    }
}

/// The channel of the next touch, from the transition matrix; customers
/// lean towards owned and word-of-mouth channels.
fn next_channel(channel: ChannelId, customer: bool, rng: &mut ChaCha8Rng) -> ChannelId {
    let row = &CHANNELS[usize::from(channel)].transitions;
    let weights: [f64; CHANNEL_COUNT] =
        std::array::from_fn(|index| if customer { row[index] * CHANNELS[index].customer_affinity } else { row[index] });
    to_channel_id(pick_weighted(rng, &weights))
}

fn to_channel_id(index: usize) -> ChannelId {
    // Indices come from CHANNEL_COUNT-sized tables, far below u8::MAX.
    ChannelId::try_from(index).unwrap_or(0)
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
