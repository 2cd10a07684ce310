//! An absorbing Markov chain over channel states, fitted on journeys and
//! solved exactly.
//!
//! States are `start`, the last `k` channels of a path (`k` = the order),
//! and the absorbing `conversion` and `null`. The probability of ending in
//! `conversion` from every state solves a linear system, by Gaussian
//! elimination for chains up to [`DENSE_LIMIT`] states and by Gauss–Seidel
//! iteration above (higher orders) until the system's residual is at most
//! [`TOLERANCE`], never by simulation: the same data always gives the same
//! numbers. An iteration that does not get there within [`MAX_SWEEPS`]
//! sweeps is an error, not a result.

use rayon::prelude::*;

use crate::config::Config;
use crate::event_log::EventLog;
use crate::hash::FastMap;
use crate::journey::{Journeys, TransformedPath};
use crate::{Error, Result};

/// Largest chain solved by dense elimination.
pub const DENSE_LIMIT: usize = 600;

/// The residual at which Gauss–Seidel stops: the largest
/// `|x_s − p(s, conversion) − Σ_t p(s, t) x_t|` over the states. The
/// probabilities are then within this times the expected number of steps to
/// absorption of the exact solution.
pub const TOLERANCE: f64 = 1e-13;

/// Gauss–Seidel sweeps after which a solve that has not reached
/// [`TOLERANCE`] is abandoned: far more than a fitted chain needs (tens on
/// generated journeys of order 4), so reaching it means something is wrong.
pub const MAX_SWEEPS: u64 = 1_000_000;

/// A state key: up to four channel codes, each stored plus one in its own
/// 32 bits, most recent lowest. 0 is the start state.
pub type StateKey = u128;

/// The start state.
pub const START: StateKey = 0;

/// Where a transition leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// Another transient state.
    State(StateKey),
    /// The journey converted.
    Conversion,
    /// The journey ended without converting.
    Null,
}

/// A fitted chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    order: u8,
    /// Transient states, sorted; `states[0]` is [`START`].
    states: Vec<StateKey>,
    /// Per state: (target, probability), sorted by target.
    transitions: Vec<Vec<(Target, f64)>>,
    /// How many journeys the chain was fitted on.
    journeys: u64,
}

/// Appends channel `code` to a state of order `order`.
#[must_use]
pub fn next_state(state: StateKey, code: u32, order: u8) -> StateKey {
    let bits = 32 * u32::from(order);
    let mask = if bits >= 128 { StateKey::MAX } else { (1 << bits) - 1 };
    ((state << 32) | StateKey::from(code + 1)) & mask
}

/// True when a state's window holds channel `code`.
#[must_use]
pub fn state_contains(state: StateKey, code: u32) -> bool {
    (0..4).any(|lane| (state >> (32 * lane)) & 0xFFFF_FFFF == StateKey::from(code + 1))
}

/// The channel codes of a state's window, oldest first.
#[must_use]
pub fn state_channels(state: StateKey) -> Vec<u32> {
    let mut channels: Vec<u32> = (0..4)
        .map(|lane| ((state >> (32 * lane)) & 0xFFFF_FFFF) as u32)
        .take_while(|&lane| lane != 0)
        .map(|lane| lane - 1)
        .collect();
    channels.reverse();
    channels
}

/// Transition counts: (from, to) → journeys that made the step.
pub type Counts = FastMap<(StateKey, Target), u64>;

/// Adds the transition counts of other journeys into `into`.
pub fn add_counts(into: &mut Counts, other: Counts) {
    for (key, count) in other {
        *into.entry(key).or_default() += count;
    }
}

/// How a chain's linear system was solved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Gaussian elimination (up to [`DENSE_LIMIT`] states).
    Exact,
    /// Gauss–Seidel sweeps until the residual is at most [`TOLERANCE`].
    Iterative,
}

/// One solution of a chain's linear system.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// P(conversion) from each state, in state order.
    pub probabilities: Vec<f64>,
    /// How it was solved.
    pub method: Method,
    /// Gauss–Seidel sweeps made (0 for elimination).
    pub sweeps: u64,
    /// The largest `|x_s − p(s, conversion) − Σ_t p(s, t) x_t|` over the
    /// states that were not removed, at the solution.
    pub residual: f64,
    /// False when the sweeps ran out before the residual reached
    /// [`TOLERANCE`]; elimination always converges.
    pub converged: bool,
}

