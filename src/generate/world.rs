//! The simulated world: users meet the brand's channels on a schedule, each
//! touch adds purchase intent, and purchases arrive in continuous time at a
//! rate set by that intent.
//!
//! Every random draw a user needs is made up front, into a [`Plan`], from a
//! stream of that user's own. [`replay`] then plays the plan with only some
//! channels switched on: the touches of the others do not happen, and
//! everything else (the schedule, the purchase thresholds, the revenue) is
//! the same draw. Replaying with every channel on gives the log; replaying
//! with a subset gives what would have happened had only those channels
//! run. These common random numbers make the ground truth of
//! [`super::truth`] exact for the log written, not an estimate.
//!
//! The purchase rate at time `t` of a phase (the time since the user's
//! previous purchase, or since they arrived) is
//!
//! ```text
//! rate(t) = base + closing(t) × variety(t) × Σ_i lift_i × kind_i × 2^(−(t − t_i) / half_life_i)
//! ```
//!
//! over the touches `i` of the phase that happened; `closing(t)` is
//! `1 + kinds.closing[k]` while a click or visit of kind `k` keeps the shop
//! open (the largest if several do) and 1 otherwise. A purchase happens
//! when the integrated rate reaches the phase's threshold, an Exp(1) draw
//! (the time-rescaling theorem), and is logged a checkout delay later.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::catalog::{
    CAMPAIGNS, CHANNEL_COUNT, CHANNELS, CampaignId, ChannelId, NO_CAMPAIGN, TOUCH_KINDS, campaigns_of,
};
use super::draw::{
    Event, SECONDS_PER_DAY, SPAN_END, SPAN_START, STREAM_HARVEST, STREAM_WALKS, UNICODE_TEMPLATE_COUNT, pick_weighted,
    standard_normal, stream,
};
use super::scenario::World;
use crate::event::{EventKind, Stage};

/// A set of catalog channels, bit `c` for channel `c`.
pub type ChannelSet = u16;

/// Every catalog channel.
pub const ALL_CHANNELS: ChannelSet = (1 << CHANNEL_COUNT) - 1;

/// Share of users whose id is written with non-ASCII characters (in dirty
/// mode).
const UNICODE_USER_SHARE: f64 = 0.01;

/// Purchases per user the plan is drawn for; later ones are not simulated.
const MAX_PHASES: usize = 10;

/// Scheduled touches per phase, at most: a guard against pathological
/// schedules that the churn rates make rare.
const MAX_OCCASIONS: usize = 100;

/// Median first-purchase revenue, in currency units (lognormal).
const REVENUE_MEDIAN: f64 = 52.0;

/// Spread of the revenue's logarithm.
const REVENUE_SIGMA: f64 = 0.55;

/// Repeat purchases are somewhat smaller.
const REPEAT_REVENUE_FACTOR: f64 = 0.8;

/// Harvest touches closer than this to another event of the user are not
/// logged, so that a user's timestamps stay at least this far apart.
const MIN_SPACING: i64 = 30;

/// One scheduled touch: when, where and what, if its channel runs.
#[derive(Clone, Copy, Debug)]
struct Occasion {
    /// Seconds after the phase starts.
    offset: i64,
    channel: ChannelId,
    /// Index into [`TOUCH_KINDS`].
    kind: u8,
    /// Uniform draw that picks the campaign.
    campaign_draw: f64,
}

/// The draws of one phase: the time from arrival to the first purchase, or
/// from one purchase to the next.
#[derive(Clone, Debug)]
struct Phase {
    /// Whether the user is still in touch after the previous purchase
    /// (always true for the first phase).
    stays: bool,
    /// Seconds from the previous purchase to the phase's first touch.
    return_gap: i64,
    /// The schedule, ending when the user drifts away.
    occasions: Vec<Occasion>,
    /// The Exp(1) threshold the integrated purchase rate must reach.
    threshold: f64,
    /// Seconds from the purchase decision to the logged purchase.
    checkout: i64,
    /// The purchase's revenue.
    revenue_cents: u32,
}

/// Everything random about one user, drawn before any replay.
#[derive(Clone, Debug)]
pub struct Plan {
    seed: u64,
    user: u32,
    unicode_template: u8,
    arrival: i64,
    phases: Vec<Phase>,
}

