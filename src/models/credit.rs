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
    /// Each touch's scaled weight (at most 2^40), when they split in
    /// proportion (empty otherwise).
    parts: Vec<u64>,
    /// Their sum.
    sum: u128,
    /// How the weights split: the last touch takes all (no weight), one
    /// touch takes all (one weight), or in proportion.
    kind: SplitKind,
    /// Each touch's remainder and index packed into one integer (the
    /// remainder in the high bits), while apportioning: compared at once,
    /// where comparing pairs had cost as much as the rest of the split, and
    /// in 64 bits, half what the selection reads in 128.
    remainders: Vec<u64>,
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
        // would give it, with no weight to scale. One pass finds which, and
        // the largest weight.
        let (mut weighted, mut only, mut largest) = (0_usize, 0, 0.0_f64);
        for (index, &weight) in weights.iter().enumerate() {
            if weight.is_finite() {
                largest = largest.max(weight);
                if weight > 0.0 {
                    weighted += 1;
                    only = index;
                }
            }
        }
        match weighted {
            0 => {
                self.kind = SplitKind::Last;
                return;
            }
            1 => {
                self.kind = SplitKind::Only(only);
                return;
            }
            _ => {}
        }
        // A weight too small beside the largest to keep a part leaves one.
        let (mut kept, mut only) = (0_usize, 0);
        for (index, &weight) in weights.iter().enumerate() {
            let part =
                if weight.is_finite() && weight > 0.0 { round_scaled(weight / largest * WEIGHT_SCALE) } else { 0 };
            if part > 0 {
                kept += 1;
                only = index;
            }
            self.sum += u128::from(part);
            self.parts.push(part);
        }
        self.kind = match kept {
            1 => SplitKind::Only(only),
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
        // Each floor and remainder: from a quotient estimated in floating
        // point and corrected, where the sum and the total are small enough
        // for the estimate to be off by a few units at most (a conversion's
        // units and any revenue below 4.5 billion); by a 128-bit division
        // otherwise, a library call that had cost as much as the rest of
        // the split.
        let estimated = u64::try_from(sum).ok().filter(|_| magnitude < 1 << 52);
        #[expect(clippy::cast_precision_loss, reason = "an estimate")]
        let (scale, divisor) = estimated.map_or((0.0, 0), |sum| (small_float(magnitude) / sum as f64, sum));
        // A remainder is below the sum: packed above its touch's index in
        // 64 bits unless a path has thousands of touches (then the pairs
        // are compared instead).
        let index_bits = u64::BITS - (out.len() as u64).leading_zeros();
        let packed = sum <= u128::from(u64::MAX >> index_bits);
        for (index, (&part, unit)) in (0_u64..).zip(self.parts.iter().zip(out.iter_mut())) {
            let exact = magnitude * u128::from(part);
            let (floor, remainder) = if estimated.is_some() {
                divide_near(exact, small_float(u128::from(part)) * scale, divisor)
            } else {
                (exact / sum, exact % sum)
            };
            given += floor;
            *unit = i64::try_from(floor).unwrap_or(i64::MAX);
            if packed {
                #[expect(clippy::cast_possible_truncation, reason = "below the sum, which packs")]
                remainders.push(((remainder as u64) << index_bits) | index);
            }
        }
        // The units left over (fewer than the touches) go to the largest
        // remainders; on a tie, the later touch first. Which touches those
        // are does not depend on how they are found, so a selection does.
        let left_over = usize::try_from(magnitude - given).unwrap_or(usize::MAX).min(out.len());
        #[expect(clippy::cast_possible_truncation, reason = "the low bits are an index of a slice")]
        let index_of = |key: u64| (key & ((1 << index_bits) - 1)) as usize;
        if left_over > 0 && !packed {
            give_left_over_by_pairs(magnitude, &self.parts, sum, left_over, out);
        } else if left_over == 1 {
            if let Some(&largest) = remainders.iter().max() {
                out[index_of(largest)] += 1;
            }
        } else if left_over > 0 {
            // The largest `left_over`, in ascending order, are the last.
            let first = remainders.len() - left_over;
            remainders.select_nth_unstable(first);
            for &key in &remainders[first..] {
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

/// `value` (below 2^53) as a float, exactly: converting a 128-bit integer
/// is a library call, a 64-bit signed one an instruction.
#[expect(clippy::cast_possible_truncation, clippy::cast_precision_loss, reason = "below 2^53")]
fn small_float(value: u128) -> f64 {
    value as i64 as f64
}

/// `exact / divisor` and `exact % divisor`, from `estimate`, a quotient
/// within a few units of the true one: stepped to the floor whose
/// remainder lies in `0..divisor`.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "exact is below 2^92 (a total below 2^52 times a part of at most 2^40); the floor and remainder are not negative"
)]
fn divide_near(exact: u128, estimate: f64, divisor: u64) -> (u128, u128) {
    let divisor = i128::from(divisor);
    let mut floor = i128::from(estimate as i64);
    let mut remainder = exact as i128 - floor * divisor;
    while remainder < 0 {
        floor -= 1;
        remainder += divisor;
    }
    while remainder >= divisor {
        floor += 1;
        remainder -= divisor;
    }
    (floor as u128, remainder as u128)
}

/// `value.round()` for a value in `0..=2^40` (a weight scaled), as an
/// integer: `f64::round` is a library call on processors without SSE4.1
/// (the baseline x86-64 builds for), once per touch and model.
///
/// Through a signed integer: converting a float to an unsigned one and back
/// takes branches on processors without AVX-512, a signed one an
/// instruction each way.
#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "scaled into 0..=2^40")]
fn round_scaled(value: f64) -> u64 {
    let whole = value as i64;
    // Below 2^53 both the whole part and the fraction are exact.
    #[expect(clippy::cast_precision_loss, reason = "below 2^53, exact")]
    let fraction = value - whole as f64;
    (if fraction >= 0.5 { whole + 1 } else { whole }) as u64
}

/// Gives the `left_over` units, one each, to the touches of the largest
/// remainders of `magnitude` split by `parts` (which sum to `sum`), the
/// later touch first on a tie: [`Split::apportion`]'s rule, on pairs of
/// remainder and touch, for sums too large to pack a remainder and its
/// touch in 64 bits.
fn give_left_over_by_pairs(magnitude: u128, parts: &[u64], sum: u128, left_over: usize, out: &mut [i64]) {
    let mut pairs: Vec<(u128, usize)> = parts.iter().map(|&part| magnitude * u128::from(part) % sum).zip(0..).collect();
    pairs.select_nth_unstable_by(left_over - 1, |left, right| right.cmp(left));
    for &(_, index) in &pairs[..left_over] {
        out[index] += 1;
    }
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

    #[test]
    fn paths_too_long_to_pack_their_remainders_are_split_by_the_same_rule() {
        // 5 000 touches of weights up to 1: the parts sum past 2^51, beyond
        // what packs beside a 13-bit index.
        #[expect(clippy::cast_precision_loss, reason = "small")]
        let weights: Vec<f64> = (0..5_000_u64).map(|touch| ((touch * 7_919) % 1_000 + 1) as f64 / 1_000.0).collect();
        let mut split = Split::default();
        split.set(&weights);
        assert!(split.sum > u128::from(u64::MAX >> 13));
        for total in [CONVERSION_UNITS, 4_999, -123_456_789, 1 << 51] {
            let mut out = vec![0; weights.len()];
            split.apportion(total, &mut out);
            assert_eq!(out, apportion_by_sorting(total, &weights), "{total}");
            assert_eq!(out.iter().sum::<i64>(), total);
        }
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

        /// The estimated quotient, corrected, is the division's, up to the
        /// largest totals and sums it is used for.
        #[test]
        fn quotients_estimated_then_corrected_are_exact(
            magnitude in prop_oneof![Just((1_u128 << 52) - 1), Just(1_000_000_000), 0_u128..(1 << 52)],
            part in prop_oneof![Just(1_u64 << 40), 1_u64..=(1 << 40)],
            more in prop_oneof![Just(0_u64), Just(u64::MAX - (1 << 40)), 0_u64..(1 << 44), 0_u64..(u64::MAX - (1 << 40))],
        ) {
            let divisor = part + more;
            #[expect(clippy::cast_precision_loss, reason = "as apportion")]
            let scale = small_float(magnitude) / divisor as f64;
            let exact = magnitude * u128::from(part);
            let divisor_wide = u128::from(divisor);
            prop_assert_eq!(
                divide_near(exact, small_float(u128::from(part)) * scale, divisor),
                (exact / divisor_wide, exact % divisor_wide)
            );
        }

        /// The pairs' rule, kept for sums too large to pack, gives the
        /// units the packed remainders give (here on sums that pack).
        #[test]
        fn pairs_give_the_left_over_units_as_packed_remainders_do(
            total in 0_i64..=10_000_000_000,
            parts in proptest::collection::vec(prop_oneof![Just(0_u64), Just(1 << 40), 0_u64..(1 << 40)], 2..30),
        ) {
            let sum: u128 = parts.iter().copied().map(u128::from).sum();
            prop_assume!(sum > 0);
            let magnitude = u128::try_from(total).unwrap();
            let mut split = Split { len: parts.len(), parts: parts.clone(), sum, kind: SplitKind::Shares, remainders: Vec::new() };
            let mut packed = vec![0; parts.len()];
            split.apportion(total, &mut packed);
            let mut out: Vec<i64> = parts.iter().map(|&part| i64::try_from(magnitude * u128::from(part) / sum).unwrap()).collect();
            let given: u128 = parts.iter().map(|&part| magnitude * u128::from(part) / sum).sum();
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
