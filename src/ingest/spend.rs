//! Reading the ad-spend table.
//!
//! One row per (date, channel, campaign). Rows equal in every column are
//! duplicates and dropped; rows sharing a key with different values are all
//! rejected as `conflicting_spend_key`, because no rule can tell which one is
//! right and summing them would double-count.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::cells::{Cell, Cells};
use super::row::{
    INVALID_UTF8, REPLACEMENT, Reject, RejectReason, WRONG_FIELD_COUNT, Warning, float_to_micros, parse_amount,
};
use super::{FileRows, RowCounts, SourceFile, resolve_columns};
use crate::config::{Config, InputTable, SPEND_COLUMNS};
use crate::event::{Stage, normalize_channel};
use crate::format::FileFormat;
use crate::time::{MICROS_PER_DAY, parse_date};
use crate::{Error, Result};

/// One accepted spend row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct SpendRow {
    /// Days since 1970-01-01.
    pub date: i64,
    /// Normalised channel name.
    pub channel: String,
    /// Campaign, empty when the table gives none.
    pub campaign: String,
    /// The row's stage, else the channel map's.
    pub stage: Stage,
    /// Spend in millionths of the currency unit.
    pub spend: i64,
    /// Impressions bought, when given.
    pub impressions: Option<u64>,
    /// Clicks bought, when given.
    pub clicks: Option<u64>,
}

/// The spend table of a run, read and accounted for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpendIngest {
    /// Accepted rows, sorted by date, channel and campaign.
    pub rows: Vec<SpendRow>,
    /// Where every row went.
    pub counts: RowCounts,
    /// Every rejected row.
    pub rejects: Vec<Reject>,
    /// Warnings on accepted rows.
    pub warnings: BTreeMap<Warning, u64>,
    /// The files read.
    pub files: Vec<FileRows>,
}

impl SpendIngest {
    /// Total accepted spend, in millionths.
    #[must_use]
    pub fn total(&self) -> i128 {
        self.rows.iter().map(|row| i128::from(row.spend)).sum()
    }
}

struct Located {
    row: SpendRow,
    reject: Reject,
}

/// Reads every file of a spend table.
///
/// # Errors
///
/// As for the touchpoint log: unreadable files, missing required columns
/// (`date`, `channel`, `spend`) and unusable column types stop the run.
pub fn ingest_spend(files: &[SourceFile], config: &Config) -> Result<SpendIngest> {
    let mut ingest = SpendIngest::default();
    let mut located = Vec::new();
    for (index, source) in files.iter().enumerate() {
        let read = super::source::read_file(source, config.delimiter_byte())?;
        let columns = resolve_columns(&read.frame, source, config, InputTable::Spend, &["date", "channel", "spend"])?;
        let height = read.frame.height();
        let blake3 = read.blake3;
        let mut file_rejects = Vec::new();
        for row in 0..height {
            let raw = raw_values(&columns, row);
            let template = Reject {
                file: index,
                record: row as u64,
                line: row as u64 + 1,
                reason: RejectReason::BadSpend,
                column: "spend",
                detail: Cow::Borrowed(""),
                values: raw,
            };
            let parsed = if read.ragged.binary_search(&(row as u64)).is_ok() {
                Err((RejectReason::WrongFieldCount, "", WRONG_FIELD_COUNT))
            } else {
                let invalid = read.invalid.binary_search(&(row as u64)).is_ok();
                parse_spend_row(&columns, row, config, invalid, &mut ingest.warnings)
            };
            match parsed {
                Ok(parsed) => located.push(Located { row: parsed, reject: template }),
                Err((reason, column, detail)) => {
                    file_rejects.push(Reject { reason, column, detail: Cow::Borrowed(detail), ..template });
                }
            }
        }
        if source.format == FileFormat::Csv && !file_rejects.is_empty() {
            super::locate_rejects(source, &mut file_rejects)?;
        }
        ingest.files.push(FileRows {
            path: source.path.clone(),
            format: source.format,
            rows: height as u64,
            rejected: file_rejects.len() as u64,
            blake3,
        });
        ingest.counts.read += height as u64;
        ingest.rejects.extend(file_rejects);
    }
    settle_keys(&mut ingest, located, files)?;
    ingest.counts.count_rejects(&ingest.rejects);
    let counts = &ingest.counts;
    if counts.read != counts.accepted + counts.rejected + counts.duplicates {
        return Err(Error::Internal(format!("spend row accounting does not balance: {counts:?}")));
    }
    Ok(ingest)
}

