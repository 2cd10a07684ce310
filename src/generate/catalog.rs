//! The simulated marketing mix: channels, campaigns and the hidden
//! parameters that drive the user walks.
//!
//! Everything here is a constant table so that the generator's behaviour is
//! readable in one place and documented in `docs/generator.md`. Channels and
//! campaigns are referred to by their index in [`CHANNELS`] and
//! [`CAMPAIGNS`], which keeps an [`Event`](super::draw::Event) small.

use crate::event::{EventKind, Stage};

/// The number of channels that appear in the touchpoint log.
pub(crate) const CHANNEL_COUNT: usize = 10;

/// Index into [`CHANNELS`].
pub(crate) type ChannelId = u8;

/// Index into [`CAMPAIGNS`], or [`NO_CAMPAIGN`].
pub(crate) type CampaignId = u8;

/// The campaign id of a touch on an organic channel, written as an empty
/// field.
pub(crate) const NO_CAMPAIGN: CampaignId = u8::MAX;

/// How one channel behaves in the simulation.
#[derive(Debug)]
pub(crate) struct ChannelProfile {
    /// The normalised channel name, as clean rows carry it.
    pub(crate) name: &'static str,
    /// The stage the default channel map (`config::default_channel_stages`)
    /// gives this channel; touches before a first purchase carry it unless a
    /// campaign overrides it.
    pub(crate) default_stage: Stage,
    /// The stage of this channel's touches after a user's first purchase,
    /// when it differs from the default.
    pub(crate) customer_stage: Option<Stage>,
    /// Relative chance that a new user's first touch is on this channel.
    pub(crate) entry_weight: f64,
    /// Relative chances of an impression, a click and a visit.
    pub(crate) kind_weights: [f64; 3],
    /// The hidden "true effectiveness" in the default world: the purchase
    /// rate (per day) one click adds to the user's intent. Scenarios may
    /// change it; never written to the log.
    pub(crate) lift: f64,
    /// Relative chances of the next touch being on each channel, in
    /// [`CHANNELS`] order.
    pub(crate) transitions: [f64; CHANNEL_COUNT],
    /// Multiplier on transitions towards this channel once a user has bought:
    /// customers open emails and come back directly; prospecting ads target
    /// them less.
    pub(crate) customer_affinity: f64,
}

