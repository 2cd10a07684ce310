//! One batch run: read, account, rebuild journeys, write the report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use crate::aggregate::PathTotals;
use crate::bucket::Bucket;
use crate::config::{Config, Mode};
use crate::event_log::EventLog;
use crate::ingest::{self, RowCounts, Warning};
use crate::journey::Journeys;
use crate::models::{self, Incremental};
use crate::output::{self, OutputDir, SUMMARY_FILE};
use crate::progress::{Progress, Silent};
use crate::report::ScenarioScore;
use crate::report::{Analysis, Reports, Tally, write_path_rows};
use crate::state::{self, Buckets, SpilledJourneys, State};
use crate::summary::{Inputs, SetAside, SpendSummary, Status, Summary};
use crate::{Error, Result};

/// What to run on and where to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Touchpoint log files or directories.
    pub events: Vec<PathBuf>,
    /// Spend table files or directories (may be empty).
    pub spend: Vec<PathBuf>,
    /// Touchpoint log tables handed over in memory, read after the files
    /// (see [`ingest::SourceFile::in_memory`]).
    pub event_tables: Vec<ingest::SourceFile>,
    /// Spend tables handed over in memory, read after the files.
    pub spend_tables: Vec<ingest::SourceFile>,
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
    /// The scores of a scenario evaluation (`evaluate.csv`, read with
    /// [`crate::evaluate::read_scores`]), which the report's "Which model to
    /// trust" section shows.
    pub evaluation: Vec<ScenarioScore>,
    /// How much of the job to run.
    pub mode: Mode,
    /// Read only the users of this bucket, and write their partial state to
    /// `out` instead of a report (see [`crate::state`]).
    pub bucket: Option<Bucket>,
    /// Write the run's state to `out` instead of a report, to merge later.
    pub emit_state: bool,
    /// Credit the bucket's converting journeys with the models fitted on
    /// this merged state (a directory of `touchpath merge --emit-state`),
    /// and write the credit to `out` (the second pass of a bucket).
    pub fit: Option<PathBuf>,
    /// Memory to stay within, in bytes: when the log looks larger, it is
    /// read in buckets of users, one after the other.
    pub memory_budget: Option<u64>,
}

impl Request {
    /// A request for a whole run of `events` into `out`, with the defaults
    /// of the command line.
    #[must_use]
    pub fn new(events: Vec<PathBuf>, out: PathBuf) -> Self {
        Self {
            events,
            spend: Vec::new(),
            event_tables: Vec::new(),
            spend_tables: Vec::new(),
            out,
            now: i64::MAX,
            top: 100,
            journeys_out: None,
            evaluation: Vec::new(),
            mode: Mode::Attribute,
            bucket: None,
            emit_state: false,
            fit: None,
            memory_budget: None,
        }
    }
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
    /// What the run computed.
    pub mode: Mode,
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
    run_with_progress(request, config, &Silent)
}

