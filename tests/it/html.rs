//! `report.html`: its numbers are the CSV files' numbers, cell for cell; it
//! is self-contained and escapes what the inputs say; the same data gives the
//! same bytes; and every chart renders in a real browser (headless Chromium).
//!
//! The browser test needs `/usr/bin/chromium` (Debian's `chromium` package;
//! `scripts/test.sh` installs it) and fails without it. With
//! `TOUCHPATH_UPDATE_SCREENSHOT=1` it also refreshes `docs/report.png`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use touchpath::Config;
use touchpath::generate::{GenerateOptions, generate};

use crate::support::{Workspace, stderr};

/// Runs the library on a generated log and spend table; returns the
/// workspace (the report is in `out/`).
fn generated_report(users: u64) -> Workspace {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users, seed: 5, ..GenerateOptions::default() }, &data).unwrap();
    workspace.run(&[data.join("events.csv")], &[data.join("spend.csv")], &Config::default()).unwrap();
    workspace
}

/// A CSV file as maps from column name to value (quoted fields understood,
/// no line breaks inside fields).
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header = fields(lines.next().expect("a header"));
    lines.map(|line| header.iter().cloned().zip(fields(line)).collect()).collect()
}

fn fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match (character, quoted) {
            ('"', true) if characters.peek() == Some(&'"') => {
                field.push('"');
                characters.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (other, _) => field.push(other),
        }
    }
    fields.push(field);
    fields
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// The page's tables, read back: table id → rows, each as its `data-*` key
/// attributes and its cells by `data-col`.
struct Page<'a> {
    html: &'a str,
}

impl Page<'_> {
    /// The exact value of the cell in column `column` of the row of table
    /// `table` whose key attributes are `keys` (its `data-value`, or its
    /// text when it has none); panics when the table, the row or the cell
    /// is missing.
    fn cell(&self, table: &str, keys: &[(&str, &str)], column: &str) -> String {
        let (exact, shown) = self.cell_texts(table, keys, column);
        exact.unwrap_or(shown)
    }

    /// The cell's `data-value`, if any, and its text as shown.
    fn cell_texts(&self, table: &str, keys: &[(&str, &str)], column: &str) -> (Option<String>, String) {
        let start = self.html.find(&format!("<table id=\"{table}\"")).unwrap_or_else(|| panic!("no table {table}"));
        let body = &self.html[start..];
        let body = &body[..body.find("</table>").expect("a closed table")];
        let wanted: Vec<String> =
            keys.iter().map(|(attribute, value)| format!(" data-{attribute}=\"{}\"", escape(value))).collect();
        let row = body
            .split("<tr")
            .skip(1)
            .find(|row| {
                let opening = &row[..row.find('>').unwrap_or(0)];
                wanted.iter().all(|attribute| opening.contains(attribute.as_str()))
            })
            .unwrap_or_else(|| panic!("{table}: no row {keys:?}"));
        let marker = format!("<td data-col=\"{}\"", escape(column));
        let cell = &row[row.find(&marker).unwrap_or_else(|| panic!("{table} {keys:?}: no column {column}"))..];
        let opening = &cell[..cell.find('>').unwrap()];
        let exact = opening.find(" data-value=\"").map(|start| {
            let value = &opening[start + " data-value=\"".len()..];
            unescape(&value[..value.find('"').unwrap()])
        });
        let text = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
        (exact, unescape(text))
    }

    /// Every shown text of column `column` in the body of table `table`, and
    /// of its total row.
    fn column_texts(&self, table: &str, column: &str) -> (Vec<String>, Option<String>) {
        let start = self.html.find(&format!("<table id=\"{table}\"")).unwrap_or_else(|| panic!("no table {table}"));
        let body = &self.html[start..];
        let body = &body[..body.find("</table>").expect("a closed table")];
        let marker = format!("<td data-col=\"{}\"", escape(column));
        let text_of = |row: &str| {
            let cell = &row[row.find(&marker)?..];
            Some(unescape(&cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()]))
        };
        let (rows, footer) = body.split_once("<tfoot>").map_or((body, None), |(rows, footer)| (rows, Some(footer)));
        (rows.split("<tr").skip(1).filter_map(text_of).collect(), footer.and_then(text_of))
    }
}

