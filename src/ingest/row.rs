//! Validating and normalising one log row.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::cells::{Cell, Cells};
use super::users::{TaskUsers, UserCodes};
use crate::bucket::Bucket;
use crate::config::Config;
use crate::event::{EventKind, Stage, normalize_channel};
use crate::event_log::{Event, Interner, NO_CHANNEL_CODE};
use crate::time::{LastDate, MICROS_PER_DAY, TimeZone};

/// Why a row was rejected. Each rejected row has exactly one reason: the first
/// check it fails, in the order the variants are declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// Every cell of the row is empty: usually a blank line.
    EmptyRow,
    /// A CSV row has more fields than the header: usually an unquoted
    /// delimiter inside a value.
    WrongFieldCount,
    /// A cell holds bytes that are not UTF-8.
    InvalidUtf8,
    /// The user id is null or blank.
    MissingUserId,
    /// The timestamp is blank, unparsable or not a real date and time.
    BadTimestamp,
    /// The event type is not impression, click, visit or conversion.
    UnknownEventType,
    /// A touch (not a conversion) has no channel.
    MissingChannel,
    /// A conversion's revenue is not a finite number.
    BadRevenue,
    /// A conversion's revenue is below zero.
    NegativeRevenue,
    /// A spend row's date is not `YYYY-MM-DD`.
    BadDate,
    /// A spend row's spend is blank or not a finite number.
    BadSpend,
    /// A spend row's spend is below zero.
    NegativeSpend,
    /// A spend row's impressions or clicks are not a whole number ≥ 0.
    BadCount,
    /// Several spend rows share a (date, channel, campaign) key with different
    /// values; all of them are rejected rather than one guessed.
    ConflictingSpendKey,
}

impl RejectReason {
    /// The reason code written in `rejects.csv` and the summary.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmptyRow => "empty_row",
            Self::WrongFieldCount => "wrong_field_count",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MissingUserId => "missing_user_id",
            Self::BadTimestamp => "bad_timestamp",
            Self::UnknownEventType => "unknown_event_type",
            Self::MissingChannel => "missing_channel",
            Self::BadRevenue => "bad_revenue",
            Self::NegativeRevenue => "negative_revenue",
            Self::BadDate => "bad_date",
            Self::BadSpend => "bad_spend",
            Self::NegativeSpend => "negative_spend",
            Self::BadCount => "bad_count",
            Self::ConflictingSpendKey => "conflicting_spend_key",
        }
    }
}

/// Something odd about an accepted row, counted in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// A touch carries a revenue value; it is ignored.
    RevenueOnNonConversion,
    /// A stage value is not a funnel stage; the channel map's stage is used.
    UnknownStage,
    /// A timestamp before 1990-01-01: usually a zero or default date.
    #[serde(rename = "timestamp_before_1990")]
    TimestampBefore1990,
    /// A timestamp after the run started.
    TimestampInFuture,
    /// A spend row names a channel never seen in the touchpoint log.
    SpendChannelNotInLog,
    /// A rejected row of the touchpoint log is counted but not listed in
    /// `rejects.csv` (past `max_rejects_listed`).
    RejectsNotListed,
    /// `incremental` was fitted on a sample of users that holds no
    /// purchase: every term is 0, and its credit all goes to the baseline.
    IncrementalSampleWithoutPurchases,
}

impl Warning {
    /// The warning's name in the summary.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RevenueOnNonConversion => "revenue_on_non_conversion",
            Self::UnknownStage => "unknown_stage",
            Self::TimestampBefore1990 => "timestamp_before_1990",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::SpendChannelNotInLog => "spend_channel_not_in_log",
            Self::RejectsNotListed => "rejects_not_listed",
            Self::IncrementalSampleWithoutPurchases => "incremental_sample_without_purchases",
        }
    }
}