/// [`run`], reporting its phases to `progress`: reading (one step per file
/// and bucket), journeys (one step per bucket), attribution and writing.
///
/// # Errors
///
/// As [`run`].
pub fn run_with_progress(request: &Request, config: &Config, progress: &dyn Progress) -> Result<Report> {
    config.validate()?;
    models::check_selection(config)?;
    check_request(request)?;
    let mut event_files = ingest::discover(&request.events)?;
    event_files.extend(request.event_tables.iter().cloned());
    if let Some(fit) = &request.fit {
        return credit_bucket(fit, &event_files, request, config, progress);
    }
    let mut spend_files = if request.spend.is_empty() { Vec::new() } else { ingest::discover(&request.spend)? };
    spend_files.extend(request.spend_tables.iter().cloned());
    let started = Instant::now();
    let spend = if spend_files.is_empty() {
        None
    } else {
        let spend = ingest::ingest_spend(&spend_files, config)?;
        log_rows("ingest_spend", started, spend_files.len(), &spend.counts, None);
        Some(spend)
    };

    let count = match (request.bucket, request.memory_budget) {
        (None, Some(budget)) => bucket_count(&event_files, budget)?,
        _ => 1,
    };
    // Converting journeys are kept for the second pass only when this run
    // publishes the report: a state written for a merge holds counts only.
    let keep = keeps_journeys(request);
    // A bucketed run also gives the spill, whose directory holds `kept`'s
    // files until the report is written.
    let (state, converting, _spill, kept) = if count == 1 {
        // In memory: the whole log, or the rows of one shard's bucket.
        let events = read_in_memory(&event_files, config, request.now, request.bucket, progress)?;
        let held = request.bucket.map_or_else(Buckets::whole, Buckets::one);
        // The log is in memory already: the second pass walks it again.
        let keep = keep.then_some(state::Keep::Whole);
        let (state, converting) = collect(events, spend, held, config, request, keep, progress);
        (state, converting, None, None)
    } else {
        // Larger than the budget: the log is read once into bucket files on
        // disk, then bucket after bucket is built and merged.
        tracing::info!(event = "plan", buckets = count, budget = request.memory_budget);
        let started = Instant::now();
        progress.begin("reading", Some(event_files.len() as u64));
        let beside = output::parent_dir(&request.out)?;
        let mut spill = ingest::spill::spill(&event_files, config, request.now, count, &beside, progress)?;
        progress.end();
        tracing::info!(
            event = "phase",
            phase = "ingest_events",
            seconds = started.elapsed().as_secs_f64(),
            files = event_files.len(),
            buckets = count,
            read = spill.read(),
            rejected = spill.rejected()
        );
        // Unless the state itself is wanted, converting journeys and path
        // totals wait until every bucket is counted: the path totals on
        // disk, the journeys in memory within a share of the budget and on
        // disk beyond, so that memory holds the few buckets at work (below),
        // not the log.
        let held = request.memory_budget.map_or(0, |budget| budget / JOURNEYS_SHARE_OF_BUDGET);
        let mut kept = keeps_on_disk(request).then(|| SpilledJourneys::new(spill.directory()).holding(held));
        // What is kept is a copy of the converting journeys alone.
        let keep = keep.then_some(state::Keep::Copy);
        let mut merged: Option<State> = None;
        let files = event_files.len();
        // Three buckets are at work at once: one is built (its journeys and
        // counts) while the one built before it is written to disk and
        // merged, then the next is read back. Each step has stretches that
        // keep one core alone busy, which the other side fills.
        let mut next = Some(read_bucket(&mut spill, 0, files)?);
        let mut built: Option<(State, Option<state::Converting>)> = None;
        for index in 0..=count {
            let events = next.take();
            let before = built.take();
            let (building, read) = rayon::join(
                || -> Result<Option<(State, Option<state::Converting>)>> {
                    if index == count {
                        return Ok(None);
                    }
                    let bucket = bucket_at(index, count)?;
                    let events = events.ok_or_else(|| Error::Internal(format!("bucket {bucket} was not read")))?;
                    Ok(Some(collect(events, spend.clone(), Buckets::one(bucket), config, request, keep, progress)))
                },
                || -> Result<Option<ingest::EventIngest>> {
                    if let Some((part, converting)) = before {
                        merged = Some(finish_bucket(part, converting, kept.as_mut(), merged.take())?);
                    }
                    (index + 1 < count).then(|| read_bucket(&mut spill, index + 1, files)).transpose()
                },
            );
            next = read?;
            built = building?;
        }
        if let Some(kept) = &kept {
            let (held, on_disk) = kept.kept();
            tracing::info!(event = "kept", journeys_bytes_in_memory = held, buckets_of_journeys_on_disk = on_disk);
        }
        let state = merged.ok_or_else(|| Error::Internal("no bucket was read".to_owned()))?;
        let rows = &state.events.rows;
        if rows.read != rows.accepted + rows.rejected + rows.duplicates {
            return Err(Error::Internal(format!("row accounting does not balance: {rows:?}")));
        }
        (state, None, Some(spill), kept)
    };
    if request.emit_state {
        return emit(&state, config, request, progress);
    }
    let credit = match (&converting, &kept) {
        (Some(converting), _) => Credit::Journeys(converting),
        (None, Some(kept)) => Credit::Spilled(kept),
        (None, None) => Credit::None,
    };
    let report = publish(&state, credit, kept.as_ref(), config, request, progress);
    free_in_background((state, converting));
    report
}

/// Frees `value` on a thread of its own. A large run's state is millions of
/// small allocations (a path key per distinct path, among others), whose
/// freeing kept one core busy for a few tenths of a second after the
/// report was written, with nothing left to wait for: a command-line run
/// exits without waiting for it, a caller in a longer-lived process gets
/// its memory back a moment later.
fn free_in_background<T: Send + 'static>(value: T) {
    // A thread that cannot be started hands the value back to be freed here.
    let _ = std::thread::Builder::new().name("free".to_owned()).spawn(move || drop(value));
}

