//! One batch run: read, account, rebuild journeys, write the report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use crate::config::Config;
use crate::event_log::SetAsideUser;
use crate::ingest::{self, EventIngest, RowCounts, SpendIngest, Warning};
use crate::journey::{JourneyStats, Journeys};
use crate::models;
use crate::output::{self, OutputDir, SUMMARY_FILE};
use crate::report::{PathTotals, Paths, Reports, write_path_rows};
use crate::summary::{Inputs, SetAside, SpendSummary, Status, Summary};
use crate::{Error, Result};

/// How much of the job to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Everything: accounting, attribution and every report.
    #[default]
    Attribute,
    /// Ingest and accounting only: `summary.json` and the reject files.
    Validate,
    /// Accounting and the conversion paths (`paths.csv`, `stage_paths.csv`),
    /// without attribution.
    Paths,
}

/// What to run on and where to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Touchpoint log files or directories.
    pub events: Vec<PathBuf>,
    /// Spend table files or directories (may be empty).
    pub spend: Vec<PathBuf>,
    /// The output directory, replaced whole when the run ends.
    pub out: PathBuf,
    /// The run's start, microseconds since the epoch: later timestamps are
    /// counted as being in the future.
    pub now: i64,
    /// How many paths the path reports list.
    pub top: usize,
    /// Where to write one row per conversion (CSV or Parquet), if anywhere;
    /// only in [`Mode::Attribute`].
    pub journeys_out: Option<PathBuf>,
    /// How much of the job to run.
    pub mode: Mode,
}

/// What a finished run wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The summary, as written to `summary.json`.
    pub summary: Summary,
    /// Where the report is.
    pub out: PathBuf,
    /// The attribution reports, unless too many rows were rejected or the
    /// mode did not attribute.
    pub reports: Option<Reports>,
    /// The ranked channel paths and stage paths, in [`Mode::Paths`].
    pub paths: Option<PathRows>,
}

/// Ranked conversion paths: channel paths, then stage sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRows {
    /// Channel paths (`a > b > c`) and their totals, ranked.
    pub channels: Vec<(String, PathTotals)>,
    /// Stage sequences and their totals, ranked.
    pub stages: Vec<(String, PathTotals)>,
    /// How many of each are written.
    pub top: usize,
}

impl Report {
    /// The error to report when the run published no results: too many
    /// rejected rows, or no event to attribute.
    #[must_use]
    pub fn failure(&self, config: &Config) -> Option<Error> {
        match self.summary.status {
            Status::Ok => None,
            Status::NoEvents => Some(Error::NoEvents { read: self.summary.rows.read }),
            Status::RejectRateExceeded => {
                let spend_rows = self.summary.spend.as_ref().map(|spend| &spend.rows);
                let worst = std::iter::once(&self.summary.rows)
                    .chain(spend_rows)
                    .max_by(|left, right| left.reject_rate().total_cmp(&right.reject_rate()))?;
                Some(Error::RejectRate {
                    rejected: worst.rejected,
                    read: worst.read,
                    rate: worst.reject_rate() * 100.0,
                    limit: config.max_reject_rate * 100.0,
                })
            }
        }
    }
}

