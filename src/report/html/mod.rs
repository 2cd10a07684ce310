//! `report.html`: the whole report on one self-contained page.
//!
//! The page carries its CSS and its charts (SVG drawn by plotters) inline,
//! runs no script and fetches nothing, so it opens from disk, mails as one
//! file and prints (a print stylesheet keeps charts and tables whole).
//!
//! Numbers are shown for people (`numbers.rs`: conversions to one decimal,
//! money with thousands separators, shares in %), and kept exactly as in the
//! CSV files in each cell's `data-value`, where a test or a scraper can find
//! them: each table has an `id`, each body row carries its key as `data-*`
//! attributes (`data-channel`, `data-stage`, ...) and each value cell names
//! its column in `data-col` (a model or a field name). An empty cell means
//! what an empty CSV field means: not defined. The page holds no time of
//! the run and no input path, so the same data gives the same bytes.

pub(crate) mod charts;
mod numbers;
mod quality;
mod sections;
mod trust;

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use self::numbers::Format;
use super::Reports;
use crate::config::Config;
use crate::report::ScenarioScore;
use crate::summary::Summary;

/// The page's stylesheet, screen and print.
pub(crate) const STYLE: &str = include_str!("style.css");

/// Writes `report.html`; `evaluation` holds the scores of a scenario
/// evaluation (`touchpath evaluate`), shown beside the models, if any.
///
/// # Errors
///
/// Whatever the sink returns, or a chart that cannot be drawn.
pub fn write_html(
    sink: &mut dyn Write,
    reports: &Reports,
    summary: &Summary,
    config: &Config,
    evaluation: &[ScenarioScore],
) -> io::Result<()> {
    let mut page = Page::default();
    page.put(format_args!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Attribution report · touchpath</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
    ));
    header(&mut page, reports, summary);
    page.push("<main>\n");
    sections::models(&mut page, reports)?;
    trust::section(&mut page, reports, evaluation);
    sections::returns(&mut page, reports)?;
    sections::funnel(&mut page, reports)?;
    sections::classes(&mut page, reports, config)?;
    sections::moments(&mut page, reports)?;
    sections::paths(&mut page, reports);
    quality::section(&mut page, reports, summary);
    page.push("</main>\n</body>\n</html>\n");
    sink.write_all(page.html.as_bytes())
}

/// The sections, in page order: anchor and title.
const CONTENTS: [(&str, &str); 8] = [
    ("models", "Model comparison"),
    ("trust", "Which model to trust"),
    ("returns", "ROAS and CPA"),
    ("funnel", "Funnel"),
    ("classes", "Paid, owned, earned"),
    ("moments", "Moment of truth"),
    ("paths", "Conversion paths"),
    ("quality", "Data quality"),
];

/// The title, the run's headline figures and the table of contents.
fn header(page: &mut Page, reports: &Reports, summary: &Summary) {
    let config = &summary.config;
    let period = match (config.from, config.to) {
        (None, None) => "every date in the log".to_owned(),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("up to {to}"),
        (Some(from), Some(to)) => format!("{from} to {to}"),
    };
    let models: Vec<&str> = reports.models.iter().map(|credit| credit.model).collect();
    page.push("<header>\n<h1>Attribution report</h1>\n<p class=\"meta\">");
    page.text(&format!("touchpath {} · period: {period} · models: {}", summary.touchpath_version, models.join(", ")));
    page.push("</p>\n<dl class=\"figures\">\n");
    let attributed = reports.models.first().map(|credit| credit.total).unwrap_or_default();
    let figures = [
        (
            "conversions attributed",
            numbers::shown(Format::Conversions, &super::fixed(Some(attributed.conversions()), 6)),
        ),
        ("revenue attributed", numbers::shown(Format::Money, &super::format_exact(attributed.revenue, 1_000_000, 2))),
        (
            "spend in the period",
            numbers::shown(Format::Money, &super::format_exact(reports.spend.total.spend, 1_000_000, 2)),
        ),
        ("users", numbers::shown(Format::Count, &summary.users.to_string())),
        ("touches", numbers::shown(Format::Count, &summary.touches.to_string())),
        ("converting journeys", numbers::shown(Format::Count, &summary.journeys.converting.to_string())),
    ];

    for (label, value) in figures {
        page.put(format_args!("<div><dt>{label}</dt><dd>{}</dd></div>\n", escape(&value)));
    }
    page.push("</dl>\n<nav aria-label=\"sections\"><ol>\n");
    for (anchor, title) in CONTENTS {
        page.put(format_args!("<li><a href=\"#{anchor}\">{title}</a></li>\n"));
    }
    page.push("</ol></nav>\n</header>\n");
}

/// The page being written.
#[derive(Default)]
struct Page {
    html: String,
}