/// Where a published report's attribution takes its credit from.
enum Credit<'a> {
    /// The converting journeys, in memory, to credit.
    Journeys(&'a state::Converting),
    /// The converting journeys of every bucket, on disk, to credit.
    Spilled(&'a SpilledJourneys),
    /// Credited already: the models fitted on the merged state and the sums
    /// of every bucket's credit (`touchpath run --bucket K/N --fit`).
    Tallied(Box<(Analysis, Tally)>),
    /// Nothing to credit: the run does not attribute.
    None,
}

/// The second pass of one bucket of `touchpath run --bucket K/N --fit DIR`:
/// reads the bucket's rows again, with the start its first pass read them
/// with, credits its converting journeys with the models fitted on the
/// merged state in `directory`, and writes the sums (a credit) to
/// `request.out`; with `--journeys-out`, the bucket's rows of the
/// per-conversion table too.
fn credit_bucket(
    directory: &std::path::Path,
    event_files: &[ingest::SourceFile],
    request: &Request,
    config: &Config,
    progress: &dyn Progress,
) -> Result<Report> {
    let bucket = request.bucket.ok_or_else(|| Error::Config {
        setting: "--fit".to_owned(),
        value: directory.display().to_string(),
        reason: "credits one bucket: add --bucket K/N".to_owned(),
    })?;
    let manifest = state::read_manifest(directory)?;
    let refused = |reason: &str| Error::State(format!("{}: {reason}", directory.display()));
    if manifest.is_credit() {
        return Err(refused("a credit, not a merged state: give the directory `touchpath merge --emit-state` wrote"));
    }
    if manifest.config != *config {
        return Err(refused("made with a different configuration than this run's (flags or configuration file)"));
    }
    let fit = state::read_fit(directory, &manifest)?;
    let state = state::read_state(directory, &manifest)?;
    if state.buckets.count != bucket.count {
        return Err(refused(&format!("split users into {} buckets, not {}", state.buckets.count, bucket.count)));
    }
    let now = *state.starts.get(&bucket.index).ok_or_else(|| refused("holds no start for this bucket"))?;
    let events = read_in_memory(event_files, config, now, Some(bucket), progress)?;
    if !state::same_files(&events.files, &state.events.files) {
        return Err(refused("was counted from other input files (paths or contents differ)"));
    }
    let started = Instant::now();
    progress.begin("attributing", None);
    let fitted = state::fit::Fitted::decode(&fit)?;
    let (log, journeys) = fitted.converting_of(events.log);
    let analysis = fitted.analysis();
    let tally = analysis.tally(&log, &journeys, config);
    if let Some(target) = &request.journeys_out {
        let mut file = output::JourneysFile::create(target, &analysis.models)?;
        file.append(&log, &journeys, config, &analysis.models, &analysis.scores)?;
        file.commit(&analysis.models)?;
    }
    progress.end();
    tracing::info!(
        event = "phase",
        phase = "credit",
        seconds = started.elapsed().as_secs_f64(),
        bucket = %bucket,
        journeys = journeys.len()
    );
    let credit = state::Credit {
        buckets: Buckets::one(bucket),
        events: state.events.files.clone(),
        fit: manifest.fit.clone().unwrap_or_default(),
        tally,
    };
    let out = state::write_credit(&request.out, &credit, config)?;
    Ok(Report { summary: summarize(config, &state), out, reports: None, paths: None, mode: Mode::Attribute })
}

/// Reads the events of `files` (of `bucket` alone, when given) into memory,
/// logging the phase; the run then keeps the memory it frees a while
/// ([`IN_MEMORY_PURGE_DELAY_MS`]).
fn read_in_memory(
    files: &[ingest::SourceFile],
    config: &Config,
    now: i64,
    bucket: Option<Bucket>,
    progress: &dyn Progress,
) -> Result<ingest::EventIngest> {
    touchpath_allocator::set_purge_delay(IN_MEMORY_PURGE_DELAY_MS);
    let started = Instant::now();
    progress.begin("reading", Some(files.len() as u64));
    let events = ingest::ingest_bucket(files, config, now, bucket, progress)?;
    progress.end();
    log_rows("ingest_events", started, files.len(), &events.rows, bucket);
    Ok(events)
}

/// Moves a built bucket's converting journeys (or, without them, its
/// channel paths) to `kept` when the run keeps them on disk, and merges
/// its state into `merged`.
fn finish_bucket(
    mut part: State,
    converting: Option<state::Converting>,
    kept: Option<&mut SpilledJourneys>,
    merged: Option<State>,
) -> Result<State> {
    if let Some(kept) = kept {
        match converting {
            Some(converting) => kept.take(&mut part, converting)?,
            None => kept.take_paths(&mut part)?,
        }
    }
    match merged {
        None => Ok(part),
        Some(merged) => merged.merge(part),
    }
}

/// Bucket `index` of `count`.
fn bucket_at(index: u32, count: u32) -> Result<Bucket> {
    Bucket::new(index, count).ok_or_else(|| Error::Internal(format!("bucket {index} of {count}")))
}

/// Reads bucket `index` of `spill` back (see [`ingest::spill::Spill::bucket`]),
/// logging the phase; `files` is the number of input files.
fn read_bucket(spill: &mut ingest::spill::Spill, index: u32, files: usize) -> Result<ingest::EventIngest> {
    let bucket = bucket_at(index, spill.count())?;
    let started = Instant::now();
    let events = spill.bucket(index)?;
    log_rows("read_bucket", started, files, &events.rows, Some(bucket));
    Ok(events)
}

/// Whether a run keeps its converting journeys for the second pass: when it
/// publishes attribution, not when it writes a state.
fn keeps_journeys(request: &Request) -> bool {
    request.mode == Mode::Attribute && !request.emit_state
}

/// Whether a bucketed run moves each bucket's converting journeys and
/// channel-path totals to disk (see [`SpilledJourneys`]): when it publishes
/// attribution or paths, not when it writes a state.
fn keeps_on_disk(request: &Request) -> bool {
    request.mode != Mode::Validate && !request.emit_state
}

/// Rebuilds the journeys of one ingest and counts them into a state; with
/// `keep`, returns too its converting journeys, for the second pass, kept
/// as it says.
fn collect(
    events: ingest::EventIngest,
    spend: Option<ingest::SpendIngest>,
    held: Buckets,
    config: &Config,
    request: &Request,
    keep: Option<state::Keep>,
    progress: &dyn Progress,
) -> (State, Option<state::Converting>) {
    let started = Instant::now();
    progress.begin(&journeys_phase(&held), None);
    let (mode, now) = (request.mode, request.now);
    let (part, converting) = if let Some(keep) = keep {
        let (part, converting) = State::collect(events, spend, held, config, (mode, now), keep);
        (part, Some(converting))
    } else {
        (State::count(events, spend, held, config, mode, now, None), None)
    };
    progress.end();
    if !part.set_aside.is_empty() {
        let events = part.set_aside.iter().map(|user| user.events).sum::<u64>();
        tracing::warn!(event = "set_aside", users = part.set_aside.len(), events, limit = config.max_events_per_user);
    }
    tracing::info!(
        event = "phase",
        phase = "journeys",
        seconds = started.elapsed().as_secs_f64(),
        users = part.stats.users,
        converting = part.stats.journeys.converting,
        non_converting = part.stats.journeys.non_converting
    );
    (part, converting)
}

/// What the journeys phase says: the bucket when there are several.
fn journeys_phase(held: &Buckets) -> String {
    match held.held.first() {
        Some(index) if held.count > 1 => format!("building journeys, bucket {} of {}", index + 1, held.count),
        _ => "building journeys".to_owned(),
    }
}

/// Merges the states and credits in `directories` and publishes the report,
/// or writes the merged state (with the models fitted on it once it covers
/// every bucket) or the merged credit with [`Request::emit_state`]. A report
/// that attributes needs the two passes of every bucket: the merged state
/// with its fit, and the credit of every bucket made with that fit
/// (`touchpath run --bucket K/N --fit`); one of `validate` or `paths` needs
/// the states only. The configuration is the states' own;
/// `request.events` and `request.spend` are not used.
///
/// # Errors
///
/// A state or credit that cannot be read, parts that cannot be merged
/// (different versions, configurations, inputs, bucket splits or fits, or
/// missing buckets when publishing), and any output that cannot be written.
pub fn merge(directories: &[PathBuf], request: &Request, progress: &dyn Progress) -> Result<Report> {
    let Some((first, rest)) = directories.split_first() else {
        return Err(Error::State("no state to merge".to_owned()));
    };
    let manifest = state::read_manifest(first)?;
    let mut manifests = vec![manifest.clone()];
    for directory in rest {
        let other = state::read_manifest(directory)?;
        let differs = |what: &str| {
            Err(Error::State(format!(
                "{} and {} were made with different {what}",
                first.display(),
                directory.display()
            )))
        };
        if other.config != manifest.config {
            return differs("configurations");
        }
        if other.mode != manifest.mode {
            return differs("commands (run, validate, paths)");
        }
        manifests.push(other);
    }
    let config = &manifest.config;
    let request = Request { mode: manifest.mode, ..request.clone() };
    if let Some(target) = &request.journeys_out {
        return Err(Error::Input {
            path: target.clone(),
            reason: "each bucket writes its own rows of the per-conversion table: pass --journeys-out to \
                     `touchpath run --bucket K/N --fit DIR`"
                .to_owned(),
        });
    }
    // The credits are small sums: merged as they are read.
    let mut credit: Option<state::Credit> = None;
    for (directory, manifest) in directories.iter().zip(&manifests).filter(|(_, manifest)| manifest.is_credit()) {
        let part = state::read_credit(directory, manifest)?;
        credit = Some(match credit {
            None => part,
            Some(credit) => credit.merge(part).map_err(in_directory(directory))?,
        });
    }
    let states: Vec<(&PathBuf, &state::Manifest)> =
        directories.iter().zip(&manifests).filter(|(_, manifest)| !manifest.is_credit()).collect();
    // The states' channel-path totals wait on disk until every state is
    // merged, so that a merge holds one state at a time and the sums.
    let spill = if request.emit_state {
        None
    } else {
        Some(output::staging_dir(&output::parent_dir(&request.out)?, ".touchpath-spill-")?)
    };
    let mut kept = spill.as_ref().map(|directory| SpilledJourneys::new(directory.path()));
    let merged = read_states(&states, kept.as_mut(), progress)?;
    let Some(state) = merged else {
        // Credits alone: merged in steps, to be published with the state.
        let credit = credit.ok_or_else(|| Error::State("no state to merge".to_owned()))?;
        if !request.emit_state {
            return Err(Error::State(
                "a report needs the merged state the credits were made with: give its directory \
                 (of `touchpath merge --emit-state`) with the credits"
                    .to_owned(),
            ));
        }
        let out = state::write_credit(&request.out, &credit, config)?;
        let files = credit.events.clone();
        let summary = summarize(config, &State::empty(credit.buckets, None, files));
        return Ok(Report { summary, out, reports: None, paths: None, mode: request.mode });
    };
    if request.emit_state {
        if credit.is_some() {
            return Err(Error::State(
                "states and credits do not merge into one directory: merge the credits on their own".to_owned(),
            ));
        }
        return emit(&state, config, &request, progress);
    }
    if !state.buckets.complete() {
        let missing = state.buckets.missing_names();
        let (noun, verb) = if missing.len() == 1 { ("bucket", "is") } else { ("buckets", "are") };
        return Err(Error::State(format!(
            "{noun} {} {verb} missing: a report needs every bucket (or pass --emit-state to merge part of them)",
            missing.join(", ")
        )));
    }
    let attributes = request.mode == Mode::Attribute && summarize(config, &state).status == Status::Ok;
    let credit = match credit {
        Some(credit) if attributes => {
            let fitted = fitted_with(&states, &credit)?;
            Credit::Tallied(Box::new((fitted.into_analysis(), credit.tally)))
        }
        None if attributes => {
            return Err(Error::State(
                "a report that attributes needs each bucket's credit: merge the states with --emit-state DIR, \
                 run `touchpath run --bucket K/N --fit DIR --emit-state CREDIT` for every bucket, then merge \
                 DIR and the credits"
                    .to_owned(),
            ));
        }
        _ => Credit::None,
    };
    publish(&state, credit, kept.as_ref(), config, &request, progress)
}

/// Reads and merges `states`, one at a time, moving their channel-path
/// totals to `kept` when given.
fn read_states(
    states: &[(&PathBuf, &state::Manifest)],
    mut kept: Option<&mut SpilledJourneys>,
    progress: &dyn Progress,
) -> Result<Option<State>> {
    let mut merged: Option<State> = None;
    progress.begin("reading states", Some(states.len() as u64));
    for &(directory, manifest) in states {
        let started = Instant::now();
        let mut state = state::read_state(directory, manifest)?;
        if let Some(kept) = kept.as_deref_mut() {
            kept.take_paths(&mut state)?;
        }
        progress.advance(1);
        tracing::info!(
            event = "phase",
            phase = "read_state",
            seconds = started.elapsed().as_secs_f64(),
            state = %directory.display(),
            users = state.stats.users
        );
        merged = Some(match merged {
            None => state,
            Some(merged) => merged.merge(state).map_err(in_directory(directory))?,
        });
    }
    progress.end();
    Ok(merged)
}

/// Names `directory` in a refusal to merge it.
fn in_directory(directory: &std::path::Path) -> impl Fn(Error) -> Error + '_ {
    move |error| match error {
        Error::State(reason) => Error::State(format!("{}: {reason}", directory.display())),
        other => other,
    }
}