#[test]
fn numbers_in_the_page_equal_the_csv_files() {
    let workspace = generated_report(2_000);
    let html = workspace.read("out/report.html");
    let page = Page { html: &html };
    let mut checked = 0;
    let mut check = |table: &str, keys: &[(&str, &str)], column: &str, expected: &str| {
        assert_eq!(page.cell(table, keys, column), expected, "{table} {keys:?} {column}");
        checked += 1;
    };

    let mut class_totals: BTreeMap<(String, String), f64> = BTreeMap::new();
    let classes = Config::default();
    for row in csv_rows(&workspace.read("out/channels.csv")) {
        let (model, channel) = (row["model"].as_str(), row["channel"].as_str());
        let key = [("channel", channel)];
        check("channel-conversions", &key, model, &row["conversions"]);
        check("channel-revenue", &key, model, &row["revenue"]);
        if model != "last_click" {
            check("channel-change", &key, model, &row["change_vs_last_click"]);
        }
        if !row["spend"].is_empty() {
            check("channel-roas", &key, model, &row["roas"]);
            check("channel-cpa", &key, model, &row["cpa"]);
            check("channel-roas", &key, "spend", &row["spend"]);
        }
        let class = classes.class_of(channel).as_str().to_owned();
        *class_totals.entry((model.to_owned(), class)).or_default() += row["conversions"].parse::<f64>().unwrap();
    }
    for ((model, class), total) in class_totals {
        let shown: f64 = page.cell("class-conversions", &[("class", &class)], &model).parse().unwrap();
        assert!((shown - total).abs() < 1e-4, "{model} {class}: {shown} against the channels' {total}");
    }
    for row in csv_rows(&workspace.read("out/classes.csv")) {
        let (model, key) = (row["model"].as_str(), [("class", row["class"].as_str())]);
        check("class-conversions", &key, model, &row["conversions"]);
        check("class-shares", &key, model, &row["share_of_conversions"]);
        check("class-revenue", &key, model, &row["revenue"]);
        check("class-roas", &key, model, &row["roas"]);
        check("class-roas", &key, "spend", &row["spend"]);
    }
    for row in csv_rows(&workspace.read("out/campaigns.csv")).iter().filter(|row| !row["spend"].is_empty()) {
        let key = [("channel", row["channel"].as_str()), ("campaign", row["campaign"].as_str())];
        check("campaign-roas", &key, &row["model"], &row["roas"]);
        check("campaign-cpa", &key, &row["model"], &row["cpa"]);
        check("campaign-cpa", &key, "spend", &row["spend"]);
    }
    for row in csv_rows(&workspace.read("out/stages.csv")) {
        let key = [("stage", row["stage"].as_str())];
        check("stages", &key, &row["model"], &row["share_of_revenue"]);
        check("stages", &key, "spend", &row["spend"]);
        check("stages", &key, "share_of_spend", &row["share_of_spend"]);
    }
    for row in csv_rows(&workspace.read("out/moments.csv")) {
        let key = [("channel", row["channel"].as_str()), ("stage", row["stage"].as_str())];
        for column in ["moments", "share", "median_touches_before", "median_hours_to_purchase"] {
            check("moments-table", &key, column, &row[column]);
        }
    }
    let paths = csv_rows(&workspace.read("out/paths.csv"));
    assert!(paths.len() > 20, "enough paths to list the top 20");
    for (rank, row) in paths.iter().take(20).enumerate() {
        let rank = (rank + 1).to_string();
        let key = [("rank", rank.as_str()), ("path", row["path"].as_str())];
        for column in
            ["conversions", "revenue", "journeys", "conversion_rate", "mean_touches", "mean_days_to_conversion"]
        {
            check("paths-table", &key, column, &row[column]);
        }
    }
    assert!(!html.contains("data-rank=\"21\""), "the top 20 paths only");
    let summary = workspace.summary();
    for column in ["read", "accepted", "rejected", "duplicates"] {
        check("rows", &[("table", "touchpoint log")], column, &summary["rows"][column].to_string());
    }
    assert!(checked > 500, "only {checked} cells checked");
}

/// A shown number read back: separators and the `%` sign dropped.
fn shown_number(text: &str) -> f64 {
    text.trim_end_matches(" %").replace(',', "").parse().unwrap_or_else(|_| panic!("not a shown number: {text}"))
}