impl Plan {
    /// Draws user `user`'s plan from its own stream.
    #[must_use]
    pub fn draw(world: &World, seed: u64, user: u32) -> Self {
        let mut rng = stream(seed, STREAM_WALKS, u64::from(user));
        let unicode_template =
            if rng.random_bool(UNICODE_USER_SHARE) { rng.random_range(1..=UNICODE_TEMPLATE_COUNT) } else { 0 };
        // Arrivals spread over the quarter; late arrivals are cut off at its
        // end like a real extract.
        let arrival = SPAN_START + rng.random_range(0..SPAN_END - SPAN_START - SECONDS_PER_DAY);
        let mut phases = Vec::new();
        for index in 0..MAX_PHASES {
            let phase = draw_phase(world, index, &mut rng);
            let stays = phase.stays;
            phases.push(phase);
            if !stays {
                break;
            }
        }
        Self { seed, user, unicode_template, arrival, phases }
    }

    /// The channels some replay could touch: the channels of every
    /// scheduled touch whose effect is not null. A channel outside this set
    /// changes nothing in any replay of this user.
    #[must_use]
    pub fn players(&self, world: &World) -> ChannelSet {
        let mut set = 0;
        for occasion in self.phases.iter().flat_map(|phase| &phase.occasions) {
            let effect = &world.effects[usize::from(occasion.channel)];
            let closes = effect.closes && world.kind_closing[usize::from(occasion.kind)] > 0.0;
            if effect.lift > 0.0 || closes {
                set |= 1 << occasion.channel;
            }
        }
        set
    }
}

fn draw_phase(world: &World, index: usize, rng: &mut ChaCha8Rng) -> Phase {
    let behaviour = &world.scenario.behaviour;
    let customer = index > 0;
    let stays = !customer || rng.random_bool(behaviour.stay_after_purchase);
    // Customers come back days later, not minutes.
    let return_gap = if customer { rng.random_range(SECONDS_PER_DAY..20 * SECONDS_PER_DAY) } else { 0 };
    let threshold = -(1.0 - rng.random::<f64>()).ln();
    // Checkout takes from two to twenty minutes after the decision.
    let checkout = rng.random_range(120..1_200);
    let factor = if customer { REPEAT_REVENUE_FACTOR } else { 1.0 };
    let revenue_cents = to_cents(REVENUE_MEDIAN * factor * (REVENUE_SIGMA * standard_normal(rng)).exp());
    let churn = if customer { behaviour.customer_churn } else { behaviour.prospect_churn };
    let entry: [f64; CHANNEL_COUNT] = std::array::from_fn(|channel| {
        let affinity = if customer { CHANNELS[channel].customer_affinity } else { 1.0 };
        CHANNELS[channel].entry_weight * affinity * world.effects[channel].schedule
    });
    let mut channel = to_channel_id(pick_weighted(rng, &entry));
    let mut offset = 0;
    let mut occasions = Vec::new();
    loop {
        let kind = pick_weighted(rng, &CHANNELS[usize::from(channel)].kind_weights);
        let kind = u8::try_from(kind).unwrap_or(0);
        occasions.push(Occasion { offset, channel, kind, campaign_draw: rng.random() });
        if rng.random_bool(churn) || occasions.len() >= MAX_OCCASIONS {
            break;
        }
        offset += touch_gap(rng);
        channel = next_channel(world, channel, customer, rng);
    }
    Phase { stays, return_gap, occasions, threshold, checkout, revenue_cents }
}

/// What a replay adds up: purchases and their revenue within the quarter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Purchases logged within the quarter.
    pub purchases: u32,
    /// Their revenue, in cents.
    pub revenue_cents: u64,
}

