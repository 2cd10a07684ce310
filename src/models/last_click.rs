//! Last click.

use super::{AttributionModel, Path};

/// All credit to the last touch before the conversion.
///
/// Formula: `w_n = 1`, every other `w_i = 0`.
///
/// The default of most ad platforms and web analytics tools for years, and
/// the baseline touchpath compares every other model with
/// (`change_vs_last_click`). Despite the name it counts every touch kind,
/// impressions included: filter the log to clicks for a strict last-click.
/// Ties at the same instant follow the journey order (touches sorted by
/// channel, then campaign), so the last one is well defined.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastClick;

impl AttributionModel for LastClick {
    fn name(&self) -> &'static str {
        "last_click"
    }

    fn formula(&self) -> String {
        "100 % to the last touch".to_owned()
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        weights.fill(0.0);
        if let Some(last) = weights.last_mut() {
            *last = 1.0;
        }
        debug_assert_eq!(weights.len(), path.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::credit;

    #[test]
    fn the_last_touch_takes_everything() {
        assert_eq!(credit(&LastClick, &["email"]), [1.0]);
        assert_eq!(credit(&LastClick, &["email", "search"]), [0.0, 1.0]);
        assert_eq!(credit(&LastClick, &["video", "email", "video"]), [0.0, 0.0, 1.0]);
        assert_eq!(credit(&LastClick, &["a", "b", "c", "d", "e"]), [0.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