#[test]
fn the_page_shows_numbers_for_people_and_columns_add_up_as_shown() {
    let workspace = generated_report(2_000);
    let html = workspace.read("out/report.html");
    let page = Page { html: &html };
    assert!(!html.contains(".000000<"), "no cell shows six decimals");
    let channels = csv_rows(&workspace.read("out/channels.csv"));
    let mut checked = 0;
    for row in &channels {
        let key = [("channel", row["channel"].as_str())];
        let (exact, shown) = page.cell_texts("channel-conversions", &key, &row["model"]);
        assert_eq!(exact.as_deref(), Some(row["conversions"].as_str()));
        let value: f64 = row["conversions"].parse().unwrap();
        // One decimal, none when whole; within a unit of the last digit shown.
        assert!(shown.split_once('.').is_none_or(|(_, fraction)| fraction.len() == 1), "{shown}");
        assert!((shown_number(&shown) - value).abs() < 0.1 + 1e-9, "{shown} against {value}");
        let (_, revenue) = page.cell_texts("channel-revenue", &key, &row["model"]);
        assert!(revenue.split_once('.').is_some_and(|(_, cents)| cents.len() == 2), "{revenue}");
        let whole = revenue.split_once('.').unwrap().0.trim_start_matches('-');
        assert!(whole.len() <= 3 || whole.contains(','), "thousands separated: {revenue}");
        checked += 1;
    }
    assert!(checked > 50);
    assert!(html.contains("<td data-col=\"linear\" data-value=\""), "exact values kept");
    let (_, share) = page.cell_texts("stages", &[("stage", "awareness")], "share_of_spend");
    assert!(share.ends_with(" %"), "{share}");
    // Every column with a total adds up, as shown, to the total as shown.
    let models: Vec<&str> = channels.iter().map(|row| row["model"].as_str()).collect();
    for table in ["channel-conversions", "channel-revenue", "class-revenue"] {
        for model in &models {
            let (cells, total) = page.column_texts(table, model);
            let total = shown_number(&total.unwrap_or_else(|| panic!("{table} has a total")));
            let sum: f64 = cells.iter().filter(|cell| !cell.is_empty()).map(|cell| shown_number(cell)).sum();
            assert!((sum - total).abs() < 1e-6, "{table} {model}: {sum} against {total}");
        }
    }
}

#[test]
fn the_page_is_self_contained_and_escapes_the_inputs() {
    let workspace = Workspace::new();
    // u2 does not convert, so u1's first touch raises the chance of
    // converting: a moment of truth, and its chart.
    let events = workspace.write(
        "events.csv",
        "user_id,timestamp,channel,campaign,event_type,revenue\n\
         u1,2026-01-01T10:00:00Z,\"<b>Mail & \"\"News\"\"\",<script>alert(1)</script>,click,\n\
         u1,2026-01-02T10:00:00Z,search,'quoted',click,\n\
         u1,2026-01-03T10:00:00Z,search,,conversion,10\n\
         u2,2026-01-01T10:00:00Z,display,,impression,\n",
    );
    let spend = workspace.write(
        "spend.csv",
        "date,channel,campaign,spend\n2026-01-01,\"<b>Mail & \"\"News\"\"\",<script>alert(1)</script>,5\n\
         2026-01-02,search,'quoted',3\n",
    );
    workspace.run(&[events], &[spend], &Config::default()).unwrap();
    let html = workspace.read("out/report.html");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{}", &html[..100]);
    assert!(html.ends_with("</html>\n"));
    let lower = html.to_lowercase();
    for forbidden in ["<script", "http://", "https://", "<link", "<img", "<iframe", "@import", "url(", "src="] {
        assert!(!lower.contains(forbidden), "the page has {forbidden:?}");
    }
    assert!(html.contains("data-channel=\"&lt;b&gt;mail_&amp;_&quot;news&quot;\""), "the channel, escaped");
    assert!(!html.contains("<b>mail") && !html.contains("alert(1)</script>"), "no input markup in the page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the campaign, escaped");
    assert!(html.contains("data-campaign=\"&#39;quoted&#39;\""), "a quote in an attribute, escaped");
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(html.matches("<svg").count() >= 6, "every chart drawn");
}