/// What solving a chain took, over every solve of a removal-effect
/// computation, as `summary.json` reports it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SolveReport {
    /// The chain's order.
    pub order: u8,
    /// Transient states, `start` included.
    pub states: u64,
    /// Elimination or Gauss–Seidel.
    pub method: Method,
    /// Linear systems solved: the whole chain, then one per channel removed.
    pub solves: u64,
    /// The most sweeps any solve took; `None` for elimination.
    pub iterations: Option<u64>,
    /// The largest residual any solve left.
    pub residual: f64,
    /// The residual Gauss–Seidel stops at ([`TOLERANCE`]); `None` for
    /// elimination.
    pub tolerance: Option<f64>,
}

/// Removal effects with what solving the chain took.
#[derive(Clone, Debug, PartialEq)]
pub struct RemovalEffects {
    /// Each channel code of the chain, sorted, with its removal effect.
    pub effects: Vec<(u32, f64)>,
    /// The solves.
    pub report: SolveReport,
}

/// A state's equation `x_s = r_s + Σ_t q(s, t) x_t`, with the transient
/// targets as state indices (a target the chain lacks, which a fitted chain
/// never has, counts as `null`).
struct Equation {
    /// `r_s`: the probability of converting next.
    converts: f64,
    /// `(t, q(s, t))` for the transient targets.
    next: Vec<(usize, f64)>,
}

impl Chain {
    /// Counts the transitions of every journey with at least one touch,
    /// converting or not, after the path transform. In order 1, consecutive
    /// touches of one channel are one state (a self-loop adds nothing a
    /// removal could change).
    #[must_use]
    pub fn fit(log: &EventLog, journeys: &Journeys, config: &Config, order: u8) -> Self {
        let (counts, fitted) = Self::count(log, journeys, config, order);
        Self::from_counts(&counts, order, fitted)
    }

    /// The transition counts [`Chain::fit`] solves, and how many journeys
    /// they come from: sums over users, so the counts of disjoint sets of
    /// users add up to those of their union. (A run counts them in its one
    /// walk over the journeys, [`crate::aggregate::walk`], with
    /// [`Chain::count_journey`].)
    #[must_use]
    pub fn count(log: &EventLog, journeys: &Journeys, config: &Config, order: u8) -> (Counts, u64) {
        let (mut counts, mut fitted, mut path) = (Counts::default(), 0, TransformedPath::default());
        for index in 0..journeys.len() {
            let journey = journeys.get(index);
            config.path_transform.apply(log, journey.path.clone(), &mut path);
            fitted += Self::count_journey(&mut counts, log, &path.touches, journey.conversion.is_some(), order);
        }
        (counts, fitted)
    }

    /// Adds the transitions of one journey, the touches of its path
    /// transformed, to `counts`: 1 when it counts (it has a touch), else 0.
    pub fn count_journey(counts: &mut Counts, log: &EventLog, touches: &[usize], converted: bool, order: u8) -> u64 {
        if touches.is_empty() {
            return 0;
        }
        let mut state = START;
        for &touch in touches {
            let next = next_state(state, log.channel[touch], order);
            if order == 1 && next == state {
                continue;
            }
            *counts.entry((state, Target::State(next))).or_default() += 1;
            state = next;
        }
        let end = if converted { Target::Conversion } else { Target::Null };
        *counts.entry((state, end)).or_default() += 1;
        1
    }

    /// Builds the chain from transition counts.
    #[must_use]
    pub fn from_counts(counts: &Counts, order: u8, journeys: u64) -> Self {
        let mut states: Vec<StateKey> = counts.keys().map(|(from, _)| *from).collect();
        states.push(START);
        states.sort_unstable();
        states.dedup();
        let mut outgoing: Vec<Vec<(Target, u64)>> = vec![Vec::new(); states.len()];
        for (&(from, target), &count) in counts {
            if let Ok(index) = states.binary_search(&from) {
                outgoing[index].push((target, count));
            }
        }
        let transitions = outgoing
            .into_iter()
            .map(|mut targets| {
                targets.sort_unstable();
                let total: u64 = targets.iter().map(|(_, count)| count).sum();
                #[expect(clippy::cast_precision_loss, reason = "probabilities")]
                targets.into_iter().map(|(target, count)| (target, count as f64 / total as f64)).collect()
            })
            .collect();
        Self { order, states, transitions, journeys }
    }