/// A hash map with a fast hash, for keys that are not attacker-chosen
/// beyond what a log can hold.
type FoldMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What was made of the text cells of one column of a range of rows, by
/// their view ([`Cells::view`]): a dictionary-coded Parquet column (and a
/// short text in any file) repeats a few views, whose channel, campaign,
/// stage or event type is worked out once.
struct ByView<T> {
    seen: FoldMap<u128, T>,
}

impl<T> Default for ByView<T> {
    fn default() -> Self {
        Self { seen: FoldMap::default() }
    }
}

impl<T: Copy> ByView<T> {
    /// Views kept at most: a column of long distinct texts (a CSV file's
    /// campaign names, each stored apart) would otherwise keep them all.
    const MOST: usize = 4096;

    /// What `work_out` gives for the cell at `row` of `cells`, from a cell
    /// with the same view when there was one. `work_out` returns `None` for
    /// what is not to be kept (an error).
    fn get(&mut self, cells: &Cells, row: usize, work_out: impl FnOnce() -> Option<T>) -> Option<T> {
        let Some(view) = cells.view(row) else { return work_out() };
        if let Some(&known) = self.seen.get(&view) {
            return Some(known);
        }
        let value = work_out()?;
        if self.seen.len() < Self::MOST {
            self.seen.insert(view, value);
        }
        Some(value)
    }
}

/// The [`ByView`] caches of a range of rows.
#[derive(Default)]
struct Seen<'a> {
    channels: FoldMap<&'a str, (u32, Stage)>,
    channel_views: ByView<(u32, Stage)>,
    campaigns: ByView<u32>,
    kinds: ByView<EventKind>,
    stages: ByView<Option<Stage>>,
    /// The date of the last timestamp read.
    last_date: LastDate,
}

/// What a file's bytes that are not UTF-8 are read as.
pub(crate) const REPLACEMENT: char = '\u{fffd}';

/// The detail of a `wrong_field_count` reject.
pub(crate) const WRONG_FIELD_COUNT: &str =
    "more fields than the header; quote values that contain the delimiter (extra fields were cut)";

/// The detail of an `invalid_utf8` reject.
pub(crate) const INVALID_UTF8: &str = "bytes that are not UTF-8 (shown as U+FFFD); re-export the file as UTF-8";

/// 1990-01-01T00:00:00Z.
const YEAR_1990: i64 = 7_305 * MICROS_PER_DAY;

/// A rejected row: where it was, why, and its values as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    /// Index of the source file in the run's file list.
    pub file: usize,
    /// 0-based data row index in the file.
    pub record: u64,
    /// The row's position for people: the physical line number for CSV (the
    /// header is line 1), the 1-based row number for Parquet.
    pub line: u64,
    /// Why it was rejected.
    pub reason: RejectReason,
    /// The canonical name of the column at fault.
    pub column: &'static str,
    /// What was expected.
    pub detail: Cow<'static, str>,
    /// The raw values of the table's canonical columns, `None` for absent or null.
    pub values: Vec<Option<String>>,
}

/// The touchpoint log's columns in one file, in canonical order.
pub(crate) struct EventColumns {
    pub(crate) user_id: Cells,
    pub(crate) timestamp: Cells,
    pub(crate) channel: Cells,
    pub(crate) campaign: Option<Cells>,
    pub(crate) stage: Option<Cells>,
    pub(crate) event_type: Option<Cells>,
    pub(crate) revenue: Option<Cells>,
}

impl EventColumns {
    fn all_blank(&self, row: usize) -> bool {
        let optional = [&self.campaign, &self.stage, &self.event_type, &self.revenue];
        [&self.user_id, &self.timestamp, &self.channel].iter().all(|cells| cells.get(row).is_blank())
            && optional.iter().all(|cells| cells.as_ref().is_none_or(|cells| cells.get(row).is_blank()))
    }

