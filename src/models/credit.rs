//! Exact credit: weights become integer units that sum to the total.

/// Credit units per conversion: each conversion is split into 10⁹ units, so a
/// credited conversion count is exact to nine decimals and sums of credit
/// are integers that add up the same in any order.
pub const CONVERSION_UNITS: i64 = 1_000_000_000;

/// Relative precision of weights: each is scaled to an integer out of 2⁴⁰
/// (about 10⁻¹², far below anything a report shows).
const WEIGHT_SCALE: f64 = 1_099_511_627_776.0;

/// Splits `total` integer units among touches in proportion to `weights`,
/// exactly: `out` sums to `total`.
///
/// Largest-remainder (Hamilton) apportionment: each touch gets the floor of
/// its exact share, and the units left over go one each to the touches with
/// the largest remainders; equal remainders favour the later touch. The
/// arithmetic is in integers once weights are scaled, so the result never
/// depends on floating-point summation order. All-zero or empty weights give
/// the whole total to the last touch.
///
/// # Panics
///
/// If `out` and `weights` differ in length.
pub fn apportion(total: i64, weights: &[f64], out: &mut [i64]) {
    SPLIT.with_borrow_mut(|split| {
        split.set(weights);
        split.apportion(total, out);
    });
}

thread_local! {
    /// [`apportion`]'s split, kept from one call to the next.
    static SPLIT: std::cell::RefCell<Split> = std::cell::RefCell::new(Split::default());
}

/// Weights scaled to integers once, to [`apportion`] several totals by
/// them (a conversion's credit units, then its revenue).
#[derive(Debug, Default)]
pub struct Split {
    /// How many weights were set.
    len: usize,
    /// Each touch's scaled weight, when they split in proportion (empty
    /// otherwise).
    parts: Vec<u128>,
    /// Their sum.
    sum: u128,
    /// How the weights split: the last touch takes all (no weight), one
    /// touch takes all (one weight), or in proportion.
    kind: SplitKind,
    /// Each touch's remainder and index packed into one integer (the
    /// remainder in the high half), while apportioning: compared at once,
    /// where comparing pairs had cost as much as the rest of the split.
    remainders: Vec<u128>,
}

#[derive(Clone, Copy, Debug, Default)]
enum SplitKind {
    #[default]
    Last,
    Only(usize),
    /// Every touch the same weight (`linear`, and any model on a path
    /// whose touches weigh alike).
    Equal,
    Shares,
}

impl Split {
    /// Scales `weights` (see [`apportion`]).
    pub fn set(&mut self, weights: &[f64]) {
        self.len = weights.len();
        self.parts.clear();
        self.sum = 0;
        // No weight: the last touch takes all. One touch with weight (the
        // rule-based models' usual case) takes it all, as the general case
        // would give it, with no weight to scale.
        let mut weighted = weights.iter().enumerate().filter(|&(_, &weight)| weight.is_finite() && weight > 0.0);
        match (weighted.next(), weighted.next()) {
            (None, _) => {
                self.kind = SplitKind::Last;
                return;
            }
            (Some((only, _)), None) => {
                self.kind = SplitKind::Only(only);
                return;
            }
            _ => {}
        }
        let largest = weights.iter().copied().filter(|weight| weight.is_finite()).fold(0.0_f64, f64::max);
        self.parts.extend(weights.iter().map(|&weight| {
            u128::from(if weight.is_finite() && weight > 0.0 {
                round_scaled(weight / largest * WEIGHT_SCALE)
            } else {
                0
            })
        }));
        self.sum = self.parts.iter().sum();
        // A weight too small beside the largest to keep a part leaves one.
        let mut weighted = self.parts.iter().enumerate().filter(|&(_, &part)| part > 0);
        self.kind = match (weighted.next(), weighted.next()) {
            (Some((only, _)), None) => SplitKind::Only(only),
            _ if self.parts.iter().all(|&part| part == self.parts[0]) => SplitKind::Equal,
            _ => SplitKind::Shares,
        };
    }

