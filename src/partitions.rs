//! A run over partitions of users on an engine that splits the log itself
//! (Spark's executors): the kernel each partition runs, and what the driver
//! does with what the partitions send it.
//!
//! The engine puts every event of a user in one partition (a hash of the
//! user column is enough) and calls the kernel on each partition's rows, in
//! any order: the kernel orders a user's events itself, so its result is a
//! pure function of the set of rows, and a retried task gives the same bytes.
//! A run takes up to three passes over the partitions, and the driver only
//! ever holds sums whose size does not grow with the log:
//!
//! 0. [`latest`]: the latest valid timestamp of each partition; their
//!    maximum is where the log's time ends, which `incremental` counts
//!    exposure up to (skipped when it does not run).
//! 1. [`count`]: each partition's [`State`] without its converting journeys
//!    (row accounting, journey statistics, chain transitions, coalitions,
//!    purchase-rate exposures, KPIs), its path totals as rows for the engine
//!    to sum by path and rank, and its purchase patterns. The driver merges
//!    the states ([`Driver::merge`]) and fits every model on the merged
//!    counts ([`Driver::fit`]). `incremental`'s fit needs sums over every
//!    purchase pattern, which grow with the log: the engine splits the
//!    patterns into [`SHARDS`] shards ([`pattern_shards`], [`merge_shards`])
//!    and keeps them, and the driver's solver asks it for a few sums over
//!    the shards at each Newton step ([`Driver::fit_request`],
//!    [`Shard::answer`], [`add_answers`], [`Driver::fit_answer`]).
//! 2. [`credit`]: with the fit broadcast ([`Fitted`]), each partition credits
//!    its converting journeys and sends the [`Tally`] of credit and moments
//!    of truth; the driver adds them and writes the report
//!    ([`Driver::finish`]). [`journeys`] gives a partition's rows of the
//!    per-conversion table instead, for the engine to write.
//!
//! Merging states and tallies is exact, associative and commutative, so the
//! report is byte for byte the one `touchpath run` writes from the same rows
//! as one table, however the users are split.
//!
//! The passes of `touchpath run --bucket K/N` are these same ones, with
//! files between them (see [`crate::state`]): [`crate::state::fit::fit_state`] fits a merged
//! state in the process and gives the bytes [`Fitted::decode`] reads, which
//! a bucket's second pass credits with; [`crate::state::fit`] holds both.

use std::collections::BTreeSet;
use std::path::Path;

use polars::prelude::{DataFrame, DataType};
use serde::{Deserialize, Serialize};

use crate::aggregate::PathTotals;
use crate::config::Mode;
use crate::event_log::Dictionary;
use crate::format::encode;
use crate::ingest::{self, EventIngest, SourceFile, SpendIngest};
use crate::models;
pub use crate::models::incremental::SHARDS;
use crate::models::incremental::{self, Answer, Coded, Feature, Incremental, Solver};
use crate::output::journeys_table;
use crate::progress::Silent;
use crate::report::{Analysis, Reports, Tally, rank_rows};
use crate::run::{self, Report, Request};
pub use crate::state::fit::{Fitted, Job};
use crate::state::fit::{fit_record, names};
use crate::state::{self, Buckets, State};
use crate::summary::Status;
use crate::{Error, Result};

/// The column an engine adds to the log's rows: each row's 0-based index in
/// the whole table, by which a rejected row is named as a run over the whole
/// table names it. It is not one of the log's columns.
pub const ROW_COLUMN: &str = "__touchpath_row";

/// The column an engine partitions the log's rows by: the hash of each
/// row's user id as ingest reads it (see [`user_keys`]). It is not one of the
/// log's columns.
pub const KEY_COLUMN: &str = "__touchpath_user";

/// What the reports call the log handed over by the engine.
pub const EVENTS_TABLE: &str = "<events>";

