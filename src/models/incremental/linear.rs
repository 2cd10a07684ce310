//! What `incremental`'s bootstrap replicates need of the fitted rate, to
//! be refitted and recredited to first order from sums over purchases
//! rather than from each replicate's own purchase patterns (which grow with
//! the log); [`crate::bootstrap::linear`] sums them.
//!
//! - Each credited purchase's pattern `x` and rate `λ̂` at the fitted terms
//!   `θ̂` ([`Incremental::purchase_derivatives`]): its part `x / λ̂` of the
//!   log-likelihood's gradient and `x xᵀ / λ̂²` of its curvature, so that
//!   one Newton step with the full data's curvature takes a replicate's
//!   terms to `θ_r = θ̂ + H⁻¹ g_r` (bounded at 0,
//!   [`Incremental::replicate_steps`]).
//! - The elasticities of its shares in the terms, `θ_k ∂share/∂θ_k`: summed
//!   per credit key into a Jacobian `J`, a replicate's credit per key moves
//!   from its credit at `θ̂` by `Σ_k J_k (θ_r,k / θ̂_k − 1)`.

use super::features::PhaseTouch;
use super::solve::SharedSteps;
use super::{Feature, Incremental, Part, Players, Shares};
use crate::models::Path;

impl Incremental {
    /// How many terms the fit kept (above 0): what the bootstrap's sums
    /// run over, in [`Incremental::terms`]' order.
    #[must_use]
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// A fitted term's position in [`Incremental::terms`].
    fn position(&self, feature: Feature) -> Option<u32> {
        self.positions.get(&feature).copied()
    }

    /// How the shares of the purchase on `path` move with the fitted terms:
    /// into `out`, `(slot, k, θ_k ∂share/∂θ_k)` for each touch's share
    /// (`slot` its position on the path) and the baseline's (`slot` =
    /// `path.len()`), `k` the term's position in [`Incremental::terms`].
    /// The shares are those [`Incremental::credit_with`] gives:
    ///
    /// ```text
    /// share_i = (λ − b)/λ · φ⁺_c / Σ φ⁺ · own_i / Σ_{j ∈ c} own_j,   share_baseline = b / λ
    /// ```
    ///
    /// and every one of `λ`, `b`, `φ_c`, `own_i` is linear in the terms, so
    /// `θ_k ∂X/∂θ_k` is term `k`'s part of `X` ([`Incremental::shapley`]
    /// records them) and `θ_k ∂share/∂θ_k = share · Σ ± X_k / X` over the
    /// factors. A clamped channel (`φ_c ≤ 0`) stays at 0, and a purchase
    /// the baseline takes whole does not move; the moves of one purchase's
    /// shares add up to 0.
    ///
    /// Also returns the purchase's rate `λ` and puts its pattern into
    /// `pattern`: `(k, x_k)`, each fitted term's count at the purchase
    /// (term `k`'s part of `λ` over `θ_k`), for its part of the score and
    /// curvature (`x / λ`, `x xᵀ / λ²`), sorted by term.
    pub fn purchase_derivatives(
        &self,
        path: &Path<'_>,
        out: &mut Vec<(usize, u32, f64)>,
        pattern: &mut Vec<(u32, f64)>,
    ) -> f64 {
        self.touch_derivatives(&phase_touches(path), path.converted_at, path.customer, out, pattern)
    }