/// The models of the one merged state among `states`, checked to be those
/// `credit` was made with, for every bucket.
fn fitted_with(states: &[(&PathBuf, &state::Manifest)], credit: &state::Credit) -> Result<state::fit::Fitted> {
    let &[(directory, manifest)] = states else {
        return Err(Error::State(
            "give one merged state (of `touchpath merge --emit-state`) with the credits, not the buckets' states"
                .to_owned(),
        ));
    };
    let fit = state::read_fit(directory, manifest)?;
    if manifest.fit.as_deref() != Some(credit.fit.as_str()) {
        return Err(Error::State(format!(
            "the credits were made with another fit than that of {}: credit every bucket with it again",
            directory.display()
        )));
    }
    if credit.buckets.count != manifest.buckets.count {
        return Err(Error::State(format!(
            "the credits split users into {} buckets, {} into {}",
            credit.buckets.count,
            directory.display(),
            manifest.buckets.count
        )));
    }
    if !credit.buckets.complete() {
        let missing = credit.buckets.missing_names();
        return Err(Error::State(format!("the credit of bucket(s) {} is missing", missing.join(", "))));
    }
    if !state::same_files(&credit.events, &manifest.events) {
        return Err(Error::State(
            "the credits were made from different input files (paths or contents differ)".to_owned(),
        ));
    }
    state::fit::Fitted::decode(&fit)
}