    /// The canonical name of the first column whose cell holds U+FFFD, the
    /// mark of bytes that were not UTF-8.
    fn invalid_utf8(&self, row: usize) -> Option<&'static str> {
        let columns = [
            Some(&self.user_id),
            Some(&self.timestamp),
            Some(&self.channel),
            self.campaign.as_ref(),
            self.stage.as_ref(),
            self.event_type.as_ref(),
            self.revenue.as_ref(),
        ];
        columns.iter().zip(crate::config::EVENT_COLUMNS).find_map(|(cells, name)| {
            cells.and_then(|cells| cells.get(row).text()).is_some_and(|text| text.contains(REPLACEMENT)).then_some(name)
        })
    }

    /// The row's timestamp, when it is valid and not in the future.
    fn valid_time(&self, row: usize, context: &RowContext<'_>) -> Option<i64> {
        self.timestamp.get(row).instant(context.zone).ok().filter(|&time| time <= context.now)
    }

    /// The row's user id as parsing reads it (NFC-normalised); `None` when
    /// the cell is empty or blank.
    fn user(&self, row: usize) -> Option<Cow<'_, str>> {
        self.user_id.get(row).text().filter(|text| !crate::time::trim(text).is_empty()).map(nfc)
    }

    /// The id a row is bucketed by: its user id as parsing reads it, or the
    /// empty id when there is none, so rejected rows have a bucket too.
    pub(crate) fn bucket_key(&self, row: usize) -> Cow<'_, str> {
        self.user(row).unwrap_or(Cow::Borrowed(""))
    }

    fn raw_values(&self, row: usize) -> Vec<Option<String>> {
        let optional =
            |cells: &Option<Cells>| cells.as_ref().and_then(|cells| cells.get(row).text().map(Cow::into_owned));
        vec![
            self.user_id.get(row).text().map(Cow::into_owned),
            self.timestamp.get(row).text().map(Cow::into_owned),
            self.channel.get(row).text().map(Cow::into_owned),
            optional(&self.campaign),
            optional(&self.stage),
            optional(&self.event_type),
            optional(&self.revenue),
        ]
    }
}

/// What a range of rows parsed into, with codes local to the range.
#[derive(Default)]
pub(crate) struct ParsedRows {
    pub(crate) events: Vec<Event>,
    /// The task's own user codes, when no run-wide dictionary is shared.
    pub(crate) users: TaskUsers,
    pub(crate) channels: Interner,
    pub(crate) campaigns: Interner,
    pub(crate) rejects: Vec<Reject>,
    pub(crate) warnings: Vec<(Warning, u64)>,
    /// Rows of users outside the run's bucket, skipped uncounted.
    pub(crate) skipped: u64,
    /// The latest valid timestamp of any row of the range, not in the
    /// future, whatever else the row holds and whichever bucket it is in:
    /// where the log's time ends.
    pub(crate) latest: Option<i64>,
    /// The run's dictionary of user ids ([`RowContext::users`]), or the
    /// task's own, had no room left for this range's ids.
    pub(crate) users_full: bool,
}

impl ParsedRows {
    /// Moves [`ParsedRows::latest`] to `time` if it is later.
    fn see(&mut self, time: Option<i64>) -> &mut Self {
        // `None` orders below every time.
        self.latest = self.latest.max(time);
        self
    }
}

/// The settings row parsing needs.
pub(crate) struct RowContext<'a> {
    pub(crate) config: &'a Config,
    pub(crate) zone: TimeZone,
    pub(crate) now: i64,
    pub(crate) file: usize,
    /// The index in the file of the first row of the frame read (a file is
    /// read in chunks).
    pub(crate) offset: usize,
    /// The index in the whole table of each row of a part of it handed over
    /// in memory (see [`super::source::MemoryTable::records`]).
    pub(crate) records: Option<&'a [u64]>,
    /// The records that hold bytes that are not UTF-8 (read as U+FFFD),
    /// sorted, by their index in the file.
    pub(crate) invalid: &'a [u64],
    /// The rows with more fields than the header, sorted.
    pub(crate) ragged: &'a [u64],
    /// Only the rows of this bucket's users are read.
    pub(crate) bucket: Option<Bucket>,
    /// The run's dictionary of user ids, when tasks code into it directly;
    /// otherwise each task codes its own ([`ParsedRows::users`]).
    pub(crate) users: Option<&'a UserCodes>,
}