    /// [`Incremental::purchase_derivatives`] of a purchase at `at` after
    /// `touches`.
    fn touch_derivatives(
        &self,
        touches: &[PhaseTouch],
        at: i64,
        customer: bool,
        out: &mut Vec<(usize, u32, f64)>,
        pattern: &mut Vec<(u32, f64)>,
    ) -> f64 {
        out.clear();
        pattern.clear();
        let players = Players::of(touches);
        let (channels, slots) = (&players.channels, &players.of_touch);
        let mut record = Vec::new();
        let Shares { values, own, total } = self.shapley(touches, at, customer, &players, Some(&mut record));
        // Each term's parts, term by term (a stable sort: the parts add in
        // the order recorded).
        let mut parts: Vec<(u32, Feature, Part, f64)> = record
            .into_iter()
            .filter_map(|(part, feature, amount)| Some((self.position(feature)?, feature, part, amount)))
            .collect();
        parts.sort_by_key(|&(term, _, _, _)| term);
        for group in parts.chunk_by(|left, right| left.0 == right.0) {
            let (term, feature) = (group[0].0, group[0].1);
            let part: f64 =
                group.iter().filter(|(_, _, part, _)| *part == Part::Total).map(|(_, _, _, amount)| amount).sum();
            if part > 0.0 {
                pattern.push((term, part / self.term(feature)));
            }
        }
        let baseline = self.term(Feature::Baseline { customer });
        let positive: Vec<f64> = values.iter().map(|value| value.max(0.0)).collect();
        let sum: f64 = positive.iter().sum();
        if channels.is_empty() || total <= 0.0 || sum <= 0.0 {
            return total;
        }
        let marketing = (total - baseline).max(0.0);
        let (mut members, mut counts) = (Vec::new(), Vec::new());
        super::members_into(&own, &players, &mut members, &mut counts);
        // Each touch's weight as `credit` gives it, over the rate: its share.
        let shares: Vec<f64> = touches
            .iter()
            .enumerate()
            .map(|(index, _)| {
                let channel = slots[index];
                let channel_share = marketing * positive[channel] / sum;
                super::split_among(channel_share, own[index], members[channel], counts[channel]) / total
            })
            .collect();
        let (mut value_parts, mut member_parts) = (vec![0.0; channels.len()], vec![0.0; channels.len()]);
        let mut own_parts = vec![0.0; touches.len()];
        let baseline_position = self.position(Feature::Baseline { customer });
        for group in parts.chunk_by(|left, right| left.0 == right.0) {
            let term = group[0].0;
            value_parts.fill(0.0);
            own_parts.fill(0.0);
            member_parts.fill(0.0);
            let mut total_part = 0.0;
            for &(_, _, part, amount) in group {
                match part {
                    Part::Value(channel) => value_parts[channel] += amount,
                    Part::Own(index) => own_parts[index] += amount,
                    Part::Total => total_part += amount,
                }
            }
            for (&slot, part) in slots.iter().zip(&own_parts) {
                member_parts[slot] += part;
            }
            let baseline_part = if baseline_position == Some(term) { baseline } else { 0.0 };
            let sum_part: f64 =
                value_parts.iter().zip(&positive).filter(|&(_, &value)| value > 0.0).map(|(part, _)| part).sum();
            let marketing_part = if marketing > 0.0 { (total_part - baseline_part) / marketing } else { 0.0 };
            let common = marketing_part - total_part / total - sum_part / sum;
            for (index, &channel) in slots.iter().enumerate() {
                if shares[index] == 0.0 {
                    continue;
                }
                let mut rate = common + value_parts[channel] / positive[channel];
                if members[channel] > 0.0 {
                    rate += own_parts[index] / own[index] - member_parts[channel] / members[channel];
                }
                out.push((index, term, shares[index] * rate));
            }
            if baseline > 0.0 {
                out.push((touches.len(), term, baseline / total * (baseline_part / baseline - total_part / total)));
            }
        }
        total
    }

    /// A purchase without a touch: its pattern (the baseline's term alone,
    /// into `pattern`) and rate, `b`.
    pub fn baseline_purchase(&self, customer: bool, pattern: &mut Vec<(u32, f64)>) -> f64 {
        pattern.clear();
        let feature = Feature::Baseline { customer };
        match self.position(feature) {
            Some(term) => {
                pattern.push((term, 1.0));
                self.term(feature)
            }
            None => 0.0,
        }
    }

    /// The terms of replicates refitted to first order: one Newton step from
    /// the fitted terms with `curvature` (the lower triangle of
    /// `Σ x xᵀ / λ̂²` over the terms, row by row), for each replicate's
    /// score at the fitted terms ([`SharedSteps`]).
    #[must_use]
    pub fn replicate_steps(&self, curvature: Vec<f64>) -> SharedSteps {
        SharedSteps::new(curvature, self.values_in_order(), super::baseline_positions(self.terms.keys()))
    }

    /// The model whose terms are these moved by `moves` (each term's
    /// relative move, `θ_k (1 + move_k)`, as [`crate::bootstrap::linear::steps`]
    /// gives a replicate's), those above 0 kept: a replicate's refit, to
    /// credit in full.
    #[must_use]
    pub fn moved(&self, moves: &[f64]) -> Self {
        let features: Vec<Feature> = self.terms.keys().copied().collect();
        let theta = self.terms.values().zip(moves).map(|(value, step)| value * (1.0 + step)).collect();
        Self::with_values(&features, theta, self.memory, self.fit)
    }

