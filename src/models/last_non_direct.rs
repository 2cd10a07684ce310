//! Last non-direct click.

use super::{AttributionModel, Path};

/// All credit to the last touch whose channel is not a direct channel.
///
/// Formula: `w_k = 1` for the largest `k` with `channel_k ∉ direct_channels`;
/// a path of only direct touches gives `w_n = 1`.
///
/// This was Google Analytics' default (Universal Analytics' "last non-direct
/// click"): a direct visit usually means someone came back to buy after
/// another channel did the persuading. The direct channels are configurable
/// (`direct_channels`, default `["direct"]`) and compared after channel
/// normalisation.
#[derive(Clone, Debug)]
pub struct LastNonDirect {
    direct_channels: Vec<String>,
}

impl LastNonDirect {
    /// The model with these (normalised) direct channels.
    #[must_use]
    pub fn new(direct_channels: &[String]) -> Self {
        let direct_channels = direct_channels.iter().map(|channel| crate::event::normalize_channel(channel)).collect();
        Self { direct_channels }
    }
}

impl AttributionModel for LastNonDirect {
    fn name(&self) -> &'static str {
        "last_non_direct"
    }

    fn formula(&self) -> String {
        format!(
            "100 % to the last touch not in [{}]; all-direct paths: the last touch",
            self.direct_channels.join(", ")
        )
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        weights.fill(0.0);
        let chosen = (0..path.len())
            .rev()
            .find(|&index| !self.direct_channels.iter().any(|direct| direct == path.channel(index)))
            .or_else(|| path.len().checked_sub(1));
        if let Some(index) = chosen {
            weights[index] = 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::credit;

    fn model() -> LastNonDirect {
        LastNonDirect::new(&["Direct".into()])
    }

    #[test]
    fn direct_touches_are_skipped() {
        assert_eq!(credit(&model(), &["email", "direct"]), [1.0, 0.0]);
        assert_eq!(credit(&model(), &["video", "search", "direct", "direct"]), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(credit(&model(), &["search"]), [1.0]);
    }

    #[test]
    fn all_direct_paths_credit_the_last_touch() {
        assert_eq!(credit(&model(), &["direct"]), [1.0]);
        assert_eq!(credit(&model(), &["direct", "direct", "direct"]), [0.0, 0.0, 1.0]);
    }

    #[test]
    fn several_direct_channels() {
        let model = LastNonDirect::new(&["direct".into(), "organic_search".into()]);
        assert_eq!(credit(&model, &["email", "organic_search", "direct"]), [1.0, 0.0, 0.0]);
    }
}