impl Page {
    /// Appends markup as is.
    fn push(&mut self, markup: &str) {
        self.html.push_str(markup);
    }

    /// Appends formatted markup as is.
    fn put(&mut self, markup: fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.html.write_fmt(markup);
    }

    /// Appends text, escaped.
    fn text(&mut self, text: &str) {
        self.html.push_str(&escape(text));
    }

    /// Opens a section with its heading and an introduction (markup).
    fn open_section(&mut self, anchor: &str, introduction: &str) {
        let title = CONTENTS.iter().find(|(name, _)| *name == anchor).map_or(anchor, |(_, title)| title);
        self.put(format_args!("<section id=\"{anchor}\">\n<h2>{title}</h2>\n<p class=\"intro\">{introduction}</p>\n"));
    }

    fn close_section(&mut self) {
        self.push("</section>\n");
    }

    /// A chart with its caption and legend, or a note when there is
    /// nothing to draw.
    fn figure(&mut self, id: &str, caption: &str, legend: &[(String, String)], svg: Option<String>) {
        let Some(svg) = svg else {
            self.put(format_args!("<p class=\"note\" id=\"{id}\">{}: nothing to draw.</p>\n", escape(caption)));
            return;
        };
        self.put(format_args!("<figure class=\"chart\" id=\"{id}\">\n<figcaption>{}</figcaption>\n", escape(caption)));
        if !legend.is_empty() {
            self.push("<ul class=\"legend\">");
            for (name, color) in legend {
                self.put(format_args!(
                    "<li><span class=\"swatch\" style=\"background:{color}\"></span>{}</li>",
                    escape(name)
                ));
            }
            self.push("</ul>\n");
        }
        self.push(&svg);
        self.push("</figure>\n");
    }

    /// A table; see [`Table`].
    fn table(&mut self, table: &Table) {
        let signed = if table.signed { " signed" } else { "" };
        self.put(format_args!(
            "<div class=\"table\"><table id=\"{}\" class=\"numbers{signed}\">\n<caption>{}</caption>\n<thead><tr>",
            table.id,
            escape(table.caption)
        ));
        for (_, heading) in table.keys {
            self.put(format_args!("<th scope=\"col\">{}</th>", escape(heading)));
        }
        for (column, heading) in &table.columns {
            self.put(format_args!("<th scope=\"col\" data-col=\"{}\">{}</th>", escape(column), escape(heading)));
        }
        self.push("</tr></thead>\n<tbody>\n");
        let (shown, shown_total) = table.shown();
        for (row, shown) in table.rows.iter().zip(&shown) {
            self.push("<tr");
            for ((attribute, _), key) in table.keys.iter().zip(&row.keys) {
                self.put(format_args!(" data-{attribute}=\"{}\"", escape(key)));
            }
            self.push(">");
            for key in &row.keys {
                let (class, text) = if key.is_empty() { (" class=\"blank\"", "(blank)") } else { ("", key.as_str()) };
                self.put(format_args!("<th scope=\"row\"{class}>{}</th>", escape(text)));
            }
            self.cells(table, &row.cells, shown);
            self.push("</tr>\n");
        }
        self.push("</tbody>\n");
        if let (Some(total), Some(shown)) = (&table.total, &shown_total) {
            self.put(format_args!("<tfoot><tr><th scope=\"row\" colspan=\"{}\">total</th>", table.keys.len()));
            self.cells(table, total, shown);
            self.push("</tr></tfoot>\n");
        }
        self.push("</table></div>\n");
    }

    /// A row's cells: the exact text (as in the CSV files) decides the
    /// colour and goes to `data-value`; the shown text is the column's
    /// format.
    fn cells(&mut self, table: &Table, cells: &[String], shown: &[String]) {
        for (((column, _), format), (value, text)) in
            table.columns.iter().zip(&table.formats).zip(cells.iter().zip(shown))
        {
            let class = match value.as_bytes().first() {
                Some(b'-') if table.signed => " class=\"down\"",
                Some(_) if table.signed && value.bytes().any(|byte| (b'1'..=b'9').contains(&byte)) => " class=\"up\"",
                _ => "",
            };
            if *format == Format::Text {
                self.put(format_args!("<td data-col=\"{}\"{class}>{}</td>", escape(column), escape(text)));
            } else {
                self.put(format_args!(
                    "<td data-col=\"{}\" data-value=\"{}\"{class}>{}</td>",
                    escape(column),
                    escape(value),
                    escape(text)
                ));
            }
        }
    }
}