    /// The fitted terms, in [`Incremental::terms`]' order.
    #[must_use]
    pub fn values_in_order(&self) -> Vec<f64> {
        self.terms.values().copied().collect()
    }
}

/// The touches of `path` as the rate reads them.
pub(super) fn phase_touches(path: &Path<'_>) -> Vec<PhaseTouch> {
    let mut touches = Vec::with_capacity(path.len());
    phase_touches_into(path, &mut touches);
    touches
}

/// [`phase_touches`] into `touches`, which it clears first.
pub(super) fn phase_touches_into(path: &Path<'_>, touches: &mut Vec<PhaseTouch>) {
    touches.clear();
    touches.extend((0..path.len()).map(|index| PhaseTouch {
        time: path.converted_at - path.age(index),
        channel: path.channel_code(index),
        kind: super::kind_index(path.kind(index)),
        carried: index < path.carried(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::incremental::{Counts, Fit, UserCounter, active_features};
    use crate::time::MICROS_PER_DAY;

    const HOUR: i64 = MICROS_PER_DAY / 24;
    const AT: i64 = 40 * MICROS_PER_DAY;
    const MEMORY: i64 = 30 * MICROS_PER_DAY;

    fn model(terms: &[(Feature, f64)]) -> Incremental {
        let fit = Fit { iterations: 0, log_likelihood: 0.0, residual: 0.0, terms: 0, features: 0 };
        Incremental::new(terms.iter().copied().collect(), MEMORY, fit)
    }

    /// The shares of one purchase: each touch's, then the baseline's.
    fn shares(model: &Incremental, touches: &[PhaseTouch], customer: bool) -> Vec<f64> {
        let mut weights = vec![0.0; touches.len()];
        let baseline = model.credit(touches, AT, customer, &mut weights);
        weights.push(baseline);
        let total: f64 = weights.iter().sum();
        weights.iter().map(|weight| weight / total).collect()
    }

    /// `(slot, term) → elasticity`, summed.
    fn table(
        model: &Incremental,
        touches: &[PhaseTouch],
        customer: bool,
    ) -> std::collections::BTreeMap<(usize, u32), f64> {
        let (mut out, mut pattern) = (Vec::new(), Vec::new());
        let rate = model.touch_derivatives(touches, AT, customer, &mut out, &mut pattern);
        // The pattern's rate is the purchase's.
        let again: f64 = pattern.iter().map(|&(term, count)| model.values_in_order()[term as usize] * count).sum();
        assert!((rate - again).abs() < 1e-12 * rate, "{rate} against {again}");
        let mut table = std::collections::BTreeMap::new();
        for (slot, term, value) in out {
            *table.entry((slot, term)).or_insert(0.0) += value;
        }
        table
    }

    #[test]
    fn elasticities_by_hand() {
        // An email impression two hours before the purchase (2), a search
        // click ten minutes before it (3), the click's session with the email
        // touch (4), b = 1: v(all) = 10, φ_email = 2 + 2, φ_search = 3 + 2, so
        // the shares are 0.4, 0.5 and 0.1, each `φ / λ`. In b, the baseline's
        // share b/λ moves by b/λ (1 − b/λ) = 0.09, each channel's by −share ·
        // b/λ. In the session term, email's by 0.4 (2/4 − 4/10) = 0.04,
        // search's by 0.5 (2/5 − 4/10) = 0, the baseline's by 0.1 (0 − 0.4).
        let (email, search) = (0, 1);
        let session = Feature::Session { opener: search, partner: email, recent: true, carried: false, seen: false };
        let model = model(&[
            (Feature::Baseline { customer: false }, 1.0),
            (Feature::Touch { channel: email, kind: 0, bin: 1, carried: false }, 2.0),
            (Feature::Touch { channel: search, kind: 1, bin: 0, carried: false }, 3.0),
            (session, 4.0),
        ]);
        let touches = [
            PhaseTouch { time: AT - 2 * HOUR, channel: email, kind: 0, carried: false },
            PhaseTouch { time: AT - HOUR / 6, channel: search, kind: 1, carried: false },
        ];
        let table = table(&model, &touches, false);
        let (baseline, session) =
            (model.position(Feature::Baseline { customer: false }).unwrap(), model.position(session).unwrap());
        let expected = [
            ((2, baseline), 0.09),
            ((0, baseline), -0.04),
            ((1, baseline), -0.05),
            ((0, session), 0.04),
            ((1, session), 0.0),
            ((2, session), -0.04),
        ];
        for (key, value) in expected {
            let got = table.get(&key).copied().unwrap_or(0.0);
            assert!((got - value).abs() < 1e-12, "{key:?}: {got} against {value}");
        }
    }

    #[test]
    fn elasticities_are_the_derivatives_of_the_shares() {
        // Two channels with two touches each, clicks whose sessions close
        // one another, an impression's session, a carried touch, pairs: every
        // term that is active gets a value, and each elasticity is checked
        // against a central difference of the shares.
        let touches = [
            PhaseTouch { time: AT - 3 * MICROS_PER_DAY, channel: 2, kind: 1, carried: true },
            PhaseTouch { time: AT - 20 * HOUR, channel: 0, kind: 0, carried: false },
            PhaseTouch { time: AT - HOUR / 2, channel: 1, kind: 1, carried: false },
            PhaseTouch { time: AT - HOUR / 3, channel: 0, kind: 0, carried: false },
            PhaseTouch { time: AT - HOUR / 6, channel: 2, kind: 2, carried: false },
            PhaseTouch { time: AT - HOUR / 12, channel: 1, kind: 1, carried: false },
        ];
        for customer in [false, true] {
            let mut pattern = Vec::new();
            active_features(&touches, AT, customer, MEMORY, &mut pattern);
            // Pair terms of channels seen only together carried, too.
            let terms: Vec<(Feature, f64)> = pattern
                .iter()
                .enumerate()
                .map(|(index, &(feature, _))| (feature, 0.5 + f64::from(u32::try_from(index * 7 % 5).unwrap())))
                .collect();
            let fitted = model(&terms);
            let table = table(&fitted, &touches, customer);
            let base = shares(&fitted, &touches, customer);
            let total: f64 = table.values().sum();
            assert!(total.abs() < 1e-12, "the moves add up to 0: {total}");
            for (term, &(feature, value)) in terms.iter().enumerate() {
                let step = 1e-6 * value;
                let moved = |delta: f64| {
                    let changed: Vec<(Feature, f64)> = terms
                        .iter()
                        .map(|&(other, other_value)| {
                            (other, if other == feature { other_value + delta } else { other_value })
                        })
                        .collect();
                    shares(&model(&changed), &touches, customer)
                };
                let (up, down) = (moved(step), moved(-step));
                for slot in 0..base.len() {
                    let numeric = value * (up[slot] - down[slot]) / (2.0 * step);
                    let term = u32::try_from(term).unwrap();
                    let analytic = table.get(&(slot, term)).copied().unwrap_or(0.0);
                    assert!(
                        (numeric - analytic).abs() < 1e-6,
                        "customer {customer}, slot {slot}, {feature:?}: {analytic} against {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_users_exposure_adds_up_to_the_counts() {
        // Three users of a small log, one at a time: their exposures add up
        // to what the fit's counts hold, feature by feature.
        use crate::event::{EventKind, Stage};
        use crate::event_log::EventLogBuilder;
        use crate::hash::FastMap;
        let day = MICROS_PER_DAY;
        let log = EventLogBuilder::new()
            .event("a", 0, EventKind::Impression, "display", "", Stage::Awareness, 0)
            .event("a", day, EventKind::Click, "search", "", Stage::Consideration, 0)
            .conversion("a", day + HOUR / 6, 1_000_000)
            .event("a", 5 * day, EventKind::Click, "search", "", Stage::Consideration, 0)
            .conversion("a", 5 * day + HOUR, 1_000_000)
            .event("b", 2 * day, EventKind::Click, "display", "", Stage::Awareness, 0)
            .event("b", 2 * day + HOUR / 4, EventKind::Impression, "search", "", Stage::Awareness, 0)
            .conversion("b", 2 * day + HOUR / 2, 1_000_000)
            .event("c", 3 * day, EventKind::Impression, "display", "", Stage::Awareness, 0)
            .build();
        let end = 10 * day;
        let counts = Counts::count(&log, end, MEMORY);
        let mut counter = UserCounter::new(end, MEMORY);
        let mut summed: FastMap<Feature, i128> = FastMap::default();
        for user in 0..log.user_count() {
            for (&feature, &time) in counter.count(&log, user) {
                *summed.entry(feature).or_default() += time;
            }
        }
        assert_eq!(summed.into_iter().collect::<std::collections::BTreeMap<_, _>>(), counts.exposure);
        assert!(counts.exposure.len() > 10, "{:?}", counts.exposure);
    }
}
