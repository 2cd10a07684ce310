//! `summary.json`: what a run read, kept, dropped and found.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::ingest::{FileRows, RowCounts, Warning};
use crate::journey::{ConversionCounts, JourneyCounts, JourneyStats, PathLength};
use crate::report::ModelTotal;

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
