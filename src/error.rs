//! The library's error type.

use std::path::PathBuf;

use crate::config::InputTable;

/// Everything that can stop a touchpath run.
///
/// Messages are lowercase without a trailing period; the binary prints the
/// whole chain and, where [`Error::hint`] has one, an actionable hint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read, written or listed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error; part of the message rather than a source, so
        /// that it is printed once.
        error: std::io::Error,
    },
    /// Polars could not decode a file.
    #[error("{path}: cannot read {format} file: {message}")]
    Decode {
        /// The file involved.
        path: PathBuf,
        /// `csv` or `parquet`.
        format: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A required column is not in a file.
    #[error(
        "{path}: required column `{column}` not found{mapped}; columns found: {found}",
        mapped = mapped_note(.column, .mapped_from.as_deref()),
        found = found_list(.found)
    )]
    MissingColumn {
        /// The file involved.
        path: PathBuf,
        /// The table the file belongs to, whose mappings apply.
        table: InputTable,
        /// The column's name in the file (after mapping).
        column: String,
        /// The canonical name, when the column was remapped.
        mapped_from: Option<String>,
        /// The columns the file has.
        found: Vec<String>,
    },
    /// A column exists but holds a type touchpath cannot read.
    #[error("{path}: column `{column}` has type {found}; expected {expected}")]
    ColumnType {
        /// The file involved.
        path: PathBuf,
        /// The column's name in the file.
        column: String,
        /// The type found.
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An input path names no readable data file.
    #[error("{path}: {reason}")]
    Input {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A setting has a value touchpath cannot use.
    #[error("invalid {setting} `{value}`: {reason}")]
    Config {
        /// The setting's name, as the user wrote it.
        setting: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A configuration file could not be parsed.
    #[error("{path}: {message}")]
    ConfigFile {
        /// The file involved.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// More rows were rejected than `max_reject_rate` allows.
    #[error(
        "{rejected} of {read} rows rejected ({rate:.2} %), above the limit of {limit:.2} %; \
         no attribution output was published"
    )]
    RejectRate {
        /// Rows rejected.
        rejected: u64,
        /// Rows read.
        read: u64,
        /// Rejected share, in percent.
        rate: f64,
        /// The limit, in percent.
        limit: f64,
    },
    /// No event was accepted: nothing to attribute.
    #[error("no event to attribute: {read} rows read, none accepted and kept; no attribution output was published")]
    NoEvents {
        /// Rows read.
        read: u64,
    },
    /// States that cannot be merged.
    #[error("cannot merge: {0}")]
    State(String),
    /// An invariant touchpath relies on did not hold: a defect, please report it.
    #[error("internal error: {0}")]
    Internal(String),
    /// A Markov chain's iterative solve did not reach its tolerance: its
    /// probabilities are not published.
    #[error(
        "internal error: the order-{order} Markov chain ({states} states) did not converge: residual {residual:e} \
         after {sweeps} Gauss–Seidel sweeps, above the tolerance of {tolerance:e}; no attribution output was published"
    )]
    NotConverged {
        /// The chain's order.
        order: u8,
        /// Its transient states.
        states: usize,
        /// Sweeps made.
        sweeps: u64,
        /// The residual left.
        residual: f64,
        /// The residual the sweeps had to reach.
        tolerance: f64,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), error: source }
    }

    /// A suggestion that tells the user how to get past this error, if there is one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::MissingColumn { table, column, mapped_from, found, .. } => {
                if let [only] = found.as_slice()
                    && let Some(separator) = [';', '\t', '|'].into_iter().find(|separator| only.contains(*separator))
                {
                    return Some(format!(
                        "the header looks separated by `{}`: pass `--delimiter '{}'` (or `delimiter` in the config file)",
                        separator.escape_default(),
                        separator.escape_default()
                    ));
                }
                let canonical = mapped_from.as_deref().unwrap_or(column);
                Some(format!(
                    "if the file names it differently, map it with `{} {canonical}=NAME` \
                     or in the config file's [{}] table",
                    table.flag(),
                    table.config_key()
                ))
            }
            Self::RejectRate { .. } => Some(
                "see rejects.csv in the output directory for every rejected row and its reason; \
                 raise --max-reject-rate only if these rows are expected"
                    .to_owned(),
            ),
            Self::Decode { format: "csv", message, .. } if message.contains("malformed") => Some(
                "a field may hold a stray `\"`: quote the whole field and double the quotes inside it \
                 (`\"say \"\"hi\"\"\"`), or check --delimiter"
                    .to_owned(),
            ),
            Self::NoEvents { read: 0 } => {
                Some("the inputs hold no data rows: check that the upstream export ran and wrote its files".to_owned())
            }
            Self::NoEvents { .. } => Some(
                "see rejects.csv and set_aside_users.csv in the output directory for where the rows went".to_owned(),
            ),
            Self::ColumnType { column, .. } => {
                Some(format!("convert `{column}` upstream, or write the file as CSV so it is read as text"))
            }
            Self::NotConverged { .. } => Some(
                "a chain fitted on journeys converges, so this is a defect worth reporting; meanwhile a lower \
                 --markov-order avoids the iteration (chains of up to 600 states are solved exactly)"
                    .to_owned(),
            ),
            Self::State(_) => Some(
                "merge only the states of one split (`--bucket K/N` with one N) of the same inputs, \
                 made by one touchpath version with one configuration"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// True when the error comes from the user's input, settings or
    /// environment rather than from a defect in touchpath (exit code 1
    /// rather than 2).
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Self::Internal(_) | Self::NotConverged { .. })
    }
}

fn mapped_note(column: &str, mapped_from: Option<&str>) -> String {
    match mapped_from {
        Some(canonical) if canonical != column => format!(" (mapped from `{canonical}`)"),
        _ => String::new(),
    }
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        return "none".to_owned();
    }
    found.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