impl RowContext<'_> {
    /// The 0-based index in its file (or whole table) of row `row` of the
    /// frame read.
    fn record(&self, row: usize) -> u64 {
        match self.records {
            Some(records) => records[row],
            None => (self.offset + row) as u64,
        }
    }
}

struct Rejection {
    reason: RejectReason,
    column: &'static str,
    detail: Cow<'static, str>,
}

fn reject(reason: RejectReason, column: &'static str, detail: impl Into<Cow<'static, str>>) -> Rejection {
    Rejection { reason, column, detail: detail.into() }
}

/// Parses rows `rows` of a file.
pub(crate) fn parse_rows(columns: &EventColumns, rows: Range<usize>, context: &RowContext<'_>) -> ParsedRows {
    let mut parsed = ParsedRows::default();
    let mut warnings: HashMap<Warning, u64> = HashMap::new();
    let mut seen = Seen::default();
    // With a shared dictionary, each accepted event's user id, coded at the
    // end of the range.
    let mut user_ids: Vec<Cow<'_, str>> = Vec::new();
    for row in rows {
        if let Some(bucket) = context.bucket
            && !bucket.holds(&columns.bucket_key(row))
        {
            parsed.skipped += 1;
            parsed.see(columns.valid_time(row, context));
            continue;
        }
        match parse_row(columns, row, context, &mut parsed, &mut seen, &mut warnings) {
            Ok((mut event, user)) => {
                parsed.see(Some(event.time));
                if context.users.is_some() {
                    user_ids.push(user);
                } else if let Some(code) = parsed.users.intern(&user) {
                    event.user = code;
                } else {
                    parsed.users_full = true;
                }
                parsed.events.push(event);
            }
            Err(rejection) => parsed.see(columns.valid_time(row, context)).rejects.push(Reject {
                file: context.file,
                record: context.record(row),
                line: context.record(row) + 1,
                reason: rejection.reason,
                column: rejection.column,
                detail: rejection.detail,
                values: columns.raw_values(row),
            }),
        }
    }
    parsed.warnings = warnings.into_iter().collect();
    if let Some(users) = context.users {
        match users.code_all(&user_ids) {
            Some(codes) => parsed.events.iter_mut().zip(codes).for_each(|(event, code)| event.user = code),
            None => parsed.users_full = true,
        }
    }
    parsed
}

