//! Physical line numbers of CSV records, for reject reports.
//!
//! A record's index and its line number differ when quoted fields hold line
//! breaks, so the file is scanned once more, with the reader's quoting rules,
//! only when it has rejected rows. Like the reader, the scan counts a blank
//! line as a record (an empty row).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::{Error, Result};

/// For each 0-based data record index in `records` (sorted ascending), the
/// 1-based line on which that record starts. The header is on line 1.
pub(crate) fn record_lines(path: &Path, records: &[u64]) -> Result<Vec<u64>> {
    let file = File::open(path).map_err(|error| Error::io(path, error))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = vec![0_u8; 1 << 20];
    let mut lines = Vec::with_capacity(records.len());
    let mut wanted = records.iter().copied().peekable();

    let mut line: u64 = 1;
    let mut in_quotes = false;
    // The data record that starts after the next unquoted line break.
    let mut next_record: u64 = 0;
    while wanted.peek().is_some() {
        let read = reader.read(&mut buffer).map_err(|error| Error::io(path, error))?;
        if read == 0 {
            break;
        }
        for &byte in &buffer[..read] {
            match byte {
                b'"' => in_quotes = !in_quotes,
                b'\n' => {
                    line += 1;
                    if !in_quotes {
                        if wanted.peek() == Some(&next_record) {
                            lines.push(line);
                            wanted.next();
                        }
                        next_record += 1;
                    }
                }
                _ => {}
            }
        }
    }
    // Records the scan did not reach (which a reader agreeing with it never
    // produces) keep their index-based position rather than failing the run.
    for record in wanted {
        lines.push(record + 2);
    }
    Ok(lines)
}

/// The 0-based data records (the header excluded) that have more fields than
/// the header, with the reader's quoting rules.
pub(crate) fn ragged_records(path: &Path, delimiter: u8) -> Result<Vec<u64>> {
    let file = File::open(path).map_err(|error| Error::io(path, error))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = vec![0_u8; 1 << 20];
    let mut ragged = Vec::new();
    let mut in_quotes = false;
    let mut fields: u64 = 1;
    let mut header_fields: Option<u64> = None;
    let mut record: u64 = 0;
    loop {
        let read = reader.read(&mut buffer).map_err(|error| Error::io(path, error))?;
        if read == 0 {
            break;
        }
        for &byte in &buffer[..read] {
            if byte == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes && byte == delimiter {
                fields += 1;
            } else if !in_quotes && byte == b'\n' {
                match header_fields {
                    None => header_fields = Some(fields),
                    Some(expected) => {
                        if fields > expected {
                            ragged.push(record);
                        }
                        record += 1;
                    }
                }
                fields = 1;
            }
        }
    }
    if let Some(expected) = header_fields
        && fields > expected
    {
        ragged.push(record);
    }
    Ok(ragged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_more_fields_than_the_header_are_found() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.csv");
        let text = "a,b,c\n1,2,3\n1,2,3,4\n\"x,y\",2,3\n\n1,\"multi\nline\",3,4\r\n1,2\n1,2,3,4";
        std::fs::write(&path, text).unwrap();
        // Records: 0 fits, 1 has four fields, 2 quotes its comma, 3 is blank,
        // 4 spans two lines with four fields, 5 is short, 6 is long without a
        // final line break.
        assert_eq!(ragged_records(&path, b',').unwrap(), [1, 4, 6]);
        assert_eq!(ragged_records(&path, b';').unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn quoted_line_breaks_shift_line_numbers_and_blank_lines_are_records() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.csv");
        let text = "a,b\n1,2\n\"multi\nline\",3\n\n4,\"x\"\"y\"\r\n5,6\n";
        std::fs::write(&path, text).unwrap();
        // Records: 1,2 (line 2); "multi/line",3 (3); the blank line (5);
        // 4,"x""y" (6); 5,6 (7).
        assert_eq!(record_lines(&path, &[0, 1, 2, 3, 4]).unwrap(), [2, 3, 5, 6, 7]);
        assert_eq!(record_lines(&path, &[3]).unwrap(), [6]);
        assert_eq!(record_lines(&path, &[]).unwrap(), Vec::<u64>::new());
    }
}
