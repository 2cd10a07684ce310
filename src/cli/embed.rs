//! The command line's subcommands called from another program (the Python
//! package): the same flags, defaults, validation and messages, with tables
//! handed over in memory and nothing printed.
//!
//! A caller names options as the flags are named (`--max-reject-rate` is
//! `max_reject_rate`), turns them into arguments ([`Flag`] says how each is
//! written), and gets either a finished run or a [`Failure`] carrying the
//! exit code the command line would have given.

use std::path::PathBuf;

use clap::{ArgAction, Args as _, CommandFactory, FromArgMatches, Parser as _};
use polars::prelude::DataFrame;

use super::run::RunArgs;
use super::{Cli, terminal};
use crate::config::Config;
use crate::config::Mode;
use crate::ingest::SourceFile;
use crate::progress::Silent;
use crate::run::{Report, Request, run_with_progress};

/// How one flag of a subcommand is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// Its name as an option: the long flag with `_` for `-`.
    pub name: String,
    /// The long flag, without the dashes.
    pub long: String,
    /// `switch` (given or not), `value` (one value) or `values` (several,
    /// repeatable).
    pub kind: &'static str,
    /// Its help line.
    pub help: String,
}

/// Why a subcommand did not finish: what the command line prints, and its
/// exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 1 for bad input or configuration, 2 for a defect in touchpath.
    pub exit_code: u8,
    /// The error, with its causes.
    pub message: String,
    /// What to do about it, when touchpath knows.
    pub hint: Option<String>,
}

impl Failure {
    /// What the command line reports for `error`, and the exit code it
    /// exits with: 2 for a defect in touchpath, 1 for anything else.
    #[must_use]
    pub fn from_error(error: &anyhow::Error) -> Self {
        let known = error.downcast_ref::<crate::Error>();
        let internal = known.is_some_and(|error| !error.is_user_error());
        Self {
            exit_code: if internal { super::EXIT_INTERNAL } else { super::EXIT_USER_ERROR },
            message: format!("{error:#}"),
            hint: known.and_then(crate::Error::hint),
        }
    }

    fn usage(error: &clap::Error) -> Self {
        let message = error.render().to_string();
        let message = message.trim().trim_start_matches("error: ").lines().next().unwrap_or_default().to_owned();
        Self { exit_code: super::EXIT_USER_ERROR, message, hint: None }
    }

    fn internal(what: &str) -> Self {
        Self { exit_code: super::EXIT_INTERNAL, message: format!("internal error: {what}"), hint: None }
    }
}

impl From<crate::Error> for Failure {
    fn from(error: crate::Error) -> Self {
        Self::from_error(&error.into())
    }
}

/// Prints nothing from here on: neither notes on stderr nor data on stdout.
pub fn silence() {
    terminal::configure_silent();
}

/// The flags of `command` (`run`, `validate`, `paths`, `generate`,
/// `evaluate`, ...), in the order of `--help`.
///
/// # Errors
///
/// An unknown command.
pub fn flags(command: &str) -> Result<Vec<Flag>, Failure> {
    let cli = Cli::command();
    let subcommand = cli.find_subcommand(command).ok_or_else(|| Failure {
        exit_code: 1,
        message: format!("no command `{command}`"),
        hint: None,
    })?;
    Ok(subcommand
        .get_arguments()
        .filter(|argument| !argument.is_global_set() && !argument.is_hide_set())
        .filter_map(|argument| {
            let long = argument.get_long()?;
            if matches!(long, "help" | "version") {
                return None;
            }
            let kind = match argument.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => "switch",
                ArgAction::Append => "values",
                _ if argument.get_num_args().is_some_and(|range| range.max_values() > 1) => "values",
                _ => "value",
            };
            let help = argument.get_help().map(ToString::to_string).unwrap_or_default();
            Some(Flag { name: long.replace('-', "_"), long: long.to_owned(), kind, help })
        })
        .collect())
}

/// Runs `command` with `arguments` (the flags, without the command's name)
/// as the command line would, printing nothing.
///
/// # Errors
///
/// A [`Failure`] with the message and exit code of the command line.
pub fn command(command: &str, arguments: &[String]) -> Result<(), Failure> {
    let argv = ["touchpath", command].into_iter().map(str::to_owned).chain(arguments.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|error| Failure::usage(&error))?;
    guard(|| super::dispatch(cli.command))
}

/// Tables handed over in memory, by name.
pub type Tables = Vec<(String, DataFrame)>;

