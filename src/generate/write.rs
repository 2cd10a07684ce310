//! Writing the events file as CSV or Parquet.
//!
//! Rows are rendered in parallel in fixed-size chunks and written in order
//! through one buffered writer, a bounded window of chunks at a time, so
//! memory stays flat and the bytes do not depend on the thread count.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use super::catalog::{CAMPAIGNS, CHANNELS, NO_CAMPAIGN};
use super::dirty::{Alteration, BAD_REVENUES, BAD_TIMESTAMPS, Layout, Row, UNKNOWN_EVENT_TYPES};
use super::draw::Event;
use super::render::{Vocabulary, push_cents, push_timestamp, push_timestamp_variant};
use crate::event::EventKind;
use crate::{Error, FileFormat, Result};

/// The events file's header line: `config::EVENT_COLUMNS`, in order.
const EVENT_HEADER: &str = "user_id,timestamp,channel,campaign,stage,event_type,revenue\n";

/// Rows rendered per parallel task (CSV) and per Parquet row group.
const ROWS_PER_CHUNK: usize = 1 << 16;

/// Chunks rendered before writing; bounds memory.
const CHUNKS_PER_WINDOW: usize = 32;

/// Rows per Parquet row group.
const ROWS_PER_ROW_GROUP: usize = 1 << 19;

/// Row groups built before writing; bounds memory.
const ROW_GROUPS_PER_WINDOW: usize = 4;

/// Creates `path` for writing behind a buffer.
pub(crate) fn create(path: &Path) -> Result<BufWriter<File>> {
    let file = File::create(path).map_err(|source| Error::io(path, source))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Turns a polars error into an IO error on `path`.
pub(crate) fn polars_error(path: &Path, error: &PolarsError) -> Error {
    Error::io(path, std::io::Error::other(error.to_string()))
}

/// Writes `rows` (some or all of the layout's) as one events file; returns
/// the number of data rows written.
pub(crate) fn write_events(
    path: &Path,
    options: &super::GenerateOptions,
    events: &[Event],
    layout: &Layout,
    rows: &[Row],
    vocabulary: &Vocabulary,
) -> Result<u64> {
    let view = LogView { events, vocabulary, unicode_ids: layout.unicode_ids };
    match options.format {
        FileFormat::Csv => write_csv(path, &view, rows)?,
        FileFormat::Parquet => write_parquet(path, &view, rows, layout.unicode_ids || options.text_timestamps)?,
        FileFormat::Arrow => return Err(crate::Error::Internal("logs are written to files, not to memory".to_owned())),
    }
    Ok(rows.len() as u64)
}

/// What rendering a row needs besides the row.
struct LogView<'a> {
    events: &'a [Event],
    vocabulary: &'a Vocabulary,
    unicode_ids: bool,
}

