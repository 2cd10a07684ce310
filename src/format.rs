//! File formats touchpath reads and writes.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A tabular file format, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Comma-separated values with a header line (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// A table handed over in memory through the Arrow C interfaces (the
    /// Python package, a Spark executor): read, never written.
    Arrow,
}

impl FileFormat {
    /// The format a path's extension names, if any (case-insensitive).
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// The extension written for this format, without the dot.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Arrow => "arrow",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.extension())
    }
}

/// `value`, which is `what` (for the message), as postcard bytes: spill
/// files, states, fits, credits and the payloads of Spark's partitions.
/// postcard's own vector (`to_stdvec`) appends each value's bytes, a varint
/// of one to ten, with a call to `memcpy`; appended through `Extend`, the
/// bytes are the same and take 0.6 to 0.75 times as long to encode (the
/// `encode` benchmark, `docs/performance.md`).
///
/// # Errors
///
/// [`Error::Internal`] when `value`'s serialisation fails.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_extend(value, Vec::new()).map_err(|error| Error::Internal(format!("cannot encode {what}: {error}")))
}
