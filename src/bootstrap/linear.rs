//! `incremental`'s replicates, refitted and recredited to first order from
//! sums over users (`docs/models.md`, "Intervals"; the derivatives are
//! [`crate::models::incremental`]'s `linear` module's):
//!
//! - first pass: each user's exposure per feature, in whole seconds, once
//!   and weighted by each replicate ([`Exposures`], in
//!   [`super::Replicates::exposure`]);
//! - second pass, at the fitted terms `θ̂`: each purchase's score parts
//!   `x / λ̂` (once and weighted), its curvature `x xᵀ / λ̂²` (once), and the
//!   elasticities of its shares summed per credit key ([`LinearSums`]);
//! - at the end ([`steps`]): replicate `r`'s gradient at `θ̂` is
//!   `g_r = (S_r − S) − (E_r − E)` (the score parts and exposures of the
//!   replicate less the full data's, whose gradient is 0 at the fit), one
//!   Newton step with the full data's curvature takes the terms to
//!   `θ_r = θ̂ + H⁻¹ g_r` (bounded at 0), and each key's credit moves by
//!   `Σ_k J_k (θ_r,k / θ̂_k − 1)`.
//!
//! Every sum is an integer (fixed point where it is a real number, rounded
//! per purchase or per user), so sums over users merge exactly in any
//! order.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::add_weighted;
use crate::attribution::CreditKey;
use crate::hash::FastMap;
use crate::models::CONVERSION_UNITS;
use crate::models::incremental::{Feature, Incremental};

/// Score parts are kept in units of `2⁻²⁰` day.
const SCORE_SCALE: f64 = 1_048_576.0;

/// Curvature in units of `2⁻⁴⁰` day².
const CURVATURE_SCALE: f64 = 1_099_511_627_776.0;

/// Microseconds per second: exposures are kept in whole seconds.
const MICROS_PER_SECOND: i128 = 1_000_000;

/// Seconds per day.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// Per feature, the users' exposure in whole seconds (each user's rounded):
/// unweighted, then weighted by each replicate (`1 + R` values).
pub type Exposures = FastMap<Feature, Vec<i64>>;

/// Adds one user's `exposure` (microseconds per feature) with the user's
/// `weights` to `into`.
pub fn add_user_exposure<'a>(
    into: &mut Exposures,
    exposure: impl IntoIterator<Item = (&'a Feature, &'a i128)>,
    weights: &[i64],
) {
    for (&feature, &time) in exposure {
        let seconds = i64::try_from((time + MICROS_PER_SECOND / 2) / MICROS_PER_SECOND).unwrap_or(i64::MAX);
        if seconds == 0 {
            continue;
        }
        let sums = into.entry(feature).or_insert_with(|| vec![0; 1 + weights.len()]);
        sums[0] += seconds;
        add_weighted(&mut sums[1..], weights, seconds);
    }
}

/// The second pass's sums for `incremental`'s replicates, over the terms
/// of its fit (in [`Incremental::terms`]' order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearSums {
    /// The model's position among the run's models.
    pub model: u32,
    /// How many terms.
    pub terms: u32,
    /// Per term, the purchases' `Σ x / λ̂` in units of `2⁻²⁰` day:
    /// unweighted, then weighted by each replicate (`1 + R` values); empty
    /// until a purchase is added (as the other parts of a sum, which
    /// threads make many of, most of them small).
    pub scores: Vec<i64>,
    /// The lower triangle of `Σ x xᵀ / λ̂²` over the terms, row by row, in
    /// units of `2⁻⁴⁰` day²; empty until a purchase is added.
    pub curvature: Vec<i128>,
    /// How many replicates.
    pub replicates: u32,
    /// Per credit key, per term, `Σ θ_k ∂credit/∂θ_k`: of the credit units,
    /// then of the revenue (millionths).
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub jacobian: FastMap<CreditKey, Vec<i64>>,
}

impl LinearSums {
    /// Empty sums for model `model` with `terms` terms and `replicates`
    /// replicates.
    #[must_use]
    pub fn new(model: usize, terms: usize, replicates: usize) -> Self {
        Self {
            model: u32::try_from(model).unwrap_or(u32::MAX),
            terms: u32::try_from(terms).unwrap_or(u32::MAX),
            scores: Vec::new(),
            curvature: Vec::new(),
            replicates: u32::try_from(replicates).unwrap_or(u32::MAX),
            jacobian: FastMap::default(),
        }
    }

    /// Adds the sums of other users.
    pub fn add(&mut self, other: Self) {
        if self.scores.is_empty() {
            (self.scores, self.curvature) = (other.scores, other.curvature);
        } else {
            for (sum, value) in self.scores.iter_mut().zip(other.scores) {
                *sum += value;
            }
            for (sum, value) in self.curvature.iter_mut().zip(other.curvature) {
                *sum += value;
            }
        }
        super::add_tables(&mut self.jacobian, other.jacobian);
    }

