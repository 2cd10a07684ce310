//! Maximum likelihood of an additive purchase rate with non-negative
//! terms.
//!
//! With `x_p` the features active at purchase pattern `p` (seen `n_p`
//! times) and `E_f` the time feature `f` was active, the log-likelihood of
//! the rate `λ = θ · x` (a Poisson process with time-varying rate) is
//!
//! ```text
//! ℓ(θ) = Σ_p n_p log(θ · x_p) − Σ_f θ_f E_f,     θ ≥ 0,
//! ```
//!
//! concave in `θ`. It is maximised by projected Newton steps: the terms at
//! 0 whose gradient points below 0 stay there, the others take the Newton
//! step of the free block, halved until the likelihood rises (Bertsekas,
//! "Projected Newton methods for optimization problems with simple
//! constraints", 1982). Sums run in a fixed order, so the fit is the same
//! bit for bit on every run.

use rayon::prelude::*;

/// One purchase pattern: `(feature index, count)` pairs and how many
/// purchases had it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// Active features and their counts.
    pub features: Vec<(usize, f64)>,
    /// Purchases with this pattern.
    pub purchases: f64,
}

/// What the fit stopped on, as `summary.json` reports it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Fit {
    /// Newton steps taken.
    pub iterations: usize,
    /// The log-likelihood reached.
    pub log_likelihood: f64,
    /// The largest gradient among the free terms, scaled by the term
    /// (`|θ_f · g_f|`, in purchases): 0 at the optimum.
    pub residual: f64,
    /// Terms fitted above 0, of `features` (terms active at some time).
    pub terms: usize,
    /// Every term active at some time in the log.
    pub features: usize,
}

/// The Hessian is summed over this many parts of the patterns, in
/// parallel: a fixed number, so that the sums do not depend on the threads.
const PARTS: usize = 16;

/// Steps at most; the fit stops earlier once the likelihood stops rising.
const MAX_ITERATIONS: usize = 200;

/// A step is kept when the likelihood rose by at least this share of the
/// rise the gradient predicts (Armijo's rule).
const ARMIJO: f64 = 1e-4;

/// The fit has converged when a step raises the log-likelihood by less
/// than this.
const TOLERANCE: f64 = 1e-9;

/// Fits `θ ≥ 0` to `patterns` and `exposure` (one entry per feature).
/// `floors` are terms kept above 0 whatever the data (the baselines, so
/// that every rate stays positive).
#[must_use]
pub fn fit(patterns: &[Pattern], exposure: &[f64], floors: &[usize]) -> (Vec<f64>, Fit) {
    let count = exposure.len();
    let usable: Vec<bool> = exposure.iter().map(|&time| time > 0.0).collect();
    let mut theta = start(patterns, exposure, &usable);
    let mut value = log_likelihood(patterns, exposure, &theta);
    let mut report = Fit { iterations: 0, log_likelihood: value, residual: f64::INFINITY, terms: 0, features: count };
    let free_terms = |theta: &[f64], gradient: &[f64]| -> Vec<usize> {
        (0..count)
            .filter(|&feature| {
                usable[feature] && (theta[feature] > 0.0 || gradient[feature] > 0.0 || floors.contains(&feature))
            })
            .collect()
    };
    for iteration in 1..=MAX_ITERATIONS {
        let gradient = gradient(patterns, exposure, &theta);
        let free = free_terms(&theta, &gradient);
        let Some(direction) = newton_direction(patterns, &theta, &gradient, &free) else {
            break;
        };
        let (next, next_value) = line_search(patterns, exposure, &theta, value, &gradient, &free, &direction, floors);
        let rise = next_value - value;
        report = Fit { iterations: iteration, log_likelihood: next_value.max(value), ..report };
        if rise <= 0.0 {
            break;
        }
        theta = next;
        value = next_value;
        if rise < TOLERANCE * value.abs().max(1.0) {
            break;
        }
    }
    // The residual where the fit stopped.
    let gradient = gradient(patterns, exposure, &theta);
    report.residual = free_terms(&theta, &gradient)
        .into_iter()
        .map(|feature| (theta[feature] * gradient[feature]).abs())
        .fold(0.0, f64::max);
    (theta, report)
}

