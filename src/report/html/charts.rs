//! The page's charts, drawn by plotters' SVG backend into strings and inlined.
//!
//! Three shapes cover every chart: horizontal grouped bars (a category ×
//! series comparison such as channels × models), horizontal stacked bars (a
//! whole split into parts, such as a model's credit by touch class) and the
//! funnel (credit and spend share per stage against the budget guideline).
//! Categories read top to bottom in the order given, series in the order
//! given within each group. Text is written as SVG `<text>` in the
//! `sans-serif` family, so no font file is read or embedded.

use std::fmt::Write as _;
use std::io;

use plotters::coord::types::{RangedCoordf64, RangedSlice};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::escape;

/// The chart width in SVG units; the page scales it to its column.
const WIDTH: u32 = 600;

/// Labels longer than this are cut in charts (tables show them whole).
const LABEL_CHARS: usize = 22;

/// A qualitative palette (Tableau 10): distinct hues that survive greyscale
/// printing better than a rainbow.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x9C, 0x75, 0x5F),
    RGBColor(0xBA, 0xB0, 0xAC),
];

/// The colour of the `index`-th series (models, stages, classes).
#[must_use]
pub fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// A colour as CSS writes it.
#[must_use]
pub fn css_color(color: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
}

const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
const AXIS: RGBColor = RGBColor(0x99, 0x99, 0x99);
/// Error bars: darker than the text, so that they read across any bar.
pub const ERROR_BAR: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Half the height of an error bar's caps, at most, in SVG units.
const CAP: i32 = 4;
const GUIDELINE: RGBColor = RGBColor(0x59, 0xA1, 0x4F);

/// One series of bars: a value per category.
#[derive(Clone)]
pub struct Series {
    /// Its name, for the legend.
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// One value per category; `None` draws no bar.
    pub values: Vec<Option<f64>>,
    /// An interval per category, drawn as an error bar across the bar
    /// (grouped bars only); empty for none.
    pub intervals: Vec<Option<ErrorBar>>,
}

/// An interval drawn as an error bar: a thin line from `lo` to `hi` across
/// the middle of its bar, capped at both ends, with `title` as its tooltip.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBar {
    /// Its lower end, in the value axis' units.
    pub lo: f64,
    /// Its upper end.
    pub hi: f64,
    /// What a reader hovering over it sees, such as
    /// `90 % interval: 812.4 – 845.1`.
    pub title: String,
}

/// Bars to draw: categories, one series per bar of a group (or part of a
/// stack), and what the value axis measures.
#[derive(Clone)]
pub struct Bars<'a> {
    /// What the chart shows, for screen readers.
    pub title: &'a str,
    /// The categories, top to bottom.
    pub categories: Vec<String>,
    /// The series.
    pub series: Vec<Series>,
    /// The value axis' description.
    pub axis: &'a str,
}

impl Bars<'_> {
    /// The legend: each series' name and colour, as CSS writes it.
    #[must_use]
    pub fn legend(&self) -> Vec<(String, String)> {
        self.series.iter().map(|series| (series.name.clone(), css_color(series.color))).collect()
    }

    fn drawable(&self) -> bool {
        !self.categories.is_empty() && !self.series.is_empty()
    }

    /// The categories bottom to top (plotters' y axis grows upwards), cut to
    /// [`LABEL_CHARS`].
    fn rows(&self) -> Vec<String> {
        self.categories.iter().rev().map(|label| short(label)).collect()
    }

    /// Room for the longest category label, in SVG units.
    fn label_width(&self) -> u32 {
        let longest = self.categories.iter().map(|label| short(label).chars().count()).max().unwrap_or(0);
        u32::try_from(longest).unwrap_or(0) * 7 + 16
    }
}

/// A category axis: one bucket per category, `0..slots` inside each.
type Categories<'a> = NestedRange<RangedSlice<'a, String>, RangedCoordf64>;