/// The partitioning key of each row of `frame` (any rows of the log, with
/// at least its user id column), as a table of one column, [`KEY_COLUMN`]:
/// the hash of the user id as ingest reads it, NFC-normalised, so that ids
/// written in different Unicode forms land in the same partition, as
/// rows without a user id do.
///
/// # Errors
///
/// A missing column, or one of a type touchpath cannot read.
pub fn user_keys(job: &Job, frame: DataFrame) -> Result<DataFrame> {
    let hashes = ingest::user_hashes(&SourceFile::in_memory(EVENTS_TABLE, frame), &job.config)?;
    #[expect(clippy::cast_possible_wrap, reason = "a hash: engines hash 64-bit signed integers")]
    let keys: Vec<i64> = hashes.into_iter().map(|hash| hash as i64).collect();
    DataFrame::new(keys.len(), vec![polars::prelude::Column::new(KEY_COLUMN.into(), keys)])
        .map_err(|error| Error::Internal(error.to_string()))
}

/// The rows of a partition as a table to ingest: [`ROW_COLUMN`], when
/// present, is taken out and names the rows; [`KEY_COLUMN`] is dropped.
///
/// # Errors
///
/// [`Error::Input`] when the row column holds something other than
/// non-negative whole numbers.
pub fn source(mut frame: DataFrame) -> Result<SourceFile> {
    if frame.column(KEY_COLUMN).is_ok() {
        frame.drop_in_place(KEY_COLUMN).map_err(|error| Error::Internal(error.to_string()))?;
    }
    let Some(column) = frame.column(ROW_COLUMN).ok().cloned() else {
        return Ok(SourceFile::in_memory(EVENTS_TABLE, frame));
    };
    let invalid = || Error::Input {
        path: EVENTS_TABLE.into(),
        reason: format!("column `{ROW_COLUMN}` must hold each row's index, a whole number from 0"),
    };
    let indices = column.cast(&DataType::UInt64).map_err(|_| invalid())?;
    let indices = indices.u64().map_err(|_| invalid())?;
    if indices.null_count() > 0 {
        return Err(invalid());
    }
    let records: Vec<u64> = indices.into_no_null_iter().collect();
    frame.drop_in_place(ROW_COLUMN).map_err(|error| Error::Internal(error.to_string()))?;
    SourceFile::in_memory_part(EVENTS_TABLE, frame, records)
}

fn ingest(job: &Job, frame: DataFrame) -> Result<EventIngest> {
    ingest::ingest_events(&[source(frame)?], &job.config, job.now)
}

/// Pass 0: the latest valid timestamp of a partition's rows (accepted or
/// not), not after the run's start.
///
/// # Errors
///
/// A column that cannot be read.
pub fn latest(job: &Job, frame: DataFrame) -> Result<Option<i64>> {
    Ok(ingest(job, frame)?.latest)
}

/// A path's totals in one partition, for the engine to sum by
/// `(kind, key)` (see [`crate::report::Paths::named_rows`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRow {
    /// `channel` or `stage`.
    pub kind: &'static str,
    /// Tells apart paths written alike.
    pub key: String,
    /// The path as the reports write it.
    pub name: String,
    /// Its totals.
    pub totals: PathTotals,
}

/// One bar of a histogram whose only use is a nearest-rank median (minutes
/// from touches to conversion per channel and stage, touches before and
/// minutes after a moment of truth): these grow with the lookback in
/// minutes, so they are summed by the engine, which hands the driver each
/// histogram's median (see [`medians_of`]), rather than carried in states
/// and tallies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Which histogram: `kpi_channel`, `kpi_stage`, `moment_touches` or
    /// `moment_minutes`.
    pub kind: &'static str,
    /// Of what (JSON: a channel name, a stage, or both).
    pub key: String,
    /// The value counted.
    pub value: u64,
    /// How many times.
    pub count: u64,
}

/// The median of one histogram of [`Bar`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Median {
    /// As [`Bar::kind`].
    pub kind: String,
    /// As [`Bar::key`].
    pub key: String,
    /// The nearest-rank median: the smallest value at least half the counts
    /// do not exceed.
    pub value: u64,
}