/// A start inside the feasible set: each term's share of the purchases it
/// is active at, over the time it is active, divided among the terms of
/// an average purchase.
fn start(patterns: &[Pattern], exposure: &[f64], usable: &[bool]) -> Vec<f64> {
    let mut seen = vec![0.0; exposure.len()];
    let (mut terms, mut purchases) = (0.0, 0.0);
    for pattern in patterns {
        for &(feature, count) in &pattern.features {
            seen[feature] += pattern.purchases * count;
        }
        #[expect(clippy::cast_precision_loss, reason = "a handful of terms")]
        let length = pattern.features.len() as f64;
        terms += pattern.purchases * length;
        purchases += pattern.purchases;
    }
    let spread = if purchases > 0.0 { terms / purchases } else { 1.0 };
    seen.iter()
        .zip(exposure)
        .zip(usable)
        .map(|((&seen, &time), &usable)| if usable { seen / time / spread } else { 0.0 })
        .collect()
}

fn rate(pattern: &Pattern, theta: &[f64]) -> f64 {
    pattern.features.iter().map(|&(feature, count)| theta[feature] * count).sum()
}

fn log_likelihood(patterns: &[Pattern], exposure: &[f64], theta: &[f64]) -> f64 {
    let mut value = 0.0;
    for pattern in patterns {
        let rate = rate(pattern, theta);
        if rate <= 0.0 {
            return f64::NEG_INFINITY;
        }
        value += pattern.purchases * rate.ln();
    }
    value - theta.iter().zip(exposure).map(|(theta, time)| theta * time).sum::<f64>()
}

fn gradient(patterns: &[Pattern], exposure: &[f64], theta: &[f64]) -> Vec<f64> {
    let mut gradient: Vec<f64> = exposure.iter().map(|time| -time).collect();
    for pattern in patterns {
        let scale = pattern.purchases / rate(pattern, theta);
        for &(feature, count) in &pattern.features {
            gradient[feature] += scale * count;
        }
    }
    gradient
}

/// Solves `H_FF d = g_F` for the free block, with `H = Σ n x xᵀ / λ²` the
/// negated Hessian (positive semi-definite); a small ridge keeps terms
/// that always move together solvable.
fn newton_direction(patterns: &[Pattern], theta: &[f64], gradient: &[f64], free: &[usize]) -> Option<Vec<f64>> {
    let size = free.len();
    if size == 0 {
        return None;
    }
    let mut slot = vec![usize::MAX; theta.len()];
    for (position, &feature) in free.iter().enumerate() {
        slot[feature] = position;
    }
    // Summed over a fixed number of contiguous parts, in parallel, then
    // part after part: the same sums in the same order whatever the threads.
    let part = patterns.len().div_ceil(PARTS).max(1);
    let parts: Vec<Vec<f64>> = patterns
        .par_chunks(part)
        .map(|chunk| {
            let mut hessian = vec![0.0; size * size];
            let mut entries: Vec<(usize, f64)> = Vec::new();
            for pattern in chunk {
                let rate = rate(pattern, theta);
                let weight = pattern.purchases / (rate * rate);
                entries.clear();
                entries.extend(
                    pattern
                        .features
                        .iter()
                        .filter(|(feature, _)| slot[*feature] != usize::MAX)
                        .map(|&(f, c)| (slot[f], c)),
                );
                // The lower triangle only: all the solver reads.
                for (position, &(row, left)) in entries.iter().enumerate() {
                    for &(column, right) in &entries[position..] {
                        let (lower, upper) = if row >= column { (row, column) } else { (column, row) };
                        hessian[lower * size + upper] += weight * left * right;
                    }
                }
            }
            hessian
        })
        .collect();
    let mut hessian = vec![0.0; size * size];
    for part in parts {
        hessian.iter_mut().zip(part).for_each(|(sum, value)| *sum += value);
    }
    // The ridge is relative to the largest curvature, so that it means the
    // same whatever the unit of time of the exposures.
    let largest = (0..size).map(|position| hessian[position * size + position]).fold(0.0, f64::max);
    let ridge = (largest * 1e-12).max(f64::MIN_POSITIVE);
    for position in 0..size {
        let diagonal = hessian[position * size + position];
        hessian[position * size + position] = diagonal * (1.0 + 1e-9) + ridge;
    }
    let right: Vec<f64> = free.iter().map(|&feature| gradient[feature]).collect();
    cholesky_solve(&mut hessian, size, right)
}