    /// Splits `total` by the weights last set, into `out` (as long as
    /// they are).
    ///
    /// # Panics
    ///
    /// If `out` and the weights differ in length.
    pub fn apportion(&mut self, total: i64, out: &mut [i64]) {
        assert_eq!(self.len, out.len(), "one output slot per weight");
        out.fill(0);
        let Some(last) = out.len().checked_sub(1) else {
            return;
        };
        match self.kind {
            SplitKind::Last => {
                out[last] = total;
                return;
            }
            SplitKind::Only(only) => {
                out[only] = total;
                return;
            }
            SplitKind::Equal => {
                // Every remainder is the same: the units left over go to
                // the last touches, as the general case gives them.
                let touches = out.len();
                let count = i64::try_from(touches).unwrap_or(i64::MAX);
                out.fill(total / count);
                let left_over = usize::try_from((total % count).unsigned_abs()).unwrap_or(0);
                for unit in &mut out[touches - left_over..] {
                    *unit += total.signum();
                }
                return;
            }
            SplitKind::Shares => {}
        }
        let (magnitude, sum) = (u128::from(total.unsigned_abs()), self.sum);
        let mut given: u128 = 0;
        let remainders = &mut self.remainders;
        remainders.clear();
        for (index, (&part, unit)) in (0_u128..).zip(self.parts.iter().zip(out.iter_mut())) {
            let exact = magnitude * part;
            let floor = exact / sum;
            given += floor;
            *unit = i64::try_from(floor).unwrap_or(i64::MAX);
            // A remainder is below the sum, so below 2^64 unless a path has
            // millions of touches (then the pairs are compared instead).
            remainders.push(((exact - floor * sum) << 64) | index);
        }
        // The units left over (fewer than the touches) go to the largest
        // remainders; on a tie, the later touch first. Which touches those
        // are does not depend on how they are found, so a selection does.
        let left_over = usize::try_from(magnitude - given).unwrap_or(usize::MAX).min(remainders.len());
        if left_over > 0 && sum > 1 << 64 {
            give_left_over_by_pairs(magnitude, &self.parts, sum, left_over, out);
        } else if left_over == 1 {
            if let Some(&largest) = remainders.iter().max() {
                out[index_of(largest)] += 1;
            }
        } else if left_over > 0 {
            remainders.select_nth_unstable_by(left_over - 1, |left, right| right.cmp(left));
            for &key in &remainders[..left_over] {
                out[index_of(key)] += 1;
            }
        }
        if total < 0 {
            for unit in out.iter_mut() {
                *unit = -*unit;
            }
        }
    }
}

/// `value.round()` for a value in `0..=2^40` (a weight scaled), as an
/// integer: `f64::round` is a library call on processors without SSE4.1
/// (the baseline x86-64 builds for), once per touch and model.
#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "scaled into 0..=2^40")]
fn round_scaled(value: f64) -> u64 {
    let whole = value as u64;
    // Below 2^53 both the whole part and the fraction are exact.
    #[expect(clippy::cast_precision_loss, reason = "below 2^53, exact")]
    let fraction = value - whole as f64;
    if fraction >= 0.5 { whole + 1 } else { whole }
}

/// Gives the `left_over` units, one each, to the touches of the largest
/// remainders of `magnitude` split by `parts` (which sum to `sum`), the
/// later touch first on a tie: [`Split::apportion`]'s rule, on pairs of
/// remainder and touch, for sums too large to pack a remainder in 64 bits.
fn give_left_over_by_pairs(magnitude: u128, parts: &[u128], sum: u128, left_over: usize, out: &mut [i64]) {
    let mut pairs: Vec<(u128, usize)> = parts.iter().map(|&part| magnitude * part % sum).zip(0..).collect();
    pairs.select_nth_unstable_by(left_over - 1, |left, right| right.cmp(left));
    for &(_, index) in &pairs[..left_over] {
        out[index] += 1;
    }
}