fn check_request(request: &Request) -> Result<()> {
    if let Some(target) = &request.journeys_out
        && request.mode == Mode::Attribute
    {
        if request.emit_state && request.fit.is_none() {
            return Err(Error::Input {
                path: target.clone(),
                reason: "--journeys-out is written when a report is published, or by a bucket's second pass \
                         (--fit), not with a state"
                    .to_owned(),
            });
        }
        output::check_journeys_target(target)?;
    }
    if let Some(fit) = &request.fit
        && (request.bucket.is_none() || request.mode != Mode::Attribute)
    {
        return Err(Error::Config {
            setting: "--fit".to_owned(),
            value: fit.display().to_string(),
            reason: "credits one bucket of `touchpath run`: add --bucket K/N".to_owned(),
        });
    }
    if request.bucket.is_some() && !request.emit_state {
        return Err(Error::Config {
            setting: "--bucket".to_owned(),
            value: request.bucket.map(|bucket| bucket.to_string()).unwrap_or_default(),
            reason: "a bucket holds only some of the users: add --emit-state and merge the buckets' states".to_owned(),
        });
    }
    Ok(())
}

/// Writes `state` to `request.out`; with the models fitted on it when it
/// covers every bucket of a run that attributes, for the buckets' second
/// pass.
fn emit(state: &State, config: &Config, request: &Request, progress: &dyn Progress) -> Result<Report> {
    let started = Instant::now();
    let summary = summarize(config, state);
    let fit = if state.buckets.complete() && request.mode == Mode::Attribute && summary.status == Status::Ok {
        progress.begin("fitting", None);
        let now = state.starts.values().copied().max().unwrap_or(request.now);
        let fit = state::fit::fit_state(state, config, now)?;
        progress.end();
        Some(fit)
    } else {
        None
    };
    progress.begin("writing the state", None);
    let out = state::write_state(&request.out, state, config, request.mode, fit.as_deref())?;
    progress.end();
    tracing::info!(
        event = "phase",
        phase = "write_state",
        seconds = started.elapsed().as_secs_f64(),
        out = %out.display(),
        buckets = %state.buckets.held.iter().map(|index| format!("{index}/{}", state.buckets.count)).collect::<Vec<_>>().join(",")
    );
    Ok(Report { summary, out, reports: None, paths: None, mode: request.mode })
}

