//! What a scenario evaluation scores, as the report reads it: each model's
//! channel shares of credit, and the scores of `evaluate.csv` that the
//! page's "Which model to trust" section shows (see [`crate::evaluate`]).

use std::collections::BTreeMap;

use super::ModelCredit;
use crate::attribution::CreditSums;
use crate::event::{BASELINE_CHANNEL, NO_CHANNEL};

/// Shares of conversions and of revenue per channel, each in `[0, 1]`.
pub type Shares = BTreeMap<String, Pair>;

/// A share of conversions and a share of revenue.
pub type Pair = (f64, f64);

/// One line of `evaluate.csv`: a model's score in one world.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioScore {
    /// The world (scenario or log) name.
    pub scenario: String,
    /// The model.
    pub model: String,
    /// Mean absolute error of conversion shares, percentage points.
    pub mae_conversions: f64,
    /// Spearman's rank correlation of conversion shares.
    pub spearman: f64,
}

/// One model's channel shares of the conversions and revenue it gives to
/// marketing channels: `(none)` and the baseline left out.
#[must_use]
pub fn credit_shares(credit: &ModelCredit) -> Shares {
    let channels: Vec<(&String, &CreditSums)> = credit
        .channels
        .iter()
        .filter(|(channel, _)| channel.as_str() != NO_CHANNEL && channel.as_str() != BASELINE_CHANNEL)
        .collect();
    let conversions: i128 = channels.iter().map(|(_, sums)| sums.units).sum();
    let revenue: i128 = channels.iter().map(|(_, sums)| sums.revenue).sum();
    #[expect(clippy::cast_precision_loss, reason = "a share: 15 significant digits are plenty")]
    let share = |part: i128, whole: i128| if whole > 0 { part as f64 / whole as f64 } else { 0.0 };
    channels
        .into_iter()
        .map(|(channel, sums)| (channel.clone(), (share(sums.units, conversions), share(sums.revenue, revenue))))
        .collect()
}
