//! `rejects.csv` and `spend_rejects.csv`: every rejected row, where it was,
//! why, and its values as read.

use std::io::{self, Write};

use super::CsvWriter;
use crate::config::{EVENT_COLUMNS, SPEND_COLUMNS};
use crate::ingest::{FileRows, Reject};

/// Writes the touchpoint log's rejected rows.
///
/// # Errors
///
/// Whatever the sink returns.
pub fn write_event_rejects(sink: &mut dyn Write, files: &[FileRows], rejects: &[Reject]) -> io::Result<()> {
    write_rejects(sink, files, rejects, &EVENT_COLUMNS)
}

/// Writes the spend table's rejected rows.
///
/// # Errors
///
/// Whatever the sink returns.
pub fn write_spend_rejects(sink: &mut dyn Write, files: &[FileRows], rejects: &[Reject]) -> io::Result<()> {
    write_rejects(sink, files, rejects, &SPEND_COLUMNS)
}

fn write_rejects(sink: &mut dyn Write, files: &[FileRows], rejects: &[Reject], columns: &[&str]) -> io::Result<()> {
    let mut writer = CsvWriter::new(sink);
    let header = ["file", "row", "reason", "column", "detail"];
    writer.record(header.iter().chain(columns).map(|name| Some(*name)))?;
    for reject in rejects {
        let file = files.get(reject.file).map(|file| file.path.to_string_lossy().into_owned()).unwrap_or_default();
        let line = reject.line.to_string();
        let fixed = [
            Some(file.as_str()),
            Some(line.as_str()),
            Some(reject.reason.as_str()),
            Some(reject.column),
            Some(&*reject.detail),
        ];
        writer.record(fixed.into_iter().chain(reject.values.iter().map(Option::as_deref)))?;
    }
    Ok(())
}