/// The medians of summed bars, as an engine computes them (the reference
/// for its own query).
#[must_use]
pub fn medians_of(bars: &[Bar]) -> Vec<Median> {
    let mut histograms: std::collections::BTreeMap<(&str, &str), std::collections::BTreeMap<u64, u64>> =
        std::collections::BTreeMap::new();
    for bar in bars {
        *histograms.entry((bar.kind, &bar.key)).or_default().entry(bar.value).or_default() += bar.count;
    }
    histograms
        .into_iter()
        .filter_map(|((kind, key), histogram)| {
            crate::moment::median(&histogram).map(|value| Median { kind: kind.to_owned(), key: key.to_owned(), value })
        })
        .collect()
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn bars<'a>(
    kind: &'static str,
    key: String,
    histogram: &'a std::collections::BTreeMap<u64, u64>,
) -> impl Iterator<Item = Bar> + 'a {
    histogram.iter().map(move |(&value, &count)| Bar { kind, key: key.clone(), value, count })
}

/// Takes the KPI histograms out of a state, as bars.
fn take_kpi_bars(state: &mut State) -> Vec<Bar> {
    let mut out = Vec::new();
    let channels = &state.log.channels;
    for (&code, counters) in &mut state.aggregates.kpis.channels {
        if (code as usize) < channels.len() {
            let histogram = std::mem::take(&mut counters.minutes_to_conversion);
            out.extend(bars("kpi_channel", json(&channels.get(code)), &histogram));
        }
    }
    for (stage, counters) in &mut state.aggregates.kpis.stages {
        let histogram = std::mem::take(&mut counters.minutes_to_conversion);
        out.extend(bars("kpi_stage", json(stage), &histogram));
    }
    out
}

/// Takes the moments' histograms out of a tally, as bars.
fn take_moment_bars(tally: &mut Tally, channels: &Dictionary) -> Vec<Bar> {
    let mut out = Vec::new();
    for (&(code, stage), counts) in &mut tally.moments.counts {
        if (code as usize) < channels.len() {
            let key = json(&(channels.get(code), stage));
            out.extend(bars("moment_touches", key.clone(), &std::mem::take(&mut counts.touches_before)));
            out.extend(bars("moment_minutes", key, &std::mem::take(&mut counts.minutes_to_purchase)));
        }
    }
    out
}

/// Puts the medians back, as histograms of one bar each (their median is
/// that bar's value).
fn put_medians(merged: &mut State, tally: &mut Tally, medians: Vec<Median>) -> Result<()> {
    let invalid = |median: &Median| Error::Internal(format!("a median of an unknown histogram: {median:?}"));
    let channels = &merged.log.channels;
    for median in medians {
        let one = std::collections::BTreeMap::from([(median.value, 1)]);
        match median.kind.as_str() {
            "kpi_channel" => {
                let name: String = serde_json::from_str(&median.key).map_err(|_| invalid(&median))?;
                let code = channels.code_of(&name).ok_or_else(|| invalid(&median))?;
                merged.aggregates.kpis.channels.entry(code).or_default().minutes_to_conversion = one;
            }
            "kpi_stage" => {
                let stage: crate::event::Stage = serde_json::from_str(&median.key).map_err(|_| invalid(&median))?;
                merged.aggregates.kpis.stages.entry(stage).or_default().minutes_to_conversion = one;
            }
            "moment_touches" | "moment_minutes" => {
                let (name, stage): (String, crate::event::Stage) =
                    serde_json::from_str(&median.key).map_err(|_| invalid(&median))?;
                let code = channels.code_of(&name).ok_or_else(|| invalid(&median))?;
                let counts = tally.moments.counts.entry((code, stage)).or_default();
                if median.kind == "moment_touches" {
                    counts.touches_before = one;
                } else {
                    counts.minutes_to_purchase = one;
                }
            }
            _ => return Err(invalid(&median)),
        }
    }
    Ok(())
}

/// What pass 1 gives for a partition.
pub struct Counted {
    /// The partition's state, encoded (see [`state::encode`]), without its
    /// purchase patterns.
    pub state: Vec<u8>,
    /// Its purchase patterns, encoded, for [`pattern_shards`].
    pub patterns: Vec<u8>,
    /// Its path totals.
    pub paths: Vec<PathRow>,
    /// Its KPI histograms.
    pub bars: Vec<Bar>,
}

/// What pass 2 gives for a partition.
pub struct Credited {
    /// Its tally, encoded.
    pub tally: Vec<u8>,
    /// Its moments' histograms.
    pub bars: Vec<Bar>,
}

