//! Linear.

use super::{AttributionModel, Path};

/// Equal credit to every touch of the path.
///
/// Formula: `w_i = 1/n`.
///
/// A channel touched twice gets two shares (also after the `frequency`
/// transform, where a kept touch counts as many shares as it stands for). With `n` touches each gets
/// `1/n` of the conversion; the units that `1/n` cannot split evenly (one
/// billionth of a conversion at most per touch) go to the latest touches, so
/// the conversion sums exactly to 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct Linear;

impl AttributionModel for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn formula(&self) -> String {
        "1/n to each of the n touches".to_owned()
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        for (index, weight) in weights.iter_mut().enumerate() {
            *weight = f64::from(path.count(index));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::credit;

    #[test]
    fn every_touch_gets_an_equal_share() {
        assert_eq!(credit(&Linear, &["email"]), [1.0]);
        assert_eq!(credit(&Linear, &["email", "search"]), [0.5, 0.5]);
        assert_eq!(credit(&Linear, &["a", "b", "c", "d"]), [0.25; 4]);
        assert_eq!(credit(&Linear, &["a", "b", "c"]), [0.333_333_333, 0.333_333_333, 0.333_333_334]);
    }

    #[test]
    fn a_repeated_channel_gets_a_share_per_touch() {
        let shares = credit(&Linear, &["video", "email", "video", "video"]);
        let video: f64 = shares[0] + shares[2] + shares[3];
        assert!((video - 0.75).abs() < 1e-12);
    }
}