/// Runs `touchpath run` (or `validate` or `paths`, by `mode`) with
/// `arguments`, reading `events` and `spend` tables after any file the
/// arguments name; no bundled sample is read. The report is written to the
/// `--out` given, or `touchpath-out`. Returns the run and what the command
/// line would print on stdout.
///
/// # Errors
///
/// A [`Failure`] with the command line's message and exit code: bad
/// arguments, unreadable input, too many rejected rows (the report's
/// `summary.json` is written all the same), or a defect.
pub fn run(mode: Mode, arguments: &[String], events: Tables, spend: Tables) -> Result<(Report, String), Failure> {
    let name = match mode {
        Mode::Attribute => "run",
        Mode::Validate => "validate",
        Mode::Paths => "paths",
    };
    let mut parser = RunArgs::augment_args(clap::Command::new(name).no_binary_name(true));
    let matches = parser.try_get_matches_from_mut(arguments).map_err(|error| Failure::usage(&error))?;
    let args = RunArgs::from_arg_matches(&matches).map_err(|error| Failure::usage(&error))?;
    guard(|| {
        let (config, mut request) = args.request(mode, false)?;
        request.event_tables = in_memory("events", events);
        request.spend_tables = in_memory("spend", spend);
        let report = match args.threads() {
            Some(threads) => rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|error| anyhow::anyhow!("cannot start the worker threads: {error}"))?
                .install(|| run_with_progress(&request, &config, &Silent))?,
            None => run_with_progress(&request, &config, &Silent)?,
        };
        if let Some(error) = report.failure(&config) {
            return Err(error.into());
        }
        let text = if request.emit_state { String::new() } else { args.results_text(&report)? };
        Ok((report, text))
    })
}

/// A run of `touchpath run` whose log an engine reads and splits among its
/// workers (see [`crate::partitions`]): the flags, parsed and validated as
/// the command line does.
pub struct Planned {
    /// The run's configuration.
    pub config: Config,
    /// What to write where; `events` is empty (the engine has the log).
    pub request: Request,
    args: RunArgs,
}

/// Plans a run from `arguments`, the flags of `touchpath run`.
///
/// # Errors
///
/// A [`Failure`] as the command line reports bad arguments, and for flags
/// that have no meaning when an engine reads the log: `--events` (the log is
/// the engine's table), `--bucket`, `--emit-state` and `--fit` (the engine
/// splits, fits and merges) and `--journeys-out` (the engine writes the per-conversion
/// table itself).
pub fn plan(arguments: &[String]) -> Result<Planned, Failure> {
    let mut parser = RunArgs::augment_args(clap::Command::new("run").no_binary_name(true));
    let matches = parser.try_get_matches_from_mut(arguments).map_err(|error| Failure::usage(&error))?;
    let args = RunArgs::from_arg_matches(&matches).map_err(|error| Failure::usage(&error))?;
    let (config, request) = guard(|| args.request(Mode::Attribute, false))?;
    let unsupported = [
        ("events", !request.events.is_empty()),
        ("bucket", request.bucket.is_some()),
        ("emit-state", request.emit_state),
        ("fit", request.fit.is_some()),
        ("journeys-out", request.journeys_out.is_some()),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, given)| *given) {
        return Err(Failure {
            exit_code: super::EXIT_USER_ERROR,
            message: format!("--{flag} has no meaning here: the engine reads, splits and merges the log"),
            hint: None,
        });
    }
    Ok(Planned { config, request, args })
}

impl Planned {
    /// What the command line prints on stdout for `report`; the failure it
    /// exits with when the run published nothing (too many rows rejected).
    ///
    /// # Errors
    ///
    /// That failure.
    pub fn results(&self, report: &Report) -> Result<String, Failure> {
        if let Some(error) = report.failure(&self.config) {
            return Err(Failure::from(error));
        }
        guard(|| self.args.results_text(report))
    }
}

/// Names each table `<table>` (or `<table 2>`, ... when there are several)
/// for the summary and the rejects.
#[must_use]
pub fn in_memory(table: &str, frames: Tables) -> Vec<SourceFile> {
    let count = frames.len();
    frames
        .into_iter()
        .enumerate()
        .map(|(index, (name, frame))| {
            let name = if !name.is_empty() {
                name
            } else if count == 1 {
                format!("<{table}>")
            } else {
                format!("<{table} {}>", index + 1)
            };
            SourceFile::in_memory(PathBuf::from(name), frame)
        })
        .collect()
}

/// Runs `work`, turning its error, or a panic, into a [`Failure`].
fn guard<T>(work: impl FnOnce() -> anyhow::Result<T>) -> Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::from_error(&error)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(Failure::internal(&what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_of_run_is_listed_with_how_it_is_written() {
        let listed = flags("run").unwrap();
        let kind = |name: &str| listed.iter().find(|flag| flag.name == name).map(|flag| flag.kind);
        assert_eq!(kind("max_reject_rate"), Some("value"));
        assert_eq!(kind("models"), Some("values"));
        assert_eq!(kind("column"), Some("values"));
        assert_eq!(kind("events"), Some("values"));
        assert_eq!(kind("quiet"), None, "global flags are the embedding program's business");
        assert_eq!(kind("help"), None);
        assert_eq!(kind("dirty"), None);
        assert_eq!(
            flags("generate").unwrap().iter().find(|flag| flag.name == "dirty").map(|flag| flag.kind),
            Some("switch")
        );
        assert!(flags("nope").is_err());
    }

    #[test]
    fn bad_arguments_fail_as_the_command_line_does() {
        let failure = run(Mode::Attribute, &["--max-reject-rate".to_owned(), "2".to_owned()], Vec::new(), Vec::new())
            .unwrap_err();
        assert_eq!(failure.exit_code, 1);
        assert!(failure.message.contains("expected a share between 0 and 1"), "{}", failure.message);
        let failure = run(Mode::Attribute, &["--no-such-flag".to_owned()], Vec::new(), Vec::new()).unwrap_err();
        assert_eq!(failure.exit_code, 1);
        assert!(failure.message.contains("--no-such-flag"), "{}", failure.message);
    }
}
