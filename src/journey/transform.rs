//! Path transforms: what a path looks like to the models.
//!
//! The names are the ones analysts know from other attribution tools.
//! Check, on `[d, a, b, b, c, d, c, c]`: `exposure` gives
//! `[d, a, b, c, d, c]`, `first` gives `[d, a, b, c]` and `frequency` gives
//! `[d(2), a(1), b(2), c(3)]`.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::normalize_channel;
use crate::event_log::EventLog;

/// How a path is rewritten before attribution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum PathTransform {
    /// Every touch, as logged.
    #[default]
    None,
    /// Consecutive touches of one channel collapse into the first of them.
    Exposure,
    /// Each channel's first touch only.
    First,
    /// Each channel's first touch, carrying how many touches of the channel
    /// the path had.
    Frequency,
    /// Touches of this channel are dropped unless the path has nothing else.
    RemoveIfNotAll(String),
}

/// A transformed path: event indices into the log, oldest first, and how
/// many touches each one stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransformedPath {
    /// Event indices of the kept touches.
    pub touches: Vec<usize>,
    /// Touches each kept touch stands for (1 unless `frequency`).
    pub counts: Vec<u32>,
}

impl TransformedPath {
    fn push(&mut self, touch: usize) {
        self.touches.push(touch);
        self.counts.push(1);
    }
}

impl PathTransform {
    /// Rewrites the path `touches` of `log` into `out` (cleared first).
    pub fn apply(&self, log: &EventLog, touches: Range<usize>, out: &mut TransformedPath) {
        out.touches.clear();
        out.counts.clear();
        self.append(log, touches, out);
    }

    /// Rewrites the path `touches` of `log` onto the end of `out`, after the
    /// paths already there: for many paths in one buffer.
    pub fn append(&self, log: &EventLog, touches: Range<usize>, out: &mut TransformedPath) {
        let start = out.touches.len();
        match self {
            Self::None => touches.for_each(|touch| out.push(touch)),
            Self::Exposure => {
                for touch in touches {
                    let kept = &out.touches[start..];
                    if kept.last().is_none_or(|&last| log.channel[last] != log.channel[touch]) {
                        out.push(touch);
                    }
                }
            }
            Self::First | Self::Frequency => {
                for touch in touches {
                    let channel = log.channel[touch];
                    match out.touches[start..].iter().position(|&kept| log.channel[kept] == channel) {
                        Some(position) => out.counts[start + position] += 1,
                        None => out.push(touch),
                    }
                }
                if *self == Self::First {
                    out.counts[start..].fill(1);
                }
            }
            Self::RemoveIfNotAll(channel) => {
                let code = log.channels.code_of(channel);
                let all = touches.clone().all(|touch| Some(log.channel[touch]) == code);
                touches.filter(|&touch| all || Some(log.channel[touch]) != code).for_each(|touch| out.push(touch));
            }
        }
    }
}

impl FromStr for PathTransform {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        if let Some(channel) = text.strip_prefix("remove-if-not-all=") {
            let channel = normalize_channel(channel);
            if channel.is_empty() {
                return Err("remove-if-not-all needs a channel: remove-if-not-all=direct".to_owned());
            }
            return Ok(Self::RemoveIfNotAll(channel));
        }
        match text {
            "none" => Ok(Self::None),
            "exposure" => Ok(Self::Exposure),
            "first" => Ok(Self::First),
            "frequency" => Ok(Self::Frequency),
            _ => Err(format!(
                "unknown path transform `{raw}`; expected none, exposure, first, frequency or remove-if-not-all=CHANNEL"
            )),
        }
    }
}

impl fmt::Display for PathTransform {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => formatter.write_str("none"),
            Self::Exposure => formatter.write_str("exposure"),
            Self::First => formatter.write_str("first"),
            Self::Frequency => formatter.write_str("frequency"),
            Self::RemoveIfNotAll(channel) => write!(formatter, "remove-if-not-all={channel}"),
        }
    }
}

impl Serialize for PathTransform {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathTransform {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::EventLogBuilder;

    fn transformed(transform: &str, channels: &[&str]) -> Vec<String> {
        let mut builder = EventLogBuilder::new();
        for (time, channel) in (0_i64..).zip(channels) {
            builder = builder.touch("u", time, channel);
        }
        let log = builder.build();
        let mut out = TransformedPath::default();
        transform.parse::<PathTransform>().unwrap().apply(&log, 0..log.len(), &mut out);
        out.touches
            .iter()
            .zip(&out.counts)
            .map(|(&touch, &count)| {
                let name = log.channel_name(touch);
                if count == 1 { name.to_owned() } else { format!("{name}({count})") }
            })
            .collect()
    }

    const PATH: [&str; 8] = ["d", "a", "b", "b", "c", "d", "c", "c"];

    #[test]
    fn paths_appended_to_one_buffer_are_each_transformed_on_their_own() {
        // Two paths one after the other in the log: the second starts with
        // the channel the first ends with, and repeats its channels.
        let mut builder = EventLogBuilder::new();
        for (time, channel) in (0_i64..).zip(PATH.iter().chain(&["c", "c", "a", "d", "a"])) {
            builder = builder.touch("u", time, channel);
        }
        let log = builder.build();
        for transform in ["none", "exposure", "first", "frequency", "remove-if-not-all=c"] {
            let transform: PathTransform = transform.parse().unwrap();
            let (mut both, mut first, mut second) =
                (TransformedPath::default(), TransformedPath::default(), TransformedPath::default());
            transform.append(&log, 0..8, &mut both);
            transform.append(&log, 8..13, &mut both);
            transform.apply(&log, 0..8, &mut first);
            transform.apply(&log, 8..13, &mut second);
            first.touches.extend(&second.touches);
            first.counts.extend(&second.counts);
            assert_eq!(both, first, "{transform}");
        }
    }

    #[test]
    fn the_reference_path() {
        assert_eq!(transformed("none", &PATH), PATH);
        assert_eq!(transformed("exposure", &PATH), ["d", "a", "b", "c", "d", "c"]);
        assert_eq!(transformed("first", &PATH), ["d", "a", "b", "c"]);
        assert_eq!(transformed("frequency", &PATH), ["d(2)", "a", "b(2)", "c(3)"]);
    }

    #[test]
    fn remove_if_not_all() {
        assert_eq!(transformed("remove-if-not-all=D", &PATH), ["a", "b", "b", "c", "c", "c"]);
        assert_eq!(transformed("remove-if-not-all=d", &["d", "d"]), ["d", "d"]);
        assert_eq!(transformed("remove-if-not-all=z", &["d"]), ["d"]);
    }

    #[test]
    fn names_round_trip_and_errors_explain() {
        for name in ["none", "exposure", "first", "frequency", "remove-if-not-all=direct"] {
            assert_eq!(name.parse::<PathTransform>().unwrap().to_string(), name);
        }
        assert!("collapse".parse::<PathTransform>().unwrap_err().contains("expected none, exposure"));
        assert!("remove-if-not-all=".parse::<PathTransform>().is_err());
    }
}
