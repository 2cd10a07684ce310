//! What the generator's parts share: the simulated quarter, one clean row of
//! the log ([`Event`]), and the random streams and draws.
//!
//! Each user draws from a stream of their own, derived from the seed, a
//! domain and the user's index, so the result does not depend on how rayon
//! schedules the work, and a user can be replayed alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::catalog::{CampaignId, ChannelId};
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
pub(crate) const STREAM_DECOMPOSE: u64 = 5;

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
