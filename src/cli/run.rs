//! `touchpath run`.

use std::path::{Path, PathBuf};

use crate::Config;
use crate::bucket::Bucket;
use crate::config::Mode;
use crate::config::{ByteSize, InputTable};
use crate::evaluate::read_scores;
use crate::event::normalize_channel;
use crate::journey::PathTransform;
use crate::report::{OutputFormat, render, write_path_rows};
use crate::run::{Report, Request, run_with_progress};
use crate::time::{Date, Duration, Lookback, TimeZone};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::progress::Bars;
use super::terminal;

/// Where the bundled sample lives, relative to the repository root.
const SAMPLE_DIR: &str = "datasets/sample";

/// Flags of `touchpath run`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath run                                   # the bundled sample
  touchpath run --events logs/ --spend spend.csv --out report
  touchpath run --events a.parquet b.parquet --lookback 7d --timezone Europe/Paris
  touchpath run --events log.csv --column user_id=visitor --column revenue=value
  touchpath run --events log.csv --spend spend.csv --spend-column spend=cost")]
pub struct RunArgs {
    /// Touchpoint log files or directories (CSV or Parquet); default: the bundled sample.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    events: Vec<PathBuf>,

    /// Ad-spend table files or directories (CSV or Parquet).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    spend: Vec<PathBuf>,

    /// Output directory; replaced whole, atomically, when the run ends
    /// [default: touchpath-out; touchpath-validate and touchpath-paths for
    /// `validate` and `paths`].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// A TOML configuration file; flags given here win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Map a column of the touchpoint log: `CANONICAL=NAME_IN_FILE` (repeatable), e.g. `stage=funnel_stage`.
    #[arg(long = "column", value_name = "CANONICAL=NAME", value_parser = parse_log_mapping)]
    columns: Vec<(String, String)>,

    /// Map a column of the spend table: `CANONICAL=NAME_IN_FILE` (repeatable), e.g. `spend=cost`.
    #[arg(long = "spend-column", value_name = "CANONICAL=NAME", value_parser = parse_spend_mapping)]
    spend_columns: Vec<(String, String)>,

    /// How far back from a conversion touches count: 12h, 7d, 30d, ... or none [default: 30d].
    #[arg(long, value_name = "DURATION")]
    lookback: Option<Lookback>,

    /// How long a touch can change `incremental`'s purchase rate (the lookback when longer): 60d, 90d, ... or none [default: 60d].
    #[arg(long, value_name = "DURATION")]
    incremental_memory: Option<Lookback>,

    /// Share of users `incremental` is fitted on, drawn by user id (it credits every conversion): 0.25, ... [default: 1, every user].
    #[arg(long, value_name = "SHARE")]
    incremental_sample: Option<f64>,

    /// Time zone of naive timestamps: UTC or an IANA name [default: UTC].
    #[arg(long, value_name = "ZONE")]
    timezone: Option<TimeZone>,

    /// Largest share of rejected rows that still publishes results [default: 0.05].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    max_reject_rate: Option<f64>,

    /// Models to run, comma-separated [default: all; see `docs/models.md`].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    models: Vec<String>,

    /// Half-life of the `time_decay` model: 12h, 7d, ... [default: 7d].
    #[arg(long, value_name = "DURATION")]
    half_life: Option<Duration>,

    /// First, middle and last weights of `position_based` [default: 0.4,0.2,0.4].
    #[arg(long, value_name = "F,M,L", value_parser = parse_weights)]
    position_weights: Option<[f64; 3]>,

    /// Channels `last_non_direct` skips, comma-separated [default: direct].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    direct_channels: Vec<String>,

    /// First day of the analysis period (conversions and spend), `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    from: Option<Date>,

    /// Last day of the analysis period, included, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    to: Option<Date>,

    /// How the model comparison is printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Rewrite paths before attribution: none, exposure, first, frequency or
    /// remove-if-not-all=CHANNEL [default: none].
    #[arg(long, value_name = "TRANSFORM")]
    path_transform: Option<PathTransform>,