/// Pass 1: the counts of partition `partition` of `partitions`; `end` is
/// the maximum of pass 0 over every partition (`None` when the job does not
/// need it).
///
/// # Errors
///
/// A column that cannot be read, or a state that cannot be encoded.
pub fn count(job: &Job, partition: u32, partitions: u32, end: Option<i64>, frame: DataFrame) -> Result<Counted> {
    if partition >= partitions {
        return Err(Error::Internal(format!("partition {partition} of {partitions}")));
    }
    let events = ingest(job, frame)?;
    let buckets = Buckets { count: partitions, held: BTreeSet::from([partition]) };
    let mut state = State::count(events, None, buckets, &job.config, Mode::Attribute, job.now, end);
    let paths = std::mem::take(&mut state.aggregates.paths);
    let bars = take_kpi_bars(&mut state);
    let purchases = std::mem::take(&mut state.aggregates.hazard.purchases).merged();
    let patterns = Patterns { channels: names(&state.log.channels), purchases };
    let patterns = encode(&patterns, "purchase patterns")?;
    let paths = paths
        .named_rows(&state.log)
        .into_iter()
        .map(|(kind, key, name, totals)| PathRow { kind, key, name, totals })
        .collect();
    Ok(Counted { state: state::encode(&state, &job.config, Mode::Attribute)?, patterns, paths, bars })
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|error| Error::Internal(format!("{what} does not decode: {error}")))
}

/// A partition's purchase patterns, by the codes of its own channels.
#[derive(Serialize, Deserialize)]
struct Patterns {
    channels: Vec<String>,
    purchases: Vec<(incremental::Pattern, u64)>,
}

/// The features `incremental` is fitted on, numbered as the driver's
/// solver numbers them, and the run's channels their codes refer to.
#[derive(Serialize, Deserialize)]
struct FeatureIndex {
    channels: Vec<String>,
    features: Vec<Feature>,
}

/// A partition's purchase patterns ([`Counted::patterns`]), numbered by
/// the driver's index ([`Driver::pattern_index`]) and split into shards:
/// `(shard, patterns)` for each shard that has some. The engine adds up the
/// patterns of each shard over every partition ([`merge_shards`]).
///
/// # Errors
///
/// Bytes that do not decode, or a channel the index does not know.
pub fn pattern_shards(index: &[u8], patterns: &[u8]) -> Result<Vec<(u32, Vec<u8>)>> {
    let index: FeatureIndex = decode(index, "the feature index")?;
    let patterns: Patterns = decode(patterns, "a partition's purchase patterns")?;
    let global: Vec<u32> = patterns
        .channels
        .iter()
        .map(|name| {
            index.channels.binary_search(name).map(|code| u32::try_from(code).unwrap_or(u32::MAX)).map_err(|_| {
                Error::Internal(format!("channel `{name}` of a partition is not among the run's channels"))
            })
        })
        .collect::<Result<_>>()?;
    let code = |local: u32| global.get(local as usize).copied().unwrap_or(u32::MAX);
    let numbers = incremental::Numbers::new(&index.features);
    let coded = patterns.purchases.into_iter().map(|(pattern, count)| {
        let renumbered = pattern.into_iter().map(|(feature, times)| (feature.renumber(code), times));
        (incremental::code_pattern(renumbered, &numbers), count)
    });
    incremental::split_shards(coded)
        .into_iter()
        .enumerate()
        .filter(|(_, shard)| !shard.is_empty())
        .map(|(shard, patterns)| {
            let shard = u32::try_from(shard).unwrap_or(u32::MAX);
            Ok((shard, encode(&incremental::merge_coded(patterns), "a shard of purchase patterns")?))
        })
        .collect()
}

/// Adds two encoded parts of one shard of purchase patterns.
///
/// # Errors
///
/// Bytes that do not decode.
pub fn merge_shards(left: &[u8], right: &[u8]) -> Result<Vec<u8>> {
    let mut patterns: Vec<(Coded, u64)> = decode(left, "a shard of purchase patterns")?;
    patterns.extend(decode::<Vec<(Coded, u64)>>(right, "a shard of purchase patterns")?);
    encode(&incremental::merge_coded(patterns), "a shard of purchase patterns")
}