/// Finalises the report of a complete state and writes it, with the credit
/// `credit` gives; the channel-path totals are the state's own, or on disk
/// in `paths` for a bucketed run or a merge.
fn publish(
    state: &State,
    credit: Credit<'_>,
    paths: Option<&SpilledJourneys>,
    config: &Config,
    request: &Request,
    progress: &dyn Progress,
) -> Result<Report> {
    let mut summary = summarize(config, state);
    for (warning, count) in &summary.warnings {
        tracing::warn!(event = "warning", warning = warning.as_str(), count);
    }
    let spend_rows = state.spend.as_ref().map_or(&[][..], |spend| spend.rows.as_slice());
    let (reports, journeys_file) = if summary.status == Status::Ok && request.mode == Mode::Attribute {
        let started = Instant::now();
        progress.begin("attributing", None);
        let (analysis, tally, journeys_file) = attribute(state, credit, config, request)?;
        let mut reports =
            Reports::finish(&state.log, &state.aggregates, &analysis, tally, config, spend_rows, request.top);
        if let Some(spilled) = paths {
            // The channel paths went to disk.
            reports.channel_paths = spilled.channel_paths(&state.log, request.top)?;
        }
        progress.end();
        tracing::info!(
            event = "phase",
            phase = "attribution",
            seconds = started.elapsed().as_secs_f64(),
            models = reports.models.len(),
            conversions = state.stats.conversions.total
        );
        (Some(reports), journeys_file.map(|file| (file, analysis)))
    } else {
        (None, None)
    };
    if let Some(reports) = &reports {
        reports.record_in(&mut summary);
    }
    let spilled = paths;
    let path_rows = if summary.status == Status::Ok && request.mode == Mode::Paths {
        let totals = &state.aggregates.paths;
        let channels = match spilled {
            Some(spilled) => spilled.channel_paths(&state.log, request.top)?,
            None => totals.channel_rows(&state.log, request.top),
        };
        Some(PathRows { channels, stages: totals.stage_rows(request.top), top: request.top })
    } else {
        None
    };

    let started = Instant::now();
    let out = write_report(state, &summary, reports.as_ref(), path_rows.as_ref(), config, request, progress)?;
    if let Some((file, analysis)) = journeys_file {
        file.commit(&analysis.models)?;
    }
    let out = commit_report(out, &summary, started, progress)?;
    Ok(Report { summary, out, reports, paths: path_rows, mode: request.mode })
}

/// The models, the sums of credit and moments of truth, and the journeys
/// file being written (with `--journeys-out`) of a run that attributes.
fn attribute(
    state: &State,
    credit: Credit<'_>,
    config: &Config,
    request: &Request,
) -> Result<(Analysis, Tally, Option<output::JourneysFile>)> {
    if let Credit::Tallied(tallied) = credit {
        let (analysis, tally) = *tallied;
        return Ok((analysis, tally, None));
    }
    let analysis = match credit {
        // The purchase patterns of a bucketed run wait on disk.
        Credit::Spilled(kept) if models::is_selected(config, Incremental::NAME) => {
            let started = Instant::now();
            let memory = config.rate_memory().memory();
            let limit = request.memory_budget.map_or(u64::MAX, |budget| budget / PATTERNS_SHARE_OF_BUDGET);
            let fitted = kept.fit_incremental(&state.log, &state.aggregates.hazard, memory, limit)?;
            tracing::info!(event = "fit", model = Incremental::NAME, seconds = started.elapsed().as_secs_f64());
            Analysis::fit_with(&state.aggregates, config, models::Hazard::Fitted(&fitted))?
        }
        _ => Analysis::fit(&state.aggregates, config)?,
    };
    let mut journeys_file = match &request.journeys_out {
        Some(target) => Some(output::JourneysFile::create(target, &analysis.models)?),
        None => None,
    };
    let mut tally = analysis.empty_tally();
    let mut credit_batch = |log: &EventLog, journeys: &Journeys| -> Result<()> {
        tally = std::mem::take(&mut tally).merge(analysis.tally(log, journeys, config));
        if let Some(file) = &mut journeys_file {
            file.append(log, journeys, config, &analysis.models, &analysis.scores)?;
        }
        Ok(())
    };
    match credit {
        // Credit does not depend on the order of users, the journeys file
        // does: only that needs the merge into user-id order.
        Credit::Spilled(kept) if request.journeys_out.is_none() => {
            let each = |log: &EventLog, journeys: &Journeys| Ok(analysis.tally(log, journeys, config));
            tally = kept.fold(&state.log, || analysis.empty_tally(), each, Tally::merge)?;
        }
        Credit::Spilled(kept) => kept.batches(&state.log, JOURNEYS_PER_BATCH, credit_batch)?,
        Credit::Journeys((log, journeys)) => credit_batch(log, journeys)?,
        Credit::Tallied(_) | Credit::None => {}
    }
    Ok((analysis, tally, journeys_file))
}

/// Writes the report of a complete state to a staging directory beside
/// `request.out`: the attribution reports, the path reports, the rejects
/// and the summary; [`commit_report`] puts it in place.
pub(crate) fn write_report(
    state: &State,
    summary: &Summary,
    reports: Option<&Reports>,
    paths: Option<&PathRows>,
    config: &Config,
    request: &Request,
    progress: &dyn Progress,
) -> Result<OutputDir> {
    progress.begin("writing the report", None);
    let out = OutputDir::create(&request.out)?;
    if let Some(reports) = reports {
        write_reports(&out, reports, summary, config, &request.evaluation)?;
    }
    if let Some(paths) = paths {
        out.write("paths.csv", |sink| write_path_rows(sink, "path", &paths.channels, paths.top))?;
        out.write("stage_paths.csv", |sink| write_path_rows(sink, "stage_path", &paths.stages, paths.top))?;
    }
    out.write("rejects.csv", |sink| output::write_event_rejects(sink, &state.events.files, &state.events.rejects))?;
    out.write("set_aside_users.csv", |sink| output::write_set_aside_users(sink, &state.set_aside))?;
    if let Some(spend) = &state.spend {
        out.write("spend_rejects.csv", |sink| output::write_spend_rejects(sink, &spend.files, &spend.rejects))?;
    }
    let json = summary.to_json().map_err(|error| Error::Internal(error.to_string()))?;
    out.write(SUMMARY_FILE, |sink| sink.write_all(json.as_bytes()))?;
    Ok(out)
}

