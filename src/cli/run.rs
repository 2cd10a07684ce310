//! `touchpath run`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use touchpath::Config;
use touchpath::config::{EVENT_COLUMNS, SPEND_COLUMNS};
use touchpath::run::{Request, run};
use touchpath::time::{Lookback, TimeZone};

use super::terminal;

/// Where the bundled sample lives, relative to the repository root.
const SAMPLE_DIR: &str = "datasets/sample";

/// Flags of `touchpath run`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath run                                   # the bundled sample
  touchpath run --events logs/ --spend spend.csv --out report
  touchpath run --events a.parquet b.parquet --lookback 7d --timezone Europe/Paris
  touchpath run --events log.csv --column user_id=visitor --column revenue=value")]
pub struct RunArgs {
    /// Touchpoint log files or directories (CSV or Parquet); default: the bundled sample.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    events: Vec<PathBuf>,

    /// Ad-spend table files or directories (CSV or Parquet).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    spend: Vec<PathBuf>,

    /// Output directory; replaced whole, atomically, when the run ends.
    #[arg(long, value_name = "DIR", default_value = "touchpath-out")]
    out: PathBuf,

    /// A TOML configuration file; flags given here win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Map a column: `CANONICAL=NAME_IN_FILE` (repeatable), e.g. `stage=funnel_stage`.
    #[arg(long = "column", value_name = "CANONICAL=NAME", value_parser = parse_mapping)]
    columns: Vec<(String, String)>,

    /// How far back from a conversion touches count: 12h, 7d, 30d, ... or none [default: 30d].
    #[arg(long, value_name = "DURATION")]
    lookback: Option<Lookback>,

    /// Time zone of naive timestamps: UTC or an IANA name [default: UTC].
    #[arg(long, value_name = "ZONE")]
    timezone: Option<TimeZone>,

    /// Largest share of rejected rows that still publishes results [default: 0.05].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    max_reject_rate: Option<f64>,
}

fn parse_mapping(raw: &str) -> Result<(String, String), String> {
    let (canonical, name) =
        raw.split_once('=').ok_or_else(|| format!("expected CANONICAL=NAME, such as stage=funnel_stage; got `{raw}`"))?;
    let canonical = canonical.trim();
    if !EVENT_COLUMNS.contains(&canonical) && !SPEND_COLUMNS.contains(&canonical) {
        let mut known: Vec<&str> = EVENT_COLUMNS.iter().chain(SPEND_COLUMNS.iter()).copied().collect();
        known.sort_unstable();
        known.dedup();
        return Err(format!("unknown column `{canonical}`; expected one of {}", known.join(", ")));
    }
    if name.trim().is_empty() {
        return Err(format!("no file column name given for `{canonical}`"));
    }
    Ok((canonical.to_owned(), name.trim().to_owned()))
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
            Some(path) => load_config(path)?,
            None => Config::default(),
        };
        for (canonical, name) in &self.columns {
            config.columns.insert(canonical.clone(), name.clone());
        }
        if let Some(lookback) = self.lookback {
            config.lookback = lookback;
        }
        if let Some(zone) = self.timezone {
            config.timezone = zone;
        }
        if let Some(rate) = self.max_reject_rate {
            config.max_reject_rate = rate;
        }
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

/// Reads a configuration file: unknown keys and wrong types are errors that
/// name the key and its line.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        touchpath::Error::ConfigFile { path: path.to_owned(), message: error.to_string().trim_end().to_owned() }.into()
    })
}

/// Runs the job and prints the summary to stderr.
pub fn execute(args: &RunArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let (events, spend) = args.inputs()?;
    let now = chrono::Utc::now().timestamp_micros();
    let request = Request { events, spend, out: args.out.clone(), now };
    let report = run(&request, &config)?;
    terminal::note(&terminal::render_summary(&report.summary, &report.out));
    if let Some(error) = report.reject_rate_error(&config) {
        return Err(error.into());
    }
    Ok(())
}