/// Plays `plan` with only the channels of `active` running. With `events`,
/// also writes what a tracking system would log, harvest touches included
/// (they change nothing, so replays without a log skip them).
pub fn replay(world: &World, plan: &Plan, active: ChannelSet, mut events: Option<&mut Vec<Event>>) -> Outcome {
    let mut outcome = Outcome::default();
    let mut log = events.as_deref().map(|events| UserLog::new(plan, events.len()));
    let mut harvest_rng = events.is_some().then(|| stream(plan.seed, STREAM_HARVEST, u64::from(plan.user)));
    let mut start = plan.arrival;
    for (index, phase) in plan.phases.iter().enumerate() {
        if index > 0 {
            if !phase.stays {
                break;
            }
            start += phase.return_gap;
        }
        let mut rate = Rate::new(world, index > 0);
        let mut cursor = Cursor { time: real(start), needed: phase.threshold };
        let mut decision = None;
        for occasion in &phase.occasions {
            let time = start + occasion.offset;
            if time >= SPAN_END {
                break;
            }
            let from = cursor.time;
            decision = rate.find(&mut cursor, real(time));
            let until = decision.map_or(time, |found| whole(found.ceil()));
            if let (Some(log), Some(rng), Some(events)) = (&mut log, &mut harvest_rng, events.as_deref_mut()) {
                harvest(world, &rate, from, until, log, rng, events);
            }
            if decision.is_some() {
                break;
            }
            if active & (1 << occasion.channel) != 0 {
                rate.add(world, time, occasion.channel, occasion.kind);
                if let (Some(log), Some(events)) = (&mut log, events.as_deref_mut()) {
                    log.touch(events, time, occasion);
                }
            }
        }
        if decision.is_none() {
            let from = cursor.time;
            decision = rate.find(&mut cursor, real(SPAN_END));
            let until = decision.map_or(SPAN_END, |found| whole(found.ceil()));
            if let (Some(log), Some(rng), Some(events)) = (&mut log, &mut harvest_rng, events.as_deref_mut()) {
                harvest(world, &rate, from, until, log, rng, events);
            }
        }
        let Some(decision) = decision else {
            break;
        };
        let purchase = whole(decision.ceil()) + phase.checkout;
        if purchase >= SPAN_END {
            break;
        }
        outcome.purchases += 1;
        outcome.revenue_cents += u64::from(phase.revenue_cents);
        if let (Some(log), Some(events)) = (&mut log, events.as_deref_mut()) {
            log.purchase(events, purchase, phase.revenue_cents);
        }
        start = purchase;
    }
    outcome
}

/// Draws the harvest touches between `from` and `until` (factual runs
/// only): they arrive at `harvest ×` the purchase rate marketing causes,
/// by thinning, and change nothing else.
fn harvest(
    world: &World,
    rate: &Rate,
    from: f64,
    until: i64,
    log: &mut UserLog,
    rng: &mut ChaCha8Rng,
    events: &mut Vec<Event>,
) {
    let weights: [f64; CHANNEL_COUNT] = std::array::from_fn(|channel| world.effects[channel].harvest);
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return;
    }
    let mut time = from;
    let end = real(until);
    while time < end {
        // The caused rate only falls between breakpoints, so its value at
        // the start of each stretch bounds it there.
        let stretch_end = rate.next_breakpoint(time).min(end);
        let bound = total * rate.caused(time);
        if bound <= 0.0 {
            time = stretch_end;
            continue;
        }
        let mut candidate = time;
        loop {
            candidate += -(1.0 - rng.random::<f64>()).ln() / bound;
            if candidate >= stretch_end {
                break;
            }
            if rng.random::<f64>() * bound <= total * rate.caused(candidate) {
                let channel = to_channel_id(pick_weighted(rng, &weights));
                let kind = pick_weighted(rng, &CHANNELS[usize::from(channel)].kind_weights);
                // Harvest touches add nothing: they are logged, never fed to
                // the rate.
                let occasion =
                    Occasion { offset: 0, channel, kind: u8::try_from(kind).unwrap_or(0), campaign_draw: rng.random() };
                let at = whole(candidate);
                if at + MIN_SPACING <= until && log.spaced(events, at) {
                    log.touch(events, at, &occasion);
                }
            }
        }
        time = stretch_end;
    }
}

/// Where the integration of the purchase rate stands in a phase.
struct Cursor {
    /// Seconds since the epoch.
    time: f64,
    /// How much integrated rate is still needed for the next purchase.
    needed: f64,
}

/// A touch that happened in the current phase, as the purchase rate sees it.
#[derive(Clone, Copy, Debug)]
struct Active {
    time: f64,
    /// Intent added, purchases per second.
    intent: f64,
    /// Decay per second.
    decay: f64,
    /// When its session ends (its own time when it opens none).
    session_end: f64,
    /// `kinds.closing` of its kind while the session lasts.
    closing: f64,
}

/// The purchase rate of one phase.
struct Rate<'w> {
    world: &'w World,
    base: f64,
    touches: Vec<Active>,
    /// Channels with a lift touched in the phase.
    seen: ChannelSet,
}