/// Puts the report [`write_report`] staged in place, replacing what was at
/// its path; returns where it is.
pub(crate) fn commit_report(
    out: OutputDir,
    summary: &Summary,
    started: Instant,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let out = out.commit()?;
    progress.end();
    tracing::info!(
        event = "phase",
        phase = "write",
        seconds = started.elapsed().as_secs_f64(),
        out = %out.display(),
        status = summary.status.as_str()
    );
    Ok(out)
}

/// Writes the attribution reports: the CSV files and the page.
fn write_reports(
    out: &OutputDir,
    reports: &Reports,
    summary: &Summary,
    config: &Config,
    evaluation: &[ScenarioScore],
) -> Result<()> {
    out.write("channels.csv", |sink| reports.write_channels(sink))?;
    out.write("campaigns.csv", |sink| reports.write_campaigns(sink))?;
    out.write("stages.csv", |sink| reports.write_stages(sink))?;
    out.write("classes.csv", |sink| reports.write_classes(sink, config))?;
    out.write("kpis.csv", |sink| reports.write_kpis(sink))?;
    out.write("moments.csv", |sink| reports.write_moments(sink))?;
    out.write("credit_positions.csv", |sink| reports.write_credit_positions(sink))?;
    out.write("paths.csv", |sink| reports.write_paths(sink))?;
    out.write("stage_paths.csv", |sink| reports.write_stage_paths(sink))?;
    if reports.removal_effects.is_some() {
        out.write("removal_effects.csv", |sink| reports.write_removal_effects(sink))?;
    }
    out.write("report.html", |sink| crate::report::html::write_html(sink, reports, summary, config, evaluation))?;
    Ok(())
}

/// The summary of what was read, kept, dropped and found, with the run's
/// status: whether results can be published.
pub(crate) fn summarize(config: &Config, state: &State) -> Summary {
    let mut warnings = state.events.warnings.clone();
    let unlisted = state.events.rows.rejected.saturating_sub(state.events.rejects.len() as u64);
    if unlisted > 0 {
        *warnings.entry(Warning::RejectsNotListed).or_default() += unlisted;
    }
    if let Some(spend) = &state.spend {
        for (warning, count) in &spend.warnings {
            *warnings.entry(*warning).or_default() += count;
        }
        // Spend on a channel the log never mentions is still reported, but
        // is worth a warning: it is often a naming mismatch.
        let unknown = spend.rows.iter().filter(|row| state.channels().code_of(&row.channel).is_none()).count() as u64;
        if unknown > 0 {
            *warnings.entry(Warning::SpendChannelNotInLog).or_default() += unknown;
        }
    }
    let spend_files = state.spend.as_ref().map(|spend| spend.files.clone()).unwrap_or_default();
    let inputs = Inputs { events: state.events.files.clone(), spend: spend_files };
    let mut summary = Summary::new(config, inputs, state.events.rows.clone(), warnings, &state.stats);
    summary.set_aside = SetAside {
        users: state.set_aside.len() as u64,
        events: state.set_aside.iter().map(|user| user.events).sum(),
        conversions: state.set_aside.iter().map(|user| user.conversions).sum(),
    };
    if let Some(spend) = &state.spend {
        summary.spend = Some(SpendSummary {
            rows: spend.counts.clone(),
            total: crate::journey::micros_to_units(spend.total()),
            channels: spend.rows.iter().map(|row| row.channel.as_str()).collect::<BTreeSet<_>>().len() as u64,
        });
    }
    let spend_rate = state.spend.as_ref().map_or(0.0, |spend| spend.counts.reject_rate());
    if state.events.rows.reject_rate() > config.max_reject_rate || spend_rate > config.max_reject_rate {
        summary.status = Status::RejectRateExceeded;
    } else if state.stats.touches + state.stats.conversions.total == 0 {
        summary.status = Status::NoEvents;
    }
    summary
}

/// How many buckets keep a run over `files` within `budget` bytes: the
/// events a file holds are estimated (exactly from a Parquet footer, from
/// the size of a CSV file); the log is read in memory, one bucket, when
/// they fit the budget at [`IN_MEMORY_BYTES_PER_EVENT`] each, and in
/// buckets planned at [`BYTES_PER_EVENT`] each otherwise, of at most
/// [`EVENTS_PER_BUCKET`] events.
///
/// # Errors
///
/// A file whose size or footer cannot be read.
pub fn bucket_count(files: &[ingest::SourceFile], budget: u64) -> Result<u32> {
    let events = ingest::estimate_events(files)?;
    Ok(buckets_for(events, budget))
}

/// [`bucket_count`] for a log of `events` events.
fn buckets_for(events: u64, budget: u64) -> u32 {
    if events.saturating_mul(IN_MEMORY_BYTES_PER_EVENT) <= budget {
        return 1;
    }
    let by_memory = events.saturating_mul(BYTES_PER_EVENT).div_ceil(budget.max(1));
    let count = by_memory.max(events.div_ceil(EVENTS_PER_BUCKET));
    u32::try_from(count.clamp(1, u64::from(crate::bucket::MAX_BUCKETS))).unwrap_or(crate::bucket::MAX_BUCKETS)
}

/// The most events planned into one bucket, whatever the budget. A bucket
/// is built while the one before it is written and merged and the next is
/// read back, which overlaps better, and its hash tables and sorts work in
/// the processor's caches better, when buckets are small: at 67.2
/// million events (rule-based models) 3 buckets took 46.1 s, 8, 16 or 31
/// buckets 39.1 to 39.4 s (`docs/performance.md`).
pub const EVENTS_PER_BUCKET: u64 = 1 << 23;