/// Drops exact duplicates and rejects conflicting keys.
fn settle_keys(ingest: &mut SpendIngest, mut located: Vec<Located>, files: &[SourceFile]) -> Result<()> {
    located.sort_by(|left, right| left.row.cmp(&right.row));
    let mut start = 0;
    let mut conflicting: Vec<Reject> = Vec::new();
    while start < located.len() {
        let key = |item: &Located| (item.row.date, item.row.channel.clone(), item.row.campaign.clone());
        let group_key = key(&located[start]);
        let end = start + located[start..].iter().take_while(|item| key(item) == group_key).count();
        let group = &located[start..end];
        if group.iter().all(|item| item.row == group[0].row) {
            ingest.rows.push(group[0].row.clone());
            ingest.counts.accepted += 1;
            ingest.counts.duplicates += (group.len() - 1) as u64;
        } else {
            conflicting.extend(group.iter().map(|item| Reject {
                reason: RejectReason::ConflictingSpendKey,
                column: "spend",
                detail: Cow::Borrowed("another row has the same date, channel and campaign but other values"),
                ..item.reject.clone()
            }));
        }
        start = end;
    }
    conflicting.sort_by_key(|reject| (reject.file, reject.record));
    for (index, source) in files.iter().enumerate() {
        let first = conflicting.partition_point(|reject| reject.file < index);
        let last = conflicting.partition_point(|reject| reject.file <= index);
        super::locate_rejects(source, &mut conflicting[first..last])?;
    }
    ingest.rejects.extend(conflicting);
    ingest.rejects.sort_by_key(|reject| (reject.file, reject.record));
    Ok(())
}

fn raw_values(columns: &[Option<Cells>], row: usize) -> Vec<Option<String>> {
    columns.iter().map(|cells| cells.as_ref().and_then(|cells| cells.get(row).text().map(Cow::into_owned))).collect()
}

type RowError = (RejectReason, &'static str, &'static str);

fn cell(columns: &[Option<Cells>], index: usize, row: usize) -> Cell<'_> {
    columns[index].as_ref().map_or(Cell::Null, |cells| cells.get(row))
}

fn parse_spend_row(
    columns: &[Option<Cells>],
    row: usize,
    config: &Config,
    invalid: bool,
    warnings: &mut BTreeMap<Warning, u64>,
) -> Result<SpendRow, RowError> {
    if (0..columns.len()).all(|index| cell(columns, index, row).is_blank()) {
        return Err((RejectReason::EmptyRow, "", "every cell is empty (a blank line?)"));
    }
    if invalid
        && let Some(column) = (0..columns.len())
            .find(|&index| cell(columns, index, row).text().is_some_and(|text| text.contains(REPLACEMENT)))
    {
        return Err((RejectReason::InvalidUtf8, SPEND_COLUMNS[column], INVALID_UTF8));
    }
    let date = match cell(columns, 0, row) {
        Cell::Text(text) => parse_date(text),
        Cell::Date(days) => Some(i64::from(days)),
        Cell::Instant { .. } => {
            cell(columns, 0, row).instant(config.timezone).ok().map(|micros| micros.div_euclid(MICROS_PER_DAY))
        }
        _ => None,
    }
    .ok_or((RejectReason::BadDate, "date", "expected a date as YYYY-MM-DD"))?;
    let channel = cell(columns, 1, row).text().map(|text| normalize_channel(&text)).unwrap_or_default();
    if channel.is_empty() {
        return Err((RejectReason::MissingChannel, "channel", "a spend row needs a channel"));
    }
    let campaign = cell(columns, 2, row).text().map(|text| text.trim().to_owned()).unwrap_or_default();
    let stage = match cell(columns, 3, row) {
        stage_cell if stage_cell.is_blank() => config.stage_of(&channel),
        stage_cell => stage_cell.text().and_then(|text| Stage::parse(&text)).unwrap_or_else(|| {
            *warnings.entry(Warning::UnknownStage).or_default() += 1;
            config.stage_of(&channel)
        }),
    };
    let bad_spend = (RejectReason::BadSpend, "spend", "expected a number such as 125.40");
    let spend = match cell(columns, 4, row) {
        Cell::Text(text) if !text.trim().is_empty() => parse_amount(text),
        Cell::Int(value) => value.checked_mul(1_000_000),
        Cell::Float(value) => float_to_micros(value),
        _ => None,
    }
    .ok_or(bad_spend)?;
    if spend < 0 {
        return Err((RejectReason::NegativeSpend, "spend", "spend must be ≥ 0"));
    }
    let impressions = parse_count(cell(columns, 5, row))
        .map_err(|()| (RejectReason::BadCount, "impressions", "expected a whole number ≥ 0"))?;
    let clicks = parse_count(cell(columns, 6, row))
        .map_err(|()| (RejectReason::BadCount, "clicks", "expected a whole number ≥ 0"))?;
    Ok(SpendRow { date, channel, campaign, stage, spend, impressions, clicks })
}

fn parse_count(cell: Cell<'_>) -> Result<Option<u64>, ()> {
    match cell {
        cell if cell.is_blank() => Ok(None),
        Cell::Text(text) => text.trim().parse::<u64>().map(Some).map_err(|_| ()),
        Cell::Int(value) => u64::try_from(value).map(Some).map_err(|_| ()),
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked whole and in range")]
        Cell::Float(value) if value >= 0.0 && value.fract() == 0.0 && value < 1.8e19 => Ok(Some(value as u64)),
        _ => Err(()),
    }
}
