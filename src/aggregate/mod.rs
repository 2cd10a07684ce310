//! Sums over every journey of a set of users, which add up over disjoint
//! sets of users: what the first pass of a run counts ([`Aggregates`]), the
//! data-driven models are fitted on, and the reports read. The reports only
//! render them ([`crate::report`]); states carry and merge them
//! ([`crate::state`]).

mod kpis;
mod paths;

use serde::{Deserialize, Serialize};

pub use self::kpis::{Counters, Kpis, is_video_channel, ratio};
pub use self::paths::{PathTotals, Paths};
use crate::config::{Config, Mode};
use crate::event_log::EventLog;
use crate::journey::Journeys;
use crate::models::chain::{Chain, Counts, add_counts};
use crate::models::incremental::{self, Incremental};
use crate::models::shapley::{Coalitions, Shapley, add_coalitions};
use crate::models::{self};

/// Transition counts of one chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCounts {
    /// (from, to) → journeys that made the step.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub transitions: Counts,
    /// Journeys counted.
    pub journeys: u64,
}

impl ChainCounts {
    fn count(log: &EventLog, journeys: &Journeys, config: &Config, order: u8) -> Self {
        let (transitions, journeys) = Chain::count(log, journeys, config, order);
        Self { transitions, journeys }
    }

    fn add(&mut self, other: Self) {
        add_counts(&mut self.transitions, other.transitions);
        self.journeys += other.journeys;
    }

    /// The chain of order `order` these counts describe.
    #[must_use]
    pub fn chain(&self, order: u8) -> Chain {
        Chain::from_counts(&self.transitions, order, self.journeys)
    }
}

/// Counts over every journey of a set of users, each a sum over users.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregates {
    /// The first-order chain (touchpoint scores, moments of truth, and
    /// `markov` in order 1).
    pub first_order: ChainCounts,
    /// The chain of `markov_order` when it is above 1 and `markov` runs.
    pub higher_order: ChainCounts,
    /// The Shapley game's coalitions, when `shapley` runs.
    #[serde(serialize_with = "crate::hash::serialize_sorted")]
    pub coalitions: Coalitions,
    /// KPI counters.
    pub kpis: Kpis,
    /// Path totals.
    pub paths: Paths,
    /// The purchase-rate sums `incremental` is fitted on, when it runs.
    pub hazard: incremental::Counts,
}

impl Aggregates {
    /// Counts what `mode` reports on; `end` is where the whole log's time
    /// ends (see [`EventIngest::latest`]).
    #[must_use]
    pub fn compute(log: &EventLog, journeys: &Journeys, config: &Config, mode: Mode, end: i64) -> Self {
        let mut aggregates = Self::default();
        if mode == Mode::Validate {
            return aggregates;
        }
        aggregates.paths = Paths::compute(log, journeys, config);
        if mode == Mode::Paths {
            return aggregates;
        }
        aggregates.first_order = ChainCounts::count(log, journeys, config, 1);
        if models::is_selected(config, "markov") && config.markov_order > 1 {
            aggregates.higher_order = ChainCounts::count(log, journeys, config, config.markov_order);
        }
        if models::is_selected(config, "shapley") {
            aggregates.coalitions = Shapley::count(log, journeys, config);
        }
        if models::is_selected(config, Incremental::NAME) {
            aggregates.hazard = incremental::Counts::count(log, end, config.rate_memory().memory());
        }
        aggregates.kpis = Kpis::compute(log, journeys, config);
        aggregates
    }

    /// Adds the sums of other users (disjoint from these).
    pub fn add(&mut self, other: Self) {
        self.first_order.add(other.first_order);
        self.higher_order.add(other.higher_order);
        add_coalitions(&mut self.coalitions, other.coalitions);
        self.kpis.add(other.kpis);
        self.paths.add(other.paths);
        self.hazard.add(other.hazard);
    }
}
