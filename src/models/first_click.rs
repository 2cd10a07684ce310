//! First click.

use super::{AttributionModel, Path};

/// All credit to the first touch of the path.
///
/// Formula: `w_1 = 1`, every other `w_i = 0`.
///
/// Rewards the channels that open journeys (prospecting). The first touch is
/// the first within the lookback window, not the first ever: touches older
/// than the window belong to no journey.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstClick;

impl AttributionModel for FirstClick {
    fn name(&self) -> &'static str {
        "first_click"
    }

    fn formula(&self) -> String {
        "100 % to the first touch".to_owned()
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        weights.fill(0.0);
        if let Some(first) = weights.first_mut() {
            *first = 1.0;
        }
        debug_assert_eq!(weights.len(), path.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::credit;

    #[test]
    fn the_first_touch_takes_everything() {
        assert_eq!(credit(&FirstClick, &["email"]), [1.0]);
        assert_eq!(credit(&FirstClick, &["email", "search"]), [1.0, 0.0]);
        assert_eq!(credit(&FirstClick, &["video", "email", "video"]), [1.0, 0.0, 0.0]);
    }
}
