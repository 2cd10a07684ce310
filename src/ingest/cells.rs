//! Typed access to one input column, whatever the file format stored.
//!
//! CSV columns arrive as text; Parquet columns keep their types. A frame read
//! from a file is parsed one chunk of its columns at a time (one per Parquet
//! row group), so each column is then a single array already; a table handed
//! over in memory is rechunked once into one. Rows are read by index from
//! any thread.

use std::borrow::Cow;

use polars::prelude::{Column, DataType, TimeUnit};
use polars_arrow::array::{Array, PrimitiveArray, Utf8ViewArray};

use crate::time::{LastDate, MICROS_PER_DAY, TimeZone, TimestampError, epoch_integer_to_micros, epoch_to_micros};

/// One column of a file, held as a single array of a type touchpath reads.
pub(crate) enum Cells {
    /// Strings (every CSV column).
    Text(Utf8ViewArray),
    /// Integers of any width, widened.
    Int(PrimitiveArray<i64>),
    /// Floating-point numbers.
    Float(PrimitiveArray<f64>),
    /// A Parquet timestamp: ticks of `unit` since the epoch, in UTC unless
    /// `naive`.
    Instant { ticks: PrimitiveArray<i64>, unit: TimeUnit, naive: bool },
    /// A Parquet date: days since the epoch.
    Date(PrimitiveArray<i32>),
    /// The same value on every row: a hive partition key, or absent (`None`).
    Constant(Option<String>),
}

/// One cell, borrowed from its column.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Instant { ticks: i64, unit: TimeUnit, naive: bool },
    Date(i32),
}

impl Cells {
    /// Converts a polars column into cells, or says which type it had.
    pub(crate) fn from_column(column: &Column) -> Result<Self, DataType> {
        let dtype = column.dtype().clone();
        let series = column.as_materialized_series().rechunk();
        let cells = match &dtype {
            DataType::String => first_chunk::<Utf8ViewArray>(&series).map(Self::Text),
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => {
                let widened = series.cast(&DataType::Int64).map_err(|_| dtype.clone())?;
                first_chunk::<PrimitiveArray<i64>>(&widened).map(Self::Int)
            }
            DataType::Float32 | DataType::Float64 => {
                let widened = series.cast(&DataType::Float64).map_err(|_| dtype.clone())?;
                first_chunk::<PrimitiveArray<f64>>(&widened).map(Self::Float)
            }
            DataType::Datetime(unit, zone) => {
                let physical = series.to_physical_repr();
                first_chunk::<PrimitiveArray<i64>>(&physical).map(|ticks| Self::Instant {
                    ticks,
                    unit: *unit,
                    naive: zone.is_none(),
                })
            }
            DataType::Date => {
                let physical = series.to_physical_repr();
                first_chunk::<PrimitiveArray<i32>>(&physical).map(Self::Date)
            }
            _ => return Err(dtype),
        };
        Ok(cells.unwrap_or(Self::Constant(None)))
    }

    /// True for the kinds that can hold text-like identifiers.
    pub(crate) fn is_textual(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Int(_) | Self::Constant(_))
    }

    /// The 16-byte view of a cell of a text column at `row` (its length
    /// and its bytes when they are few, else where they lie in the column's
    /// buffers; all ones for a null, a length no text has): two cells with
    /// the same view hold the same text. `None` for a column of another
    /// kind.
    pub(crate) fn view(&self, row: usize) -> Option<u128> {
        match self {
            Self::Text(array) if array.is_valid(row) => Some(array.views()[row].as_u128()),
            Self::Text(_) => Some(u128::MAX),
            _ => None,
        }
    }

    /// The cell at `row`.
    pub(crate) fn get(&self, row: usize) -> Cell<'_> {
        match self {
            Self::Text(array) => {
                if array.is_valid(row) {
                    Cell::Text(array.value(row))
                } else {
                    Cell::Null
                }
            }
            Self::Int(array) => valid(array, row).map_or(Cell::Null, Cell::Int),
            Self::Float(array) => valid(array, row).map_or(Cell::Null, Cell::Float),
            Self::Instant { ticks, unit, naive } => {
                valid(ticks, row).map_or(Cell::Null, |value| Cell::Instant { ticks: value, unit: *unit, naive: *naive })
            }
            Self::Date(array) => valid(array, row).map_or(Cell::Null, Cell::Date),
            Self::Constant(value) => value.as_deref().map_or(Cell::Null, Cell::Text),
        }
    }
}

fn valid<T: polars_arrow::types::NativeType>(array: &PrimitiveArray<T>, row: usize) -> Option<T> {
    array.is_valid(row).then(|| array.value(row))
}

/// The single chunk of a rechunked series; `None` for a series with no chunk
/// (no rows), which the caller reads as an all-null column.
fn first_chunk<A: Array + Clone>(series: &polars::prelude::Series) -> Option<A> {
    series.chunks().first().and_then(|chunk| chunk.as_any().downcast_ref::<A>()).cloned()
}

impl<'a> Cell<'a> {
    /// True for a null or an all-blank text.
    pub(crate) fn is_blank(self) -> bool {
        match self {
            Cell::Null => true,
            Cell::Text(text) => crate::time::trim(text).is_empty(),
            _ => false,
        }
    }

    /// The cell as text, for identifiers and for the raw values in rejects.
    pub(crate) fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Cell::Null => None,
            Cell::Text(text) => Some(Cow::Borrowed(text)),
            Cell::Int(value) => Some(Cow::Owned(value.to_string())),
            Cell::Float(value) => Some(Cow::Owned(value.to_string())),
            Cell::Instant { ticks, unit, .. } => Some(Cow::Owned(format!("{ticks} ({unit})"))),
            Cell::Date(days) => Some(Cow::Owned(crate::time::format_date(i64::from(days)))),
        }
    }

    /// The cell as an instant in microseconds since the epoch, UTC.
    pub(crate) fn instant(self, zone: TimeZone) -> Result<i64, TimestampError> {
        self.instant_after(zone, &mut LastDate::default())
    }

    /// [`Cell::instant`], a text's date read with `last` (see
    /// [`crate::time::parse_timestamp_after`]).
    pub(crate) fn instant_after(self, zone: TimeZone, last: &mut LastDate) -> Result<i64, TimestampError> {
        match self {
            Cell::Null => Err(TimestampError::Empty),
            Cell::Text(text) => crate::time::parse_timestamp_after(text, zone, last),
            Cell::Int(value) => epoch_integer_to_micros(value),
            Cell::Float(value) => epoch_to_micros(value),
            Cell::Instant { ticks, unit, naive } => {
                let micros = match unit {
                    TimeUnit::Nanoseconds => ticks.div_euclid(1_000),
                    TimeUnit::Microseconds => ticks,
                    TimeUnit::Milliseconds => ticks.checked_mul(1_000).ok_or(TimestampError::OutOfRange)?,
                };
                if naive { zone.to_instant(micros).ok_or(TimestampError::OutOfRange) } else { Ok(micros) }
            }
            Cell::Date(days) => i64::from(days)
                .checked_mul(MICROS_PER_DAY)
                .and_then(|local| zone.to_instant(local))
                .ok_or(TimestampError::OutOfRange),
        }
    }
}