fn parse_row<'a>(
    columns: &'a EventColumns,
    row: usize,
    context: &RowContext<'_>,
    parsed: &mut ParsedRows,
    seen: &mut Seen<'a>,
    warnings: &mut HashMap<Warning, u64>,
) -> Result<(Event, Cow<'a, str>), Rejection> {
    // A row whose user id is not blank is not all blank: the other cells
    // are looked at only for a row that has none.
    let user = columns.user(row);
    if user.is_none() && columns.all_blank(row) {
        return Err(reject(RejectReason::EmptyRow, "", "every cell is empty (a blank line?)"));
    }
    if !context.ragged.is_empty() && context.ragged.binary_search(&((context.offset + row) as u64)).is_ok() {
        return Err(reject(RejectReason::WrongFieldCount, "", WRONG_FIELD_COUNT));
    }
    if context.invalid.binary_search(&((context.offset + row) as u64)).is_ok()
        && let Some(column) = columns.invalid_utf8(row)
    {
        return Err(reject(RejectReason::InvalidUtf8, column, INVALID_UTF8));
    }
    let Some(user) = user else {
        return Err(reject(RejectReason::MissingUserId, "user_id", "user id is empty"));
    };
    let time = columns
        .timestamp
        .get(row)
        .instant_after(context.zone, &mut seen.last_date)
        .map_err(|error| reject(RejectReason::BadTimestamp, "timestamp", error.describe()))?;
    let kind = match &columns.event_type {
        Some(cells) => match seen.kinds.get(cells, row, || parse_kind(cells.get(row)).ok()) {
            Some(kind) => kind,
            None => parse_kind(cells.get(row))?,
        },
        None => parse_kind(Cell::Null)?,
    };

    let Seen { channels, channel_views, .. } = seen;
    let mut channel_of = |raw: &'a str| {
        *channels.entry(raw).or_insert_with(|| {
            let name = normalize_channel(raw);
            if name.is_empty() {
                (NO_CHANNEL_CODE, Stage::Unknown)
            } else {
                (parsed.channels.intern(&name), context.config.stage_of(&name))
            }
        })
    };
    let (channel, mapped_stage) = channel_views
        .get(&columns.channel, row, || {
            Some(if let Cell::Text(raw) = columns.channel.get(row) {
                channel_of(raw)
            } else {
                (NO_CHANNEL_CODE, Stage::Unknown)
            })
        })
        .unwrap_or((NO_CHANNEL_CODE, Stage::Unknown));
    if channel == NO_CHANNEL_CODE && kind.is_touch() {
        return Err(reject(RejectReason::MissingChannel, "channel", "a touch needs a channel"));
    }

    let revenue_cell = columns.revenue.as_ref().map_or(Cell::Null, |cells| cells.get(row));
    let revenue = if kind == EventKind::Conversion {
        parse_revenue(revenue_cell)?
    } else {
        if !revenue_cell.is_blank() {
            *warnings.entry(Warning::RevenueOnNonConversion).or_default() += 1;
        }
        0
    };

    let default_stage =
        if kind == EventKind::Conversion && channel == NO_CHANNEL_CODE { Stage::Conversion } else { mapped_stage };
    // `Some(None)` for a blank stage, `Some(Some(stage))` for a stage,
    // `None` for a text that names none.
    let written = columns.stage.as_ref().and_then(|cells| {
        seen.stages.get(cells, row, || {
            let cell = cells.get(row);
            if cell.is_blank() { Some(None) } else { cell.text().and_then(|text| Stage::parse(&text)).map(Some) }
        })
    });
    let stage = match (&columns.stage, written) {
        (None, _) | (Some(_), Some(None)) => default_stage,
        (Some(_), Some(Some(stage))) => stage,
        (Some(_), None) => {
            *warnings.entry(Warning::UnknownStage).or_default() += 1;
            default_stage
        }
    };
    let campaign = match &columns.campaign {
        Some(cells) => seen
            .campaigns
            .get(cells, row, || {
                let text = cells.get(row).text();
                Some(parsed.campaigns.intern(text.as_deref().map_or("", str::trim)))
            })
            .unwrap_or_default(),
        None => parsed.campaigns.intern(""),
    };

    if time < YEAR_1990 {
        *warnings.entry(Warning::TimestampBefore1990).or_default() += 1;
    } else if time > context.now {
        *warnings.entry(Warning::TimestampInFuture).or_default() += 1;
    }
    Ok((Event { user: 0, time, kind, channel, campaign, stage, revenue }, user))
}

