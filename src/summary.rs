//! `summary.json`: what a run read, kept, dropped and found.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::ingest::{FileRows, RowCounts, Warning};
use crate::journey::{ConversionCounts, JourneyCounts, JourneyStats, PathLength};
use crate::models::chain::SolveReport;
use crate::models::incremental::Fit;
use crate::models::shapley::Coverage;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything was published.
    Ok,
    /// Too many rows were rejected: only the summary and rejects were written.
    RejectRateExceeded,
    /// No event was accepted (and kept): there is nothing to attribute, so
    /// only the summary and rejects were written.
    NoEvents,
}

impl Status {
    /// The status as written in `summary.json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RejectRateExceeded => "reject_rate_exceeded",
            Self::NoEvents => "no_events",
        }
    }
}

/// The files a run read.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inputs {
    /// Touchpoint log files.
    pub events: Vec<FileRows>,
    /// Spend table files.
    pub spend: Vec<FileRows>,
}

/// The spend table's account.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SpendSummary {
    /// Where every spend row went.
    pub rows: RowCounts,
    /// Total accepted spend.
    pub total: f64,
    /// Distinct channels with spend.
    pub channels: u64,
}

/// Users set aside for having more events than `max_events_per_user`
/// (listed in `set_aside_users.csv`); their rows are accepted rows, but no
/// journey, conversion or credit comes from them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// Users set aside.
    pub users: u64,
    /// Their accepted events.
    pub events: u64,
    /// Of which conversions.
    pub conversions: u64,
}

/// First purchases and their moments of truth, over the analysis period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MomentSummary {
    /// First purchases with at least one touch.
    pub first_purchases: u64,
    /// Of which with a moment of truth (a touch with a positive lift).
    pub with_moment: u64,
    /// Of which without: the `(none)` row of `moments.csv`.
    pub without_moment: u64,
}

/// The whole summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The version of touchpath that wrote it.
    pub touchpath_version: &'static str,
    /// How the run ended.
    pub status: Status,
    /// The effective configuration.
    pub config: Config,
    /// The files read.
    pub inputs: Inputs,
    /// Where every touchpoint row went.
    pub rows: RowCounts,
    /// Warnings on accepted rows (touchpoint log and spend table), by kind.
    pub warnings: BTreeMap<Warning, u64>,
    /// Users set aside as bots or shared ids.
    pub set_aside: SetAside,
    /// Users with an accepted event, those set aside excluded.
    pub users: u64,
    /// Accepted touches.
    pub touches: u64,
    /// Touches dropped by the lookback window.
    pub touches_outside_window: u64,
    /// Conversion counts.
    pub conversions: ConversionCounts,
    /// Revenue of all conversions.
    pub revenue: f64,
    /// Journey counts.
    pub journeys: JourneyCounts,
    /// Touches per converting journey.
    pub path_length: PathLength,
    /// The spend table's account, when one was given.
    pub spend: Option<SpendSummary>,
    /// Each model's credited totals over the analysis period: every model
    /// credits the same conversions and revenue.
    pub models: Vec<ModelTotal>,
    /// Moments of truth, when the run attributed.
    pub moments: Option<MomentSummary>,
    /// How `markov`'s chain was solved, when it ran.
    pub markov: Option<SolveReport>,
    /// How much of the Shapley games the journeys observed, when `shapley`
    /// ran.
    pub shapley: Option<Coverage>,
    /// How `incremental`'s rate was fitted, when it ran.
    pub incremental: Option<Fit>,
    /// The bootstrap intervals, when the run drew replicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<IntervalSummary>,
}