/// Horizontal grouped bars: per category, one bar per series.
///
/// # Errors
///
/// A drawing error, which an in-memory SVG only has on a plotters bug.
pub fn grouped(bars: &Bars) -> io::Result<Option<String>> {
    if !bars.drawable() {
        return Ok(None);
    }
    let slots = bars.series.len();
    let bar = if slots > 4 { 7 } else { 12 };
    let height = u32::try_from(bars.categories.len() * (slots * bar + 12)).unwrap_or(u32::MAX).saturating_add(70);
    let values = bars.series.iter().flat_map(|series| series.values.iter().flatten().copied());
    let ends = bars.series.iter().flat_map(|series| series.intervals.iter().flatten().flat_map(|bar| [bar.lo, bar.hi]));
    let range = value_range(values.chain(ends));
    let rows = bars.rows();
    let mut error_bars = String::new();
    let svg = draw(bars.title, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(20)
            .x_label_area_size(40)
            .y_label_area_size(bars.label_width())
            .build_cartesian_2d(range, category_axis(&rows, slots))?;
        value_mesh(&mut chart, bars.axis, rows.len())?;
        for (slot, series) in bars.series.iter().enumerate() {
            // The first series at the top of its group.
            let top = float(slots - slot) - 0.1;
            let style = series.color.filled();
            let rects = rows.iter().zip(series.values.iter().rev()).filter_map(|(row, value)| {
                let value = (*value)?;
                Some(Rectangle::new(
                    [(0.0, NestedValue::Value(row, top)), (value, NestedValue::Value(row, top - 0.8))],
                    style,
                ))
            });
            chart.draw_series(rects)?;
            // Error bars across the middle of their bars, in category
            // order; written by hand, since plotters' elements carry no
            // tooltip.
            let middle = top - 0.4;
            for (row, error_bar) in rows.iter().rev().zip(&series.intervals) {
                let Some(error_bar) = error_bar else { continue };
                let at =
                    |value: f64, offset: f64| chart.backend_coord(&(value, NestedValue::Value(row, middle + offset)));
                let ((lo, y), (hi, _)) = (at(error_bar.lo, 0.0), at(error_bar.hi, 0.0));
                // Caps three quarters of the bar tall (0.6 of its slot), at most
                // twice [`CAP`].
                let cap = ((at(error_bar.lo, -0.3).1 - at(error_bar.lo, 0.3).1) / 2).min(CAP);
                error_bar_markup(&mut error_bars, &error_bar.title, (lo, hi), (y, y - cap, y + cap));
            }
        }
        Ok(())
    })?;
    Ok(Some(over(svg, &error_bars)))
}

/// Writes one error bar into `markup`: a group named `error-bar` holding
/// its tooltip, a wide invisible stroke along the interval (so that the
/// tooltip is easy to reach) and the visible line from `lo` to `hi` at
/// height `y`, capped from `cap_top` to `cap_bottom`; all in pixels.
fn error_bar_markup(markup: &mut String, title: &str, (lo, hi): (i32, i32), (y, cap_top, cap_bottom): (i32, i32, i32)) {
    // Writing to a String cannot fail.
    let _ = writeln!(
        markup,
        "<g class=\"error-bar\" fill=\"none\" stroke=\"{}\"><title>{}</title>\
         <path d=\"M{lo} {y}H{hi}\" stroke-opacity=\"0\" stroke-width=\"9\"/>\
         <path d=\"M{lo} {y}H{hi}M{lo} {cap_top}V{cap_bottom}M{hi} {cap_top}V{cap_bottom}\" stroke-width=\"1\"/></g>",
        css_color(ERROR_BAR),
        escape(title)
    );
}

/// `svg` with `markup` drawn last, over everything in it.
fn over(mut svg: String, markup: &str) -> String {
    if let Some(end) = svg.rfind("</svg>") {
        svg.insert_str(end, markup);
    }
    svg
}

