//! How far the bootstrap intervals of a run are from those of full refits:
//! each replicate materialised as a log of its own (every user repeated by
//! its weight, `touchpath::bootstrap::resample`) and run from scratch, then
//! the percentile intervals of those runs set beside the run's own.
//! `markov`, `shapley` and the rule-based models should agree to rounding
//! (their replicate sums are refits). `incremental`'s replicates are one
//! Newton step from the full fit with the full log's Hessian, recredited to
//! first order (`touchpath::bootstrap::linear`): this measures how near
//! that comes to full refits, to the same step recredited in full (each
//! conversion of the resampled log credited with the step's terms), and to
//! refits in one or two Newton steps from the full fit with each
//! replicate's own Hessian (and in how much time).
//!
//! ```sh
//! cargo run --release --example bootstrap_refit -- events.csv [REPLICATES]
//! ```
//!
//! Prints, per model and channel, the run's interval and the refits', then
//! per model the mean distance between their ends and the mean ratio of
//! their widths.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use touchpath::aggregate::Aggregates;
use touchpath::bootstrap::{Interval, percentiles, resample};
use touchpath::config::{Config, Mode};
use touchpath::journey::Journeys;
use touchpath::models::Hazard;
use touchpath::models::incremental::{Counts, Incremental};
use touchpath::progress::Silent;
use touchpath::report::{Analysis, Reports};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(events) = args.next().map(PathBuf::from) else {
        eprintln!("usage: bootstrap_refit EVENTS [REPLICATES]");
        return ExitCode::from(1);
    };
    let replicates = args.next().and_then(|count| count.to_str()?.parse().ok()).unwrap_or(100);
    match compare(&events, replicates) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// A run on one log.
struct Run {
    /// Its reports.
    reports: Reports,
    /// The same run with `incremental` refitted from a start in each number
    /// of steps asked for, then with the run's own step.
    stepped: Vec<Reports>,
    /// The seconds `incremental`'s full fit took, then each stepped refit.
    seconds: Vec<f64>,
    /// What `incremental` is fitted on.
    hazard: Counts,
}

/// A run on `log`, with `incremental` also refitted from `start` (the full
/// log's fit) in each of `steps` Newton steps at most, then credited with
/// `stepped` (the run's own step for this replicate).
fn reports(
    log: &touchpath::EventLog,
    config: &Config,
    start: Option<(&Incremental, &Incremental)>,
    steps: &[usize],
) -> touchpath::Result<Run> {
    let journeys = Journeys::build(log, config.lookback);
    let aggregates = Aggregates::compute(log, &journeys, config, Mode::Attribute, log.latest());
    let reports = Reports::compute(log, &journeys, &aggregates, config, &[], 10)?.0;
    let (mut stepped, mut seconds) = (Vec::new(), Vec::new());
    let memory = config.rate_memory().memory();
    if start.is_some() {
        let started = std::time::Instant::now();
        let _ = Incremental::fit(&aggregates.hazard, memory);
        seconds.push(started.elapsed().as_secs_f64());
    }
    let Some((start, own_step)) = start else {
        return Ok(Run { reports, stepped, seconds, hazard: aggregates.hazard });
    };
    for refit in steps.iter().map(Some).chain([None]) {
        let started = std::time::Instant::now();
        let refit = match refit {
            Some(&steps) => Incremental::refit_from(&aggregates.hazard, memory, start, steps),
            None => own_step.clone(),
        };
        seconds.push(started.elapsed().as_secs_f64());
        let analysis = Analysis::fit_with(&aggregates, config, Hazard::Fitted(&refit))?;
        let tally = analysis.tally(log, &journeys, config);
        stepped.push(Reports::finish(log, &aggregates, &analysis, tally, config, &[], 10));
    }
    Ok(Run { reports, stepped, seconds, hazard: aggregates.hazard })
}

