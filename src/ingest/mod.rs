//! Reading touchpoint logs and spend tables, with an exact account of every
//! row: each one is accepted, rejected with a reason, or dropped as a
//! duplicate of an accepted row, and `read = accepted + rejected + duplicates`.

pub(crate) mod cells;
mod lines;
mod row;
mod source;
pub mod spend;
pub mod spill;
mod strings;
mod users;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use polars::prelude::DataFrame;
use rayon::prelude::*;
use serde::Serialize;

pub use row::{Reject, RejectReason, Warning};
pub use source::{CSV_BYTES_PER_ROW, MemoryTable, SourceFile, discover, estimate_events};
pub use spend::{SpendIngest, SpendRow, ingest_spend};

use self::cells::Cells;
use self::row::{EventColumns, ParsedRows, RowContext, parse_rows};
use self::users::UserCodes;
use crate::bucket::Bucket;
use crate::config::{Config, InputTable};
use crate::event_log::{Event, EventLog, Interner, NO_CHANNEL_CODE};
use crate::format::FileFormat;
use crate::progress::{Progress, Silent};
use crate::{Error, Result};

/// Rows handed to one parallel task.
const ROWS_PER_TASK: usize = 1 << 16;

/// Where every input row of one table went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RowCounts {
    /// Data rows read (header lines excluded).
    pub read: u64,
    /// Rows kept.
    pub accepted: u64,
    /// Rows refused, each with a reason.
    pub rejected: u64,
    /// Rows equal to an accepted row in every column, dropped.
    pub duplicates: u64,
    /// Rejected rows per reason.
    pub rejected_by_reason: BTreeMap<RejectReason, u64>,
}

impl RowCounts {
    /// The share of read rows that were rejected (0 when nothing was read).
    #[must_use]
    pub fn reject_rate(&self) -> f64 {
        if self.read == 0 {
            return 0.0;
        }
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display and thresholds")]
        let rate = self.rejected as f64 / self.read as f64;
        rate
    }

    pub(crate) fn count_rejects(&mut self, rejects: &[Reject]) {
        self.rejected = rejects.len() as u64;
        for reject in rejects {
            *self.rejected_by_reason.entry(reject.reason).or_default() += 1;
        }
    }
}

/// One input file and the rows it gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileRows {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: FileFormat,
    /// Data rows read from it.
    pub rows: u64,
    /// Of which rejected.
    pub rejected: u64,
    /// The BLAKE3 hash of the file's bytes, in hex: a rerun on the same
    /// inputs is recognisable from the summary alone.
    pub blake3: String,
}

/// The touchpoint log of a run, read and accounted for.
#[derive(Debug)]
pub struct EventIngest {
    /// The accepted events, deduplicated and ordered.
    pub log: EventLog,
    /// Where every row went.
    pub rows: RowCounts,
    /// Every rejected row, in file and row order.
    pub rejects: Vec<Reject>,
    /// Warnings on accepted rows, by kind.
    pub warnings: BTreeMap<Warning, u64>,
    /// The files read, in the order read.
    pub files: Vec<FileRows>,
    /// Where the log's time ends: the latest valid timestamp of any of its
    /// rows (whatever else the row holds, and in every bucket), not in the
    /// future. Fitted purchase rates count time up to it.
    pub latest: Option<i64>,
}

/// Reads every file of a touchpoint log.
///
/// `now` (microseconds since the epoch) is the instant after which
/// timestamps count as being in the future.
///
/// # Errors
///
/// A file that cannot be read or decoded, a missing required column, or a
/// column of a type touchpath cannot read stops the run at once.
pub fn ingest_events(files: &[SourceFile], config: &Config, now: i64) -> Result<EventIngest> {
    ingest_bucket(files, config, now, None, &Silent)
}

/// Like [`ingest_events`], keeping only the rows of the users in `bucket`
/// (see [`crate::bucket`]); the other rows are not counted at all, so the
/// row accounting of the buckets of a log adds up to the whole log's.
/// Each file read advances `progress` by one step.
///
/// # Errors
///
/// As [`ingest_events`].
pub fn ingest_bucket(
    files: &[SourceFile],
    config: &Config,
    now: i64,
    bucket: Option<Bucket>,
    progress: &dyn Progress,
) -> Result<EventIngest> {
    let mut events: Vec<Vec<Event>> = Vec::new();
    let users = UserCodes::default();
    let mut channels = Interner::default();
    let mut campaigns = Interner::default();
    let accounting = read_log(files, config, now, bucket, Some(&users), progress, &mut |source, tasks| {
        for parsed in tasks {
            add_task(source, parsed, &mut events, [&mut channels, &mut campaigns])?;
        }
        Ok(())
    })?;
    let accepted_before_dedup = events.iter().map(Vec::len).sum::<usize>() as u64;
    let (log, duplicates) = EventLog::assemble(events, users, channels, campaigns);
    let Accounting { rejects, warnings, files: file_rows, read, latest } = accounting;
    let mut rows = RowCounts { read, accepted: accepted_before_dedup - duplicates, duplicates, ..RowCounts::default() };
    rows.count_rejects(&rejects);
    if rows.read != rows.accepted + rows.rejected + rows.duplicates {
        return Err(Error::Internal(format!("row accounting does not balance: {rows:?}")));
    }
    Ok(EventIngest { log, rows, rejects, warnings, files: file_rows, latest })
}

