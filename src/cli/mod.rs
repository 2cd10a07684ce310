//! The command line: flags become a [`crate::Config`], and each
//! subcommand calls the library.

pub mod embed;
mod evaluate;
mod generate;
mod init;
mod merge;
mod models;
mod progress;
mod run;
mod terminal;

use std::process::ExitCode;

use crate::config::Mode;
use clap::{Parser, Subcommand, ValueEnum};

/// Multi-touch attribution: which touchpoints earned the sale?
#[derive(Debug, Parser)]
#[command(name = "touchpath", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// How messages on stderr are written: `text` for people, `json` for
    /// schedulers and log pipelines (one JSON object per line: start, each
    /// phase with its duration and counts, warnings, end).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
}

/// How messages on stderr are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest touchpoint logs, rebuild journeys, attribute and write the report.
    Run(Box<run::RunArgs>),
    /// Ingest and account for every row only: summary.json and rejects, exit 1 above the reject threshold.
    #[command(after_help = "Examples:
  touchpath validate --events logs/ --spend spend.csv
  touchpath validate --events log.csv --max-reject-rate 0.01 --out checks/today")]
    Validate(Box<run::RunArgs>),
    /// Write the conversion-paths report alone and print the top paths.
    #[command(after_help = "Examples:
  touchpath paths --events logs/ --top 50
  touchpath paths --events log.csv --path-transform exposure --lookback 7d")]
    Paths(Box<run::RunArgs>),
    /// Merge the partial states of `run --bucket K/N --emit-state DIR` into one report.
    Merge(merge::MergeArgs),
    /// List the models with their formulas and parameters.
    Models(models::ModelsArgs),
    /// Write a synthetic touchpoint log and spend table.
    Generate(generate::GenerateArgs),
    /// Score every model against the ground truth of simulated worlds.
    Evaluate(evaluate::EvaluateArgs),
    /// Write a commented configuration file with every default.
    Init(init::InitArgs),
}

/// Exit code for bad input or configuration.
const EXIT_USER_ERROR: u8 = 1;
/// Exit code for a defect in touchpath.
const EXIT_INTERNAL: u8 = 2;

/// Parses the command line, runs it and maps the outcome to an exit code:
/// 0 success, 1 bad input or configuration, 2 internal error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_USER_ERROR } else { 0 };
            // clap prints help and version to stdout, usage errors to stderr.
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let json = cli.log_format == LogFormat::Json;
    terminal::configure(cli.quiet, json);
    std::panic::set_hook(Box::new(|info| {
        terminal::internal_error(&info.to_string());
    }));
    let command = command_name(&cli.command);
    let started = std::time::Instant::now();
    tracing::info!(event = "start", command, version = env!("CARGO_PKG_VERSION"));
    let outcome = std::panic::catch_unwind(|| dispatch(cli.command));
    let code = match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            terminal::error(&error);
            embed::Failure::from_error(&error).exit_code
        }
        Err(_) => EXIT_INTERNAL,
    };
    tracing::info!(event = "end", command, exit_code = code, seconds = started.elapsed().as_secs_f64());
    ExitCode::from(code)
}

/// Runs one subcommand.
fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run::execute(&args, Mode::Attribute),
        Command::Validate(args) => run::execute(&args, Mode::Validate),
        Command::Paths(args) => run::execute(&args, Mode::Paths),
        Command::Merge(args) => merge::execute(&args),
        Command::Models(args) => models::execute(&args),
        Command::Generate(args) => generate::execute(&args),
        Command::Evaluate(args) => evaluate::execute(&args),
        Command::Init(args) => init::execute(&args),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Run(_) => "run",
        Command::Validate(_) => "validate",
        Command::Paths(_) => "paths",
        Command::Merge(_) => "merge",
        Command::Models(_) => "models",
        Command::Generate(_) => "generate",
        Command::Evaluate(_) => "evaluate",
        Command::Init(_) => "init",
    }
}