impl LogView<'_> {
    fn event(&self, row: Row) -> &Event {
        &self.events[row.event as usize]
    }

    fn push_user_id(&self, buffer: &mut Vec<u8>, row: Row) {
        if row.alteration != Alteration::MissingUserId {
            self.vocabulary.push_user_id(buffer, self.event(row), self.unicode_ids);
        }
    }

    fn push_timestamp(&self, buffer: &mut Vec<u8>, row: Row) {
        let time = self.event(row).time;
        match row.alteration {
            Alteration::BadTimestamp(index) => {
                buffer.extend_from_slice(BAD_TIMESTAMPS[usize::from(index)].as_bytes());
            }
            Alteration::TimestampVariant(variant) => push_timestamp_variant(buffer, time, variant),
            _ => push_timestamp(buffer, time),
        }
    }

    fn channel(&self, row: Row) -> &str {
        let channel = self.event(row).channel;
        match row.alteration {
            Alteration::MissingChannel => "",
            Alteration::ChannelVariant(variant) => self.vocabulary.channel_variant(channel, variant),
            _ => CHANNELS[usize::from(channel)].name,
        }
    }

    fn campaign(&self, row: Row) -> Option<&'static str> {
        let campaign = self.event(row).campaign;
        (campaign != NO_CAMPAIGN).then(|| CAMPAIGNS[usize::from(campaign)].name)
    }

    fn event_type(&self, row: Row) -> &'static str {
        match row.alteration {
            Alteration::UnknownEventType(index) => UNKNOWN_EVENT_TYPES[usize::from(index)],
            _ => self.event(row).kind.as_str(),
        }
    }

    /// Appends the revenue text; returns false when the field is empty.
    /// `quote` wraps a value holding a comma in CSV quotes.
    fn push_revenue(&self, buffer: &mut Vec<u8>, row: Row, quote: bool) -> bool {
        let event = self.event(row);
        let cents = i64::from(event.revenue_cents);
        match row.alteration {
            Alteration::RevenueOnTouch(cents) => push_cents(buffer, i64::from(cents)),
            Alteration::NegativeRevenue => push_cents(buffer, -cents),
            Alteration::BadRevenue(index) => match BAD_REVENUES[usize::from(index)] {
                Some(text) => buffer.extend_from_slice(text.as_bytes()),
                None => push_decimal_comma(buffer, cents, quote),
            },
            _ if event.kind == EventKind::Conversion => push_cents(buffer, cents),
            _ => return false,
        }
        true
    }

    /// Appends one CSV line.
    fn push_csv_line(&self, buffer: &mut Vec<u8>, row: Row) {
        self.push_user_id(buffer, row);
        buffer.push(b',');
        self.push_timestamp(buffer, row);
        buffer.push(b',');
        buffer.extend_from_slice(self.channel(row).as_bytes());
        buffer.push(b',');
        buffer.extend_from_slice(self.campaign(row).unwrap_or_default().as_bytes());
        buffer.push(b',');
        buffer.extend_from_slice(self.event(row).stage.as_str().as_bytes());
        buffer.push(b',');
        buffer.extend_from_slice(self.event_type(row).as_bytes());
        buffer.push(b',');
        self.push_revenue(buffer, row, true);
        buffer.push(b'\n');
    }
}

/// `12,50`: an amount with a decimal comma, quoted for CSV when asked.
fn push_decimal_comma(buffer: &mut Vec<u8>, cents: i64, quote: bool) {
    if quote {
        buffer.push(b'"');
    }
    let start = buffer.len();
    push_cents(buffer, cents);
    if let Some(point) = buffer[start..].iter().position(|byte| *byte == b'.') {
        buffer[start + point] = b',';
    }
    if quote {
        buffer.push(b'"');
    }
}

fn write_csv(path: &Path, view: &LogView<'_>, rows: &[Row]) -> Result<()> {
    let mut writer = create(path)?;
    let io_error = |source| Error::io(path, source);
    writer.write_all(EVENT_HEADER.as_bytes()).map_err(io_error)?;
    for window in rows.chunks(ROWS_PER_CHUNK * CHUNKS_PER_WINDOW) {
        let buffers: Vec<Vec<u8>> = window
            .par_chunks(ROWS_PER_CHUNK)
            .map(|chunk| {
                let mut buffer = Vec::with_capacity(chunk.len() * 72);
                for row in chunk {
                    view.push_csv_line(&mut buffer, *row);
                }
                buffer
            })
            .collect();
        for buffer in &buffers {
            writer.write_all(buffer).map_err(io_error)?;
        }
    }
    writer.flush().map_err(io_error)
}

