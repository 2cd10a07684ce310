//! `rejects.csv` and `spend_rejects.csv`: every rejected row, where it was,
//! why, and its values as read; and `set_aside_users.csv`.

use std::io::{self, Write};

use super::CsvWriter;
use crate::config::{EVENT_COLUMNS, SPEND_COLUMNS};
use crate::event_log::SetAsideUser;
use crate::ingest::{FileRows, Reject};
use crate::time::format_instant;

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

/// Writes `set_aside_users.csv`: each user set aside for having too many
/// events, with counts and the span of its events.
///
/// # Errors
///
/// Whatever the sink returns.
pub fn write_set_aside_users(sink: &mut dyn Write, users: &[SetAsideUser]) -> io::Result<()> {
    let mut writer = CsvWriter::new(sink);
    writer.record(["user_id", "events", "conversions", "first_event", "last_event"].map(Some))?;
    for user in users {
        let events = user.events.to_string();
        let conversions = user.conversions.to_string();
        let first = format_instant(user.first);
        let last = format_instant(user.last);
        writer.record([&user.user, &events, &conversions, &first, &last].map(|field| Some(field.as_str())))?;
    }
    Ok(())
}
