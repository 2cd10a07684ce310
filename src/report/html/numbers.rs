//! How the page writes numbers: for people, not for a spreadsheet.
//!
//! The CSV files carry every number with fixed, exact decimals (six for
//! credited conversions, four for shares and ROAS). The page shows fewer:
//! conversions to one decimal (none when whole), money with two decimals and
//! thousands separators, shares and changes as percentages with one
//! decimal, ratios with two decimals. Each cell keeps the CSV text in its
//! `data-value` attribute, so that nothing is lost to a scraper or a test.
//!
//! A column with a total is rounded as a whole, like the CSV columns (see
//! `report/rounding.rs`): its cells, read as shown, add up to its total as
//! shown.

use crate::report::rounding::{apportion_units, format_units, round_units};

/// How a column's numbers are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// As computed: names, bands, counts written elsewhere.
    Text,
    /// Credited conversions: one decimal, none when whole.
    Conversions,
    /// Money: two decimals, thousands separators.
    Money,
    /// A share, in %: one decimal and a `%` sign.
    Share,
    /// A change, in %: one decimal and a `%` sign.
    Change,
    /// A rate written as a fraction (`0.253411`), shown in %: `25.3 %`.
    Rate,
    /// ROAS and other ratios: two decimals, thousands separators.
    Ratio,
    /// Whole counts, thousands separators.
    Count,
}

impl Format {
    /// The decimals shown; `None` for text.
    fn decimals(self) -> Option<u32> {
        match self {
            Self::Text => None,
            Self::Count => Some(0),
            Self::Conversions | Self::Share | Self::Change | Self::Rate => Some(1),
            Self::Money | Self::Ratio => Some(2),
        }
    }

    /// Whether a column of these adds up to a total.
    fn additive(self) -> bool {
        matches!(self, Self::Conversions | Self::Money | Self::Share | Self::Count)
    }

    /// `units` of the shown last digit, written.
    fn render(self, units: i128) -> String {
        let Some(decimals) = self.decimals() else {
            return String::new();
        };
        let whole = self == Self::Conversions && units % 10 == 0;
        let text = if whole { group(&format_units(units / 10, 0)) } else { group(&format_units(units, decimals)) };
        match self {
            Self::Share | Self::Change | Self::Rate => format!("{text} %"),
            _ => text,
        }
    }
}

