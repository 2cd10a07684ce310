//! `touchpath generate`.

use std::path::PathBuf;

use crate::FileFormat;
use crate::generate::{GenerateOptions, Scenario, TRUTH_FILE, generate_scenario};
use clap::{Args, ValueEnum};

use super::terminal;

/// The file format to write.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum Format {
    /// Comma-separated values.
    #[default]
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Flags of `touchpath generate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  touchpath generate --users 20000 --seed 7 --out datasets/sample --dirty
  touchpath generate --users 2000000 --seed 1 --format parquet --out /data/bench
  touchpath generate --scenario harvesting --truth --out /tmp/harvesting
  touchpath generate --users 4200000 --scenario datasets/scenarios/long_journeys.toml \
      --format parquet --text-timestamps --one-file --out /data/one-file")]
#[expect(clippy::struct_excessive_bools, reason = "each is a command-line flag")]
pub struct GenerateArgs {
    /// How many users to simulate (about 5–6 events each).
    #[arg(long, default_value_t = 20_000)]
    users: u64,

    /// Random seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Output directory for events, spend and manifest.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Add what real logs carry: duplicates, bad timestamps, negative revenue, ...
    #[arg(long)]
    dirty: bool,

    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,

    /// The world to simulate: a shipped scenario (`default`, `last_touch`,
    /// `upper_funnel`, `synergy`, `harvesting`) or a scenario file.
    #[arg(long, value_name = "NAME|FILE", default_value = "default")]
    scenario: String,

    /// Also write truth.csv: what each channel really caused in this log.
    #[arg(long)]
    truth: bool,

    /// Write a Parquet log's timestamps (and revenue) as ISO-8601 text, as
    /// many exports do, rather than as typed columns.
    #[arg(long)]
    text_timestamps: bool,

    /// Write the events to one file however large, rather than to parts of
    /// 10 million rows.
    #[arg(long)]
    one_file: bool,
}

/// Writes the files and prints what was written.
pub fn execute(args: &GenerateArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Format::Csv => FileFormat::Csv,
        Format::Parquet => FileFormat::Parquet,
    };
    let options = GenerateOptions {
        users: args.users,
        seed: args.seed,
        dirty: args.dirty,
        format,
        text_timestamps: args.text_timestamps,
        one_file: args.one_file,
    };
    let scenario = Scenario::load(&args.scenario)?;
    let report = generate_scenario(&options, &scenario, args.truth, &args.out)?;
    let truth = if args.truth { format!(" and {TRUTH_FILE}") } else { String::new() };
    terminal::note(&format!(
        "wrote {} events and {} spend rows{truth} to {} (scenario {})",
        terminal::thousands(report.events_written),
        terminal::thousands(report.spend_rows),
        args.out.display(),
        scenario.name
    ));
    Ok(())
}
