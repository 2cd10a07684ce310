//! Markov chain removal effect.

use std::collections::BTreeMap;

use super::chain::{Chain, SolveReport};
use super::{AttributionModel, Diagnostics, Path};

/// Credit by removal effect in an absorbing Markov chain of the journeys.
///
/// Fitted on every journey with a touch, converting or not (after the path
/// transform): states are `start`, the last `k` channels (`--markov-order
/// k`, 1 to 4; in order 1 consecutive touches of one channel are one state),
/// `conversion` and `null`, with transition probabilities from the counts.
///
/// - `P` = probability of reaching `conversion` from `start`, solved exactly
///   (see [`Chain`]; how is reported in `summary.json`);
/// - removal effect `RE(c) = 1 − P(c removed) / P`, where removing `c` sends
///   every transition into a state holding `c` to `null`;
/// - channel credit = `RE(c) / Σ RE × conversions`, and likewise revenue,
///   over the conversions of the period with at least one touch, `Σ RE`
///   running over the channels those conversions credit (as the shares of
///   `removal_effects.csv` do);
/// - within each conversion, credit goes to its touches in proportion to
///   their channels' removal effects (equally when every one is 0); these
///   per-touch shares then split each channel's total among its campaigns
///   and stages.
///
/// Source: Anderl, Becker, von Wangenheim and Schumann, "Mapping the customer
/// journey: lessons learned from graph-based online attribution modeling"
/// (2016), and the `ChannelAttribution` package, which estimates the same
/// quantities by simulating random walks; touchpath solves them exactly.
#[derive(Clone, Debug)]
pub struct Markov {
    order: u8,
    removal_effects: BTreeMap<u32, f64>,
    /// The same, indexed by channel code, for the per-touch lookups.
    by_code: Vec<f64>,
    /// What solving the chain took.
    solve: SolveReport,
}

impl Markov {
    /// Removal effects of a fitted chain.
    ///
    /// # Errors
    ///
    /// As [`Chain::removal_effects`]: a chain whose solve did not converge.
    pub fn new(chain: &Chain) -> crate::Result<Self> {
        let fitted = chain.removal_effects()?;
        let removal_effects: BTreeMap<u32, f64> = fitted.effects.into_iter().collect();
        let size = removal_effects.keys().last().map_or(0, |&code| code as usize + 1);
        let mut by_code = vec![0.0; size];
        for (&code, &effect) in &removal_effects {
            by_code[code as usize] = effect;
        }
        Ok(Self { order: chain.order(), removal_effects, by_code, solve: fitted.report })
    }

    /// Removal effect per channel code.
    #[must_use]
    pub fn removal_effects(&self) -> &BTreeMap<u32, f64> {
        &self.removal_effects
    }
}

impl Markov {
    /// The formula of the chain of order `order`, before any fitting.
    #[must_use]
    pub fn formula_of_order(order: u8) -> String {
        format!(
            "removal effect RE(c) = 1 − P(conversion | c removed) / P(conversion) in an order-{order} absorbing chain; channel credit ∝ RE(c)"
        )
    }
}

impl AttributionModel for Markov {
    fn name(&self) -> &'static str {
        "markov"
    }

    fn formula(&self) -> String {
        Self::formula_of_order(self.order)
    }

    fn weights(&self, path: &Path<'_>, weights: &mut [f64]) {
        for (index, weight) in weights.iter_mut().enumerate() {
            *weight = self.by_code.get(path.channel_code(index) as usize).copied().unwrap_or(0.0);
        }
        if weights.iter().all(|&weight| weight <= 0.0) {
            weights.fill(1.0);
        }
    }

    fn channel_targets(&self) -> Option<&BTreeMap<u32, f64>> {
        Some(&self.removal_effects)
    }

    fn diagnostics(&self) -> Option<Diagnostics> {
        Some(Diagnostics::Markov(self.solve))
    }
}