/// Adds the shards' answers to `request` (of [`Driver::fit_request`]),
/// `(shard, answer)` in any order, in shard order, and takes the Newton
/// step from them when that is what the request is for: the answer
/// [`Driver::fit_answer`] takes. A shard without patterns may be left out.
/// The engine runs this on a worker, so that the driver receives one small
/// answer (a vector over the rate terms) whatever the shards, and never the
/// Hessian.
///
/// # Errors
///
/// A shard given twice or unknown, or a request or answers that do not
/// decode or answer different requests.
pub fn add_answers(request: &[u8], mut answers: Vec<(u32, Vec<u8>)>) -> Result<Vec<u8>> {
    let (_, request): (u32, incremental::Request) = decode(request, "the fit's request")?;
    answers.sort_unstable_by_key(|(shard, _)| *shard);
    if answers.windows(2).any(|pair| pair[0].0 == pair[1].0)
        || answers.iter().any(|(shard, _)| *shard as usize >= SHARDS)
    {
        return Err(Error::Internal("a shard of purchase patterns answered twice, or is unknown".to_owned()));
    }
    let parts: Vec<Answer> =
        answers.iter().map(|(_, bytes)| decode(bytes, "a shard's answer")).collect::<Result<_>>()?;
    let total = Answer::total(&parts).map_err(Error::Internal)?;
    encode(&incremental::settle(&request, total), "the shards' answer")
}

/// One shard of purchase patterns, every partition's added up, ready to
/// answer the driver's solver.
pub struct Shard {
    patterns: incremental::ShardPatterns,
    /// The rate terms its patterns need: one more than the largest number.
    terms: usize,
}

impl Shard {
    /// The shard [`merge_shards`] gave.
    ///
    /// # Errors
    ///
    /// Bytes that do not decode.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let patterns = incremental::shard_patterns(decode(bytes, "a shard of purchase patterns")?);
        let terms = patterns.features();
        Ok(Self { patterns, terms })
    }

    /// The shard's sums for a request of [`Driver::fit_request`].
    ///
    /// # Errors
    ///
    /// A request that does not decode.
    pub fn answer(&self, request: &[u8]) -> Result<Vec<u8>> {
        let (features, request): (u32, incremental::Request) = decode(request, "the fit's request")?;
        let features = features as usize;
        let points = match &request {
            incremental::Request::Start => Vec::new(),
            incremental::Request::LogLikelihood { thetas, .. } => thetas.iter().map(Vec::len).collect(),
            incremental::Request::Derivatives { theta, .. } => vec![theta.len()],
        };
        if self.terms > features || points.iter().any(|&length| length != features) {
            return Err(Error::Internal("a request of the fit does not match the shard's rate terms".to_owned()));
        }
        encode(&Answer::of(&self.patterns, &request, features), "the shard's answer")
    }
}

/// Merges two encoded partition states (of disjoint partitions) into one:
/// what an engine runs on its workers to add states up in a tree, so that
/// the driver receives a few merged states rather than one per partition.
///
/// # Errors
///
/// States that do not decode or cannot merge.
pub fn merge_states(left: &[u8], right: &[u8]) -> Result<Vec<u8>> {
    let name = Path::new("<partition state>");
    let (manifest, left) = state::decode(left, name)?;
    let (theirs, right) = state::decode(right, name)?;
    if manifest.config != theirs.config {
        return Err(Error::State("the partitions were counted with different configurations".to_owned()));
    }
    state::encode(&left.merge(right)?, &manifest.config, Mode::Attribute)
}

/// Adds two encoded tallies (see [`credit`]).
///
/// # Errors
///
/// Tallies that do not decode.
pub fn merge_tallies(left: &[u8], right: &[u8]) -> Result<Vec<u8>> {
    let (left, right): (Tally, Tally) = (decode(left, "a tally")?, decode(right, "a tally")?);
    let merged = left.merge(right);
    encode(&merged, "a tally")
}