impl<'w> Rate<'w> {
    fn new(world: &'w World, customer: bool) -> Self {
        let purchase = &world.scenario.purchase;
        let base = if customer { purchase.customer_base_rate } else { purchase.base_rate };
        Self { world, base: base / real(SECONDS_PER_DAY), touches: Vec::new(), seen: 0 }
    }

    fn add(&mut self, world: &World, time: i64, channel: ChannelId, kind: u8) {
        let effect = &world.effects[usize::from(channel)];
        let kind = usize::from(kind);
        let closing = if effect.closes { world.kind_closing[kind] } else { 0.0 };
        let session = world.scenario.purchase.session_minutes * 60.0;
        let time = real(time);
        self.touches.push(Active {
            time,
            intent: effect.lift * world.kind_lift[kind] / real(SECONDS_PER_DAY),
            decay: effect.decay_per_second,
            session_end: if closing > 0.0 { time + session } else { time },
            closing,
        });
        if effect.lift > 0.0 {
            self.seen |= 1 << channel;
        }
    }

    /// `closing × variety` at `time` (constant between breakpoints).
    fn multiplier(&self, time: f64) -> f64 {
        let closing = self
            .touches
            .iter()
            .filter(|touch| touch.time <= time && time < touch.session_end)
            .map(|touch| touch.closing)
            .fold(0.0, f64::max);
        let purchase = &self.world.scenario.purchase;
        let distinct = self.seen.count_ones();
        let variety = if distinct <= 1 { purchase.alone } else { 1.0 + purchase.variety * f64::from(distinct - 1) };
        (1.0 + closing) * variety
    }

    /// The purchase rate marketing causes at `time`, per second.
    fn caused(&self, time: f64) -> f64 {
        let intent: f64 =
            self.touches.iter().map(|touch| touch.intent * (-touch.decay * (time - touch.time)).exp()).sum();
        self.multiplier(time) * intent
    }

    /// The first session end after `time`, or infinity.
    fn next_breakpoint(&self, time: f64) -> f64 {
        self.touches.iter().map(|touch| touch.session_end).filter(|&end| end > time).fold(f64::INFINITY, f64::min)
    }

    /// The rate integrated from `from` to `to`, within one stretch where
    /// the multiplier is `multiplier`.
    fn integral(&self, from: f64, to: f64, multiplier: f64) -> f64 {
        let caused: f64 = self
            .touches
            .iter()
            .map(|touch| {
                let at_from = (-touch.decay * (from - touch.time)).exp();
                touch.intent / touch.decay * at_from * (1.0 - (-touch.decay * (to - from)).exp())
            })
            .sum();
        self.base * (to - from) + multiplier * caused
    }

    /// Integrates from the cursor to `until`; returns the time the needed
    /// amount is reached, if it is, else moves the cursor to `until`.
    fn find(&self, cursor: &mut Cursor, until: f64) -> Option<f64> {
        while cursor.time < until {
            let end = self.next_breakpoint(cursor.time).min(until);
            let multiplier = self.multiplier(cursor.time);
            let whole = self.integral(cursor.time, end, multiplier);
            if whole >= cursor.needed {
                return Some(self.solve(cursor.time, end, multiplier, cursor.needed));
            }
            cursor.needed -= whole;
            cursor.time = end;
        }
        None
    }

    /// The time in `[from, to]` where the integral from `from` reaches
    /// `needed` (which it does by `to`). The integral is increasing and
    /// concave in the end point, so Newton's steps from `from` rise to the
    /// root without passing it; bisection guards the last steps.
    fn solve(&self, from: f64, to: f64, multiplier: f64, needed: f64) -> f64 {
        let (mut low, mut high) = (from, to);
        let mut time = from;
        for _ in 0..100 {
            let gap = needed - self.integral(from, time, multiplier);
            if gap <= 0.0 {
                high = time;
            } else {
                low = time;
            }
            if high - low < 0.5 {
                break;
            }
            let slope = self.base + multiplier * self.caused_intent(time);
            let step = if slope > 0.0 { time + gap / slope } else { high };
            time = if step > low && step < high { step } else { f64::midpoint(low, high) };
        }
        high
    }

    fn caused_intent(&self, time: f64) -> f64 {
        self.touches.iter().map(|touch| touch.intent * (-touch.decay * (time - touch.time)).exp()).sum()
    }
}

/// Writes one user's events as they happen.
struct UserLog {
    user: u32,
    unicode_template: u8,
    first: usize,
    touches: u32,
    purchases: u32,
    last: Option<(ChannelId, CampaignId)>,
}