    /// Order of the `markov` chain, 1 to 4 [default: 1].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u8).range(1..=4))]
    markov_order: Option<u8>,

    /// Resample users N times (Poisson bootstrap) and report intervals on
    /// conversions, revenue, shares and ROAS [default: 0, none].
    #[arg(long, value_name = "N")]
    bootstrap: Option<u32>,

    /// Coverage of the bootstrap intervals, between 0 and 1 [default: 0.9].
    #[arg(long, value_name = "LEVEL")]
    interval: Option<f64>,

    /// How many paths `paths.csv` and `stage_paths.csv` list.
    #[arg(long, value_name = "N", default_value_t = 100)]
    top: usize,

    /// Also write one row per conversion (path, moment of truth, credit per
    /// touch under each model) to this CSV or Parquet file.
    #[arg(long, value_name = "FILE")]
    journeys_out: Option<PathBuf>,

    /// Show the scores of a scenario evaluation (the `evaluate.csv` of
    /// `touchpath evaluate`) in the report's "Which model to trust" section.
    #[arg(long, value_name = "FILE")]
    evaluation: Option<PathBuf>,

    /// Field separator of CSV inputs: one character such as `;`, `|` or `\t` [default: ,].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<char>,

    /// Set aside users with more accepted events than this (bots, shared ids);
    /// 0 keeps everyone [default: 100000].
    #[arg(long, value_name = "N")]
    max_events_per_user: Option<u64>,

    /// List at most this many rejected rows in rejects.csv, the first in
    /// file and row order (all are counted in the summary) [default: 100000].
    #[arg(long, value_name = "N")]
    max_rejects_listed: Option<u64>,

    /// Worker threads [default: one per core]; results never depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Memory to stay within, such as 4GB or 512MB (binary units): a log
    /// that looks larger is read in buckets of users, one after the other,
    /// with the same results [default: half the machine's memory].
    #[arg(long, value_name = "SIZE")]
    memory_budget: Option<ByteSize>,

    /// Read only the users of bucket K of N (by a stable hash of the user
    /// id); needs --emit-state. Merge the N states with `touchpath merge`.
    #[arg(long, value_name = "K/N", requires = "emit_state")]
    bucket: Option<Bucket>,

    /// Write the run's partial state to this directory instead of a report,
    /// for `touchpath merge` (with --fit: the bucket's credit).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    emit_state: Option<PathBuf>,

    /// The second pass of a bucket: credit its conversions with the models
    /// fitted on this merged state (`touchpath merge --emit-state DIR` of
    /// every bucket's state), and write the credit to --emit-state.
    #[arg(long, value_name = "DIR", requires = "bucket")]
    fit: Option<PathBuf>,
}

/// How the model comparison is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns: credited conversions and ROAS, channels by models.
    Table,
    /// `channels.csv`.
    Csv,
    /// One JSON object per model and channel.
    Json,
}

fn parse_weights(raw: &str) -> Result<[f64; 3], String> {
    let expected = || format!("expected three weights such as 0.4,0.2,0.4; got `{raw}`");
    let values: Vec<f64> =
        raw.split(',').map(|part| part.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| expected())?;
    let weights: [f64; 3] = values.try_into().map_err(|_| expected())?;
    let sum = weights.iter().sum::<f64>();
    if weights.iter().any(|weight| !weight.is_finite() || *weight < 0.0) || sum <= 0.0 || !sum.is_finite() {
        return Err(format!("weights must be ≥ 0, not all 0, with a finite sum; got `{raw}`"));
    }
    Ok(weights)
}

fn parse_log_mapping(raw: &str) -> Result<(String, String), String> {
    parse_mapping(raw, InputTable::Log)
}

fn parse_spend_mapping(raw: &str) -> Result<(String, String), String> {
    parse_mapping(raw, InputTable::Spend)
}

