//! Physical line numbers of CSV records, for reject reports.
//!
//! A record's index and its line number differ when quoted fields hold line
//! breaks or the file has blank lines, so the file is scanned once more, with
//! the same quoting rules as the reader, only when it has rejected rows.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::{Error, Result};

/// For each 0-based data record index in `records` (sorted ascending), the
/// 1-based line on which that record starts. The header is record `-1`, on
/// the first non-blank line.
pub(crate) fn record_lines(path: &Path, records: &[u64]) -> Result<Vec<u64>> {
    let file = File::open(path).map_err(|error| Error::io(path, error))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = vec![0_u8; 1 << 20];
    let mut lines = Vec::with_capacity(records.len());
    let mut wanted = records.iter().copied().peekable();

    let mut line: u64 = 1;
    let mut in_quotes = false;
    let mut record_open = false;
    // Data records seen so far, counting the header as the first.
    let mut started: u64 = 0;
    loop {
        let read = reader.read(&mut buffer).map_err(|error| Error::io(path, error))?;
        if read == 0 {
            break;
        }
        for &byte in &buffer[..read] {
            if !record_open && byte != b'\n' && byte != b'\r' {
                record_open = true;
                // `started` counts the header, so record `r` is the `r + 2`th.
                if started >= 1 && wanted.peek() == Some(&(started - 1)) {
                    lines.push(line);
                    wanted.next();
                }
                started += 1;
            }
            match byte {
                b'"' => in_quotes = !in_quotes,
                b'\n' => {
                    line += 1;
                    if !in_quotes {
                        record_open = false;
                    }
                }
                _ => {}
            }
        }
        if wanted.peek().is_none() {
            break;
        }
    }
    // Records the scan did not reach (which a reader agreeing with us never
    // produces) keep their index-based position rather than failing the run.
    for record in wanted {
        lines.push(record + 2);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_line_breaks_and_blank_lines_shift_line_numbers() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.csv");
        let text = "a,b\n1,2\n\"multi\nline\",3\n\n4,\"x\"\"y\"\r\n5,6\n";
        std::fs::write(&path, text).unwrap();
        assert_eq!(record_lines(&path, &[0, 1, 2, 3]).unwrap(), [2, 3, 6, 7]);
        assert_eq!(record_lines(&path, &[2]).unwrap(), [6]);
        assert_eq!(record_lines(&path, &[]).unwrap(), Vec::<u64>::new());
    }
}
