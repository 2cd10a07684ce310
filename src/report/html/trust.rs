//! "Which model to trust": how far the models disagree per channel and,
//! when a scenario evaluation is given, how each did against a known truth.

use std::collections::BTreeMap;

use super::{Page, Table};
use crate::report::{ModelCredit, Reports, fixed};
use crate::report::{ScenarioScore, credit_shares};

/// Each model's share of the conversions it gives to marketing channels
/// (not to `(none)` nor `(baseline)`), in %, per channel: the shares
/// `touchpath evaluate` scores.
fn marketing_shares(credit: &ModelCredit) -> BTreeMap<String, f64> {
    credit_shares(credit).into_iter().map(|(channel, (conversions, _))| (channel, conversions * 100.0)).collect()
}

/// One channel's lowest and highest share across models.
struct Spread<'a> {
    channel: &'a str,
    lowest: (&'static str, f64),
    highest: (&'static str, f64),
}

impl Spread<'_> {
    fn points(&self) -> f64 {
        self.highest.1 - self.lowest.1
    }
}

/// Per channel, the models that give it the least and the most, widest
/// spread first (ties by channel name; equal shares: the first model in
/// report order).
fn spreads<'a>(shares: &'a [(&'static str, BTreeMap<String, f64>)]) -> Vec<Spread<'a>> {
    let channels: std::collections::BTreeSet<&str> =
        shares.iter().flat_map(|(_, shares)| shares.keys().map(String::as_str)).collect();
    let mut spreads: Vec<Spread<'_>> = channels
        .into_iter()
        .filter_map(|channel| {
            let mut values = shares.iter().map(|(model, shares)| (*model, shares.get(channel).copied().unwrap_or(0.0)));
            let first = values.next()?;
            let (lowest, highest) = values.fold((first, first), |(low, high), value| {
                (if value.1 < low.1 { value } else { low }, if value.1 > high.1 { value } else { high })
            });
            Some(Spread { channel, lowest, highest })
        })
        .collect();
    spreads.sort_by(|left, right| right.points().total_cmp(&left.points()).then(left.channel.cmp(right.channel)));
    spreads
}

/// The section.
pub(super) fn section(page: &mut Page, reports: &Reports, evaluation: &[ScenarioScore]) {
    page.open_section(
        "trust",
        "Models answer different questions, and a channel's credit is only as good as the model behind it. \
         Where the models below agree, the choice of model does not matter for that channel; where they \
         disagree, it decides the budget. Shares are of the conversions each model gives to marketing \
         channels, leaving out <code>(none)</code> and <code>(baseline)</code>.",
    );
    let shares: Vec<(&'static str, BTreeMap<String, f64>)> =
        reports.models.iter().map(|credit| (credit.model, marketing_shares(credit))).collect();
    let spreads = spreads(&shares);
    let keys = [("channel", "channel")];
    let mut table = Table::new("model-spread", "Share of marketing conversions, in %: lowest and highest model", &keys)
        .columns(["lowest model", "lowest", "highest model", "highest", "spread (points)"]);
    for spread in &spreads {
        table.row(
            vec![spread.channel.to_owned()],
            vec![
                spread.lowest.0.to_owned(),
                fixed(Some(spread.lowest.1), 1),
                spread.highest.0.to_owned(),
                fixed(Some(spread.highest.1), 1),
                fixed(Some(spread.points()), 1),
            ],
        );
    }
    page.table(&table);
    evaluated(page, reports, evaluation);
    page.close_section();
}

/// How each model of the run did in the given evaluation.
fn evaluated(page: &mut Page, reports: &Reports, evaluation: &[ScenarioScore]) {
    let run: Vec<&str> = reports.models.iter().map(|credit| credit.model).collect();
    let scores: Vec<&ScenarioScore> = evaluation.iter().filter(|score| run.contains(&score.model.as_str())).collect();
    if scores.is_empty() {
        page.push(
            "<p class=\"note\" id=\"evaluation-missing\">No evaluation was given. <code>touchpath evaluate</code> \
             simulates worlds where what each channel caused is known and scores every model against it; pass \
             its <code>evaluate.csv</code> with <code>--evaluation</code> to see the scores here.</p>\n",
        );
        return;
    }
    let mut scenarios: Vec<&str> = Vec::new();
    for score in &scores {
        if !scenarios.contains(&score.scenario.as_str()) {
            scenarios.push(&score.scenario);
        }
    }
    let mut columns: Vec<String> = scenarios.iter().map(|name| (*name).to_owned()).collect();
    columns.extend(["mean", "worst", "mean Spearman"].map(str::to_owned));
    let keys = [("model", "model")];
    let mut table =
        Table::new("model-evaluation", "Error of conversion shares against the truth, in points, per world", &keys)
            .columns(columns.iter().map(String::as_str));
    let mut best: Option<(&str, f64)> = None;
    for model in &run {
        let own: Vec<&&ScenarioScore> = scores.iter().filter(|score| score.model == *model).collect();
        if own.is_empty() {
            continue;
        }
        let error =
            |scenario: &str| own.iter().find(|score| score.scenario == scenario).map(|score| score.mae_conversions);
        let errors: Vec<f64> = own.iter().map(|score| score.mae_conversions).collect();
        #[expect(clippy::cast_precision_loss, reason = "a handful of worlds")]
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        #[expect(clippy::cast_precision_loss, reason = "a handful of worlds")]
        let spearman = own.iter().map(|score| score.spearman).sum::<f64>() / own.len() as f64;
        let worst = errors.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if own.len() == scenarios.len() && best.is_none_or(|(_, lowest)| worst < lowest) {
            best = Some((model, worst));
        }
        let mut cells: Vec<String> = scenarios.iter().map(|scenario| fixed(error(scenario), 2)).collect();
        cells.extend([fixed(Some(mean), 2), fixed(Some(worst), 2), fixed(Some(spearman), 3)]);
        table.row(vec![(*model).to_owned()], cells);
    }
    if let Some((model, worst)) = best {
        page.put(format_args!(
            "<p id=\"evaluation-best\">On the {} evaluated worlds, <strong>{}</strong> stayed closest to the truth \
             everywhere: at worst {} points off. A world is a simulation with known causes: a model that fails \
             there fails on real data with the same pattern; one that does well there may still fail on a \
             pattern no world holds.</p>\n",
            scenarios.len(),
            super::escape(model),
            fixed(Some(worst), 2)
        ));
    }
    page.table(&table);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::CreditSums;
    use crate::event::{BASELINE_CHANNEL, NO_CHANNEL};

    fn credit(model: &'static str, units: &[(&str, i128)]) -> ModelCredit {
        ModelCredit {
            model,
            channels: units
                .iter()
                .map(|(name, units)| ((*name).to_owned(), CreditSums { units: *units, revenue: 0 }))
                .collect(),
            campaigns: BTreeMap::new(),
            stages: BTreeMap::new(),
            total: CreditSums::default(),
            positions: BTreeMap::new(),
        }
    }

    #[test]
    fn shares_leave_out_none_and_the_baseline_and_spreads_sort_widest_first() {
        let first = credit("first", &[("email", 30), ("video", 10), (NO_CHANNEL, 60)]);
        let second = credit("second", &[("email", 10), ("video", 10), (BASELINE_CHANNEL, 80)]);
        let shares = vec![(first.model, marketing_shares(&first)), (second.model, marketing_shares(&second))];
        assert_eq!(shares[0].1, BTreeMap::from([("email".to_owned(), 75.0), ("video".to_owned(), 25.0)]));
        assert_eq!(shares[1].1, BTreeMap::from([("email".to_owned(), 50.0), ("video".to_owned(), 50.0)]));
        let spreads = spreads(&shares);
        // Both channels move by 25 points: ties go by name.
        let rows: Vec<(&str, &str, &str, f64)> =
            spreads.iter().map(|spread| (spread.channel, spread.lowest.0, spread.highest.0, spread.points())).collect();
        assert_eq!(rows, [("email", "second", "first", 25.0), ("video", "first", "second", 25.0)]);
    }
}
