//! Columns of exact values printed with fixed decimals so that the printed
//! cells add up to the printed total.
//!
//! Rounding each cell on its own makes a column of credited conversions sum
//! to 5384.000001 instead of 5384, and shares to 99.9998 %. Credit, revenue
//! and spend are exact integers inside, so a column is rounded as a whole by
//! the largest remainder method (Hamilton's method of apportionment, the one
//! used to share parliament seats among parties): every cell is rounded down
//! to the printed decimals, then the last-digit units still missing from the
//! printed total go, one each, to the cells with the largest remainders, ties
//! to the earlier row. The printed total is the exact total rounded half up.
//!
//! Each printed cell then differs from its exact value by less than one unit
//! of the last digit (a cell that is exact stays exact), and the cells, read
//! as printed, add up to the printed total exactly.

use std::borrow::Borrow;
use std::collections::BTreeMap;

/// `numerator / denominator` in units of the last printed digit (`10^-decimals`),
/// rounded half up (towards +∞ on a tie); 0 for a zero denominator.
#[must_use]
pub fn round_units(numerator: i128, denominator: i128, decimals: u32) -> i128 {
    let Some((numerator, denominator)) = normalized(numerator, denominator) else {
        return 0;
    };
    // floor(x + ½) = floor((2·n·10^d + q) / 2q).
    let doubled = numerator.saturating_mul(scale(decimals)).saturating_mul(2).saturating_add(denominator);
    doubled.div_euclid(denominator.saturating_mul(2))
}

/// The exact values `numerators[i] / denominator` in units of the last
/// printed digit (`10^-decimals`), rounded so that they add up to `target`
/// units: each is rounded down, then the missing units go one each to the
/// largest remainders, ties to the earlier value (one unit taken from each
/// of the smallest remainders, ties to the later value, when `target` is
/// below the sum of the floors). When `target` is within one unit of the
/// exact sum, as [`round_units`] of it is, every result is within one unit
/// of its exact value. All zeros for a zero denominator.
#[must_use]
pub fn apportion_units(numerators: &[i128], denominator: i128, decimals: u32, target: i128) -> Vec<i128> {
    let Some(count) = i128::try_from(numerators.len()).ok().filter(|&count| count > 0) else {
        return Vec::new();
    };
    let Some((sign, denominator)) = normalized(1, denominator) else {
        return vec![0; numerators.len()];
    };
    let scaled: Vec<i128> =
        numerators.iter().map(|&numerator| numerator.saturating_mul(sign).saturating_mul(scale(decimals))).collect();
    let mut units: Vec<i128> = scaled.iter().map(|value| value.div_euclid(denominator)).collect();
    let missing = target.saturating_sub(units.iter().sum());
    let mut order: Vec<usize> = (0..units.len()).collect();
    // A stable sort keeps the earlier row first among equal remainders.
    order.sort_by_key(|&index| std::cmp::Reverse(scaled[index].rem_euclid(denominator)));
    let (every, extra) = (missing.div_euclid(count), missing.rem_euclid(count));
    for (rank, &index) in order.iter().enumerate() {
        let rank = i128::try_from(rank).unwrap_or(i128::MAX);
        units[index] += every + i128::from(rank < extra);
    }
    units
}

/// `units` of `10^-decimals` written with `decimals` decimals: `-12.50`.
#[must_use]
pub fn format_units(units: i128, decimals: u32) -> String {
    let digits = units.unsigned_abs().to_string();
    let width = decimals as usize + 1;
    let digits = format!("{digits:0>width$}");
    let (whole, fraction) = digits.split_at(digits.len() - decimals as usize);
    let sign = if units < 0 { "-" } else { "" };
    if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
}

/// `numerator / denominator` written with `decimals` decimals, rounded half
/// up; empty for a zero denominator.
#[must_use]
pub fn format_exact(numerator: i128, denominator: i128, decimals: u32) -> String {
    if denominator == 0 { String::new() } else { format_units(round_units(numerator, denominator, decimals), decimals) }
}

/// `10^decimals`.
fn scale(decimals: u32) -> i128 {
    10_i128.checked_pow(decimals).unwrap_or(i128::MAX)
}

/// The fraction with a positive denominator, or `None` for a zero one.
fn normalized(numerator: i128, denominator: i128) -> Option<(i128, i128)> {
    match denominator.signum() {
        0 => None,
        1 => Some((numerator, denominator)),
        _ => Some((numerator.saturating_neg(), denominator.saturating_neg())),
    }
}

/// One column of a report, keyed by row, as printed: the cells add up to
/// the printed total. A row without a cell is written empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column<K> {
    /// Each row's cell, in last-digit units.
    cells: BTreeMap<K, i128>,
    /// The total, in last-digit units; `None` when not defined.
    total: Option<i128>,
    decimals: u32,
}

