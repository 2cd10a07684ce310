//! How far the bootstrap intervals of a run are from those of full refits:
//! each replicate materialised as a log of its own (every user repeated by
//! its weight, `touchpath::bootstrap::resample`) and run from scratch, then
//! the percentile intervals of those runs set beside the run's own.
//! `markov`, `shapley` and the rule-based models should agree to rounding
//! (their replicate sums are refits); `incremental` holds its fit across
//! replicates, and this measures what that leaves out.
//!
//! ```sh
//! cargo run --release --example bootstrap_refit -- events.csv [REPLICATES]
//! ```
//!
//! Prints, per model and channel, the run's interval and the refits', then
//! per model the mean distance between their ends and the mean ratio of
//! their widths.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::path::PathBuf;
use std::process::ExitCode;

use touchpath::aggregate::Aggregates;
use touchpath::bootstrap::{Interval, percentiles, resample};
use touchpath::config::{Config, Mode};
use touchpath::journey::Journeys;
use touchpath::progress::Silent;
use touchpath::report::Reports;

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

fn reports(log: &touchpath::EventLog, config: &Config) -> touchpath::Result<Reports> {
    let journeys = Journeys::build(log, config.lookback);
    let aggregates = Aggregates::compute(log, &journeys, config, Mode::Attribute, log.latest());
    Ok(Reports::compute(log, &journeys, &aggregates, config, &[], 10)?.0)
}

fn compare(events: &std::path::Path, replicates: u32) -> touchpath::Result<()> {
    let config = Config { bootstrap: replicates, ..Config::default() };
    let files = touchpath::ingest::discover(&[events.to_owned()])?;
    let log = touchpath::ingest::ingest_bucket(&files, &config, i64::MAX, None, &Silent)?.log;
    let started = std::time::Instant::now();
    let run = reports(&log, &config)?;
    let run_seconds = started.elapsed().as_secs_f64();
    let Some(intervals) = &run.intervals else {
        return Err(touchpath::Error::Internal("the run drew no replicates".to_owned()));
    };
    // Each replicate run on its own: channel conversions per model.
    let started = std::time::Instant::now();
    let single = Config { bootstrap: 0, ..config.clone() };
    let mut refits: Vec<Vec<std::collections::BTreeMap<String, f64>>> = vec![Vec::new(); run.models.len()];
    for replicate in 0..replicates as usize {
        let resampled = resample(&log, replicates as usize, replicate);
        let reports = reports(&resampled, &single)?;
        for (index, credit) in reports.models.iter().enumerate() {
            refits[index].push(credit.channels.iter().map(|(name, sums)| (name.clone(), sums.conversions())).collect());
        }
    }
    let refit_seconds = started.elapsed().as_secs_f64();
    println!("model,channel,run_lo,run_hi,refit_lo,refit_hi");
    let mut summary = Vec::new();
    for ((credit, rows), refit) in run.models.iter().zip(&intervals.models).zip(&refits) {
        let (mut distance, mut ratio, mut count) = (0.0, 0.0, 0.0);
        for (channel, row) in &rows.channels {
            let values = refit.iter().map(|channels| channels.get(channel).copied().unwrap_or(0.0)).collect();
            let refitted: Interval = percentiles(values, config.interval);
            let width = refitted.hi - refitted.lo;
            println!(
                "{},{channel},{:.3},{:.3},{:.3},{:.3}",
                credit.model, row.conversions.lo, row.conversions.hi, refitted.lo, refitted.hi
            );
            if width > 0.0 {
                distance +=
                    f64::midpoint((row.conversions.lo - refitted.lo).abs(), (row.conversions.hi - refitted.hi).abs())
                        / width;
                ratio += (row.conversions.hi - row.conversions.lo) / width;
                count += 1.0;
            }
        }
        summary.push(format!(
            "{}: mean end distance {:.3} of the refits' width, mean width ratio {:.3}",
            credit.model,
            distance / f64::max(count, 1.0),
            ratio / f64::max(count, 1.0)
        ));
    }
    eprintln!(
        "{replicates} replicates: the run with intervals {run_seconds:.2} s, {replicates} refits {refit_seconds:.2} s"
    );
    for line in summary {
        eprintln!("{line}");
    }
    Ok(())
}