    /// The chain's order.
    #[must_use]
    pub fn order(&self) -> u8 {
        self.order
    }

    /// How many journeys it was fitted on.
    #[must_use]
    pub fn journeys(&self) -> u64 {
        self.journeys
    }

    /// The transient states, sorted, `START` first.
    #[must_use]
    pub fn states(&self) -> &[StateKey] {
        &self.states
    }

    /// A state's outgoing transitions.
    #[must_use]
    pub fn transitions(&self, state: usize) -> &[(Target, f64)] {
        &self.transitions[state]
    }

    /// The index of a state, if the chain has it.
    #[must_use]
    pub fn state_index(&self, state: StateKey) -> Option<usize> {
        self.states.binary_search(&state).ok()
    }

    /// Every channel code some state holds, sorted.
    #[must_use]
    pub fn channels(&self) -> Vec<u32> {
        let mut channels: Vec<u32> = self.states.iter().flat_map(|&state| state_channels(state)).collect();
        channels.sort_unstable();
        channels.dedup();
        channels
    }

    /// The probability of reaching `conversion` from each state, with the
    /// states holding channel `removed` (if any) turned into `null`: the
    /// removal of the removal-effect method.
    ///
    /// # Errors
    ///
    /// [`Error::NotConverged`] when Gauss–Seidel does not reach
    /// [`TOLERANCE`] within [`MAX_SWEEPS`] sweeps.
    pub fn conversion_probabilities(&self, removed: Option<u32>) -> Result<Solution> {
        let solution = self.solve(removed);
        self.check(&solution)?;
        Ok(solution)
    }

    /// Solves with `removed` blocked, converged or not.
    fn solve(&self, removed: Option<u32>) -> Solution {
        let blocked: Vec<bool> =
            self.states.iter().map(|&state| removed.is_some_and(|code| state_contains(state, code))).collect();
        if self.states.len() <= DENSE_LIMIT {
            self.solve_dense(&blocked)
        } else {
            self.solve_iterative(&blocked, MAX_SWEEPS)
        }
    }

    /// The error for a solution that did not converge.
    fn check(&self, solution: &Solution) -> Result<()> {
        if solution.converged {
            return Ok(());
        }
        Err(Error::NotConverged {
            order: self.order,
            states: self.states.len(),
            sweeps: solution.sweeps,
            residual: solution.residual,
            tolerance: TOLERANCE,
        })
    }

    /// Every state's equation.
    fn equations(&self) -> Vec<Equation> {
        self.transitions
            .iter()
            .map(|row| {
                let mut equation = Equation { converts: 0.0, next: Vec::with_capacity(row.len()) };
                for &(target, probability) in row {
                    match target {
                        Target::Conversion => equation.converts += probability,
                        Target::Null => {}
                        Target::State(state) => {
                            if let Some(index) = self.state_index(state) {
                                equation.next.push((index, probability));
                            }
                        }
                    }
                }
                equation
            })
            .collect()
    }

    /// Gaussian elimination with partial pivoting on `(I − Q) x = r`.
    fn solve_dense(&self, blocked: &[bool]) -> Solution {
        let equations = self.equations();
        let size = self.states.len();
        let width = size + 1;
        let mut matrix = vec![0.0; size * width];
        for (row, equation) in equations.iter().enumerate() {
            matrix[row * width + row] = 1.0;
            if blocked[row] {
                continue;
            }
            matrix[row * width + size] = equation.converts;
            for &(column, probability) in equation.next.iter().filter(|(column, _)| !blocked[*column]) {
                matrix[row * width + column] -= probability;
            }
        }
        eliminate(&mut matrix, size);
        let probabilities: Vec<f64> = (0..size)
            .map(|row| {
                let diagonal = matrix[row * width + row];
                if diagonal.abs() < f64::EPSILON {
                    0.0
                } else {
                    (matrix[row * width + size] / diagonal).clamp(0.0, 1.0)
                }
            })
            .collect();
        let residual = residual(&equations, blocked, &probabilities);
        Solution { probabilities, method: Method::Exact, sweeps: 0, residual, converged: true }
    }