/// Pass 2: the credit and moments of truth of a partition's converting
/// journeys, encoded, and the moments' histograms.
///
/// # Errors
///
/// A column that cannot be read.
pub fn credit(fitted: &Fitted, frame: DataFrame) -> Result<Credited> {
    let (log, journeys) = converting(fitted, frame)?;
    let mut tally = fitted.analysis().tally(&log, &journeys, fitted.config());
    let bars = take_moment_bars(&mut tally, fitted.channels());
    let tally = encode(&tally, "a tally")?;
    Ok(Credited { tally, bars })
}

/// The rows of the per-conversion table (`--journeys-out`) of a
/// partition's converting journeys, in user-id order.
///
/// # Errors
///
/// A column that cannot be read.
pub fn journeys(fitted: &Fitted, frame: DataFrame) -> Result<DataFrame> {
    let (log, journeys) = converting(fitted, frame)?;
    let analysis = fitted.analysis();
    journeys_table(&log, &journeys, fitted.config(), &analysis.models, &analysis.scores)
}

/// The converting journeys of a partition's rows, to credit with `fitted`.
fn converting(fitted: &Fitted, frame: DataFrame) -> Result<state::Converting> {
    Ok(fitted.converting_of(ingest(fitted.job(), frame)?.log))
}

/// The driver's side: the merged state of every partition, then the
/// fitted models.
pub struct Driver {
    job: Job,
    state: State,
    analysis: Option<Analysis>,
    /// `incremental`'s fit while the engine answers it: the features, and
    /// the solver.
    solver: Option<(Vec<Feature>, Solver)>,
}

impl Driver {
    /// Merges the states of every partition (pass 1) and joins the spend
    /// table, which the driver reads.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when a partition is missing or twice, or states
    /// that do not decode or were counted by another job.
    pub fn merge(job: Job, states: &[Vec<u8>], spend: Option<SpendIngest>) -> Result<Self> {
        let name = Path::new("<partition state>");
        let mut merged: Option<State> = None;
        for bytes in states {
            let (manifest, state) = state::decode(bytes, name)?;
            if manifest.config != job.config {
                return Err(Error::State("a partition was counted with another configuration".to_owned()));
            }
            merged = Some(match merged {
                None => state,
                Some(merged) => merged.merge(state)?,
            });
        }
        let mut state = merged.ok_or_else(|| Error::State("no partition was counted".to_owned()))?;
        if !state.buckets.complete() {
            return Err(Error::State(format!(
                "partitions {:?} of {} were not counted",
                state.buckets.missing(),
                state.buckets.count
            )));
        }
        let rows = &state.events.rows;
        if rows.read != rows.accepted + rows.rejected + rows.duplicates {
            return Err(Error::Internal(format!("row accounting does not balance: {rows:?}")));
        }
        state.spend = spend;
        Ok(Self { job, state, analysis: None, solver: None })
    }

    /// Whether the run attributes: false when too many rows were rejected
    /// or no event was accepted (then [`Driver::finish`] writes the summary
    /// and rejects only, and pass 2 is skipped).
    #[must_use]
    pub fn attributes(&self) -> bool {
        run::summarize(&self.job.config, &self.state).status == Status::Ok
    }

    /// Starts `incremental`'s fit, when the run has it: the index that
    /// numbers its features, for [`pattern_shards`]. Then
    /// [`Driver::fit_request`] and [`Driver::fit_answer`] in turn until
    /// there is no request left.
    ///
    /// # Errors
    ///
    /// An index that cannot be encoded.
    pub fn pattern_index(&mut self) -> Result<Option<Vec<u8>>> {
        if !models::is_selected(&self.job.config, Incremental::NAME) {
            return Ok(None);
        }
        let hazard = &self.state.aggregates.hazard;
        let features = incremental::features_of(hazard);
        let index = FeatureIndex { channels: names(&self.state.log.channels), features: features.clone() };
        self.solver = Some((features, Incremental::solver(hazard)));
        Ok(Some(encode(&index, "the feature index")?))
    }

