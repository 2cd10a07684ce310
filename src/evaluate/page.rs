//! `evaluate.html`: per world, the models' channel shares next to the
//! truth's, and the scores. Self-contained like `report.html`: inline CSS
//! and SVG, no script, nothing fetched.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Evaluation;
use crate::report::html::charts::{self, Bars, Series};
use crate::report::html::{STYLE, escape};

/// The truth's bars, drawn first in each group, in near-black.
const TRUTH_COLOR: plotters::style::RGBColor = plotters::style::RGBColor(0x22, 0x22, 0x22);

/// Writes the page.
///
/// # Errors
///
/// Whatever the sink returns, or a chart that cannot be drawn.
pub fn write_html(evaluations: &[Evaluation], sink: &mut dyn Write) -> io::Result<()> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Models against the truth · touchpath</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>Models against the truth</h1>\n<p class=\"meta\">Each world is simulated with its \
         ground truth: what every channel really caused, as the Shapley value of the game \
         <i>v(S)</i> = the purchases had only the channels in <i>S</i> run. Bars are shares of the \
         channels' credit (conversions without touches and the baseline left out); the table scores \
         each model against the truth.</p>\n</header>\n<main>\n"
    );
    for evaluation in evaluations {
        section(&mut html, evaluation)?;
    }
    html.push_str("</main>\n</body>\n</html>\n");
    sink.write_all(html.as_bytes())
}

fn section(html: &mut String, evaluation: &Evaluation) -> io::Result<()> {
    let id = escape(&evaluation.name);
    let _ =
        write!(html, "<section id=\"{id}\">\n<h2>{id}</h2>\n<p class=\"intro\">{}", escape(&evaluation.description));
    let (total, baseline) = evaluation.conversions;
    let _ = writeln!(
        html,
        " {total} conversions in the log, {baseline} of which would have happened without marketing.</p>"
    );
    let mut channels: Vec<&String> = evaluation.truth.keys().collect();
    for (_, shares) in &evaluation.models {
        channels.extend(shares.keys().filter(|channel| !evaluation.truth.contains_key(*channel)));
    }
    let truth_of = |channel: &String| evaluation.truth.get(channel).map_or(0.0, |shares| shares.0);
    channels.sort_by(|left, right| truth_of(right).total_cmp(&truth_of(left)).then_with(|| left.cmp(right)));
    let mut series = vec![Series {
        name: "truth".to_owned(),
        color: TRUTH_COLOR,
        values: channels.iter().map(|channel| Some(truth_of(channel) * 100.0)).collect(),
        intervals: Vec::new(),
    }];
    for (index, (model, shares)) in evaluation.models.iter().enumerate() {
        series.push(Series {
            name: model.clone(),
            color: charts::color(index),
            values: channels
                .iter()
                .map(|channel| Some(shares.get(*channel).map_or(0.0, |pair| pair.0) * 100.0))
                .collect(),
            intervals: Vec::new(),
        });
    }
    let title = format!("{}: share of conversions by channel, truth and models", evaluation.name);
    let bars = Bars {
        title: &title,
        categories: channels.iter().map(|channel| (*channel).clone()).collect(),
        series,
        axis: "share of conversions (%)",
    };
    if let Some(svg) = charts::grouped(&bars)? {
        let _ =
            write!(html, "<figure class=\"chart\"><figcaption>{}</figcaption>\n<p class=\"legend\">", escape(&title));
        for (name, color) in bars.legend() {
            let _ = write!(html, "<span><i style=\"background:{color}\"></i>{}</span> ", escape(&name));
        }
        let _ = writeln!(html, "</p>\n{svg}</figure>");
    }
    scores(html, evaluation);
    html.push_str("</section>\n");
    Ok(())
}

fn scores(html: &mut String, evaluation: &Evaluation) {
    let id = escape(&evaluation.name);
    let _ = write!(
        html,
        "<div class=\"table\"><table id=\"scores-{id}\"><caption>How far each model is from the truth</caption>\n\
         <thead><tr><th scope=\"col\">model</th><th scope=\"col\">error, conversion shares (pp)</th>\
         <th scope=\"col\">error, revenue shares (pp)</th><th scope=\"col\">Spearman</th>\
         <th scope=\"col\">largest error (pp)</th><th scope=\"col\">on</th></tr></thead>\n<tbody>\n"
    );
    let best = evaluation.best().map(|score| score.model.clone());
    for score in &evaluation.scores {
        let mark = if best.as_deref() == Some(score.model.as_str()) { " class=\"best\"" } else { "" };
        let _ = writeln!(
            html,
            "<tr data-model=\"{model}\"{mark}><th scope=\"row\">{model}</th><td data-col=\"mae_conversions_pp\">{:.2}</td>\
             <td data-col=\"mae_revenue_pp\">{:.2}</td><td data-col=\"spearman\">{:.2}</td>\
             <td data-col=\"max_error_pp\">{:.2}</td><td data-col=\"max_error_channel\">{}</td></tr>",
            score.mae_conversions,
            score.mae_revenue,
            score.spearman,
            score.max_error,
            escape(&score.max_channel),
            model = escape(&score.model),
        );
    }
    html.push_str("</tbody></table></div>\n");
}