impl<K: Ord> Column<K> {
    /// The exact values `value / per_unit` (such as credit units per
    /// conversion, or millionths per currency unit), in row order; the
    /// total is their exact sum rounded half up.
    pub fn sums(values: impl IntoIterator<Item = (K, i128)>, per_unit: i128, decimals: u32) -> Self {
        let values: Vec<(K, i128)> = values.into_iter().collect();
        let total = round_units(values.iter().map(|(_, value)| value).sum(), per_unit, decimals);
        Self::grouped([(values, total)], per_unit, decimals)
    }

    /// Rows in groups, each group's cells adding up to a total already
    /// printed elsewhere, in last-digit units (the campaigns of a channel add
    /// up to the channel's cell); the column's total is the sum of those.
    pub fn grouped(groups: impl IntoIterator<Item = (Vec<(K, i128)>, i128)>, per_unit: i128, decimals: u32) -> Self {
        let mut column = Self { cells: BTreeMap::new(), total: (per_unit != 0).then_some(0), decimals };
        for (values, total) in groups {
            let (keys, numerators): (Vec<K>, Vec<i128>) = values.into_iter().unzip();
            let units = apportion_units(&numerators, per_unit, decimals, total);
            column.cells.extend(keys.into_iter().zip(units));
            column.total = column.total.map(|sum| sum + total);
        }
        column
    }

    /// Each part's share of `whole`, in %; every cell empty when `whole`
    /// is 0. Parts that make up the whole add up to 100 exactly.
    pub fn shares(parts: impl IntoIterator<Item = (K, i128)>, whole: i128, decimals: u32) -> Self {
        if whole == 0 {
            return Self { cells: BTreeMap::new(), total: None, decimals };
        }
        Self::sums(parts.into_iter().map(|(key, part)| (key, part.saturating_mul(100))), whole, decimals)
    }

