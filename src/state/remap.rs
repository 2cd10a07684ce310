//! Renumbering codes into united dictionaries, and the logs of converting
//! journeys the second pass credits.

use crate::aggregate::Recode;
use crate::config::Config;
use crate::event::EventKind;
use crate::event_log::{Dictionary, EventLog, NO_CHANNEL_CODE};
use crate::journey::Journeys;
use crate::models::chain::StateKey;

/// The sorted union of two dictionaries.
pub(super) fn union(left: &Dictionary, right: &Dictionary) -> Dictionary {
    let mut values: Vec<&str> = left.iter().chain(right.iter()).collect();
    values.sort_unstable();
    values.dedup();
    Dictionary::from_sorted(values.into_iter().map(Box::from).collect())
}

/// Where one state's channel and campaign codes go in the united
/// dictionaries. Both are sorted, so renumbering keeps the order of codes.
pub(super) struct Codes {
    channels: Vec<u32>,
    campaigns: Vec<u32>,
    /// Every code keeps its number (the state's dictionaries are already the
    /// united ones, or their start).
    identity: bool,
}

impl Codes {
    pub(super) fn new(log: &EventLog, channels: &Dictionary, campaigns: &Dictionary) -> Self {
        Self::between([&log.channels, &log.campaigns], channels, campaigns)
    }

    /// From the dictionaries `[channels, campaigns]` of a state into the
    /// united ones.
    pub(super) fn between(from: [&Dictionary; 2], channels: &Dictionary, campaigns: &Dictionary) -> Self {
        let code = |united: &Dictionary, name: &str| united.code_of(name).unwrap_or(NO_CHANNEL_CODE);
        let channels: Vec<u32> = from[0].iter().map(|name| code(channels, name)).collect();
        let campaigns: Vec<u32> = from[1].iter().map(|name| code(campaigns, name)).collect();
        let unchanged = |codes: &[u32]| codes.iter().enumerate().all(|(index, &code)| code as usize == index);
        let identity = unchanged(&channels) && unchanged(&campaigns);
        Self { channels, campaigns, identity }
    }

    /// Renumbers the channel and campaign codes of `log`'s events in place
    /// (its dictionaries are left as they are).
    pub(super) fn renumber(&self, log: &mut EventLog) {
        if self.identity {
            return;
        }
        for code in &mut log.channel {
            *code = self.channel(*code);
        }
        for code in &mut log.campaign {
            *code = self.campaign(*code);
        }
    }

    /// The united code of channel `code` (the no-channel code stays).
    pub(super) fn channel(&self, code: u32) -> u32 {
        if code == NO_CHANNEL_CODE { code } else { self.channels[code as usize] }
    }

    fn campaign(&self, code: u32) -> u32 {
        self.campaigns[code as usize]
    }
}

impl Recode for Codes {
    fn channel(&self, code: u32) -> u32 {
        Codes::channel(self, code)
    }

    /// A chain state with its channels renumbered, lane by lane.
    fn state(&self, state: StateKey) -> StateKey {
        let mut renumbered = 0;
        for lane in 0..4 {
            let value = (state >> (32 * lane)) & 0xFFFF_FFFF;
            if value != 0 {
                let code = Codes::channel(self, u32::try_from(value).unwrap_or(u32::MAX) - 1);
                renumbered |= StateKey::from(code + 1) << (32 * lane);
            }
        }
        renumbered
    }

    fn is_identity(&self) -> bool {
        self.identity
    }
}