/// The ten channels of the log, in a fixed order that the transition
/// matrix rows and columns follow:
/// `paid_social`, `organic_social`, `paid_search`, `organic_search`, `email`,
/// `display`, `video`, `affiliate`, `referral`, `direct`.
pub(crate) const CHANNELS: [ChannelProfile; CHANNEL_COUNT] = [
    ChannelProfile {
        name: "paid_social",
        default_stage: Stage::Awareness,
        customer_stage: None,
        entry_weight: 22.0,
        kind_weights: [0.75, 0.25, 0.0],
        lift: 0.0043,
        transitions: [30.0, 8.0, 14.0, 12.0, 6.0, 8.0, 6.0, 4.0, 4.0, 8.0],
        customer_affinity: 0.5,
    },
    ChannelProfile {
        name: "organic_social",
        default_stage: Stage::Awareness,
        customer_stage: Some(Stage::Advocacy),
        entry_weight: 10.0,
        kind_weights: [0.4, 0.2, 0.4],
        lift: 0.0026,
        transitions: [10.0, 30.0, 8.0, 14.0, 4.0, 4.0, 6.0, 3.0, 9.0, 12.0],
        customer_affinity: 3.0,
    },
    ChannelProfile {
        name: "paid_search",
        default_stage: Stage::Conversion,
        customer_stage: None,
        entry_weight: 10.0,
        kind_weights: [0.15, 0.85, 0.0],
        lift: 0.0065,
        transitions: [6.0, 3.0, 30.0, 12.0, 10.0, 6.0, 3.0, 8.0, 3.0, 19.0],
        customer_affinity: 1.0,
    },
    ChannelProfile {
        name: "organic_search",
        default_stage: Stage::Consideration,
        customer_stage: None,
        entry_weight: 12.0,
        kind_weights: [0.0, 0.5, 0.5],
        lift: 0.0043,
        transitions: [5.0, 4.0, 14.0, 30.0, 10.0, 4.0, 3.0, 6.0, 6.0, 18.0],
        customer_affinity: 1.0,
    },
    ChannelProfile {
        name: "email",
        default_stage: Stage::Consideration,
        customer_stage: Some(Stage::Loyalty),
        entry_weight: 3.0,
        kind_weights: [0.55, 0.45, 0.0],
        lift: 0.0058,
        transitions: [5.0, 4.0, 12.0, 8.0, 30.0, 4.0, 3.0, 4.0, 4.0, 26.0],
        customer_affinity: 3.0,
    },
    ChannelProfile {
        name: "display",
        default_stage: Stage::Awareness,
        customer_stage: None,
        entry_weight: 18.0,
        kind_weights: [0.9, 0.1, 0.0],
        lift: 0.0017,
        transitions: [10.0, 5.0, 14.0, 12.0, 5.0, 30.0, 8.0, 4.0, 3.0, 9.0],
        customer_affinity: 0.5,
    },
    ChannelProfile {
        name: "video",
        default_stage: Stage::Awareness,
        customer_stage: None,
        entry_weight: 12.0,
        kind_weights: [0.92, 0.08, 0.0],
        lift: 0.0051,
        transitions: [10.0, 6.0, 12.0, 12.0, 4.0, 10.0, 30.0, 3.0, 4.0, 9.0],
        customer_affinity: 0.5,
    },
    ChannelProfile {
        name: "affiliate",
        default_stage: Stage::Conversion,
        customer_stage: None,
        entry_weight: 4.0,
        kind_weights: [0.1, 0.9, 0.0],
        lift: 0.0029,
        transitions: [4.0, 3.0, 14.0, 10.0, 8.0, 4.0, 3.0, 30.0, 4.0, 20.0],
        customer_affinity: 1.0,
    },
    ChannelProfile {
        name: "referral",
        default_stage: Stage::Consideration,
        customer_stage: Some(Stage::Advocacy),
        entry_weight: 5.0,
        kind_weights: [0.0, 0.2, 0.8],
        lift: 0.0051,
        transitions: [6.0, 8.0, 10.0, 12.0, 8.0, 4.0, 3.0, 5.0, 26.0, 18.0],
        customer_affinity: 3.0,
    },
    ChannelProfile {
        name: "direct",
        default_stage: Stage::Conversion,
        customer_stage: Some(Stage::Loyalty),
        entry_weight: 4.0,
        kind_weights: [0.0, 0.0, 1.0],
        lift: 0.0012,
        transitions: [5.0, 5.0, 14.0, 12.0, 14.0, 5.0, 3.0, 6.0, 6.0, 30.0],
        customer_affinity: 2.0,
    },
];

/// The event kinds a touch can have, in the order of
/// [`ChannelProfile::kind_weights`].
pub(crate) const TOUCH_KINDS: [EventKind; 3] = [EventKind::Impression, EventKind::Click, EventKind::Visit];

/// One campaign of a paid channel.
#[derive(Debug)]
pub(crate) struct Campaign {
    /// The campaign name as written in the log and the spend table.
    pub(crate) name: &'static str,
    /// The channel the campaign runs on.
    pub(crate) channel: ChannelId,
    /// The stage of the campaign's touches (before a first purchase) and of
    /// its spend rows: retargeting works on people who already know the
    /// brand, so it is consideration whatever the channel.
    pub(crate) stage: Stage,
    /// Relative chance of this campaign among the channel's, for a prospect.
    pub(crate) prospect_weight: f64,
    /// Relative chance of this campaign among the channel's, for a customer.
    pub(crate) customer_weight: f64,
    /// Retargeting only reaches users with at least this many earlier touches.
    pub(crate) minimum_touches: u32,
}