    /// Gauss–Seidel on `(I − Q) x = r`, in state order, until the residual
    /// is at most [`TOLERANCE`] or `max_sweeps` sweeps are made. Each state
    /// is solved for with its self-loop on the left-hand side, `x_s = (r_s +
    /// Σ_{t≠s} q(s, t) x_t) / (1 − q(s, s))`, so that a state a journey
    /// repeats many times (`(a, a)` in higher orders) costs one sweep, not
    /// thousands. Every state of a fitted chain reaches an absorbing state,
    /// so the sweeps converge.
    fn solve_iterative(&self, blocked: &[bool], max_sweeps: u64) -> Solution {
        let equations = self.equations();
        let mut values = vec![0.0; self.states.len()];
        let mut residual = residual(&equations, blocked, &values);
        let mut sweeps = 0;
        while residual > TOLERANCE && sweeps < max_sweeps {
            sweep(&equations, blocked, &mut values);
            residual = self::residual(&equations, blocked, &values);
            sweeps += 1;
        }
        let converged = residual <= TOLERANCE;
        Solution { probabilities: values, method: Method::Iterative, sweeps, residual, converged }
    }

    /// Removal effect of each channel: `1 − P(conversion | c removed) /
    /// P(conversion)`, from the start state; 0 for every channel when
    /// nothing converts.
    ///
    /// # Errors
    ///
    /// As [`Chain::conversion_probabilities`], for the first solve (in
    /// channel order) that did not converge.
    pub fn removal_effects(&self) -> Result<RemovalEffects> {
        let whole = self.conversion_probabilities(None)?;
        let channels = self.channels();
        let removals: Vec<Solution> = channels.par_iter().map(|&channel| self.solve(Some(channel))).collect();
        for solution in &removals {
            self.check(solution)?;
        }
        let base = whole.probabilities[0];
        let effects = channels
            .iter()
            .zip(&removals)
            .map(|(&channel, removal)| {
                let removed = removal.probabilities[0];
                let effect = if base > 0.0 { (1.0 - removed / base).clamp(0.0, 1.0) } else { 0.0 };
                (channel, effect)
            })
            .collect();
        Ok(RemovalEffects { effects, report: self.report(std::iter::once(&whole).chain(&removals)) })
    }

    /// What a set of solves took.
    fn report<'a>(&self, solutions: impl Iterator<Item = &'a Solution>) -> SolveReport {
        let method = if self.states.len() <= DENSE_LIMIT { Method::Exact } else { Method::Iterative };
        let (mut solves, mut iterations, mut residual) = (0, 0, 0.0_f64);
        for solution in solutions {
            solves += 1;
            iterations = iterations.max(solution.sweeps);
            residual = residual.max(solution.residual);
        }
        let iterative = method == Method::Iterative;
        SolveReport {
            order: self.order,
            states: self.states.len() as u64,
            method,
            solves,
            iterations: iterative.then_some(iterations),
            residual,
            tolerance: iterative.then_some(TOLERANCE),
        }
    }
}

/// Gauss–Jordan elimination with partial pivoting of a `size × (size + 1)`
/// augmented matrix, in place; a column without a usable pivot is skipped.
fn eliminate(matrix: &mut [f64], size: usize) {
    let width = size + 1;
    for pivot in 0..size {
        let best = (pivot..size)
            .max_by(|&left, &right| matrix[left * width + pivot].abs().total_cmp(&matrix[right * width + pivot].abs()))
            .unwrap_or(pivot);
        if best != pivot {
            for column in 0..width {
                matrix.swap(pivot * width + column, best * width + column);
            }
        }
        let diagonal = matrix[pivot * width + pivot];
        if diagonal.abs() < f64::EPSILON {
            continue;
        }
        for row in 0..size {
            if row == pivot {
                continue;
            }
            let factor = matrix[row * width + pivot] / diagonal;
            if factor == 0.0 {
                continue;
            }
            for column in pivot..width {
                matrix[row * width + column] -= factor * matrix[pivot * width + column];
            }
        }
    }
}