/// Reads `CANONICAL=NAME` for a column of `table`.
fn parse_mapping(raw: &str, table: InputTable) -> Result<(String, String), String> {
    let example = match table {
        InputTable::Log => "stage=funnel_stage",
        InputTable::Spend => "spend=cost",
    };
    let (canonical, name) =
        raw.split_once('=').ok_or_else(|| format!("expected CANONICAL=NAME, such as {example}; got `{raw}`"))?;
    let canonical = canonical.trim();
    table.check_column(canonical)?;
    if name.trim().is_empty() {
        return Err(format!("no file column name given for `{canonical}`"));
    }
    Ok((canonical.to_owned(), name.trim().to_owned()))
}

fn parse_delimiter(raw: &str) -> Result<char, String> {
    let mut chars = match raw {
        "\\t" | "tab" => "\t",
        other => other,
    }
    .chars();
    match (chars.next(), chars.next()) {
        (Some(delimiter), None) => Ok(delimiter),
        _ => Err(format!("expected one character, such as `;`, `|` or `\\t`; got `{raw}`")),
    }
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("expected a share between 0 and 1, such as 0.05; got `{raw}`")),
    }
}

impl RunArgs {
    /// Resolves flags over the config file over the defaults.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        for (canonical, name) in &self.columns {
            config.columns.insert(canonical.clone(), name.clone());
        }
        for (canonical, name) in &self.spend_columns {
            config.spend_columns.insert(canonical.clone(), name.clone());
        }
        if let Some(lookback) = self.lookback {
            config.lookback = lookback;
        }
        if let Some(memory) = self.incremental_memory {
            config.incremental_memory = memory;
        }
        if let Some(share) = self.incremental_sample {
            config.incremental_sample = share;
        }
        if let Some(zone) = self.timezone {
            config.timezone = zone;
        }
        if let Some(rate) = self.max_reject_rate {
            config.max_reject_rate = rate;
        }
        if !self.models.is_empty() {
            config.models.clone_from(&self.models);
        }
        if let Some(half_life) = self.half_life {
            config.half_life = half_life;
        }
        if let Some(weights) = self.position_weights {
            config.position_weights = weights;
        }
        if !self.direct_channels.is_empty() {
            config.direct_channels = self.direct_channels.iter().map(|channel| normalize_channel(channel)).collect();
        }
        if let Some(transform) = &self.path_transform {
            config.path_transform = transform.clone();
        }
        if let Some(order) = self.markov_order {
            config.markov_order = order;
        }
        if let Some(replicates) = self.bootstrap {
            config.bootstrap = replicates;
        }
        if let Some(level) = self.interval {
            config.interval = level;
        }
        if self.from.is_some() {
            config.from = self.from;
        }
        if self.to.is_some() {
            config.to = self.to;
        }
        if let Some(delimiter) = self.delimiter {
            config.delimiter = delimiter;
        }
        if let Some(limit) = self.max_events_per_user {
            config.max_events_per_user = limit;
        }
        if let Some(limit) = self.max_rejects_listed {
            config.max_rejects_listed = limit;
        }
        if self.memory_budget.is_some() {
            config.memory_budget = self.memory_budget;
        }
        config.validate()?;
        Ok(config)
    }

    /// The inputs, or the bundled sample when no log is given.
    fn inputs(&self) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
        if !self.events.is_empty() {
            return Ok((self.events.clone(), self.spend.clone()));
        }
        let sample = [PathBuf::from(SAMPLE_DIR), Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_DIR)]
            .into_iter()
            .find(|directory| directory.join("events.csv").is_file());
        let Some(sample) = sample else {
            bail!("no --events given and the bundled sample ({SAMPLE_DIR}/events.csv) was not found");
        };
        let spend = if self.spend.is_empty() { vec![sample.join("spend.csv")] } else { self.spend.clone() };
        Ok((vec![sample.join("events.csv")], spend))
    }
}