#[test]
fn the_same_data_gives_the_same_page() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users: 1_500, seed: 9, dirty: true, ..GenerateOptions::default() }, &data).unwrap();
    let (events, spend) = (data.join("events.csv"), data.join("spend.csv"));
    let run = |out: &str, threads: &str| {
        let args = ["run", "--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap()];
        let output = workspace.touchpath(&[&args[..], &["--out", out, "--threads", threads]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        fs::read(workspace.path(out).join("report.html")).unwrap()
    };
    let first = run("one", "1");
    assert!(first == run("two", "2"), "report.html differs between runs");
}

/// The browser every chart is checked in.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Measures every SVG as the browser laid it out and writes the result into
/// the page as JSON, for `--dump-dom` to print.
const PROBE: &str = r"<script>
const inside = (box, outer) => box.left >= outer.left - 1 && box.right <= outer.right + 1
  && box.top >= outer.top - 1 && box.bottom <= outer.bottom + 1;
const charts = [...document.querySelectorAll('svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect')].filter(rect => {
    const fill = (rect.getAttribute('fill') || '').toUpperCase();
    const bar = rect.getBoundingClientRect();
    return fill !== '#FFFFFF' && bar.width > 0 && bar.height > 0;
  });
  const lines = [...svg.querySelectorAll('line, path, polyline')].filter(line => {
    const extent = line.getBoundingClientRect();
    return extent.width > 0 || extent.height > 0;
  });
  const texts = [...svg.querySelectorAll('text')].filter(text => text.getBoundingClientRect().width > 0);
  return {
    id: svg.closest('figure') ? svg.closest('figure').id : '',
    width: box.width, height: box.height, bars: bars.length, lines: lines.length, texts: texts.length,
    outside: bars.filter(bar => !inside(bar.getBoundingClientRect(), box)).length,
  };
});
const root = document.documentElement;
const probe = document.createElement('pre');
probe.id = 'probe';
probe.textContent = JSON.stringify({charts, scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
  height: root.scrollHeight});
document.body.append(probe);
</script>";

