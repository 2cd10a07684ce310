//! Time decay.

use super::{AttributionModel, Path};
use crate::time::Duration;

/// Credit halves for every half-life a touch lies before the conversion.
///
/// Formula: `w_i = 2^(−Δt_i / h)`, with `Δt_i` the time from touch `i` to
/// the conversion and `h` the half-life (`--half-life`, default `7d`),
/// normalised to sum to 1.
///
/// This is the time-decay model of Google Analytics and Adobe Analytics
/// (which use a 7-day half-life by default). Touches 1, 8, 15 and 22 days
/// before a conversion get credit in the ratio 8 : 4 : 2 : 1. Only the gaps
/// between touches matter, since normalising cancels any common factor;
/// weights are computed relative to the most recent touch so that very old
/// touches never underflow the others to zero. Touches at the same instant
/// share equally. After the `frequency` transform a kept touch's weight is
/// multiplied by the number of touches it stands for.
#[derive(Clone, Copy, Debug)]
pub struct TimeDecay {
    half_life: Duration,
}

impl TimeDecay {
    /// The model with half-life `half_life`.
    #[must_use]
    pub fn new(half_life: Duration) -> Self {
        Self { half_life }
    }
}

impl AttributionModel for TimeDecay {
    fn name(&self) -> &'static str {
        "time_decay"
    }

    fn formula(&self) -> String {
        format!("2^(-Δt / {}) to each touch, normalised; Δt = conversion time − touch time", self.half_life)
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        let newest = (0..path.len()).map(|index| path.age(index)).min().unwrap_or(0);
        #[expect(clippy::cast_precision_loss, reason = "ages in microseconds fit f64 to well under a second")]
        let half_life = self.half_life.as_micros() as f64;
        for (index, weight) in weights.iter_mut().enumerate() {
            #[expect(clippy::cast_precision_loss, reason = "as above")]
            let relative_age = (path.age(index) - newest) as f64;
            *weight = (-relative_age / half_life).exp2() * f64::from(path.count(index));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testing::{credit, credit_with_days};

    fn week() -> TimeDecay {
        TimeDecay::new(Duration::days(7))
    }

    #[test]
    fn one_half_life_apart_halves_the_credit() {
        // 1, 8, 15 and 22 days before: 8 : 4 : 2 : 1 of 15.
        let shares = credit_with_days(&week(), &["a", "b", "c", "d"], &[22, 15, 8, 1]);
        let expected = [1.0 / 15.0, 2.0 / 15.0, 4.0 / 15.0, 8.0 / 15.0];
        for (share, expected) in shares.iter().zip(expected) {
            assert!((share - expected).abs() < 1e-9, "{shares:?}");
        }
    }

    #[test]
    fn small_paths() {
        assert_eq!(credit(&week(), &["email"]), [1.0]);
        let shares = credit_with_days(&week(), &["a", "b"], &[8, 1]);
        assert!((shares[0] - 1.0 / 3.0).abs() < 1e-9 && (shares[1] - 2.0 / 3.0).abs() < 1e-9, "{shares:?}");
        let shares = credit_with_days(&week(), &["a", "b", "c"], &[3, 3, 3]);
        assert_eq!(shares, [0.333_333_333, 0.333_333_333, 0.333_333_334]);
    }

    #[test]
    fn very_old_touches_do_not_erase_recent_ones() {
        let shares = credit_with_days(&TimeDecay::new(Duration::days(1)), &["a", "b"], &[4000, 3999]);
        assert!((shares[0] - 1.0 / 3.0).abs() < 1e-9, "{shares:?}");
    }
}