/// The [`crate::bucket::user_hash`] of each row's user id, as ingest reads
/// it (the empty id for a row without one): what an engine partitions the
/// rows of `source`, a table in memory, by, so that every event of a user
/// (however its id is written) lands in one partition.
///
/// # Errors
///
/// A missing column or one of a type touchpath cannot read, as a run
/// reports it.
pub fn user_hashes(source: &SourceFile, config: &Config) -> Result<Vec<u64>> {
    let Some(table) = &source.table else {
        return Err(Error::Internal("user hashes are taken of tables in memory".to_owned()));
    };
    let columns = event_columns(&table.frame, source, config)?;
    Ok((0..table.frame.height())
        .into_par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map(|row| crate::bucket::user_hash(&columns.bucket_key(row)))
        .collect())
}

/// Adds one task's events, whose user ids are coded in the run's
/// [`UserCodes`], to the run's, renumbering channels and campaigns into the
/// run's dictionaries.
fn add_task(
    source: &SourceFile,
    parsed: ParsedRows,
    events: &mut Vec<Vec<Event>>,
    [channels, campaigns]: [&mut Interner; 2],
) -> Result<()> {
    if parsed.users_full {
        return Err(too_many(&source.path, "user ids"));
    }
    let values = (parsed.channels.values(), parsed.campaigns.values());
    add_coded(&source.path, None, values, parsed.events, events, [channels, campaigns])
}

/// Adds `coded` events to `events` as one more part: user codes through
/// `user_codes` (the run's [`UserCodes`] code of each; kept as they are
/// without), channel and campaign codes, which index `values`, renumbered
/// into `interners`.
pub(crate) fn add_coded(
    path: &std::path::Path,
    user_codes: Option<&[u32]>,
    (channel_values, campaign_values): (&[Box<str>], &[Box<str>]),
    mut coded: Vec<Event>,
    events: &mut Vec<Vec<Event>>,
    [channels, campaigns]: [&mut Interner; 2],
) -> Result<()> {
    let full = [("channels", channel_values, &*channels), ("campaigns", campaign_values, &*campaigns)]
        .into_iter()
        .find(|(_, local, global)| local.len() > global.room());
    if let Some((what, _, _)) = full {
        return Err(too_many(path, what));
    }
    let channel_remap: Vec<u32> = channel_values.iter().map(|value| channels.intern(value)).collect();
    let campaign_remap: Vec<u32> = campaign_values.iter().map(|value| campaigns.intern(value)).collect();
    for event in &mut coded {
        if let Some(codes) = user_codes {
            event.user = codes[event.user as usize];
        }
        if event.channel != NO_CHANNEL_CODE {
            event.channel = channel_remap[event.channel as usize];
        }
        event.campaign = campaign_remap[event.campaign as usize];
    }
    events.push(coded);
    Ok(())
}

/// Where every row of a log went, but the accepted events themselves.
pub(crate) struct Accounting {
    /// Every rejected row, in file and row order.
    pub(crate) rejects: Vec<Reject>,
    /// Warnings on accepted rows, by kind.
    pub(crate) warnings: BTreeMap<Warning, u64>,
    /// The files read, with their rows.
    pub(crate) files: Vec<FileRows>,
    /// Rows read (of the bucket, when there is one).
    pub(crate) read: u64,
    /// The latest valid timestamp of any row of the whole log (every
    /// bucket's), not in the future.
    pub(crate) latest: Option<i64>,
}

/// The error for a dictionary that would outgrow 32-bit codes.
pub(crate) fn too_many(path: &std::path::Path, what: &str) -> Error {
    Error::Input {
        path: path.to_owned(),
        reason: format!(
            "more than {} distinct {what} in one run; split the log by user and run each part alone",
            u32::MAX
        ),
    }
}

/// Bytes a row of a log takes once decoded, as text, for sizing chunks:
/// seven short text columns with their offsets, generously.
const DECODED_ROW_BYTES: u64 = 256;

