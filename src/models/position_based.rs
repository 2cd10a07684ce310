//! Position based (U-shaped), J-curve and inverse J.

use super::{AttributionModel, Path};

/// Fixed shares for the first touch, the last touch, and the touches between.
///
/// Formula, with weights `(f, m, l)` normalised to sum to 1 (default
/// `0.4, 0.2, 0.4`, `--position-weights`):
/// - one touch: 100 %;
/// - two touches: `f / (f + l)` and `l / (f + l)` (the middle weight is
///   ignored, first and last renormalised);
/// - `n ≥ 3` touches: `f` to the first, `l` to the last, `m / (n − 2)` to
///   each touch between.
///
/// The default is the position-based ("U-shaped", 40/20/40) model of Google
/// Analytics; `0.2,0.2,0.6` gives the J-curve and `0.6,0.2,0.2` the inverse
/// J (two touches: 25/75 and 75/25).
#[derive(Clone, Copy, Debug)]
pub struct PositionBased {
    first: f64,
    middle: f64,
    last: f64,
}

impl PositionBased {
    /// The model with `[first, middle, last]` weights, normalised. Negative
    /// or non-finite weights count as 0; all-zero weights fall back to the
    /// default 40/20/40.
    #[must_use]
    pub fn new(weights: [f64; 3]) -> Self {
        let clean = weights.map(|weight| if weight.is_finite() && weight > 0.0 { weight } else { 0.0 });
        let sum: f64 = clean.iter().sum();
        if sum <= 0.0 {
            return Self::new([0.4, 0.2, 0.4]);
        }
        Self { first: clean[0] / sum, middle: clean[1] / sum, last: clean[2] / sum }
    }
}

impl AttributionModel for PositionBased {
    fn name(&self) -> &'static str {
        "position_based"
    }

    fn formula(&self) -> String {
        format!(
            "{:.0} % first, {:.0} % last, {:.0} % shared by the touches between (2 touches: first and last renormalised)",
            self.first * 100.0,
            self.last * 100.0,
            self.middle * 100.0
        )
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        let count = path.len();
        match count {
            0 => {}
            1 => weights[0] = 1.0,
            2 if self.first + self.last <= 0.0 => weights.fill(1.0),
            2 => {
                weights[0] = self.first;
                weights[1] = self.last;
            }
            _ => {
                #[expect(clippy::cast_precision_loss, reason = "path lengths are small")]
                let between = self.middle / (count - 2) as f64;
                weights.fill(between);
                weights[0] = self.first;
                weights[count - 1] = self.last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::credit;

    fn close(actual: &[f64], expected: &[f64]) -> bool {
        actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-9)
    }

    #[test]
    fn forty_twenty_forty() {
        let model = PositionBased::new([0.4, 0.2, 0.4]);
        assert_eq!(credit(&model, &["a"]), [1.0]);
        assert!(close(&credit(&model, &["a", "b"]), &[0.5, 0.5]));
        assert!(close(&credit(&model, &["a", "b", "c"]), &[0.4, 0.2, 0.4]));
        assert!(close(&credit(&model, &["a", "b", "c", "d", "e"]), &[0.4, 0.2 / 3.0, 0.2 / 3.0, 0.2 / 3.0, 0.4]));
    }

    #[test]
    fn j_curves_and_normalisation() {
        let j = PositionBased::new([0.2, 0.2, 0.6]);
        assert!(close(&credit(&j, &["a", "b"]), &[0.25, 0.75]));
        assert!(close(&credit(&j, &["a", "b", "c", "d"]), &[0.2, 0.1, 0.1, 0.6]));
        let inverse = PositionBased::new([6.0, 2.0, 2.0]);
        assert!(close(&credit(&inverse, &["a", "b"]), &[0.75, 0.25]));
        let fallback = PositionBased::new([0.0, 0.0, 0.0]);
        assert!(close(&credit(&fallback, &["a", "b", "c"]), &[0.4, 0.2, 0.4]));
    }

    #[test]
    fn all_middle_weight_with_two_touches_splits_evenly() {
        let model = PositionBased::new([0.0, 1.0, 0.0]);
        assert!(close(&credit(&model, &["a", "b"]), &[0.5, 0.5]));
    }
}