/// The events of every converting journey of `log` whose conversion falls
/// in the analysis period (its path's touches, then its conversion), and
/// those journeys; the dictionaries of channels and campaigns stay whole.
pub(super) fn converting(log: &EventLog, journeys: &Journeys, config: &Config) -> (EventLog, Journeys) {
    let mut kept = EventLog { channels: log.channels.clone(), campaigns: log.campaigns.clone(), ..EventLog::default() };
    let mut kept_journeys = Journeys::default();
    let mut users = Vec::new();
    let (mut keep, mut moved, mut earlier, mut credited) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for user in 0..log.user_count() {
        let events = log.user_events(user);
        keep.clear();
        keep.resize(events.len(), false);
        credited.clear();
        for journey in journeys.of_user(user) {
            let Some(conversion) = config.credited_conversion(log, &journey) else {
                continue;
            };
            // The journey, and the earlier touches a model reading the
            // logged path credits with it, with the purchases between them
            // (which tell the carried touches from the others).
            crate::journey::earlier_touches(log, &journey, config.rate_memory(), &mut earlier);
            for index in earlier.iter().copied().chain(journey.path.clone()).chain(std::iter::once(conversion)) {
                keep[index - events.start] = true;
            }
            if let Some(&oldest) = earlier.first() {
                for index in (oldest..journey.path.start).filter(|&index| log.kind[index] == EventKind::Conversion) {
                    keep[index - events.start] = true;
                }
            }
            credited.push(journey);
        }
        if credited.is_empty() {
            continue;
        }
        kept.user_starts.push(kept.time.len());
        kept_journeys.user_starts.push(kept_journeys.len());
        users.push(Box::from(log.users.get(u32::try_from(user).unwrap_or(u32::MAX))));
        let code = u32::try_from(users.len() - 1).unwrap_or(u32::MAX);
        // Where each kept event lands: a journey's path and conversion stay
        // contiguous, as nothing between them is left out.
        moved.clear();
        for (offset, index) in events.clone().enumerate() {
            moved.push(kept.time.len());
            if keep[offset] {
                copy_event(&mut kept, log, index, |code| code, |code| code);
            }
        }
        for journey in &credited {
            let conversion = journey.conversion.unwrap_or(journey.path.end);
            let end = moved[conversion - events.start];
            kept_journeys.user.push(code);
            kept_journeys.path_start.push(end - journey.path.len());
            kept_journeys.path_end.push(end);
            kept_journeys.conversion.push(end);
            kept_journeys.first_purchase.push(journey.first_purchase);
        }
    }
    kept.user_starts.push(kept.time.len());
    kept_journeys.user_starts.push(kept_journeys.len());
    kept.users = Dictionary::from_sorted(users);
    (kept, kept_journeys)
}

/// A log without events, with the dictionaries of channels and campaigns of
/// `log`: what a state keeps of its users' log.
pub(super) fn dictionaries(log: &EventLog) -> EventLog {
    EventLog {
        channels: log.channels.clone(),
        campaigns: log.campaigns.clone(),
        user_starts: vec![0],
        ..EventLog::default()
    }
}

fn copy_event(
    into: &mut EventLog,
    from: &EventLog,
    index: usize,
    channel: impl Fn(u32) -> u32,
    campaign: impl Fn(u32) -> u32,
) {
    into.time.push(from.time[index]);
    into.kind.push(from.kind[index]);
    into.channel.push(channel(from.channel[index]));
    into.campaign.push(campaign(from.campaign[index]));
    into.stage.push(from.stage[index]);
    into.revenue.push(from.revenue[index]);
}

/// Appends the events and journeys of `user` of `from` to a log being
/// united, renumbering codes; the caller pushes the user's name, which must
/// come after every name already in `log`.
pub(super) fn append_user(
    log: &mut EventLog,
    journeys: &mut Journeys,
    from: (&EventLog, &Journeys, &Codes),
    user: usize,
) {
    let (from, from_journeys, codes) = from;
    let new_user = code(log.user_starts.len());
    log.user_starts.push(log.time.len());
    journeys.user_starts.push(journeys.len());
    let offset = log.time.len();
    let events = from.user_events(user);
    let first_event = events.start;
    for index in events {
        copy_event(log, from, index, |code| codes.channel(code), |code| codes.campaign(code));
    }
    for journey in from_journeys.of_user(user) {
        let shift = |index: usize| index - first_event + offset;
        journeys.user.push(new_user);
        journeys.path_start.push(shift(journey.path.start));
        journeys.path_end.push(shift(journey.path.end));
        journeys.conversion.push(journey.conversion.map_or(usize::MAX, shift));
        journeys.first_purchase.push(journey.first_purchase);
    }
}

fn code(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}