/// Rows of a file read at once (see [`source::read_chunks`]):
/// [`source::CHUNK_ROWS`], or fewer when a memory budget is set, so
/// that a chunk's decoded columns take at most a sixteenth of it (and at
/// least 4096 rows).
fn chunk_rows(config: &Config) -> usize {
    let most = source::CHUNK_ROWS as u64;
    let rows = config.memory_budget.map_or(most, |budget| (budget.0 / 16 / DECODED_ROW_BYTES).clamp(4096, most));
    usize::try_from(rows).unwrap_or(source::CHUNK_ROWS)
}

/// Reads every file of a log, parsing rows in parallel tasks, and hands
/// each task's accepted events (with their task-local dictionaries) to
/// `sink`, file by file, tasks in row order; keeps the accounting.
pub(crate) fn read_log(
    files: &[SourceFile],
    config: &Config,
    now: i64,
    bucket: Option<Bucket>,
    users: Option<&UserCodes>,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(&SourceFile, Vec<ParsedRows>) -> Result<()>,
) -> Result<Accounting> {
    let mut rejects = Vec::new();
    let mut warnings: BTreeMap<Warning, u64> = BTreeMap::new();
    let mut file_rows = Vec::with_capacity(files.len());
    let mut read = 0;
    let mut latest: Option<i64> = None;

    for (index, source) in files.iter().enumerate() {
        let mut file_rejects = Vec::new();
        let mut file_read = 0;
        let mut chunk = |file: source::ReadFile, offset: usize| -> Result<()> {
            let height = file.frame.height();
            let (invalid, ragged) = (file.invalid, file.ragged);
            let pieces = pieces(file.frame, source);
            let mut columns = Vec::with_capacity(pieces.len());
            for (frame, start) in &pieces {
                columns.push((event_columns(frame, source, config)?, offset + start, frame.height()));
            }
            drop(pieces);
            let context = |offset: usize| RowContext {
                config,
                zone: config.timezone,
                now,
                file: index,
                offset,
                records: source.table.as_ref().and_then(|table| table.records.as_deref()),
                invalid: &invalid,
                ragged: &ragged,
                bucket,
                users,
            };
            let ranges: Vec<(usize, Range<usize>)> = (0..columns.len())
                .flat_map(|piece| {
                    let rows = columns[piece].2;
                    (0..rows.div_ceil(ROWS_PER_TASK))
                        .map(move |task| (piece, task * ROWS_PER_TASK..rows.min((task + 1) * ROWS_PER_TASK)))
                })
                .collect();
            let mut tasks: Vec<ParsedRows> = ranges
                .into_par_iter()
                .map(|(piece, rows)| {
                    let (cells, offset, _) = &columns[piece];
                    parse_rows(cells, rows, &context(*offset))
                })
                .collect();
            drop(columns);
            file_read += height as u64;
            for parsed in &mut tasks {
                file_read -= parsed.skipped;
                latest = latest.max(parsed.latest);
                file_rejects.append(&mut parsed.rejects);
                for (warning, count) in std::mem::take(&mut parsed.warnings) {
                    *warnings.entry(warning).or_default() += count;
                }
            }
            sink(source, tasks)
        };
        let rows_per_chunk = chunk_rows(config);
        let (blake3, chunks) = source::read_chunks(source, config.delimiter_byte(), rows_per_chunk, &mut chunk)?;
        if chunks > 1 {
            tracing::info!(event = "chunks", file = %source.path.display(), chunks, rows_per_chunk);
        }
        if source.table.as_ref().is_some_and(|table| table.records.is_some()) {
            // A part of a table lists its rows in any order.
            file_rejects.sort_by_key(|reject| reject.record);
        }
        locate_rejects(source, &mut file_rejects)?;
        file_rows.push(FileRows {
            path: source.path.clone(),
            format: source.format,
            rows: file_read,
            rejected: file_rejects.len() as u64,
            blake3,
        });
        read += file_read;
        progress.advance(1);
        rejects.extend(file_rejects);
    }
    Ok(Accounting { rejects, warnings, files: file_rows, read, latest })
}

/// Fills in each reject's line: the physical line for CSV, the 1-based row
/// for Parquet.
fn locate_rejects(source: &SourceFile, rejects: &mut [Reject]) -> Result<()> {
    if source.format != FileFormat::Csv || rejects.is_empty() {
        return Ok(());
    }
    let records: Vec<u64> = rejects.iter().map(|reject| reject.record).collect();
    let lines = lines::record_lines(&source.path, &records)?;
    for (reject, line) in rejects.iter_mut().zip(lines) {
        reject.line = line;
    }
    Ok(())
}