/// The touch of a packed remainder (its low half).
#[expect(clippy::cast_possible_truncation, reason = "the low half is an index of a slice")]
fn index_of(key: u128) -> usize {
    key as u64 as usize
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn thirds_leave_the_spare_unit_to_the_latest_touch() {
        let mut out = [0; 3];
        apportion(10, &[1.0, 1.0, 1.0], &mut out);
        assert_eq!(out, [3, 3, 4]);
        apportion(CONVERSION_UNITS, &[1.0, 1.0, 1.0], &mut out);
        assert_eq!(out, [333_333_333, 333_333_333, 333_333_334]);
        // A refund's units are the negated split of its magnitude.
        apportion(-11, &[2.0, 2.0, 2.0], &mut out);
        assert_eq!(out, [-3, -4, -4]);
    }

    #[test]
    fn scaled_weights_round_half_away_from_zero() {
        for value in [0.0, 0.49, 0.5, 1.5, 2.5, 2.4999, 1_099_511_627_775.5, WEIGHT_SCALE, 0.499_999_999_999_999_94] {
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small, positive")]
            let expected = value.round() as u64;
            assert_eq!(round_scaled(value), expected, "{value}");
        }
    }

    #[test]
    fn proportions_are_kept() {
        let mut out = [0; 4];
        apportion(15_000_000, &[8.0, 4.0, 2.0, 1.0], &mut out);
        assert_eq!(out, [8_000_000, 4_000_000, 2_000_000, 1_000_000]);
    }

    #[test]
    fn degenerate_weights_go_to_the_last_touch() {
        let mut out = [0; 2];
        apportion(7, &[0.0, 0.0], &mut out);
        assert_eq!(out, [0, 7]);
        apportion(7, &[f64::NAN, 1.0], &mut out);
        assert_eq!(out, [0, 7]);
        let mut empty: [i64; 0] = [];
        apportion(7, &[], &mut empty);
    }

    /// The largest-remainder rule spelled out with a full sort.
    fn apportion_by_sorting(total: i64, weights: &[f64]) -> Vec<i64> {
        let largest = weights.iter().copied().filter(|weight| weight.is_finite()).fold(0.0_f64, f64::max);
        let mut out = vec![0; weights.len()];
        if largest <= 0.0 {
            *out.last_mut().unwrap() = total;
            return out;
        }
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "as apportion")]
        let parts: Vec<u128> =
            weights
                .iter()
                .map(|&weight| {
                    if weight.is_finite() && weight > 0.0 {
                        (weight / largest * WEIGHT_SCALE).round() as u128
                    } else {
                        0
                    }
                })
                .collect();
        let sum: u128 = parts.iter().sum();
        let magnitude = u128::from(total.unsigned_abs());
        let mut remainders: Vec<(u128, usize)> =
            parts.iter().enumerate().map(|(index, part)| ((magnitude * part) % sum, index)).collect();
        for (unit, part) in out.iter_mut().zip(&parts) {
            *unit = i64::try_from(magnitude * part / sum).unwrap();
        }
        let left_over = magnitude - out.iter().map(|&unit| u128::try_from(unit).unwrap()).sum::<u128>();
        remainders.sort_unstable_by(|left, right| right.cmp(left));
        for &(_, index) in remainders.iter().take(usize::try_from(left_over).unwrap()) {
            out[index] += 1;
        }
        if total < 0 {
            for unit in &mut out {
                *unit = -*unit;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn the_selection_gives_the_sorted_rules_units(
            total in -10_000_i64..=10_000_000_000,
            // Few distinct weights, so that remainders tie often.
            weights in proptest::collection::vec(prop_oneof![Just(0.0), Just(1.0), Just(2.0), Just(3.0), 0.0_f64..5.0], 1..30),
        ) {
            let mut out = vec![0; weights.len()];
            apportion(total, &weights, &mut out);
            prop_assert_eq!(out, apportion_by_sorting(total, &weights));
        }

        /// The pairs' rule, kept for sums too large to pack, gives the
        /// units the packed remainders give (here on sums that pack).
        #[test]
        fn pairs_give_the_left_over_units_as_packed_remainders_do(
            total in 0_i64..=10_000_000_000,
            parts in proptest::collection::vec(prop_oneof![Just(0_u128), Just(1 << 40), 0_u128..(1 << 40)], 2..30),
        ) {
            let sum: u128 = parts.iter().sum();
            prop_assume!(sum > 0);
            let magnitude = u128::try_from(total).unwrap();
            let mut split = Split { len: parts.len(), parts: parts.clone(), sum, kind: SplitKind::Shares, remainders: Vec::new() };
            let mut packed = vec![0; parts.len()];
            split.apportion(total, &mut packed);
            let mut out: Vec<i64> = parts.iter().map(|&part| i64::try_from(magnitude * part / sum).unwrap()).collect();
            let given: u128 = parts.iter().map(|&part| magnitude * part / sum).sum();
            let left_over = usize::try_from(magnitude - given).unwrap();
            if left_over > 0 {
                give_left_over_by_pairs(magnitude, &parts, sum, left_over, &mut out);
            }
            prop_assert_eq!(out, packed);
        }

        /// One split, set once per set of weights and reused for several
        /// totals and then for other weights (as crediting does, conversion
        /// after conversion), gives the sorted rule's units every time.
        #[test]
        fn a_split_reused_gives_the_sorted_rules_units(
            splits in proptest::collection::vec(
                (
                    proptest::collection::vec(prop_oneof![Just(0.0), Just(1.0), Just(2.0), 0.0_f64..5.0], 0..12),
                    -10_000_i64..=10_000_000_000,
                    -10_000_i64..=10_000,
                ),
                1..6,
            ),
        ) {
            let mut split = Split::default();
            for (weights, units, revenue) in splits {
                split.set(&weights);
                for total in [units, revenue] {
                    let mut out = vec![7; weights.len()];
                    split.apportion(total, &mut out);
                    if weights.is_empty() {
                        prop_assert!(out.is_empty());
                    } else {
                        prop_assert_eq!(out, apportion_by_sorting(total, &weights));
                    }
                }
            }
        }

        #[test]
        fn credit_is_exact_and_non_negative(
            total in 0_i64..=10_000_000_000_000,
            weights in proptest::collection::vec(0.0_f64..1e6, 1..40),
        ) {
            let mut out = vec![0; weights.len()];
            apportion(total, &weights, &mut out);
            prop_assert_eq!(out.iter().sum::<i64>(), total);
            prop_assert!(out.iter().all(|&unit| unit >= 0));
            // Each share is within one unit of its exact value, give or take
            // the weights' scaling to 2⁴⁰ of the largest: with `P` the scaled
            // weights' sum, rounding each by at most ½ moves a share of
            // `total` by at most `total (n + 1) / 2P`.
            let sum: f64 = weights.iter().sum();
            let largest = weights.iter().copied().fold(0.0_f64, f64::max);
            if sum > 0.0 {
                #[expect(clippy::cast_precision_loss, reason = "tolerance check")]
                let (total, count) = (total as f64, weights.len() as f64);
                let scaling = total * (count + 1.0) / (2.0 * sum / largest * WEIGHT_SCALE);
                for (weight, unit) in weights.iter().zip(&out) {
                    let exact = total * weight / sum;
                    #[expect(clippy::cast_precision_loss, reason = "tolerance check")]
                    let unit = *unit as f64;
                    prop_assert!((unit - exact).abs() <= 1.0 + scaling + exact * 1e-9, "{} vs {}", unit, exact);
                }
            }
        }
    }
}