/// The memory budget of a run that sets none: half of the machine's memory
/// (`MemTotal` in `/proc/meminfo`), so that a log too large for memory is
/// read in buckets rather than killed. `None` where the system does not
/// say (the run then reads the whole log in memory).
#[must_use]
pub fn default_memory_budget() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    memory_total(&text).map(|total| total / 2)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn memory_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024).filter(|&bytes| bytes > 0)
}

/// Memory planned per event of a log read in buckets. Three buckets are
/// at work at once (one read back, one built, one written and merged),
/// beside the merged sums and the converting journeys held: the 67.2
/// million-event file peaks at 2.6 GiB in nine buckets, far inside the
/// plan, and under a budget of 1 GB, in 31 buckets, at 0.88 GiB
/// (`docs/performance.md`).
pub const BYTES_PER_EVENT: u64 = 480;

/// Memory planned per event of a log read whole, in memory: twice what
/// runs with every model peaked at, 108 to 121 bytes an event (the file's
/// chunks, the events, the journeys, every model's sums and `incremental`'s
/// purchase patterns), on the peers' logs of 10.2 and 30.7 million events
/// and the 67.2 million-event file of long journeys. A log that fits is
/// not bucketed: reading it in memory took 0.82 times the wall time of four
/// buckets at 30.7 million events (`docs/performance.md`).
pub const IN_MEMORY_BYTES_PER_EVENT: u64 = 240;

/// How long a run in memory keeps the memory it freed before the
/// allocator gives it back to the system, in milliseconds (mimalloc's
/// default is one second; `MIMALLOC_PURGE_DELAY` overrides both). Such a
/// run frees and allocates again as much a chunk or a pass later, a few
/// seconds apart: given back, that memory came back as fresh pages, each
/// zeroed by the kernel on its first touch. Kept, it is reused, for 11–15 %
/// more at the peak. A bucketed run keeps the default: kept there, the
/// memory of the buckets before added 0.4 GiB to the peak of the 67
/// million-row log (`docs/performance.md`, "User ids sorted from their
/// prefix, freed memory kept by a run in memory"). The setting is the
/// process's: the command makes one run per process.
const IN_MEMORY_PURGE_DELAY_MS: u32 = 10_000;

/// Converting journeys credited at a time in a bucketed run (whole users,
/// so a batch may hold a few more).
const JOURNEYS_PER_BATCH: usize = 1 << 18;

/// A bucketed run holds the converting journeys of its buckets in memory up
/// to this share of the memory budget (a quarter), bucket after bucket;
/// the journeys of the buckets beyond go to disk until they are credited.
const JOURNEYS_SHARE_OF_BUDGET: u64 = 4;

/// A bucketed run holds `incremental`'s merged purchase patterns in memory
/// for its fit up to this share of the memory budget (a half); beyond it,
/// the patterns' shards are read from disk at each step of the fit.
const PATTERNS_SHARE_OF_BUDGET: u64 = 2;

/// Logs the end of an ingest phase with its row accounting.
fn log_rows(phase: &'static str, started: Instant, files: usize, rows: &RowCounts, bucket: Option<Bucket>) {
    tracing::info!(
        event = "phase",
        phase,
        seconds = started.elapsed().as_secs_f64(),
        files,
        bucket = bucket.map(|bucket| bucket.to_string()),
        read = rows.read,
        accepted = rows.accepted,
        rejected = rows.rejected,
        duplicates = rows.duplicates
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_is_half_the_memory_the_system_reports() {
        let meminfo = "MemTotal:       24591012 kB\nMemFree:         7123456 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(memory_total(meminfo), Some(24_591_012 * 1024));
        assert_eq!(memory_total("MemFree: 1 kB\n"), None);
        assert_eq!(memory_total("MemTotal: lots\n"), None);
        assert_eq!(memory_total("MemTotal: 0 kB\n"), None);
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(default_memory_budget().is_some_and(|budget| budget > 0));
        }
    }

    #[test]
    fn a_log_in_buckets_is_cut_into_buckets_of_bounded_size() {
        const GIB: u64 = 1 << 30;
        // Within the budget at 240 bytes an event: in memory, however many
        // events (53.7 M in 12 GiB).
        assert_eq!(buckets_for(20_000_000, 12 * GIB), 1);
        assert_eq!(buckets_for(53_000_000, 12 * GIB), 1);
        assert_eq!(buckets_for(0, 1), 1);
        let just_in = 12 * GIB / IN_MEMORY_BYTES_PER_EVENT;
        assert_eq!(buckets_for(just_in, 12 * GIB), 1);
        // One event more is planned at 480 bytes an event: just over 2
        // budgets, 3 buckets, but buckets hold 2^23 events at most:
        // 53.7 M / 8 388 608 = 6.4, so 7.
        assert_eq!(buckets_for(just_in + 1, 12 * GIB), 7);
        // Where the size asks for fewer buckets than the budget: 3.
        assert_eq!(buckets_for(4_500_000, GIB), 3);
        // 67.2 M events at 480 bytes need 3 budgets of 12 GiB, but buckets
        // hold 2^23 events at most: 67.2 M / 8 388 608 = 8.01, so 9.
        assert_eq!(buckets_for(67_200_000, 12 * GIB), 9);
        // The budget asks for more buckets than the size does.
        assert_eq!(buckets_for(67_200_000, GIB), 31);
        assert_eq!(buckets_for(u64::MAX, 1), crate::bucket::MAX_BUCKETS);
    }
}