/// One Gauss–Seidel sweep: each state not removed, in order, solved for
/// with the latest values of the others.
fn sweep(equations: &[Equation], blocked: &[bool], values: &mut [f64]) {
    for (state, equation) in equations.iter().enumerate() {
        if blocked[state] {
            continue;
        }
        let mut staying = 0.0;
        let mut sum = equation.converts;
        for &(next, probability) in &equation.next {
            if next == state {
                staying += probability;
            } else if !blocked[next] {
                sum += probability * values[next];
            }
        }
        // A fitted state always has a way out; guard anyway.
        values[state] = if staying < 1.0 { sum / (1.0 - staying) } else { 0.0 };
    }
}

/// The largest `|x_s − r_s − Σ_t q(s, t) x_t|` over the states not removed
/// (removed states are `null`, their `x` is 0).
fn residual(equations: &[Equation], blocked: &[bool], values: &[f64]) -> f64 {
    equations
        .iter()
        .enumerate()
        .filter(|(state, _)| !blocked[*state])
        .map(|(state, equation)| {
            let flowing: f64 = equation
                .next
                .iter()
                .filter(|(next, _)| !blocked[*next])
                .map(|&(next, probability)| probability * values[next])
                .sum();
            (values[state] - equation.converts - flowing).abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::event_log::EventLogBuilder;
    use crate::time::Lookback;

    /// Journeys as (channels, converted), one user each.
    fn fit(paths: &[(&[&str], bool)], order: u8) -> (EventLog, Chain) {
        let mut builder = EventLogBuilder::new();
        for (user, (channels, converted)) in paths.iter().enumerate() {
            let name = format!("user{user}");
            for (time, channel) in (0_i64..).zip(channels.iter()) {
                builder = builder.touch(&name, time, channel);
            }
            if *converted {
                builder = builder.conversion(&name, 100, 0);
            }
        }
        let log = builder.build();
        let journeys = Journeys::build(&log, Lookback::default());
        let chain = Chain::fit(&log, &journeys, &Config::default(), order);
        (log, chain)
    }

    fn effects(log: &EventLog, chain: &Chain) -> Vec<(String, f64)> {
        chain
            .removal_effects()
            .unwrap()
            .effects
            .into_iter()
            .map(|(code, effect)| (log.channels.get(code).to_owned(), effect))
            .collect()
    }

    fn close(left: f64, right: f64) -> bool {
        (left - right).abs() < 1e-12
    }

    #[test]
    fn three_channels_by_hand() {
        // start → a, b, c, d a quarter each; a > b > c and b' > c' convert;
        // d never does. P(conversion) = 3/4 ... see docs/models.md.
        let (log, chain) = fit(
            &[
                (&["social", "email", "search"], true),
                (&["display", "direct"], true),
                (&["direct"], true),
                (&["video"], false),
            ],
            1,
        );
        assert!(close(chain.conversion_probabilities(None).unwrap().probabilities[0], 0.75));
        let found = effects(&log, &chain);
        let expected = [
            ("direct", 2.0 / 3.0),
            ("display", 1.0 / 3.0),
            ("email", 1.0 / 3.0),
            ("search", 1.0 / 3.0),
            ("social", 1.0 / 3.0),
            ("video", 0.0),
        ];
        assert_eq!(found.len(), expected.len());
        for ((name, effect), (expected_name, expected_effect)) in found.iter().zip(expected) {
            assert_eq!(name, expected_name);
            assert!(close(*effect, expected_effect), "{name}: {effect}");
        }
    }

    #[test]
    fn repeats_collapse_in_order_one_only() {
        let (_, first) = fit(&[(&["a", "a", "b"], true)], 1);
        assert_eq!(first.states().len(), 3, "start, a, b");
        let (_, second) = fit(&[(&["a", "a", "b"], true)], 2);
        assert_eq!(second.states().len(), 4, "start, (a), (a, a), (a, b)");
    }

    #[test]
    fn orders_one_and_two_by_hand() {
        // a > b converts, b > a does not, a converts, b does not.
        let paths: [(&[&str], bool); 4] = [(&["a", "b"], true), (&["b", "a"], false), (&["a"], true), (&["b"], false)];
        // Order 1: a and b each go to the other, to conversion and to null a
        // third of the time: P(a) = P(b) = ½, P = ½. Removing a leaves
        // P(b) = ⅓ and P = ⅙, so RE(a) = RE(b) = ⅔.
        let (log, first) = fit(&paths, 1);
        let probabilities = first.conversion_probabilities(None).unwrap().probabilities;
        let a = first.state_index(next_state(START, log.channels.code_of("a").unwrap(), 1)).unwrap();
        assert!(close(probabilities[a], 0.5) && close(probabilities[0], 0.5), "{probabilities:?}");
        let found = effects(&log, &first);
        assert!(close(found[0].1, 2.0 / 3.0) && close(found[1].1, 2.0 / 3.0), "{found:?}");
        // Order 2 remembers where a journey came from: P((a)) = ½ · P((a, b))
        // + ½ = 1, P((b)) = 0, P = ½. Removing a leaves nothing that
        // converts (RE 1); removing b leaves P((a)) = ½, P = ¼ (RE ½).
        let (log, second) = fit(&paths, 2);
        let probabilities = second.conversion_probabilities(None).unwrap().probabilities;
        let a = second.state_index(next_state(START, log.channels.code_of("a").unwrap(), 2)).unwrap();
        assert!(close(probabilities[a], 1.0) && close(probabilities[0], 0.5), "{probabilities:?}");
        let found = effects(&log, &second);
        assert!(close(found[0].1, 1.0) && close(found[1].1, 0.5), "{found:?}");
    }

    /// The chain of `order` fitted on a generated log of `users` users.
    fn generated_chain(users: u64, seed: u64, order: u8) -> Chain {
        let log = crate::generate::generated_log(users, seed);
        let journeys = Journeys::build(&log, Lookback::default());
        Chain::fit(&log, &journeys, &Config::default(), order)
    }

    fn blocked(chain: &Chain, removed: Option<u32>) -> Vec<bool> {
        chain.states.iter().map(|&state| removed.is_some_and(|code| state_contains(state, code))).collect()
    }

    #[test]
    fn the_iterative_solver_agrees_with_elimination() {
        let chain = generated_chain(3_000, 5, 2);
        for removed in [None, Some(0), Some(3)] {
            let blocked = blocked(&chain, removed);
            let dense = chain.solve_dense(&blocked);
            let iterative = chain.solve_iterative(&blocked, MAX_SWEEPS);
            assert!(iterative.converged && iterative.residual <= TOLERANCE, "{iterative:?}");
            assert!(dense.residual < 1e-14, "elimination leaves rounding only: {}", dense.residual);
            for (left, right) in dense.probabilities.iter().zip(&iterative.probabilities) {
                assert!((left - right).abs() < 1e-12, "{left} vs {right}");
            }
        }
    }

    #[test]
    fn a_self_loop_is_solved_for_not_iterated() {
        // Order 2: a ×5 converts, a alone does not. start → (a) twice;
        // (a) → (a, a) or null, ½ each; (a, a) → itself 3 times in 4, else
        // converts. So x(a, a) = 1, x(a) = ½, x(start) = ½. Sweeping in
        // state order (start, (a), (a, a)) reaches them exactly in 3 sweeps:
        // (a, a) in the first, (a) in the second, start in the third.
        let (_, chain) = fit(&[(&["a", "a", "a", "a", "a"], true), (&["a"], false)], 2);
        assert_eq!(chain.states().len(), 3);
        let solution = chain.solve_iterative(&[false; 3], MAX_SWEEPS);
        assert_eq!(solution.probabilities, [0.5, 0.5, 1.0]);
        assert_eq!((solution.sweeps, solution.residual, solution.converged), (3, 0.0, true));
    }

    #[test]
    fn a_large_chain_is_iterated_to_the_tolerance_and_says_so() {
        let chain = generated_chain(3_000, 7, 3);
        assert!(chain.states().len() > DENSE_LIMIT, "{} states", chain.states().len());
        let removal = chain.removal_effects().unwrap();
        let report = removal.report;
        assert_eq!((report.order, report.method, report.tolerance), (3, Method::Iterative, Some(TOLERANCE)));
        assert_eq!(report.states, chain.states().len() as u64);
        assert_eq!(report.solves, chain.channels().len() as u64 + 1);
        assert!(report.residual <= TOLERANCE, "{report:?}");
        let sweeps = report.iterations.unwrap();
        assert!(sweeps > 1 && sweeps < 1_000, "{report:?}");
        // The residual is what it says: recomputed from the solution.
        let whole = chain.conversion_probabilities(None).unwrap();
        let equations = chain.equations();
        let recomputed = residual(&equations, &blocked(&chain, None), &whole.probabilities);
        assert_eq!(recomputed.to_bits(), whole.residual.to_bits(), "{recomputed} vs {}", whole.residual);
        assert!(whole.residual <= report.residual);
    }

    #[test]
    fn too_few_sweeps_is_an_error_not_a_result() {
        let chain = generated_chain(3_000, 7, 3);
        let blocked = blocked(&chain, None);
        let cut_short = chain.solve_iterative(&blocked, 2);
        assert!(!cut_short.converged);
        assert_eq!(cut_short.sweeps, 2);
        assert!(cut_short.residual > TOLERANCE, "{}", cut_short.residual);
        let error = chain.check(&cut_short).unwrap_err();
        assert!(!error.is_user_error(), "exit 2");
        let message = error.to_string();
        assert!(
            message.contains("order-3 Markov chain") && message.contains("after 2 Gauss–Seidel sweeps"),
            "{message}"
        );
        assert!(error.hint().is_some());
        // No sweep at all: the residual of x = 0 is the largest probability
        // of converting in one step.
        let untouched = chain.solve_iterative(&blocked, 0);
        let largest = chain.equations().iter().map(|equation| equation.converts).fold(0.0, f64::max);
        assert_eq!((untouched.sweeps, untouched.residual, untouched.converged), (0, largest, false));
    }

    #[test]
    fn exact_removal_effects_match_a_simulation_of_the_same_chain() {
        let log = crate::generate::generated_log(20_000, 9);
        let journeys = Journeys::build(&log, Lookback::default());
        let chain = Chain::fit(&log, &journeys, &Config::default(), 1);
        let exact = chain.removal_effects().unwrap().effects;

        // Random walks from start with common random numbers: a walk that
        // converts without visiting channel c also converts with c removed,
        // and one that visits c does not (its entry into c goes to null).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
        let channels = chain.channels();
        let mut converted = 0_u64;
        let mut converted_through = vec![0_u64; channels.len()];
        let mut visited = vec![false; channels.len()];
        for _ in 0..400_000 {
            visited.fill(false);
            let mut state = 0;
            let converts = loop {
                let draw: f64 = rng.random();
                let mut cumulative = 0.0;
                let mut next = Target::Null;
                for &(target, probability) in chain.transitions(state) {
                    cumulative += probability;
                    next = target;
                    if draw < cumulative {
                        break;
                    }
                }
                match next {
                    Target::Conversion => break true,
                    Target::Null => break false,
                    Target::State(key) => {
                        for code in state_channels(key) {
                            visited[channels.binary_search(&code).unwrap()] = true;
                        }
                        state = chain.state_index(key).unwrap();
                    }
                }
            };
            if converts {
                converted += 1;
                for (count, &was_visited) in converted_through.iter_mut().zip(&visited) {
                    *count += u64::from(was_visited);
                }
            }
        }
        for ((channel, effect), through) in exact.iter().zip(&converted_through) {
            #[expect(clippy::cast_precision_loss, reason = "a rate")]
            let simulated = *through as f64 / converted as f64;
            assert!((effect - simulated).abs() < 0.01, "channel {channel}: exact {effect}, simulated {simulated}");
        }
    }

    #[test]
    fn state_keys_keep_the_last_channels() {
        let one = next_state(START, 4, 2);
        let two = next_state(one, 7, 2);
        let three = next_state(two, 9, 2);
        assert_eq!(state_channels(one), [4]);
        assert_eq!(state_channels(two), [4, 7]);
        assert_eq!(state_channels(three), [7, 9]);
        assert!(state_contains(three, 9) && !state_contains(three, 4));
        assert_eq!(next_state(next_state(START, 0, 1), 3, 1), next_state(START, 3, 1));
        let four = [1, 2, 3, 4, 5].iter().fold(START, |state, &code| next_state(state, code, 4));
        assert_eq!(state_channels(four), [2, 3, 4, 5]);
    }
}