impl UserLog {
    fn new(plan: &Plan, first: usize) -> Self {
        Self { user: plan.user, unicode_template: plan.unicode_template, first, touches: 0, purchases: 0, last: None }
    }

    /// True when `time` is at least [`MIN_SPACING`] after the user's last
    /// event.
    fn spaced(&self, events: &[Event], time: i64) -> bool {
        events[self.first..].last().is_none_or(|last| time >= last.time + MIN_SPACING)
    }

    fn touch(&mut self, events: &mut Vec<Event>, time: i64, occasion: &Occasion) {
        let campaign = self.pick_campaign(occasion);
        let profile = &CHANNELS[usize::from(occasion.channel)];
        let stage = match (self.purchases > 0, profile.customer_stage) {
            (true, Some(stage)) => stage,
            _ if campaign == NO_CAMPAIGN => profile.default_stage,
            _ => CAMPAIGNS[usize::from(campaign)].stage,
        };
        events.push(Event {
            time,
            user: self.user,
            revenue_cents: 0,
            channel: occasion.channel,
            campaign,
            stage,
            kind: TOUCH_KINDS[usize::from(occasion.kind)],
            unicode_template: self.unicode_template,
            decomposed: false,
        });
        self.touches += 1;
        self.last = Some((occasion.channel, campaign));
    }

    fn purchase(&mut self, events: &mut Vec<Event>, time: i64, revenue_cents: u32) {
        // The purchase row carries the channel and campaign of the touch
        // before it, as tracking systems record the session's source.
        let (channel, campaign) = self.last.unwrap_or((0, NO_CAMPAIGN));
        events.push(Event {
            time,
            user: self.user,
            revenue_cents,
            channel,
            campaign,
            stage: Stage::Conversion,
            kind: EventKind::Conversion,
            unicode_template: self.unicode_template,
            decomposed: false,
        });
        self.purchases += 1;
    }

    /// Chooses the campaign of a touch on a paid channel.
    fn pick_campaign(&self, occasion: &Occasion) -> CampaignId {
        let mut ids = [NO_CAMPAIGN; 4];
        let mut weights = [0.0; 4];
        for (slot, (id, campaign)) in campaigns_of(occasion.channel).take(4).enumerate() {
            ids[slot] = id;
            weights[slot] = if self.touches < campaign.minimum_touches {
                0.0
            } else if self.purchases > 0 {
                campaign.customer_weight
            } else {
                campaign.prospect_weight
            };
        }
        if ids[0] == NO_CAMPAIGN {
            return NO_CAMPAIGN;
        }
        let total: f64 = weights.iter().sum();
        let mut target = occasion.campaign_draw * total;
        for (slot, weight) in weights.iter().enumerate() {
            if target < *weight {
                return ids[slot];
            }
            target -= weight;
        }
        ids[weights.iter().rposition(|weight| *weight > 0.0).unwrap_or(0)]
    }
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

/// The gap before the next scheduled touch: minutes, hours or days, with a
/// tail of weeks so that some touches fall outside a 30-day lookback.
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

/// The channel of the next scheduled touch, from the transition matrix;
/// customers lean towards owned and word-of-mouth channels.
fn next_channel(world: &World, channel: ChannelId, customer: bool, rng: &mut ChaCha8Rng) -> ChannelId {
    let row = &CHANNELS[usize::from(channel)].transitions;
    let weights: [f64; CHANNEL_COUNT] = std::array::from_fn(|index| {
        let affinity = if customer { CHANNELS[index].customer_affinity } else { 1.0 };
        row[index] * affinity * world.effects[index].schedule
    });
    to_channel_id(pick_weighted(rng, &weights))
}

fn to_channel_id(index: usize) -> ChannelId {
    // Indices come from CHANNEL_COUNT-sized tables, far below u8::MAX.
    ChannelId::try_from(index).unwrap_or(0)
}

/// Seconds as a real number, for the rate's arithmetic.
#[expect(clippy::cast_precision_loss, reason = "simulated times are far below 2^52 seconds")]
fn real(seconds: i64) -> f64 {
    seconds as f64
}

/// A time found by the rate's arithmetic, back in whole seconds (rounded
/// towards zero).
#[expect(clippy::cast_possible_truncation, reason = "times inside the simulated span, far from i64's limits")]
fn whole(seconds: f64) -> i64 {
    seconds as i64
}