/// User ids are compared byte for byte after NFC normalisation, so that the
/// composed and decomposed spellings of `josé` are one user.
fn nfc(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

fn parse_kind(cell: Cell<'_>) -> Result<EventKind, Rejection> {
    if cell.is_blank() {
        return Ok(EventKind::Visit);
    }
    cell.text().and_then(|text| EventKind::parse(&text)).ok_or_else(|| {
        reject(RejectReason::UnknownEventType, "event_type", "expected impression, click, visit or conversion")
    })
}

fn parse_revenue(cell: Cell<'_>) -> Result<i64, Rejection> {
    let bad = || reject(RejectReason::BadRevenue, "revenue", "expected a number such as 49.90");
    let micros = match cell {
        Cell::Null => return Ok(0),
        Cell::Text(text) if text.trim().is_empty() => return Ok(0),
        Cell::Text(text) => parse_amount(text).ok_or_else(bad)?,
        Cell::Int(value) => value.checked_mul(1_000_000).ok_or_else(bad)?,
        Cell::Float(value) => float_to_micros(value).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if micros < 0 {
        return Err(reject(RejectReason::NegativeRevenue, "revenue", "revenue must be ≥ 0"));
    }
    Ok(micros)
}

/// Parses a decimal amount to millionths exactly (half away from zero past
/// the sixth decimal); exponent notation goes through `f64`.
pub(crate) fn parse_amount(raw: &str) -> Option<i64> {
    let text = raw.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !plain(whole) || !plain(fraction) {
        return text.parse::<f64>().ok().and_then(float_to_micros);
    }
    let mut micros: i64 = 0;
    for byte in whole.bytes() {
        micros = micros.checked_mul(10)?.checked_add(i64::from(byte - b'0'))?;
    }
    micros = micros.checked_mul(1_000_000)?;
    let mut scale = 100_000;
    let mut fraction_bytes = fraction.bytes();
    for byte in fraction_bytes.by_ref().take(6) {
        micros = micros.checked_add(i64::from(byte - b'0') * scale)?;
        scale /= 10;
    }
    if fraction_bytes.next().is_some_and(|byte| byte >= b'5') {
        micros = micros.checked_add(1)?;
    }
    Some(if negative { -micros } else { micros })
}

pub(crate) fn float_to_micros(value: f64) -> Option<i64> {
    if !value.is_finite() || value.abs() >= 9.2e12 {
        return None;
    }
    #[expect(clippy::cast_possible_truncation, reason = "range checked just above")]
    Some((value * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount("49.90"), Some(49_900_000));
        assert_eq!(parse_amount(" +0.1 "), Some(100_000));
        assert_eq!(parse_amount("12"), Some(12_000_000));
        assert_eq!(parse_amount(".5"), Some(500_000));
        assert_eq!(parse_amount("1.0000005"), Some(1_000_001));
        assert_eq!(parse_amount("-12.50"), Some(-12_500_000));
        assert_eq!(parse_amount("1e3"), Some(1_000_000_000));
        for bad in ["12,50", "abc", "NaN", "inf", "", "-", ".", "1.2.3", "99999999999999999999"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn summary_names_are_the_printed_names() {
        let warnings = [
            Warning::RevenueOnNonConversion,
            Warning::UnknownStage,
            Warning::TimestampBefore1990,
            Warning::TimestampInFuture,
            Warning::SpendChannelNotInLog,
        ];
        for warning in warnings {
            assert_eq!(serde_json::to_value(warning).unwrap(), warning.as_str());
        }
        let reasons = [
            RejectReason::EmptyRow,
            RejectReason::WrongFieldCount,
            RejectReason::InvalidUtf8,
            RejectReason::MissingUserId,
            RejectReason::BadTimestamp,
            RejectReason::UnknownEventType,
            RejectReason::MissingChannel,
            RejectReason::BadRevenue,
            RejectReason::NegativeRevenue,
            RejectReason::BadDate,
            RejectReason::BadSpend,
            RejectReason::NegativeSpend,
            RejectReason::BadCount,
            RejectReason::ConflictingSpendKey,
        ];
        for reason in reasons {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }

    #[test]
    fn user_ids_are_nfc_normalised() {
        let decomposed = "jose\u{301}";
        assert_eq!(nfc(Cow::Borrowed(decomposed)), "jos\u{e9}");
        assert!(matches!(nfc(Cow::Borrowed("plain")), Cow::Borrowed(_)));
    }
}
