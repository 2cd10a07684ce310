//! The vocabulary of a touchpoint log: event kinds, funnel stages, channel names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What happened at a touchpoint.
///
/// The declaration order is the tie order at one instant: every touch kind
/// sorts before [`EventKind::Conversion`], so a touch logged at the same
/// instant as a purchase counts towards it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An ad or content was shown.
    Impression,
    /// A link or ad was clicked.
    Click,
    /// A visit to an owned property; the default when the log has no event type.
    Visit,
    /// A purchase: closes a journey.
    Conversion,
}

impl EventKind {
    /// All kinds, in tie order.
    pub const ALL: [Self; 4] = [Self::Impression, Self::Click, Self::Visit, Self::Conversion];

    /// The kind's name as written in logs and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Impression => "impression",
            Self::Click => "click",
            Self::Visit => "visit",
            Self::Conversion => "conversion",
        }
    }

    /// Parses a log value: trimmed, case-insensitive.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        Self::ALL.into_iter().find(|kind| kind.as_str().eq_ignore_ascii_case(raw))
    }

    /// True for every kind but a conversion.
    #[must_use]
    pub fn is_touch(self) -> bool {
        self != Self::Conversion
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A funnel stage, in funnel order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Top of the funnel: reach, impressions, video views.
    Awareness,
    /// Research and comparison: clicks, visits, micro-conversions.
    Consideration,
    /// The purchase itself.
    Conversion,
    /// Repeat purchases and customer value.
    Loyalty,
    /// Mentions, reviews and referrals.
    Advocacy,
    /// The log gave no stage and the channel map has none for the channel.
    Unknown,
}

impl Stage {
    /// All stages, in funnel order, `unknown` last.
    pub const ALL: [Self; 6] =
        [Self::Awareness, Self::Consideration, Self::Conversion, Self::Loyalty, Self::Advocacy, Self::Unknown];

    /// The stage's name as written in logs and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awareness => "awareness",
            Self::Consideration => "consideration",
            Self::Conversion => "conversion",
            Self::Loyalty => "loyalty",
            Self::Advocacy => "advocacy",
            Self::Unknown => "unknown",
        }
    }

    /// Parses a log value: trimmed, case-insensitive; `purchase` is read as
    /// `conversion`. `unknown` itself is not accepted from a log.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("purchase") {
            return Some(Self::Conversion);
        }
        Self::ALL[..5].iter().copied().find(|stage| stage.as_str().eq_ignore_ascii_case(raw))
    }
}

/// Who owns a touchpoint: bought (`paid`), the advertiser's own (`owned`),
/// or given by others (`earned`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchClass {
    /// Ads: paid social, paid search, display, video, affiliates.
    Paid,
    /// The advertiser's own media: site, newsletter, organic search listings.
    Owned,
    /// Reviews, shares, mentions, referrals.
    Earned,
    /// The channel map gives no class for the channel.
    Unknown,
}

impl TouchClass {
    /// All classes, `unknown` last.
    pub const ALL: [Self; 4] = [Self::Paid, Self::Owned, Self::Earned, Self::Unknown];

    /// The class's name as written in configs and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Owned => "owned",
            Self::Earned => "earned",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for TouchClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw).ok_or_else(|| {
            format!("expected one of awareness, consideration, conversion, loyalty, advocacy; got `{raw}`")
        })
    }
}

/// The channel name conversions without any touch are credited to.
pub const NO_CHANNEL: &str = "(none)";

/// The name of the credit a fitted model keeps for what would have happened
/// without any marketing.
pub const BASELINE_CHANNEL: &str = "(baseline)";

/// Normalises a channel name: trimmed, lower-cased, and every run of spaces,
/// hyphens and underscores turned into one `_`, so that `Paid Search`,
/// ` paid-search` and `paid_search` name one channel.
///
/// Returns an empty string for a blank name.
#[must_use]
pub fn normalize_channel(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_separator = false;
    for character in raw.trim().chars() {
        if character == ' ' || character == '-' || character == '_' || character.is_whitespace() {
            pending_separator = true;
            continue;
        }
        if pending_separator && !out.is_empty() {
            out.push('_');
        }
        pending_separator = false;
        out.extend(character.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_variants_collapse_to_one_name() {
        for raw in ["Paid Search", " paid-search", "paid_search", "PAID  --  SEARCH\t", "paid__search"] {
            assert_eq!(normalize_channel(raw), "paid_search", "{raw:?}");
        }
        assert_eq!(normalize_channel("   "), "");
        assert_eq!(normalize_channel("-email-"), "email");
        assert_eq!(normalize_channel("Ünïcode Channel"), "ünïcode_channel");
    }

    #[test]
    fn event_kinds_parse_case_insensitively_and_sort_touches_first() {
        assert_eq!(EventKind::parse(" Click "), Some(EventKind::Click));
        assert_eq!(EventKind::parse("CONVERSION"), Some(EventKind::Conversion));
        assert_eq!(EventKind::parse("purchase"), None);
        assert!(EventKind::Visit < EventKind::Conversion);
        assert!(EventKind::Impression < EventKind::Click);
    }

    #[test]
    fn stages_parse_with_purchase_alias_but_not_unknown() {
        assert_eq!(Stage::parse("Awareness"), Some(Stage::Awareness));
        assert_eq!(Stage::parse("purchase"), Some(Stage::Conversion));
        assert_eq!(Stage::parse("unknown"), None);
        assert_eq!(Stage::parse("retargeting"), None);
    }
}