/// Runs the whole job.
///
/// When more than `config.max_reject_rate` of the rows of either table are
/// rejected, only `summary.json` (with status `reject_rate_exceeded`) and the
/// rejects are written; likewise (status `no_events`) when no event was
/// accepted, or every user was set aside.
///
/// # Errors
///
/// Any input that cannot be read, and any output that cannot be written.
pub fn run(request: &Request, config: &Config) -> Result<Report> {
    config.validate()?;
    models::check_selection(config)?;
    if let Some(target) = &request.journeys_out
        && request.mode == Mode::Attribute
    {
        output::check_journeys_target(target)?;
    }
    let event_files = ingest::discover(&request.events)?;
    let spend_files = if request.spend.is_empty() { Vec::new() } else { ingest::discover(&request.spend)? };
    let started = Instant::now();
    let mut events = ingest::ingest_events(&event_files, config, request.now)?;
    log_rows("ingest_events", started, event_files.len(), &events.rows);
    let set_aside = events.log.set_aside_users(config.max_events_per_user);
    if !set_aside.is_empty() {
        let events = set_aside.iter().map(|user| user.events).sum::<u64>();
        tracing::warn!(event = "set_aside", users = set_aside.len(), events, limit = config.max_events_per_user);
    }
    let started = Instant::now();
    let mut spend = ingest::ingest_spend(&spend_files, config)?;
    count_unknown_spend_channels(&events.log, &mut spend);
    if !spend_files.is_empty() {
        log_rows("ingest_spend", started, spend_files.len(), &spend.counts);
    }

    let started = Instant::now();
    let journeys = Journeys::build(&events.log, config.lookback);
    let stats = JourneyStats::compute(&events.log, &journeys);
    tracing::info!(
        event = "phase",
        phase = "journeys",
        seconds = started.elapsed().as_secs_f64(),
        users = stats.users,
        converting = stats.journeys.converting,
        non_converting = stats.journeys.non_converting
    );

    let mut summary = summarize(config, &events, &spend, !spend_files.is_empty(), &set_aside, &stats);
    for (warning, count) in &summary.warnings {
        tracing::warn!(event = "warning", warning = warning.as_str(), count);
    }

    let (reports, analysis) = if summary.status == Status::Ok && request.mode == Mode::Attribute {
        let started = Instant::now();
        let (reports, analysis) = Reports::compute(&events.log, &journeys, config, &spend.rows, request.top)?;
        tracing::info!(
            event = "phase",
            phase = "attribution",
            seconds = started.elapsed().as_secs_f64(),
            models = reports.models.len(),
            conversions = stats.conversions.total
        );
        (Some(reports), Some(analysis))
    } else {
        (None, None)
    };
    if let Some(reports) = &reports {
        summary.models = reports.totals();
    }
    let paths = (summary.status == Status::Ok && request.mode == Mode::Paths).then(|| {
        let paths = Paths::compute(&events.log, &journeys, config);
        PathRows { channels: paths.channel_rows(&events.log), stages: paths.stage_rows(), top: request.top }
    });

    let started = Instant::now();
    let out = OutputDir::create(&request.out)?;
    if let Some(reports) = &reports {
        out.write("channels.csv", |sink| reports.write_channels(sink))?;
        out.write("campaigns.csv", |sink| reports.write_campaigns(sink))?;
        out.write("stages.csv", |sink| reports.write_stages(sink))?;
        out.write("kpis.csv", |sink| reports.write_kpis(sink))?;
        out.write("moments.csv", |sink| reports.write_moments(sink))?;
        out.write("credit_positions.csv", |sink| reports.write_credit_positions(sink))?;
        out.write("paths.csv", |sink| reports.write_paths(sink))?;
        out.write("stage_paths.csv", |sink| reports.write_stage_paths(sink))?;
        if reports.removal_effects.is_some() {
            out.write("removal_effects.csv", |sink| reports.write_removal_effects(sink))?;
        }
        out.write("report.html", |sink| crate::report::html::write_html(sink, reports, &summary, config))?;
    }
    if let Some(paths) = &paths {
        out.write("paths.csv", |sink| write_path_rows(sink, "path", &paths.channels, paths.top))?;
        out.write("stage_paths.csv", |sink| write_path_rows(sink, "stage_path", &paths.stages, paths.top))?;
    }
    out.write("rejects.csv", |sink| output::write_event_rejects(sink, &events.files, &events.rejects))?;
    out.write("set_aside_users.csv", |sink| output::write_set_aside_users(sink, &set_aside))?;
    if !spend_files.is_empty() {
        out.write("spend_rejects.csv", |sink| output::write_spend_rejects(sink, &spend.files, &spend.rejects))?;
    }
    let json = summary.to_json().map_err(|error| Error::Internal(error.to_string()))?;
    out.write(SUMMARY_FILE, |sink| sink.write_all(json.as_bytes()))?;
    if let (Some(target), Some(analysis)) = (&request.journeys_out, &analysis) {
        output::write_journeys(target, &events.log, &journeys, config, &analysis.models, &analysis.scores)?;
    }
    let out = out.commit()?;
    tracing::info!(
        event = "phase",
        phase = "write",
        seconds = started.elapsed().as_secs_f64(),
        out = %out.display(),
        status = summary.status.as_str()
    );
    Ok(Report { summary, out, reports, paths })
}

/// The summary of what was read, kept, dropped and found, with the run's
/// status: whether results can be published.
fn summarize(
    config: &Config,
    events: &EventIngest,
    spend: &SpendIngest,
    with_spend: bool,
    set_aside: &[SetAsideUser],
    stats: &JourneyStats,
) -> Summary {
    let mut warnings = events.warnings.clone();
    for (warning, count) in &spend.warnings {
        *warnings.entry(*warning).or_default() += count;
    }
    let inputs = Inputs { events: events.files.clone(), spend: spend.files.clone() };
    let mut summary = Summary::new(config, inputs, events.rows.clone(), warnings, stats);
    summary.set_aside = SetAside {
        users: set_aside.len() as u64,
        events: set_aside.iter().map(|user| user.events).sum(),
        conversions: set_aside.iter().map(|user| user.conversions).sum(),
    };
    if with_spend {
        summary.spend = Some(SpendSummary {
            rows: spend.counts.clone(),
            total: crate::journey::micros_to_units(spend.total()),
            channels: spend.rows.iter().map(|row| row.channel.as_str()).collect::<BTreeSet<_>>().len() as u64,
        });
    }
    if events.rows.reject_rate() > config.max_reject_rate || spend.counts.reject_rate() > config.max_reject_rate {
        summary.status = Status::RejectRateExceeded;
    } else if events.log.is_empty() {
        summary.status = Status::NoEvents;
    }
    summary
}

/// Logs the end of an ingest phase with its row accounting.
fn log_rows(phase: &'static str, started: Instant, files: usize, rows: &RowCounts) {
    tracing::info!(
        event = "phase",
        phase,
        seconds = started.elapsed().as_secs_f64(),
        files,
        read = rows.read,
        accepted = rows.accepted,
        rejected = rows.rejected,
        duplicates = rows.duplicates
    );
}

/// Spend on a channel the log never mentions is still reported later, but
/// is worth a warning: it is often a naming mismatch.
fn count_unknown_spend_channels(log: &crate::event_log::EventLog, spend: &mut SpendIngest) {
    let unknown = spend.rows.iter().filter(|row| log.channels.code_of(&row.channel).is_none()).count() as u64;
    if unknown > 0 {
        *spend.warnings.entry(Warning::SpendChannelNotInLog).or_default() += unknown;
    }
}