    /// True when the sums have the sizes their terms and `replicates` give.
    #[must_use]
    pub fn is_consistent(&self, replicates: usize, models: usize) -> bool {
        let terms = self.terms as usize;
        let sized = |length: usize, size: usize| length == 0 || length == size;
        (self.model as usize) < models
            && self.replicates as usize == replicates
            && sized(self.scores.len(), terms * (1 + replicates))
            && sized(self.curvature.len(), terms * (terms + 1) / 2)
            && self.scores.is_empty() == self.curvature.is_empty()
            && self.jacobian.values().all(|values| values.len() == 2 * terms)
    }

    /// Adds one purchase: its rate `rate` and pattern (`(term, count)`,
    /// sorted) with the user's `weights`, and its shares' elasticities
    /// `(key, term, elasticity)` with its `revenue`.
    pub fn add_purchase(
        &mut self,
        weights: &[i64],
        rate: f64,
        pattern: &[(u32, f64)],
        elasticities: &[(CreditKey, u32, f64)],
        revenue: i64,
    ) {
        if rate <= 0.0 {
            return;
        }
        let terms = self.terms as usize;
        let width = 1 + weights.len();
        if self.scores.is_empty() {
            self.scores = vec![0; terms * width];
            self.curvature = vec![0; terms * (terms + 1) / 2];
        }
        for (row, &(term, count)) in pattern.iter().enumerate() {
            let start = term as usize * width;
            let Some(sums) = self.scores.get_mut(start..start + width) else { continue };
            let part = fixed(count / rate * SCORE_SCALE);
            sums[0] += part;
            add_weighted(&mut sums[1..], weights, part);
            for &(other, other_count) in &pattern[..=row] {
                let (high, low) = (term as usize, other as usize);
                if let Some(sum) = self.curvature.get_mut(high * (high + 1) / 2 + low) {
                    #[expect(clippy::cast_possible_truncation, reason = "rounded, far below 2^127")]
                    let part = (count * other_count / (rate * rate) * CURVATURE_SCALE).round() as i128;
                    *sum += part;
                }
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "units and revenue, as decimals")]
        let (units, revenue) = (CONVERSION_UNITS as f64, revenue as f64);
        for &(key, term, elasticity) in elasticities {
            let sums = self.jacobian.entry(key).or_insert_with(|| vec![0; 2 * terms]);
            if let Some(sum) = sums.get_mut(term as usize) {
                *sum += fixed(elasticity * units);
            }
            if let Some(sum) = sums.get_mut(terms + term as usize) {
                *sum += fixed(elasticity * revenue);
            }
        }
    }
}

/// A real number rounded to an integer.
fn fixed(value: f64) -> i64 {
    #[expect(clippy::cast_possible_truncation, reason = "rounded, and saturating")]
    let rounded = value.round() as i64;
    rounded
}

/// Each replicate's relative move of every term, `θ_r,k / θ̂_k − 1`: one
/// Newton step from `model`'s fit with the curvature of `sums`, along the
/// replicate's gradient from `sums` and the first pass's `exposures`.
/// `None` for a replicate when the curvature cannot be factored.
#[must_use]
pub fn steps(
    model: &Incremental,
    sums: &LinearSums,
    exposures: &Exposures,
    replicates: usize,
) -> Vec<Option<Vec<f64>>> {
    let terms = model.term_count();
    if sums.terms as usize != terms || sums.scores.len() != terms * (1 + replicates) {
        return vec![None; replicates];
    }
    #[expect(clippy::cast_precision_loss, reason = "fixed-point sums, as decimals")]
    let curvature: Vec<f64> = sums.curvature.iter().map(|&value| value as f64 / CURVATURE_SCALE).collect();
    let shared = model.replicate_steps(curvature);
    if !shared.is_solvable() {
        return vec![None; replicates];
    }
    let theta = model.values_in_order();
    let features: Vec<Feature> = model.terms().keys().copied().collect();
    let width = 1 + replicates;
    (0..replicates)
        .into_par_iter()
        .map(|replicate| {
            #[expect(clippy::cast_precision_loss, reason = "fixed-point sums, as decimals")]
            let gradient: Vec<f64> = features
                .iter()
                .enumerate()
                .map(|(term, feature)| {
                    let score = &sums.scores[term * width..(term + 1) * width];
                    let scored = (score[1 + replicate] - score[0]) as f64 / SCORE_SCALE;
                    let exposed = exposures
                        .get(feature)
                        .map_or(0.0, |time| (time[1 + replicate] - time[0]) as f64 / SECONDS_PER_DAY);
                    scored - exposed
                })
                .collect();
            let next = shared.step(&gradient);
            Some(next.iter().zip(&theta).map(|(new, old)| new / old - 1.0).collect())
        })
        .collect()
}

/// The move of a key's credit (units, revenue) under relative moves `moves`
/// of the terms, from its Jacobian row `row`.
#[must_use]
pub fn shift(row: &[i64], moves: &[f64]) -> (f64, f64) {
    let terms = moves.len();
    if row.len() != 2 * terms {
        return (0.0, 0.0);
    }
    #[expect(clippy::cast_precision_loss, reason = "fixed-point sums, as decimals")]
    let along = |part: &[i64]| part.iter().zip(moves).map(|(&value, &step)| value as f64 * step).sum::<f64>();
    (along(&row[..terms]), along(&row[terms..]))
}