/// Horizontal stacked bars: per category, the series end to end, up to
/// `total` (the largest stack when `None`).
///
/// # Errors
///
/// A drawing error, which an in-memory SVG only has on a plotters bug.
pub fn stacked(bars: &Bars, total: Option<f64>) -> io::Result<Option<String>> {
    if !bars.drawable() {
        return Ok(None);
    }
    let count = bars.categories.len();
    let stacks: Vec<f64> = (0..count)
        .map(|index| bars.series.iter().filter_map(|series| series.values[index]).map(|value| value.max(0.0)).sum())
        .collect();
    let end = total.unwrap_or_else(|| value_range(stacks.iter().copied()).end);
    let height = u32::try_from(count * 26).unwrap_or(u32::MAX).saturating_add(70);
    let rows = bars.rows();
    let svg = draw(bars.title, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(20)
            .x_label_area_size(40)
            .y_label_area_size(bars.label_width())
            .build_cartesian_2d(0.0..end, category_axis(&rows, 1))?;
        value_mesh(&mut chart, bars.axis, rows.len())?;
        let mut starts = vec![0.0; count];
        for series in &bars.series {
            let style = series.color.filled();
            let mut rects = Vec::new();
            for (index, value) in series.values.iter().enumerate() {
                let Some(value) = value.filter(|value| *value > 0.0) else { continue };
                let row = &rows[count - 1 - index];
                let start = starts[index];
                let (upper, lower) = (NestedValue::Value(row, 0.85), NestedValue::Value(row, 0.15));
                rects.push(Rectangle::new([(start, upper), (start + value, lower)], style));
                starts[index] += value;
            }
            chart.draw_series(rects)?;
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// The funnel: per stage, the share of credit and the share of spend (in %),
/// over shaded bands where the budget guideline puts the spend share.
pub struct Funnel<'a> {
    /// What the chart shows, for screen readers.
    pub title: &'a str,
    /// The stages, left to right.
    pub stages: Vec<String>,
    /// Share of credit per stage, in %.
    pub credit: Vec<Option<f64>>,
    /// Share of spend per stage, in %.
    pub spend: Vec<Option<f64>>,
    /// The guideline's (low, high) share per stage, in %, where it has one.
    pub guideline: Vec<Option<(f64, f64)>>,
}

/// The colour of the funnel's credit bars.
pub const CREDIT: RGBColor = PALETTE[0];
/// The colour of the funnel's spend bars.
pub const SPEND: RGBColor = PALETTE[1];
/// The colour of the guideline bands, as CSS writes it (with their opacity).
pub const GUIDELINE_CSS: &str = "rgba(89, 161, 79, 0.25)";

/// Vertical bars per stage, credit beside spend, over the guideline bands.
///
/// # Errors
///
/// A drawing error, which an in-memory SVG only has on a plotters bug.
pub fn funnel(funnel: &Funnel) -> io::Result<Option<String>> {
    if funnel.stages.is_empty() {
        return Ok(None);
    }
    let stages = &funnel.stages;
    let svg = draw(funnel.title, (WIDTH, 340), |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(20)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(category_axis(stages, 2), 0.0..100.0)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(stages.len())
            .x_label_formatter(&|value| (*value.category()).clone())
            .y_labels(6)
            .y_label_formatter(&|value| tick(*value))
            .y_desc("share, %")
            .label_style(("sans-serif", 15).into_font().color(&INK))
            .axis_desc_style(("sans-serif", 15).into_font().color(&INK))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .draw()?;
        let band = GUIDELINE.mix(0.25).filled();
        let bands = stages.iter().zip(&funnel.guideline).filter_map(|(stage, guideline)| {
            let (low, high) = (*guideline)?;
            Some(Rectangle::new([(NestedValue::Value(stage, 0.0), high), (NestedValue::Value(stage, 2.0), low)], band))
        });
        chart.draw_series(bands)?;
        let label = ("sans-serif", 14).into_font().color(&GUIDELINE).pos(Pos::new(HPos::Center, VPos::Top));
        for (slot, (values, color)) in [(&funnel.credit, CREDIT), (&funnel.spend, SPEND)].into_iter().enumerate() {
            let left = float(slot) + 0.15;
            let rects = stages.iter().zip(values).filter_map(|(stage, value)| {
                let value = (*value)?;
                let (from, to) = (NestedValue::Value(stage, left), NestedValue::Value(stage, left + 0.7));
                Some(Rectangle::new([(from, value), (to, 0.0)], color.filled()))
            });
            chart.draw_series(rects)?;
        }
        // The band's edges over the bars, so a bar shows where it stands.
        let edge = GUIDELINE.stroke_width(2);
        let edges = stages.iter().zip(&funnel.guideline).flat_map(|(stage, guideline)| {
            guideline.iter().flat_map(move |&(low, high)| {
                [low, high].map(|level| {
                    PathElement::new(
                        vec![(NestedValue::Value(stage, 0.0), level), (NestedValue::Value(stage, 2.0), level)],
                        edge,
                    )
                })
            })
        });
        chart.draw_series(edges)?;
        for (stage, guideline) in stages.iter().zip(&funnel.guideline) {
            let Some((low, high)) = *guideline else { continue };
            // Text is placed in pixels: plotters' text elements cannot hold
            // coordinates that borrow the stage names. The labels sit at the
            // top, where no bar of a share below 95 % reaches.
            let at = chart.backend_coord(&(NestedValue::Value(stage, 1.0), 96.0));
            root.draw(&Text::new(format!("{low:.0}–{high:.0} %"), at, label.clone()))?;
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// A count as a coordinate.
fn float(count: usize) -> f64 {
    f64::from(u32::try_from(count).unwrap_or(u32::MAX))
}

/// An axis tick: at most three decimals, none for whole numbers.
fn tick(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0 + 0.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.3}").trim_end_matches('0').to_owned()
    }
}

/// The nested category axis: a bucket per row, `0..slots` inside each.
fn category_axis(rows: &[String], slots: usize) -> Categories<'_> {
    let end = float(slots.max(1));
    rows.nested_coord(|_| 0.0..end)
}

/// The mesh of a horizontal chart: category labels on the left, the value
/// axis at the bottom with vertical grid lines.
fn value_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Categories<'_>>>,
    axis: &str,
    rows: usize,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|value| (*value.category()).clone())
        .x_labels(8)
        .x_label_formatter(&|value| tick(*value))
        .x_desc(axis)
        .label_style(("sans-serif", 15).into_font().color(&INK))
        .axis_desc_style(("sans-serif", 15).into_font().color(&INK))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .draw()
}