/// A table of the page: rows named by their key columns, then value cells.
struct Table<'a> {
    /// The table's `id`.
    id: &'a str,
    /// What it shows.
    caption: &'a str,
    /// The key columns: the row attribute (`data-NAME`) and the heading.
    keys: &'a [(&'a str, &'a str)],
    /// The value columns: `data-col` and heading.
    columns: Vec<(String, String)>,
    /// How each value column is shown.
    formats: Vec<Format>,
    /// One entry per row: its key values, then its cells (already formatted).
    rows: Vec<Row>,
    /// A totals row, in the table's footer.
    total: Option<Vec<String>>,
    /// Colours cells by sign: changes, not levels.
    signed: bool,
}

/// One body row of a [`Table`].
struct Row {
    keys: Vec<String>,
    cells: Vec<String>,
}

impl<'a> Table<'a> {
    fn new(id: &'a str, caption: &'a str, keys: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            id,
            caption,
            keys,
            columns: Vec::new(),
            formats: Vec::new(),
            rows: Vec::new(),
            total: None,
            signed: false,
        }
    }

    /// Adds a value column whose `data-col` is its heading, shown as is.
    fn column(self, name: &str) -> Self {
        self.column_as(name, Format::Text)
    }

    /// Adds value columns named like their headings, shown as they are.
    fn columns<'name>(self, names: impl IntoIterator<Item = &'name str>) -> Self {
        self.columns_as(names, Format::Text)
    }

    /// Adds a value column whose `data-col` is its heading, shown in
    /// `format`.
    fn column_as(mut self, name: &str, format: Format) -> Self {
        self.columns.push((name.to_owned(), name.to_owned()));
        self.formats.push(format);
        self
    }

    /// Adds value columns named like their headings, shown in `format`.
    fn columns_as<'name>(self, names: impl IntoIterator<Item = &'name str>, format: Format) -> Self {
        names.into_iter().fold(self, |table, name| table.column_as(name, format))
    }

    /// The cells as shown, row by row, and the total row as shown.
    fn shown(&self) -> (Vec<Vec<String>>, Option<Vec<String>>) {
        let mut rows: Vec<Vec<String>> = self.rows.iter().map(|_| Vec::with_capacity(self.columns.len())).collect();
        let mut total = self.total.as_ref().map(|_| Vec::with_capacity(self.columns.len()));
        for (index, format) in self.formats.iter().enumerate() {
            let cells: Vec<&str> =
                self.rows.iter().map(|row| row.cells.get(index).map_or("", String::as_str)).collect();
            let exact = self.total.as_ref().map(|total| total.get(index).map_or("", String::as_str));
            let (column, column_total) = numbers::column(*format, &cells, exact);
            for (row, cell) in rows.iter_mut().zip(column) {
                row.push(cell);
            }
            if let (Some(total), Some(cell)) = (&mut total, column_total) {
                total.push(cell);
            }
        }
        (rows, total)
    }

    fn row(&mut self, keys: Vec<String>, cells: Vec<String>) {
        self.rows.push(Row { keys, cells });
    }
}

/// Text made safe for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn tables_name_rows_and_cells() {
        let keys = [("channel", "channel")];
        let mut table = Table::new("demo", "a demo", &keys).columns(["spend", "roas"]);
        table.row(vec!["e<mail".to_owned()], vec!["1.50".to_owned(), String::new()]);
        table.row(vec![String::new()], vec!["0.00".to_owned(), "2.0000".to_owned()]);
        table.total = Some(vec!["1.50".to_owned(), String::new()]);
        let mut page = Page::default();
        page.table(&table);
        let html = page.html;
        assert!(html.contains("<table id=\"demo\" class=\"numbers\">"), "{html}");
        assert!(html.contains("<tr data-channel=\"e&lt;mail\"><th scope=\"row\">e&lt;mail</th><td data-col=\"spend\">1.50</td><td data-col=\"roas\"></td></tr>"), "{html}");
        assert!(html.contains("<tr data-channel=\"\"><th scope=\"row\" class=\"blank\">(blank)</th>"), "{html}");
        assert!(
            html.contains("<tfoot><tr><th scope=\"row\" colspan=\"1\">total</th><td data-col=\"spend\">1.50</td>"),
            "{html}"
        );
    }

    #[test]
    fn signed_tables_colour_changes() {
        let keys = [("channel", "channel")];
        let mut table = Table::new("change", "changes", &keys).columns(["a", "b", "c"]);
        table.signed = true;
        table.row(vec!["x".to_owned()], vec!["-3.00".to_owned(), "4.50".to_owned(), "0.00".to_owned()]);
        let mut page = Page::default();
        page.table(&table);
        let html = page.html;
        assert!(html.contains("<td data-col=\"a\" class=\"down\">-3.00</td><td data-col=\"b\" class=\"up\">4.50</td><td data-col=\"c\">0.00</td>"), "{html}");
    }
}
