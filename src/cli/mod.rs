//! The command line: flags become a [`touchpath::Config`], and each
//! subcommand calls the library.

mod generate;
mod init;
mod models;
mod run;
mod terminal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use touchpath::run::Mode;

/// Multi-touch attribution: which touchpoints earned the sale?
#[derive(Debug, Parser)]
#[command(name = "touchpath", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// List the models with their formulas and parameters.
    Models(models::ModelsArgs),
    /// Write a synthetic touchpoint log and spend table.
    Generate(generate::GenerateArgs),
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
    std::panic::set_hook(Box::new(|info| {
        terminal::note(&format!(
            "error: internal error: {info}\nthis is a defect in touchpath: please report it with the command line that \
             caused it"
        ));
    }));
    let outcome = std::panic::catch_unwind(|| match cli.command {
        Command::Run(args) => run::execute(&args, Mode::Attribute),
        Command::Validate(args) => run::execute(&args, Mode::Validate),
        Command::Paths(args) => run::execute(&args, Mode::Paths),
        Command::Models(args) => models::execute(&args),
        Command::Generate(args) => generate::execute(&args),
        Command::Init(args) => init::execute(&args),
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            let internal = error.downcast_ref::<touchpath::Error>().is_some_and(|error| !error.is_user_error());
            terminal::error(&error);
            ExitCode::from(if internal { EXIT_INTERNAL } else { EXIT_USER_ERROR })
        }
        Err(_) => ExitCode::from(EXIT_INTERNAL),
    }
}