/// The value axis' range: from 0 (or the smallest negative value) to a
/// little past the largest value, never empty.
fn value_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values
        .filter(|value| value.is_finite())
        .fold((0.0_f64, 0.0_f64), |(low, high), value| (low.min(value), high.max(value)));
    let span = (high - low).max(f64::EPSILON);
    let high = if high > low { high + span * 0.04 } else { low + 1.0 };
    low..high
}

/// Draws on a fresh SVG canvas and returns the SVG, labelled for screen
/// readers. The `xmlns` attribute is dropped: inline SVG in HTML needs none,
/// and the page then names no address at all.
fn draw(
    title: &str,
    size: (u32, u32),
    paint: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|error| drawing_error(&error))?;
        paint(root.clone()).map_err(|error| drawing_error(&error))?;
        root.present().map_err(|error| drawing_error(&error))?;
    }
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    Ok(svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{}\" ", escape(title)), 1))
}

type DrawResult = Result<(), DrawingAreaErrorKind<io::Error>>;

fn drawing_error(error: &DrawingAreaErrorKind<io::Error>) -> io::Error {
    io::Error::other(format!("drawing a chart: {error}"))
}

/// A label cut to [`LABEL_CHARS`] characters, with an ellipsis.
fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(categories: &[&str], values: &[f64]) -> Bars<'static> {
        Bars {
            title: "test <chart>",
            categories: categories.iter().map(|&name| name.to_owned()).collect(),
            series: vec![Series {
                name: "a".to_owned(),
                color: color(0),
                values: values.iter().copied().map(Some).collect(),
                intervals: Vec::new(),
            }],
            axis: "value",
        }
    }

    #[test]
    fn grouped_bars_draw_one_rect_per_value_and_escape_labels() {
        let svg = grouped(&bars(&["a<b", "c&d"], &[1.0, 2.0])).unwrap().unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"test &lt;chart&gt;\" "), "{svg}");
        assert!(!svg.contains("http"), "no address: {svg}");
        assert!(svg.contains(">\na&lt;b\n</text>") && svg.contains(">\nc&amp;d\n</text>"), "{svg}");
        // The background and the two bars.
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
    }

    #[test]
    fn intervals_draw_an_error_bar_with_two_caps_and_a_tooltip_across_their_bars() {
        let mut chart = bars(&["a", "b", "c"], &[1.0, 2.0, 3.0]);
        let plain = grouped(&chart).unwrap().unwrap();
        assert!(!plain.contains("error-bar") && !plain.contains("#222222"), "{plain}");
        let error_bar =
            |lo: f64, hi: f64| Some(ErrorBar { lo, hi, title: format!("90 % interval: {lo} – {hi} <&>") });
        chart.series[0].intervals = vec![error_bar(0.5, 1.5), None, error_bar(2.0, 4.0)];
        let svg = grouped(&chart).unwrap().unwrap();
        assert_eq!(svg.matches("<g class=\"error-bar\" fill=\"none\" stroke=\"#222222\">").count(), 2, "{svg}");
        // In category order, drawn last, their tooltips escaped.
        let first = svg.find("<title>90 % interval: 0.5 – 1.5 &lt;&amp;&gt;</title>").expect("a's tooltip");
        let second = svg.find("<title>90 % interval: 2 – 4 &lt;&amp;&gt;</title>").expect("c's tooltip");
        assert!(svg.rfind("<rect").unwrap() < first && first < second && svg.ends_with("</g>\n</svg>\n"), "{svg}");
        // A line with a cap at each end, placed on the value axis: c's
        // interval (2 to 4) is twice as wide as a's (0.5 to 1.5) and starts
        // half a's width past a's end; c's bar is below a's.
        let path = |at: usize| -> Vec<i32> {
            let start = at + svg[at..].find("stroke-width=\"1\"").unwrap();
            let d = &svg[svg[..start].rfind("d=\"M").unwrap() + 4..start - 2];
            d.split(['M', 'H', 'V', ' ']).map(|number| number.parse().unwrap()).collect()
        };
        let (a, c) = (path(first), path(second));
        for bar in [&a, &c] {
            let [lo, y, hi, cap_lo, cap_top, cap_bottom, cap_hi, cap_top_hi, cap_bottom_hi] = bar[..] else {
                panic!("a line and two caps: {svg}")
            };
            assert!(lo < hi && cap_lo == lo && cap_hi == hi && cap_top_hi == cap_top && cap_bottom_hi == cap_bottom);
            assert!(cap_top < y && y < cap_bottom && cap_bottom - cap_top <= 8, "small caps around the line: {svg}");
        }
        let width = a[2] - a[0];
        assert!((c[2] - c[0] - 2 * width).abs() <= 1 && (c[0] - a[2] - width / 2).abs() <= 1, "{a:?} {c:?}");
        assert!(c[1] > a[1], "{a:?} {c:?}");
        // The value axis reaches the highest end, past the largest bar.
        assert!(svg.contains(">\n4\n</text>"), "{svg}");
    }

    #[test]
    fn nothing_to_draw_gives_no_chart() {
        assert_eq!(grouped(&bars(&[], &[])).unwrap(), None);
        assert_eq!(stacked(&bars(&[], &[]), Some(100.0)).unwrap(), None);
    }

    #[test]
    fn zero_and_negative_values_keep_a_valid_axis() {
        assert_eq!(value_range([0.0, 0.0].into_iter()), 0.0..1.0);
        let range = value_range([-2.0, 3.0].into_iter());
        assert!((range.start + 2.0).abs() < 1e-12 && range.end > 3.0);
        assert!(stacked(&bars(&["a"], &[0.0]), None).unwrap().is_some());
    }

    #[test]
    fn ticks_drop_needless_decimals() {
        assert_eq!([0.0, -0.0, 500.0, 2.5, 0.125, 1.0 / 3.0].map(tick), ["0", "0", "500", "2.5", "0.125", "0.333"]);
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(short("short"), "short");
        assert_eq!(short(&"x".repeat(30)).chars().count(), LABEL_CHARS);
    }
}