/// Runs headless Chromium on `page` with `args`, in a fresh profile; returns
/// what it printed. Fails after 90 s rather than hang.
fn chromium(workspace: &Workspace, profile: &str, args: &[&str], page: &Path) -> String {
    let stdout = workspace.path(&format!("{profile}.stdout"));
    let log = workspace.path(&format!("{profile}.stderr"));
    let mut child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--hide-scrollbars", "--force-device-scale-factor=1"])
        .arg(format!("--user-data-dir={}", workspace.path(profile).display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|error| panic!("{CHROMIUM} does not start: {error}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{CHROMIUM} {args:?} did not finish in 90 s; its log:\n{}", fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{CHROMIUM} {args:?}: {status}; its log:\n{}", fs::read_to_string(&log).unwrap());
    fs::read_to_string(&stdout).unwrap()
}

/// A PNG's width and height, from its header.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

#[test]
fn every_chart_renders_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: this test renders report.html in headless Chromium. Install Debian's package: \
         `apt-get update && apt-get install -y --no-install-recommends chromium` (scripts/test.sh does this)"
    );
    let workspace = Workspace::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample");
    let (events, spend) = (sample.join("events.csv"), sample.join("spend.csv"));
    let args = ["run", "--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap(), "--out", "report"];
    let output = workspace.touchpath(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = workspace.path("report/report.html");
    let html = fs::read_to_string(&report).unwrap();

    // Every view of the conversions chart laid out at once, so that each is
    // measured; a reader sees one at a time.
    let every_view = "<style>.switch > .view { display: block !important; }</style>";
    let probe_page = workspace.write("probe.html", &html.replace("</body>", &format!("{every_view}{PROBE}\n</body>")));
    let dom = chromium(&workspace, "probe", &["--window-size=1280,900", "--dump-dom"], &probe_page);
    let json = dom.split_once("<pre id=\"probe\">").and_then(|(_, rest)| rest.split_once("</pre>")).map_or_else(
        || panic!("the probe did not run; the DOM:\n{}", &dom[..dom.len().min(2000)]),
        |(json, _)| unescape(json),
    );
    let probe: serde_json::Value = serde_json::from_str(&json).unwrap();
    let charts = probe["charts"].as_array().unwrap();
    let ids: Vec<&str> = charts.iter().map(|chart| chart["id"].as_str().unwrap()).collect();
    let models = crate::support::MODELS;
    let mut expected = vec!["chart-conversions".to_owned(), "chart-conversions-shares".to_owned()];
    expected.extend(models.iter().map(|model| format!("chart-conversions-{model}")));
    expected
        .extend(["chart-revenue", "chart-roas", "chart-funnel", "chart-classes", "chart-moments"].map(str::to_owned));
    assert_eq!(ids, expected, "every chart, in page order");
    // One radio button per view, the first checked: a reader switches views
    // without a script.
    assert_eq!(html.matches("<input type=\"radio\" name=\"conversions-view\"").count(), models.len() + 2);
    assert!(html.contains("id=\"view-chart-conversions\" checked>"));
    assert_eq!(charts.len(), html.matches("<svg").count(), "the browser parsed every SVG");
    for chart in charts {
        let id = &chart["id"];
        let number = |field: &str| chart[field].as_f64().unwrap();
        assert!(number("width") > 300.0 && number("height") > 150.0, "{id} is laid out at a real size: {chart}");
        assert!(number("bars") >= 5.0, "{id} draws its bars: {chart}");
        assert!(number("lines") >= 2.0 && number("texts") >= 4.0, "{id} draws its axes and labels: {chart}");
        assert!(number("outside") == 0.0, "{id} keeps its bars inside the chart: {chart}");
    }
    assert_eq!(probe["scrollWidth"], probe["clientWidth"], "nothing overflows a 1280 px window sideways");

    // The first screen, as a person opening the report sees it.
    let screenshot = workspace.path("report.png");
    chromium(
        &workspace,
        "screenshot",
        &["--window-size=1280,1400", &format!("--screenshot={}", screenshot.display())],
        &report,
    );
    let png = fs::read(&screenshot).unwrap();
    assert_eq!(png_size(&png), (1280, 1400));
    assert!(png.len() > 50_000, "a screenshot with content, not a blank page ({} bytes)", png.len());
    if std::env::var_os("TOUCHPATH_UPDATE_SCREENSHOT").is_some_and(|value| value == "1") {
        let docs: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
        fs::write(&docs, &png).unwrap();
    }
}

/// The part of the page from `id="ID"` to the end of its chart.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}"));
    let end = start + page[start..].find("</svg>").expect("its chart");
    &page[start..end]
}

#[test]
fn bootstrap_intervals_are_drawn_as_error_bars_on_the_comparison_and_roas_charts() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(&GenerateOptions { users: 1_500, seed: 5, ..GenerateOptions::default() }, &data).unwrap();
    let models = ["linear", "markov"].map(str::to_owned).to_vec();
    let (events, spend) = ([data.join("events.csv")], [data.join("spend.csv")]);
    workspace.run(&events, &spend, &Config { models: models.clone(), ..Config::default() }).unwrap();
    let plain = workspace.read("out/report.html");
    workspace.run(&events, &spend, &Config { models, bootstrap: 40, ..Config::default() }).unwrap();
    let page = workspace.read("out/report.html");
    assert!(!plain.contains("Error bars") && page.contains("Error bars: 90 % bootstrap intervals over 40 resamples"));
    assert!(!plain.contains("error-bar") && !plain.contains("% interval: "), "no error bar without replicates");
    // channels.csv lists models in registry order, channels by name: the
    // order of the error bars, model by model and channel by channel.
    let channels = csv_rows(&workspace.read("out/channels.csv"));
    let with_spend: Vec<_> = channels.iter().filter(|row| !row["roas"].is_empty()).collect();
    assert!(!with_spend.is_empty() && with_spend.len() < channels.len(), "some channels without spend");
    let all: Vec<_> = channels.iter().collect();
    for (id, rows, field, decimals) in
        [("chart-conversions", all, "conversions", 1), ("chart-roas", with_spend, "roas", 2)]
    {
        assert_eq!(chart(&plain, id).matches("<g class=\"error-bar\"").count(), 0, "{id}");
        let drawn = chart(&page, id);
        let groups: Vec<&str> = drawn.split("<g class=\"error-bar\"").skip(1).collect();
        assert_eq!(groups.len(), rows.len(), "one error bar per model and channel on {id}");
        for (group, row) in groups.iter().zip(&rows) {
            // A line and two caps, and the interval's ends as a tooltip,
            // rounded outwards from channels.csv's.
            assert_eq!(group.matches("<path d=\"M").count(), 2, "{id}: {group}");
            let title = &group[group.find("<title>").unwrap() + 7..group.find("</title>").unwrap()];
            let (lo, hi) = title.strip_prefix("90 % interval: ").and_then(|ends| ends.split_once(" – ")).unwrap();
            let number = |text: &str| text.replace(',', "").parse::<f64>().unwrap();
            let (csv_lo, csv_hi) = (number(&row[&format!("{field}_lo")]), number(&row[&format!("{field}_hi")]));
            let step = 10_f64.powi(-decimals);
            // (Up to the files' own rounding of an end within a millionth
            // of a step.)
            let (lo, hi) = (number(lo), number(hi));
            assert!(lo <= csv_lo + 1e-3 && csv_lo - lo < step, "{id} {row:?}: {title}");
            assert!(hi >= csv_hi - 1e-3 && hi - csv_hi < step, "{id} {row:?}: {title}");
        }
    }
}