/// Each channel's credited conversions under `model`.
fn channel_conversions(reports: &Reports, model: &str) -> BTreeMap<String, f64> {
    reports
        .models
        .iter()
        .filter(|credit| credit.model == model)
        .flat_map(|credit| credit.channels.iter().map(|(name, sums)| (name.clone(), sums.conversions())))
        .collect()
}

/// The mean distance between the ends of `run`'s intervals and the
/// refits' (in the refits' widths) and the mean ratio of their widths, over
/// the channels whose refits vary.
fn closeness(run: &BTreeMap<String, Interval>, refits: &BTreeMap<String, Interval>) -> (f64, f64) {
    let (mut distance, mut ratio, mut count) = (0.0, 0.0, 0.0);
    for (channel, interval) in run {
        let Some(refitted) = refits.get(channel) else { continue };
        let width = refitted.hi - refitted.lo;
        if width > 0.0 {
            distance += f64::midpoint((interval.lo - refitted.lo).abs(), (interval.hi - refitted.hi).abs()) / width;
            ratio += (interval.hi - interval.lo) / width;
            count += 1.0;
        }
    }
    (distance / f64::max(count, 1.0), ratio / f64::max(count, 1.0))
}

/// Each channel's percentile interval over the replicates' values.
fn intervals_of(replicates: &[BTreeMap<String, f64>], level: f64) -> BTreeMap<String, Interval> {
    let channels: std::collections::BTreeSet<&String> = replicates.iter().flat_map(BTreeMap::keys).collect();
    channels
        .into_iter()
        .map(|channel| {
            let values = replicates.iter().map(|one| one.get(channel).copied().unwrap_or(0.0)).collect();
            (channel.clone(), percentiles(values, level))
        })
        .collect()
}

/// The terms the run's sums step each replicate's `incremental` to
/// (`touchpath::bootstrap::linear::steps`), as models.
fn run_steps(log: &touchpath::EventLog, config: &Config, fitted: &Incremental) -> touchpath::Result<Vec<Incremental>> {
    let journeys = Journeys::build(log, config.lookback);
    let aggregates = Aggregates::compute(log, &journeys, config, Mode::Attribute, log.latest());
    let analysis = Analysis::fit_with(&aggregates, config, Hazard::Fitted(fitted))?;
    let credits = touchpath::attribution::credit(log, &journeys, &analysis.models, config);
    let Some(sums) = &credits.replicates.linear else {
        return Ok(Vec::new());
    };
    let moves =
        touchpath::bootstrap::linear::steps(fitted, sums, &aggregates.replicates.exposure, config.bootstrap as usize);
    // A replicate whose step failed keeps the full fit, as the run does.
    Ok(moves.iter().map(|moved| moved.as_deref().map_or_else(|| fitted.clone(), |moves| fitted.moved(moves))).collect())
}

/// Newton steps from the full fit that `incremental`'s replicates are also
/// refitted in, to set beside its full refits.
const STEPS: [usize; 2] = [1, 2];