/// Solves `A x = b` for a symmetric positive definite `A` given by its
/// lower triangle (row-major; overwritten by its Cholesky factor).
fn cholesky_solve(matrix: &mut [f64], size: usize, mut right: Vec<f64>) -> Option<Vec<f64>> {
    for column in 0..size {
        let mut diagonal = matrix[column * size + column];
        for k in 0..column {
            diagonal -= matrix[column * size + k] * matrix[column * size + k];
        }
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let diagonal = diagonal.sqrt();
        matrix[column * size + column] = diagonal;
        for row in column + 1..size {
            let mut value = matrix[row * size + column];
            for k in 0..column {
                value -= matrix[row * size + k] * matrix[column * size + k];
            }
            matrix[row * size + column] = value / diagonal;
        }
    }
    for row in 0..size {
        let mut value = right[row];
        for k in 0..row {
            value -= matrix[row * size + k] * right[k];
        }
        right[row] = value / matrix[row * size + row];
    }
    for row in (0..size).rev() {
        let mut value = right[row];
        for k in row + 1..size {
            value -= matrix[k * size + row] * right[k];
        }
        right[row] = value / matrix[row * size + row];
    }
    Some(right)
}

/// Halves the step until the projected point raises the likelihood enough.
#[expect(clippy::too_many_arguments, reason = "one step of the solver's state")]
fn line_search(
    patterns: &[Pattern],
    exposure: &[f64],
    theta: &[f64],
    value: f64,
    gradient: &[f64],
    free: &[usize],
    direction: &[f64],
    floors: &[usize],
) -> (Vec<f64>, f64) {
    let mut step = 1.0;
    for _ in 0..40 {
        let mut next = theta.to_vec();
        for (&feature, &delta) in free.iter().zip(direction) {
            let lowest = if floors.contains(&feature) { theta[feature] * 1e-3 } else { 0.0 };
            next[feature] = (theta[feature] + step * delta).max(lowest);
        }
        let predicted: f64 = free.iter().map(|&feature| gradient[feature] * (next[feature] - theta[feature])).sum();
        let next_value = log_likelihood(patterns, exposure, &next);
        if next_value.is_finite() && next_value >= value + ARMIJO * predicted {
            return (next, next_value);
        }
        step /= 2.0;
    }
    (theta.to_vec(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rate_is_purchases_over_time() {
        // 12 purchases in 400 days of exposure: the rate is 0.03 a day.
        let patterns = [Pattern { features: vec![(0, 1.0)], purchases: 12.0 }];
        let (theta, fit) = fit(&patterns, &[400.0], &[0]);
        assert!((theta[0] - 0.03).abs() < 1e-9, "{theta:?} {fit:?}");
    }

    #[test]
    fn two_terms_by_hand() {
        // Baseline b active 1000 days; a touch term t active 100 days.
        // 10 purchases with only b, 30 with b + t:
        // ∂ℓ/∂b = 10/b + 30/(b+t) − 1000 = 0, ∂ℓ/∂t = 30/(b+t) − 100 = 0
        // ⇒ b + t = 0.3, 10/b = 1000 − 100 ⇒ b = 1/90, t = 0.3 − 1/90.
        let patterns = [
            Pattern { features: vec![(0, 1.0)], purchases: 10.0 },
            Pattern { features: vec![(0, 1.0), (1, 1.0)], purchases: 30.0 },
        ];
        let (theta, _) = fit(&patterns, &[1000.0, 100.0], &[0]);
        assert!((theta[0] - 1.0 / 90.0).abs() < 1e-8, "{theta:?}");
        assert!((theta[1] - (0.3 - 1.0 / 90.0)).abs() < 1e-8, "{theta:?}");
    }

    #[test]
    fn a_term_that_lowers_the_rate_stays_at_zero() {
        // The touch's purchases are rarer than the baseline's: its best
        // non-negative effect is 0, and the baseline is all purchases over
        // all time.
        let patterns = [
            Pattern { features: vec![(0, 1.0)], purchases: 50.0 },
            Pattern { features: vec![(0, 1.0), (1, 1.0)], purchases: 1.0 },
        ];
        let (theta, _) = fit(&patterns, &[1000.0, 100.0], &[0]);
        assert!(theta[1] <= 0.0, "{theta:?}");
        assert!((theta[0] - 51.0 / 1000.0).abs() < 1e-9, "{theta:?}");
    }

    #[test]
    fn a_term_never_active_stays_at_zero() {
        let patterns = [Pattern { features: vec![(0, 1.0)], purchases: 5.0 }];
        let (theta, _) = fit(&patterns, &[100.0, 0.0], &[0]);
        assert!(theta[1] <= 0.0, "{theta:?}");
    }
}