/// What `summary.json` says of the bootstrap intervals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalSummary {
    /// Replicates drawn.
    pub replicates: u32,
    /// The intervals' coverage.
    pub level: f64,
    /// Replicates whose refit failed and kept the full data's fit.
    pub refits_failed: u64,
    /// Per model, the channels whose point estimate of conversions lies
    /// outside its own interval (the estimate moves one way under
    /// resampling).
    pub estimates_outside: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// Assembles a summary.
    #[must_use]
    pub fn new(
        config: &Config,
        inputs: Inputs,
        rows: RowCounts,
        warnings: BTreeMap<Warning, u64>,
        stats: &JourneyStats,
    ) -> Self {
        Self {
            touchpath_version: env!("CARGO_PKG_VERSION"),
            status: Status::Ok,
            config: config.clone(),
            inputs,
            rows,
            warnings,
            set_aside: SetAside::default(),
            users: stats.users,
            touches: stats.touches,
            touches_outside_window: stats.touches_outside_window,
            conversions: stats.conversions.clone(),
            revenue: stats.revenue(),
            journeys: stats.journeys.clone(),
            path_length: stats.path_length.clone(),
            spend: None,
            models: Vec::new(),
            moments: None,
            markov: None,
            shapley: None,
            incremental: None,
            intervals: None,
        }
    }

    /// Pretty JSON with a final newline.
    ///
    /// # Errors
    ///
    /// Only if serialisation fails, which plain data never does.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self).map(|json| json + "\n")
    }
}

/// A model's totals, for the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelTotal {
    /// The model.
    pub model: &'static str,
    /// Credited conversions (equal to the conversions attributed).
    pub conversions: f64,
    /// Credited revenue (equal to their revenue).
    pub revenue: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregates;
    use crate::config::Mode;
    use crate::event_log::EventLogBuilder;
    use crate::journey::Journeys;
    use crate::models::chain::Method;
    use crate::report::Reports;

    #[test]
    fn the_summary_records_moments_and_the_fits_of_the_data_driven_models() {
        // a converts once in two journeys, b once in one: a's purchase has
        // no positive lift (P(a) = ½ < P(start) = ⅔), b's has.
        let log = EventLogBuilder::new()
            .touch("u1", 0, "a")
            .conversion("u1", 10, 0)
            .touch("u2", 0, "a")
            .touch("u3", 0, "b")
            .conversion("u3", 10, 0)
            .build();
        let config = Config::default();
        let journeys = Journeys::build(&log, config.lookback);
        let aggregates = Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest());
        let (reports, _) = Reports::compute(&log, &journeys, &aggregates, &config, &[], 10).unwrap();
        let stats = JourneyStats::compute(&log, &journeys);
        let mut summary = Summary::new(&config, Inputs::default(), RowCounts::default(), BTreeMap::new(), &stats);
        reports.record_in(&mut summary);

        assert_eq!(summary.moments, Some(MomentSummary { first_purchases: 2, with_moment: 1, without_moment: 1 }));
        let markov = summary.markov.unwrap();
        assert_eq!((markov.order, markov.states, markov.method), (1, 3, Method::Exact));
        // The whole chain, then without a, then without b.
        assert_eq!((markov.solves, markov.iterations, markov.tolerance), (3, None, None));
        assert!(markov.residual < 1e-15, "{markov:?}");
        // Two games of one channel each, both observed.
        let coverage = Coverage { converting_sets: 2, sampled_sets: 0, coalitions_needed: 2, coalitions_missing: 0 };
        assert_eq!(summary.shapley, Some(coverage));
        assert_eq!(summary.models.len(), 9);
        // Three purchase patterns (a, b, none) fitted exactly.
        let fit = summary.incremental.unwrap();
        assert!(fit.iterations > 0 && fit.residual < 1e-6 && fit.terms <= fit.features, "{fit:?}");

        let json = summary.to_json().unwrap();
        for expected in [
            r#""moments": {
    "first_purchases": 2,
    "with_moment": 1,
    "without_moment": 1
  },"#,
            r#""method": "exact","#,
            r#""iterations": null,"#,
            r#""coalitions_missing": 0"#,
        ] {
            assert!(json.contains(expected), "{expected} in {json}");
        }
    }
}