fn compare(events: &std::path::Path, replicates: u32) -> touchpath::Result<()> {
    let config = Config { bootstrap: replicates, ..Config::default() };
    let files = touchpath::ingest::discover(&[events.to_owned()])?;
    let log = touchpath::ingest::ingest_bucket(&files, &config, i64::MAX, None, &Silent)?.log;
    let started = std::time::Instant::now();
    let Run { reports: run, hazard, .. } = reports(&log, &config, None, &[])?;
    let run_seconds = started.elapsed().as_secs_f64();
    let Some(intervals) = &run.intervals else {
        return Err(touchpath::Error::Internal("the run drew no replicates".to_owned()));
    };
    // The full fit the stepped refits start from, and the run's own step
    // for each replicate, from its sums.
    let selected = run.models.iter().any(|credit| credit.model == Incremental::NAME);
    let full_fit = selected.then(|| Incremental::fit(&hazard, config.rate_memory().memory()));
    let own_steps = match &full_fit {
        Some(fitted) => run_steps(&log, &config, fitted)?,
        None => Vec::new(),
    };
    // Each replicate run on its own: channel conversions per model, and
    // `incremental`'s after each number of steps.
    let started = std::time::Instant::now();
    let single = Config { bootstrap: 0, ..config.clone() };
    let mut refits: Vec<Vec<BTreeMap<String, f64>>> = vec![Vec::new(); run.models.len()];
    let mut stepped: Vec<Vec<BTreeMap<String, f64>>> = vec![Vec::new(); STEPS.len() + 1];
    // Seconds in `incremental`'s fits: full, then each number of steps
    // (then the run's step, which is no fit).
    let mut fit_seconds = [0.0; STEPS.len() + 2];
    for replicate in 0..replicates as usize {
        let resampled = resample(&log, replicates as usize, replicate);
        let start = full_fit.as_ref().zip(own_steps.get(replicate));
        let Run { reports, stepped: steps, seconds, .. } = reports(&resampled, &single, start, &STEPS)?;
        for (sum, seconds) in fit_seconds.iter_mut().zip(seconds) {
            *sum += seconds;
        }
        for (index, credit) in reports.models.iter().enumerate() {
            refits[index].push(channel_conversions(&reports, credit.model));
        }
        for (sums, reports) in stepped.iter_mut().zip(&steps) {
            sums.push(channel_conversions(reports, Incremental::NAME));
        }
    }
    let refit_seconds = started.elapsed().as_secs_f64();
    println!("model,channel,run_lo,run_hi,refit_lo,refit_hi");
    let mut summary = Vec::new();
    for ((credit, rows), refit) in run.models.iter().zip(&intervals.models).zip(&refits) {
        let refitted = intervals_of(refit, config.interval);
        let run_intervals: BTreeMap<String, Interval> =
            rows.channels.iter().map(|(channel, row)| (channel.clone(), row.conversions)).collect();
        for (channel, interval) in &run_intervals {
            let refit = refitted.get(channel).copied().unwrap_or(Interval { lo: 0.0, hi: 0.0 });
            println!(
                "{},{channel},{:.3},{:.3},{:.3},{:.3}",
                credit.model, interval.lo, interval.hi, refit.lo, refit.hi
            );
        }
        let (distance, ratio) = closeness(&run_intervals, &refitted);
        summary.push(format!(
            "{}: mean end distance {distance:.3} of the refits' width, mean width ratio {ratio:.3}",
            credit.model
        ));
        if credit.model == Incremental::NAME {
            // The run's own: its step recredited to first order, beside the
            // same step recredited in full.
            if let Some(full_recredit) = stepped.last() {
                let (distance, ratio) = closeness(&run_intervals, &intervals_of(full_recredit, config.interval));
                summary.push(format!(
                    "{}: the run's first-order recredit against the same step recredited in full: mean end \
                     distance {distance:.3}, mean width ratio {ratio:.3}",
                    credit.model
                ));
            }
            summary.push(format!("{}'s {replicates} full fits: {:.2} s", credit.model, fit_seconds[0]));
            let labels = STEPS
                .iter()
                .map(|steps| format!("in {steps} Newton step(s) from the full fit"))
                .chain(["in the run's step (the full fit's Hessian), recredited in full".to_owned()]);
            for (index, (label, sums)) in labels.zip(&stepped).enumerate() {
                let (distance, ratio) = closeness(&intervals_of(sums, config.interval), &refitted);
                // The run's steps come from its sums: no fit of their own to time.
                let timed = fit_seconds[1..=STEPS.len()]
                    .get(index)
                    .map_or_else(String::new, |seconds| format!("; {replicates} fits {seconds:.2} s"));
                summary.push(format!(
                    "{} refitted {label}: mean end distance {distance:.3}, mean width ratio {ratio:.3}{timed}",
                    credit.model
                ));
            }
        }
    }
    eprintln!(
        "{replicates} replicates: the run with intervals {run_seconds:.2} s, {replicates} refits {refit_seconds:.2} s"
    );
    for line in summary {
        eprintln!("{line}");
    }
    Ok(())
}