/// Every campaign of the log's paid channels, grouped by channel.
pub(crate) const CAMPAIGNS: [Campaign; 15] = [
    campaign("ps_prospecting_spring", 0, Stage::Awareness, 5.0, 1.0, 0),
    campaign("ps_prospecting_lookalike", 0, Stage::Awareness, 3.0, 1.0, 0),
    campaign("ps_retargeting", 0, Stage::Consideration, 4.0, 2.0, 2),
    campaign("search_brand", 2, Stage::Conversion, 5.0, 6.0, 0),
    campaign("search_generic", 2, Stage::Conversion, 4.0, 2.0, 0),
    campaign("search_competitor", 2, Stage::Conversion, 2.0, 0.5, 0),
    campaign("email_newsletter", 4, Stage::Consideration, 5.0, 5.0, 0),
    campaign("email_cart_reminder", 4, Stage::Consideration, 3.0, 2.0, 0),
    campaign("email_winback", 4, Stage::Consideration, 0.0, 3.0, 0),
    campaign("display_prospecting", 5, Stage::Awareness, 6.0, 1.0, 0),
    campaign("display_retargeting", 5, Stage::Consideration, 4.0, 2.0, 2),
    campaign("video_brand_q1", 6, Stage::Awareness, 3.0, 1.0, 0),
    campaign("video_product_launch", 6, Stage::Awareness, 2.0, 1.0, 0),
    campaign("aff_coupon_sites", 7, Stage::Conversion, 6.0, 4.0, 0),
    campaign("aff_review_blogs", 7, Stage::Conversion, 3.0, 1.0, 0),
];

const fn campaign(
    name: &'static str,
    channel: ChannelId,
    stage: Stage,
    prospect_weight: f64,
    customer_weight: f64,
    minimum_touches: u32,
) -> Campaign {
    Campaign { name, channel, stage, prospect_weight, customer_weight, minimum_touches }
}

/// The index of a channel by name, for tests and the spend model.
#[cfg(test)]
pub(crate) fn channel_id(name: &str) -> Option<ChannelId> {
    CHANNELS.iter().position(|profile| profile.name == name).and_then(|index| ChannelId::try_from(index).ok())
}

/// The campaigns of one channel, with their ids.
pub(crate) fn campaigns_of(channel: ChannelId) -> impl Iterator<Item = (CampaignId, &'static Campaign)> {
    CAMPAIGNS
        .iter()
        .zip(0..)
        .filter(move |(campaign, _)| campaign.channel == channel)
        .map(|(campaign, id)| (id, campaign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::normalize_channel;

    #[test]
    fn channel_names_are_normalised_and_unique() {
        for (index, profile) in CHANNELS.iter().enumerate() {
            assert_eq!(normalize_channel(profile.name), profile.name);
            assert_eq!(channel_id(profile.name).map(usize::from), Some(index));
        }
    }

    #[test]
    fn paid_channels_have_two_to_four_campaigns_and_organic_none() {
        for (index, profile) in CHANNELS.iter().enumerate() {
            let channel = ChannelId::try_from(index).unwrap_or(ChannelId::MAX);
            let count = campaigns_of(channel).count();
            let organic = ["organic_search", "organic_social", "direct", "referral"];
            if organic.contains(&profile.name) {
                assert_eq!(count, 0, "{}", profile.name);
            } else {
                assert!((2..=4).contains(&count), "{} has {count}", profile.name);
            }
        }
    }

    #[test]
    fn every_row_of_the_matrix_can_move_somewhere() {
        for profile in &CHANNELS {
            assert!(profile.transitions.iter().sum::<f64>() > 0.0);
            assert!(profile.kind_weights.iter().sum::<f64>() > 0.0);
            assert!(profile.lift > 0.0);
        }
    }
}