/// A frame read from a file, as pieces to parse, each with the index of its
/// first row in the frame: one per chunk of its columns when they hold
/// several (a Parquet file's slice spanning row groups), so that no column
/// is copied into one array first. The whole frame otherwise: when it is a
/// table handed over in memory (whose rows are numbered by the frame), or
/// when its chunks are small (a file of tiny row groups), as so many parse
/// tasks would cost more than the copy.
fn pieces(mut frame: DataFrame, source: &SourceFile) -> Vec<(DataFrame, usize)> {
    let chunks = frame.first_col_n_chunks();
    if source.table.is_some() || chunks <= 1 || frame.height() / chunks < ROWS_PER_TASK / 4 {
        return vec![(frame, 0)];
    }
    let mut start = 0;
    frame
        .split_chunks()
        .map(|piece| {
            let at = start;
            start += piece.height();
            (piece, at)
        })
        .collect()
}

fn event_columns(frame: &DataFrame, source: &SourceFile, config: &Config) -> Result<EventColumns> {
    let required = ["user_id", "timestamp", "channel"];
    let mut resolved = resolve_columns(frame, source, config, InputTable::Log, &required)?;
    let mut take = |index: usize| resolved[index].take();
    let required = |cells: Option<Cells>| cells.unwrap_or(Cells::Constant(None));
    let columns = EventColumns {
        user_id: required(take(0)),
        timestamp: required(take(1)),
        channel: required(take(2)),
        campaign: take(3),
        stage: take(4),
        event_type: take(5),
        revenue: take(6),
    };
    let type_error = |canonical: &str, cells: &Cells, expected: &'static str| Error::ColumnType {
        path: source.path.clone(),
        column: config.column_name(InputTable::Log, canonical).to_owned(),
        found: cells_type_name(cells).to_owned(),
        expected,
    };
    let text_only = [
        ("channel", Some(&columns.channel)),
        ("stage", columns.stage.as_ref()),
        ("event_type", columns.event_type.as_ref()),
    ];
    for (canonical, cells) in text_only {
        if let Some(cells) = cells
            && !matches!(cells, Cells::Text(_) | Cells::Constant(_))
        {
            return Err(type_error(canonical, cells, "text"));
        }
    }
    for (canonical, cells) in [("user_id", Some(&columns.user_id)), ("campaign", columns.campaign.as_ref())] {
        if let Some(cells) = cells
            && !cells.is_textual()
        {
            return Err(type_error(canonical, cells, "text or integers"));
        }
    }
    if let Some(cells @ (Cells::Instant { .. } | Cells::Date(_))) = &columns.revenue {
        return Err(type_error("revenue", cells, "numbers"));
    }
    Ok(columns)
}

pub(crate) fn cells_type_name(cells: &Cells) -> &'static str {
    match cells {
        Cells::Text(_) | Cells::Constant(_) => "text",
        Cells::Int(_) => "integer",
        Cells::Float(_) => "float",
        Cells::Instant { .. } => "timestamp",
        Cells::Date(_) => "date",
    }
}

/// Finds each canonical column of `table` in a frame, in the table's order,
/// by the name the table's mappings give it: exactly, else ignoring case and
/// surrounding spaces, else as a hive partition key. A required column, or
/// one mapped explicitly, must be found.
pub(crate) fn resolve_columns(
    frame: &DataFrame,
    source: &SourceFile,
    config: &Config,
    table: InputTable,
    required: &[&str],
) -> Result<Vec<Option<Cells>>> {
    let names: Vec<String> = frame.get_column_names().iter().map(ToString::to_string).collect();
    let canonical = table.canonical_columns();
    let mut resolved = Vec::with_capacity(canonical.len());
    for &column in canonical {
        let wanted = config.column_name(table, column);
        let explicit = config.mappings(table).contains_key(column);
        let found = names.iter().find(|name| name.as_str() == wanted).or_else(|| {
            let mut loose = names.iter().filter(|name| name.trim().eq_ignore_ascii_case(wanted));
            let first = loose.next();
            if loose.next().is_some() { None } else { first }
        });
        let cells = if let Some(name) = found {
            let column_data = frame.column(name).map_err(|error| Error::Internal(error.to_string()))?;
            Some(Cells::from_column(column_data).map_err(|dtype| Error::ColumnType {
                path: source.path.clone(),
                column: name.clone(),
                found: dtype.to_string(),
                expected: "text, numbers, a timestamp or a date",
            })?)
        } else if let Some((_, value)) = source.partitions.iter().find(|(key, _)| key == wanted) {
            Some(Cells::Constant(Some(value.clone())))
        } else if required.contains(&column) || explicit {
            return Err(Error::MissingColumn {
                path: source.path.clone(),
                table,
                column: wanted.to_owned(),
                mapped_from: explicit.then(|| column.to_owned()),
                found: names,
            });
        } else {
            None
        };
        resolved.push(cells);
    }
    Ok(resolved)
}
