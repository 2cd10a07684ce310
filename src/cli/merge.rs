//! `touchpath merge`.

use std::path::PathBuf;

use crate::evaluate::read_scores;
use crate::run::{Request, merge};
use anyhow::Context;
use clap::Args;

use super::progress::Bars;
use super::run::{Format, print_report};
use super::terminal;

/// Flags of `touchpath merge`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath run --events logs/ --bucket 0/4 --emit-state state/0     # pass 1, one per bucket, anywhere
  touchpath merge state/0 state/1 state/2 state/3 --emit-state fit   # the counts of all, and the models
  touchpath run --events logs/ --bucket 0/4 --fit fit --emit-state credit/0   # pass 2, one per bucket
  touchpath merge fit credit/0 credit/1 credit/2 credit/3 --out report
  touchpath merge state/0 state/1 --emit-state state/01             # merge part, finish later")]
pub struct MergeArgs {
    /// State directories written by `touchpath run --emit-state` or `touchpath
    /// merge --emit-state`, and the buckets' credits (`touchpath run --fit`).
    #[arg(required = true, value_name = "STATE")]
    states: Vec<PathBuf>,

    /// Output directory; replaced whole, atomically [default: touchpath-out].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Write the merged state here instead of a report, to merge again later.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    emit_state: Option<PathBuf>,

    /// How many paths `paths.csv` and `stage_paths.csv` list.
    #[arg(long, value_name = "N", default_value_t = 100)]
    top: usize,

    /// Show the scores of a scenario evaluation (`evaluate.csv`) in the
    /// report's "Which model to trust" section.
    #[arg(long, value_name = "FILE")]
    evaluation: Option<PathBuf>,

    /// How the model comparison is printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Worker threads [default: one per core]; results never depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Merges the states and publishes the report (or the merged state).
pub fn execute(args: &MergeArgs) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let out = args.emit_state.clone().or_else(|| args.out.clone()).unwrap_or_else(|| PathBuf::from("touchpath-out"));
    let request = Request {
        top: args.top,
        evaluation: args.evaluation.as_deref().map(read_scores).transpose()?.unwrap_or_default(),
        emit_state: args.emit_state.is_some(),
        ..Request::new(Vec::new(), out)
    };
    let report = merge(&args.states, &request, &Bars::new())?;
    if request.emit_state {
        let credit = crate::state::read_manifest(&report.out).is_ok_and(|manifest| manifest.is_credit());
        terminal::note(&if credit {
            terminal::render_credit(&report.out, None)
        } else {
            terminal::render_state(&report.summary, &report.out, None)
        });
        return Ok(());
    }
    print_report(&report, &report.summary.config, report.mode, args.format)
}