/// Runs the job (or the part of it `mode` asks for) and prints the summary
/// to stderr and the results to stdout.
pub fn execute(args: &RunArgs, mode: Mode) -> anyhow::Result<()> {
    let (config, request) = args.request(mode, true)?;
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let report = run_with_progress(&request, &config, &Bars::new())?;
    if request.fit.is_some() {
        terminal::note(&terminal::render_credit(&report.out, args.bucket));
        return Ok(());
    }
    if request.emit_state {
        terminal::note(&terminal::render_state(&report.summary, &report.out, args.bucket));
        return Ok(());
    }
    print_report(&report, &config, mode, args.format)
}

impl RunArgs {
    /// The configuration and the request these flags make for `mode`,
    /// checked. With `sample`, a run given no log reads the bundled sample.
    ///
    /// # Errors
    ///
    /// An invalid flag or configuration file, `--journeys-out` without
    /// attribution, or no log given and the bundled sample not found.
    pub fn request(&self, mode: Mode, sample: bool) -> anyhow::Result<(Config, Request)> {
        let config = self.config()?;
        if mode != Mode::Attribute && self.journeys_out.is_some() {
            bail!("--journeys-out needs attribution: use `touchpath run`");
        }
        let (events, spend) = if sample { self.inputs()? } else { (self.events.clone(), self.spend.clone()) };
        let now = chrono::Utc::now().timestamp_micros();
        let out = self.emit_state.clone().or_else(|| self.out.clone()).unwrap_or_else(|| {
            PathBuf::from(match mode {
                Mode::Attribute => "touchpath-out",
                Mode::Validate => "touchpath-validate",
                Mode::Paths => "touchpath-paths",
            })
        });
        let request = Request {
            events,
            spend,
            out,
            now,
            top: self.top,
            journeys_out: self.journeys_out.clone(),
            evaluation: self.evaluation.as_deref().map(read_scores).transpose()?.unwrap_or_default(),
            mode,
            bucket: self.bucket,
            emit_state: self.emit_state.is_some(),
            fit: self.fit.clone(),
            memory_budget: config.memory_budget.map(|size| size.0).or_else(crate::run::default_memory_budget),
            ..Request::new(Vec::new(), PathBuf::new())
        };
        Ok((config, request))
    }

    /// Worker threads asked for, if any.
    #[must_use]
    pub fn threads(&self) -> Option<usize> {
        self.threads
    }

    /// What the run of `report` prints on stdout with these flags.
    ///
    /// # Errors
    ///
    /// None in practice: the text is written to memory.
    pub fn results_text(&self, report: &Report) -> anyhow::Result<String> {
        results_text(report, self.format)
    }
}

/// Prints the summary to stderr and the results to stdout; the error to
/// exit with when the run published nothing.
pub(crate) fn print_report(report: &Report, config: &Config, mode: Mode, format: Format) -> anyhow::Result<()> {
    terminal::note(&terminal::render_summary(&report.summary, &report.out, mode));
    if let Some(error) = report.failure(config) {
        return Err(error.into());
    }
    terminal::data(&results_text(report, format)?)?;
    Ok(())
}

/// What a run prints on stdout: the model comparison in `format`, or the
/// top paths.
pub(crate) fn results_text(report: &Report, format: Format) -> anyhow::Result<String> {
    let mut text = String::new();
    if let Some(reports) = &report.reports {
        let format = match format {
            Format::Table => OutputFormat::Table,
            Format::Csv => OutputFormat::Csv,
            Format::Json => OutputFormat::Json,
        };
        text.push_str(&render(reports, format));
    }
    if let Some(paths) = &report.paths {
        let mut csv = Vec::new();
        write_path_rows(&mut csv, "path", &paths.channels, paths.top.min(PATHS_ON_STDOUT))?;
        text.push_str(&String::from_utf8_lossy(&csv));
    }
    Ok(text)
}

/// How many paths `touchpath paths` prints; `paths.csv` holds `--top`.
const PATHS_ON_STDOUT: usize = 20;