fn write_parquet(path: &Path, view: &LogView<'_>, rows: &[Row], as_text: bool) -> Result<()> {
    let polars = |error: PolarsError| polars_error(path, &error);
    let mut file = create(path)?;
    // An empty frame gives the schema, so an empty log still gets one.
    let schema = events_frame(view, &[], as_text).map_err(polars)?.schema().clone();
    let mut writer = ParquetWriter::new(&mut file).batched(&schema).map_err(polars)?;
    for window in rows.chunks(ROWS_PER_ROW_GROUP * ROW_GROUPS_PER_WINDOW) {
        let frames: Vec<PolarsResult<DataFrame>> =
            window.par_chunks(ROWS_PER_ROW_GROUP).map(|chunk| events_frame(view, chunk, as_text)).collect();
        for frame in frames {
            writer.write_batch(&frame.map_err(polars)?).map_err(polars)?;
        }
    }
    writer.finish().map_err(polars)?;
    drop(writer);
    file.flush().map_err(|source| Error::io(path, source))
}

/// One row group of the events file. Clean logs get typed timestamp and
/// revenue columns; dirty logs keep them as text so faults can be written.
fn events_frame(view: &LogView<'_>, rows: &[Row], as_text: bool) -> PolarsResult<DataFrame> {
    let mut user_ids = StringChunkedBuilder::new("user_id".into(), rows.len());
    let mut channels = StringChunkedBuilder::new("channel".into(), rows.len());
    let mut campaigns = StringChunkedBuilder::new("campaign".into(), rows.len());
    let mut stages = StringChunkedBuilder::new("stage".into(), rows.len());
    let mut event_types = StringChunkedBuilder::new("event_type".into(), rows.len());
    let mut scratch = Vec::with_capacity(64);
    for row in rows {
        scratch.clear();
        view.push_user_id(&mut scratch, *row);
        user_ids.append_value(text(&scratch)?);
        channels.append_value(view.channel(*row));
        campaigns.append_option(view.campaign(*row));
        stages.append_value(view.event(*row).stage.as_str());
        event_types.append_value(view.event_type(*row));
    }
    let (timestamps, revenues) = if as_text { text_columns(view, rows)? } else { typed_columns(view, rows) };
    DataFrame::new_infer_height(vec![
        user_ids.finish().into_column(),
        timestamps,
        channels.finish().into_column(),
        campaigns.finish().into_column(),
        stages.finish().into_column(),
        event_types.finish().into_column(),
        revenues,
    ])
}

/// Timestamp as `Datetime(µs, UTC)`, revenue as nullable Float64.
fn typed_columns(view: &LogView<'_>, rows: &[Row]) -> (Column, Column) {
    let micros: Vec<i64> = rows.iter().map(|row| view.event(*row).time * 1_000_000).collect();
    let timestamps =
        Int64Chunked::from_vec("timestamp".into(), micros).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let revenues: Vec<Option<f64>> = rows
        .iter()
        .map(|row| {
            let event = view.event(*row);
            (event.kind == EventKind::Conversion).then(|| f64::from(event.revenue_cents) / 100.0)
        })
        .collect();
    let revenues = Float64Chunked::from_slice_options("revenue".into(), &revenues);
    (timestamps.into_column(), revenues.into_column())
}

/// Timestamp and revenue as the same text the CSV carries (unquoted).
fn text_columns(view: &LogView<'_>, rows: &[Row]) -> PolarsResult<(Column, Column)> {
    let mut timestamps = StringChunkedBuilder::new("timestamp".into(), rows.len());
    let mut revenues = StringChunkedBuilder::new("revenue".into(), rows.len());
    let mut scratch = Vec::with_capacity(32);
    for row in rows {
        scratch.clear();
        view.push_timestamp(&mut scratch, *row);
        timestamps.append_value(text(&scratch)?);
        scratch.clear();
        if view.push_revenue(&mut scratch, *row, false) {
            revenues.append_value(text(&scratch)?);
        } else {
            revenues.append_null();
        }
    }
    Ok((timestamps.finish().into_column(), revenues.finish().into_column()))
}

fn text(bytes: &[u8]) -> PolarsResult<&str> {
    std::str::from_utf8(bytes).map_err(|error| PolarsError::ComputeError(error.to_string().into()))
}