    /// The sums `incremental`'s fit needs next from every shard (for
    /// [`Shard::answer`]), or `None` once it has them all. A line search
    /// asks for up to `candidates` steps at once: the fit is the same,
    /// whatever the number, and an engine saves round trips with more.
    ///
    /// # Errors
    ///
    /// A request that cannot be encoded.
    pub fn fit_request(&mut self, candidates: usize) -> Result<Option<Vec<u8>>> {
        let Some((_, solver)) = &mut self.solver else { return Ok(None) };
        let features = u32::try_from(solver.features()).unwrap_or(u32::MAX);
        solver.request(candidates).map(|request| encode(&(features, request), "the fit's request")).transpose()
    }

    /// The answer to the last request: every shard's, added up by
    /// [`add_answers`].
    ///
    /// # Errors
    ///
    /// No fit waiting, or an answer that does not decode or does not answer
    /// the request.
    pub fn fit_answer(&mut self, total: &[u8]) -> Result<()> {
        let Some((_, solver)) = &mut self.solver else {
            return Err(Error::Internal("no fit is waiting for answers".to_owned()));
        };
        solver.answer(decode(total, "the shards' answer")?).map_err(Error::Internal)
    }

    /// Fits every model on the merged counts (`incremental` once its
    /// requests are answered); returns the fit to broadcast to the
    /// partitions (see [`Fitted::decode`]).
    ///
    /// # Errors
    ///
    /// A model that cannot be fitted, or `incremental`'s fit not started or
    /// not finished.
    pub fn fit(&mut self) -> Result<Vec<u8>> {
        let config = &self.job.config;
        let incremental = if models::is_selected(config, Incremental::NAME) {
            let unfinished = || Error::Internal("incremental's fit was not run to its end".to_owned());
            if !self.solver.as_ref().is_some_and(|(_, solver)| solver.done()) {
                return Err(unfinished());
            }
            let (features, solver) = self.solver.take().ok_or_else(unfinished)?;
            Some(Incremental::solved(&features, solver, config.rate_memory().memory()))
        } else {
            None
        };
        let (analysis, fit) = fit_record(&self.job, &self.state, incremental)?;
        self.analysis = Some(analysis);
        Ok(fit)
    }

    /// Adds the partitions' tallies (pass 2) and writes the report to
    /// `request.out`, atomically. `channel_paths` and `stage_paths` are the
    /// path rows of pass 1, summed by path over every partition (the first
    /// `request.top` of each kind are enough); `medians` those of the bars of
    /// both passes.
    ///
    /// # Errors
    ///
    /// A tally that does not decode, [`Driver::fit`] not called on a run
    /// that attributes, or a report that cannot be written.
    pub fn finish(
        self,
        tallies: &[Vec<u8>],
        channel_paths: Vec<(String, PathTotals)>,
        stage_paths: Vec<(String, PathTotals)>,
        medians: Vec<Median>,
        request: &Request,
    ) -> Result<Report> {
        let Self { job, mut state, analysis, .. } = self;
        let config = &job.config;
        let mut summary = run::summarize(config, &state);
        for (warning, count) in &summary.warnings {
            tracing::warn!(event = "warning", warning = warning.as_str(), count);
        }
        let reports = if summary.status == Status::Ok {
            let analysis = analysis.ok_or_else(|| Error::Internal("the models were not fitted".to_owned()))?;
            let mut tally = analysis.empty_tally();
            for bytes in tallies {
                let part: Tally = decode(bytes, "a partition's tally")?;
                tally = tally.merge(part);
            }
            put_medians(&mut state, &mut tally, medians)?;
            let spend_rows = state.spend.as_ref().map_or(&[][..], |spend| spend.rows.as_slice());
            let mut reports =
                Reports::finish(&state.log, &state.aggregates, &analysis, tally, config, spend_rows, request.top);
            reports.channel_paths = rank_rows(channel_paths, request.top);
            reports.stage_paths = rank_rows(stage_paths, request.top);
            reports.record_in(&mut summary);
            Some(reports)
        } else {
            None
        };
        let started = std::time::Instant::now();
        let out = run::write_report(&state, &summary, reports.as_ref(), None, config, request, &Silent)?;
        let out = run::commit_report(out, &summary, started, &Silent)?;
        Ok(Report { summary, out, reports, paths: None, mode: Mode::Attribute })
    }
}

#[cfg(test)]
mod tests;