/// Thousands separators in the whole part of a written number:
/// `-1234567.5` → `-1,234,567.5`.
fn group(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |rest| ("-", rest));
    let (whole, fraction) = rest.split_once('.').map_or((rest, None), |(whole, fraction)| (whole, Some(fraction)));
    let mut grouped = String::with_capacity(text.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A number as the CSV writes it (`-12.340`), in units of its last digit,
/// with its decimals; `None` for anything else (an empty cell).
fn parse(text: &str) -> Option<(i128, u32)> {
    let (sign, rest) = text.strip_prefix('-').map_or((1, text), |rest| (-1, rest));
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let units: i128 = format!("{whole}{fraction}").parse().ok()?;
    Some((sign * units, u32::try_from(fraction.len()).ok()?))
}

/// One column as shown: its body cells and its total (when it has one),
/// from the CSV texts.
pub(super) fn column(format: Format, cells: &[&str], total: Option<&str>) -> (Vec<String>, Option<String>) {
    let Some(decimals) = format.decimals() else {
        return (cells.iter().map(|&cell| cell.to_owned()).collect(), total.map(str::to_owned));
    };
    // A rate is a fraction: in %, a hundred times its value.
    let scale = if format == Format::Rate { 100 } else { 1 };
    let scaled = |text: &str| parse(text).map(|(units, places)| (units * scale, places));
    let parsed: Vec<Option<(i128, u32)>> = cells.iter().map(|cell| scaled(cell)).collect();
    let exact_total = total.and_then(scaled);
    // Rounded as a whole when every number of the column has the total's
    // decimals; else each cell on its own.
    let apportioned = exact_total.filter(|(_, places)| {
        format.additive() && parsed.iter().flatten().all(|(_, cell_places)| cell_places == places)
    });
    let shown_total = exact_total.map(|(units, places)| round_units(units, 10_i128.pow(places), decimals));
    let shown: Vec<Option<i128>> = match (apportioned, shown_total) {
        (Some((_, places)), Some(target)) => {
            let numerators: Vec<i128> = parsed.iter().flatten().map(|&(units, _)| units).collect();
            let mut apportioned = apportion_units(&numerators, 10_i128.pow(places), decimals, target).into_iter();
            parsed.iter().map(|cell| cell.and_then(|_| apportioned.next())).collect()
        }
        _ => parsed
            .iter()
            .map(|cell| cell.map(|(units, places)| round_units(units, 10_i128.pow(places), decimals)))
            .collect(),
    };
    let render = |units: Option<i128>| units.map(|units| format.render(units)).unwrap_or_default();
    (shown.into_iter().map(render).collect(), total.map(|_| render(shown_total)))
}

/// One number as shown.
pub(super) fn shown(format: Format, text: &str) -> String {
    column(format, &[text], None).0.pop().unwrap_or_default()
}

/// An interval as shown, `812.4 – 845.1`: each end in `format`, the lower
/// end rounded down and the upper end up (as the CSV files round them), so
/// that the shown interval holds the exact one.
pub(super) fn interval(format: Format, lo: f64, hi: f64) -> String {
    let Some(decimals) = format.decimals() else {
        return format!("{lo} – {hi}");
    };
    // A rate is a fraction, shown in %: two more decimals of the fraction.
    let decimals = if format == Format::Rate { decimals + 2 } else { decimals };
    let end = |value: f64, up: bool| shown(format, &crate::report::round_end(value, decimals, up));
    format!("{} – {}", end(lo, false), end(hi, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: Format, text: &str) -> String {
        column(format, &[text], None).0.remove(0)
    }

    #[test]
    fn formats_by_hand() {
        assert_eq!(one(Format::Conversions, "474.000000"), "474");
        assert_eq!(one(Format::Conversions, "409.695849"), "409.7");
        assert_eq!(one(Format::Conversions, "12345.450000"), "12,345.5");
        assert_eq!(one(Format::Conversions, "0.040000"), "0");
        assert_eq!(one(Format::Money, "417711.47"), "417,711.47");
        assert_eq!(one(Format::Money, "-1234.5"), "-1,234.50");
        assert_eq!(one(Format::Money, "999.995"), "1,000.00");
        assert_eq!(one(Format::Share, "12.3456"), "12.3 %");
        assert_eq!(one(Format::Change, "-25.00"), "-25.0 %");
        assert_eq!(one(Format::Ratio, "47.2043"), "47.20");
        assert_eq!(one(Format::Rate, "0.253411"), "25.3 %");
        assert_eq!(one(Format::Rate, "1.000000"), "100.0 %");
        assert_eq!(one(Format::Ratio, "1234.5"), "1,234.50");
        assert_eq!(one(Format::Count, "1234567"), "1,234,567");
        assert_eq!(one(Format::Money, ""), "");
        assert_eq!(one(Format::Text, "10–20"), "10–20");
    }

    #[test]
    fn intervals_are_rounded_outwards() {
        assert_eq!(interval(Format::Conversions, 812.43, 845.01), "812.4 – 845.1");
        assert_eq!(interval(Format::Conversions, 11.96, 1234.0), "11.9 – 1,234");
        assert_eq!(interval(Format::Money, 1234.567, 9_999.996), "1,234.56 – 10,000.00");
        assert_eq!(interval(Format::Share, 12.349, 14.1), "12.3 % – 14.1 %");
        assert_eq!(interval(Format::Ratio, 0.0, 3.125), "0.00 – 3.13");
        assert_eq!(interval(Format::Rate, 0.25341, 0.3), "25.3 % – 30.0 %");
    }

    #[test]
    fn a_column_with_a_total_adds_up_as_shown() {
        // Three thirds: each alone would show 0.3, summing to 0.9 against 1.
        let (cells, total) = column(Format::Conversions, &["0.333333", "0.333333", "0.333334"], Some("1.000000"));
        assert_eq!(cells, ["0.3", "0.3", "0.4"]);
        assert_eq!(total.as_deref(), Some("1"));
        let (cells, total) = column(Format::Share, &["33.3333", "33.3333", "33.3334", ""], Some("100.0000"));
        assert_eq!(cells, ["33.3 %", "33.3 %", "33.4 %", ""]);
        assert_eq!(total.as_deref(), Some("100.0 %"));
        // Ratios do not add up: each cell is rounded alone.
        let (cells, _) = column(Format::Ratio, &["0.333333", "0.333333"], Some("0.666666"));
        assert_eq!(cells, ["0.33", "0.33"]);
    }
}