    /// The row's cell as printed; empty when the row has none.
    pub fn cell<Q>(&self, key: &Q) -> String
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.units(key).map(|units| format_units(units, self.decimals)).unwrap_or_default()
    }

    /// The row's cell, or 0 when the row has none (a row whose exact value
    /// is 0, left out of the column).
    pub fn cell_or_zero<Q>(&self, key: &Q) -> String
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        format_units(self.units(key).unwrap_or(0), self.decimals)
    }

    /// The row's cell in last-digit units, if it has one.
    pub fn units<Q>(&self, key: &Q) -> Option<i128>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.cells.get(key).copied()
    }

    /// The total as printed: the sum of the printed cells.
    #[must_use]
    pub fn total(&self) -> String {
        self.total.map(|units| format_units(units, self.decimals)).unwrap_or_default()
    }

    /// The total in last-digit units, when defined.
    #[must_use]
    pub fn total_units(&self) -> Option<i128> {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A printed number read back exactly, in units of its last digit.
    fn parse_units(text: &str, decimals: u32) -> i128 {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        assert_eq!(fraction.len(), decimals as usize, "{text} has {decimals} decimals");
        let negative = whole.starts_with('-');
        let digits: i128 = format!("{}{fraction}", whole.trim_start_matches('-')).parse().unwrap();
        if negative { -digits } else { digits }
    }

    #[test]
    fn units_are_written_with_fixed_decimals() {
        assert_eq!(format_units(1_234_567, 6), "1.234567");
        assert_eq!(format_units(5, 2), "0.05");
        assert_eq!(format_units(-5, 2), "-0.05");
        assert_eq!(format_units(0, 4), "0.0000");
        assert_eq!(format_units(-42, 0), "-42");
        assert_eq!(format_exact(1, 3, 4), "0.3333");
        assert_eq!(format_exact(2, 3, 4), "0.6667");
        assert_eq!(format_exact(10_005_000, 1_000_000, 2), "10.01", "halves round up");
        assert_eq!(format_exact(-10_005_000, 1_000_000, 2), "-10.00", "towards +∞");
        assert_eq!(format_exact(1, -3, 4), "-0.3333");
        assert_eq!(format_exact(1, 0, 4), "");
    }

    #[test]
    fn thirds_add_up_to_one_hundred() {
        // Each third is 33.3333…: rounded alone, 99.9999 in all.
        let shares = Column::shares([("a", 1), ("b", 1), ("c", 1)], 3, 4);
        assert_eq!([shares.cell("a"), shares.cell("b"), shares.cell("c")], ["33.3334", "33.3333", "33.3333"]);
        assert_eq!(shares.total(), "100.0000");
    }

    #[test]
    fn the_largest_remainders_get_the_missing_units() {
        // 1.004, 2.337 and 3.659 (in thousandths) to two decimals: floors
        // 1.00, 2.33, 3.65 sum to 6.98; the total 7.00 needs two more
        // hundredths, which go to .009 and .007, not to .004.
        let column = Column::sums([(0, 1_004), (1, 2_337), (2, 3_659)], 1_000, 2);
        assert_eq!([column.cell(&0), column.cell(&1), column.cell(&2)], ["1.00", "2.34", "3.66"]);
        assert_eq!(column.total(), "7.00");
    }

    #[test]
    fn exact_cells_stay_exact_and_ties_go_to_the_earlier_row() {
        // Halves: 0.5 + 0.5 + 2 = 3; one unit is missing after the floors
        // (0 + 0 + 2) and goes to the first half.
        assert_eq!(apportion_units(&[1, 1, 4], 2, 0, 3), [1, 0, 2]);
        // Zero values never receive a unit the total does not need.
        assert_eq!(apportion_units(&[0, 1, 0, 1], 3, 1, round_units(2, 3, 1)), [0, 4, 0, 3]);
    }

    #[test]
    fn a_given_total_is_reached_from_above_and_below() {
        // Campaigns of a channel printed 2.34 whose exact credit is 2.337.
        assert_eq!(apportion_units(&[1_168, 1_169], 1_000, 2, 234), [117, 117]);
        // A target below the floors takes from the smallest remainders.
        assert_eq!(apportion_units(&[1_160, 1_169], 1_000, 2, 231), [115, 116]);
        // One far off still adds up.
        assert_eq!(apportion_units(&[0, 0], 1, 0, 5).iter().sum::<i128>(), 5);
    }

    #[test]
    fn negative_values_and_empty_columns() {
        // -0.25 and 1.25 to one decimal: floors -0.3 and 1.2, total 1.0.
        assert_eq!(apportion_units(&[-1, 5], 4, 1, round_units(4, 4, 1)), [-2, 12]);
        assert!(apportion_units(&[], 7, 2, 0).is_empty());
        assert_eq!(apportion_units(&[1, 2], 0, 2, 0), [0, 0]);
        // Two channels printed 0.7 each (2/3 exactly), one of them in two
        // campaigns of 1/3.
        let campaigns = Column::grouped([(vec![("a", 1), ("b", 1)], 7), (vec![("c", 2)], 7)], 3, 1);
        assert_eq!([campaigns.cell("a"), campaigns.cell("b"), campaigns.cell("c")], ["0.4", "0.3", "0.7"]);
        assert_eq!(campaigns.total(), "1.4");
        let nothing = Column::shares([("a", 0)], 0, 4);
        assert_eq!((nothing.cell("a"), nothing.total()), (String::new(), String::new()));
        let column = Column::sums([("a", 1)], 1, 2);
        assert_eq!((column.cell("b"), column.cell_or_zero("b")), (String::new(), "0.00".to_owned()));
    }

    proptest! {
        #[test]
        fn printed_cells_add_up_to_the_printed_total(
            numerators in proptest::collection::vec(-10_i128.pow(15)..10_i128.pow(15), 0..30),
            denominator in prop_oneof![Just(1_000_000_000_i128), Just(1_000_000), 1_i128..10_i128.pow(12)],
            decimals in 0_u32..8,
        ) {
            let column = Column::sums(numerators.iter().copied().enumerate(), denominator, decimals);
            let total = parse_units(&column.total(), decimals);
            let mut sum = 0;
            for (row, &numerator) in numerators.iter().enumerate() {
                let printed = parse_units(&column.cell(&row), decimals);
                sum += printed;
                // |printed − exact| < 1 unit, in integers: |printed·q − n·10^d| < q.
                let exact = numerator * 10_i128.pow(decimals);
                prop_assert!((printed * denominator - exact).abs() < denominator, "row {row}: {printed} for {numerator}/{denominator}");
            }
            prop_assert_eq!(sum, total);
            let exact_total: i128 = numerators.iter().sum::<i128>() * 10_i128.pow(decimals);
            prop_assert!(2 * (total * denominator - exact_total).abs() <= denominator, "the total is rounded to nearest");
        }

        #[test]
        fn shares_of_a_whole_add_up_to_one_hundred(parts in proptest::collection::vec(0_i128..1_000_000, 1..20)) {
            let whole: i128 = parts.iter().sum();
            prop_assume!(whole > 0);
            let column = Column::shares(parts.iter().copied().enumerate(), whole, 4);
            let sum: i128 = (0..parts.len()).map(|row| parse_units(&column.cell(&row), 4)).sum();
            prop_assert_eq!(sum, 1_000_000);
            prop_assert_eq!(column.total(), "100.0000");
        }

        #[test]
        fn groups_add_up_to_their_printed_cell(
            numerators in proptest::collection::vec(0_i128..10_i128.pow(12), 1..12),
            decimals in 0_u32..7,
        ) {
            let per_unit = 1_000_000_000;
            let target = round_units(numerators.iter().sum(), per_unit, decimals);
            let units = apportion_units(&numerators, per_unit, decimals, target);
            prop_assert_eq!(units.iter().sum::<i128>(), target);
            for (&printed, &numerator) in units.iter().zip(&numerators) {
                prop_assert!((printed * per_unit - numerator * 10_i128.pow(decimals)).abs() < per_unit);
            }
        }
    }
}
