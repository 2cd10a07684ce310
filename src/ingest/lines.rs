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

/// The records of `data` (whole records, the first being record `first`)
/// that have more fields than `expected`, with the reader's quoting rules.
pub(crate) fn ragged_records(data: &[u8], first: u64, expected: u64, delimiter: u8) -> Vec<u64> {
    let mut ragged = Vec::new();
    let mut in_quotes = false;
    let mut fields: u64 = 1;
    let mut record = first;
    for &byte in data {
        if byte == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && byte == delimiter {
            fields += 1;
        } else if !in_quotes && byte == b'\n' {
            if fields > expected {
                ragged.push(record);
            }
            record += 1;
            fields = 1;
        }
    }
    // A last record without a line break.
    if data.last().is_some_and(|&byte| byte != b'\n') && fields > expected {
        ragged.push(record);
    }
    ragged
}

/// The fields of a header line, with the reader's quoting rules.
pub(crate) fn field_count(header: &[u8], delimiter: u8) -> u64 {
    let mut in_quotes = false;
    let mut fields = 1;
    for &byte in header {
        if byte == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && byte == delimiter {
            fields += 1;
        }
    }
    fields
}

/// The records of `data` (the first being record `first`) that hold bytes
/// that are not UTF-8.
pub(crate) fn invalid_records(data: &[u8], first: u64) -> Vec<u64> {
    let mut invalid = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    let mut record = first;
    for (index, &byte) in data.iter().enumerate() {
        if byte == b'"' {
            in_quotes = !in_quotes;
        } else if byte == b'\n' && !in_quotes {
            if std::str::from_utf8(&data[start..index]).is_err() {
                invalid.push(record);
            }
            record += 1;
            start = index + 1;
        }
    }
    if start < data.len() && std::str::from_utf8(&data[start..]).is_err() {
        invalid.push(record);
    }
    invalid
}

/// A CSV file read in chunks of whole records, each chunk with the file's
/// header line in front, so that a reader parses it as it would the file.
pub(crate) struct CsvChunks {
    path: std::path::PathBuf,
    reader: BufReader<File>,
    /// The header line, with its line break.
    header: Vec<u8>,
    /// Bytes read past the end of the last chunk.
    carry: Vec<u8>,
    /// The index of the next chunk's first record.
    next_record: u64,
    /// Bytes a chunk holds at least, unless the file ends first.
    target: usize,
    /// The file is read to its end.
    ended: bool,
    /// No chunk was handed out yet.
    first: bool,
}

/// One chunk: the header line, then whole records.
pub(crate) struct CsvChunk {
    /// The header line, then the records.
    pub(crate) bytes: Vec<u8>,
    /// Where the records start in `bytes`.
    pub(crate) header_len: usize,
    /// The index in the file of the chunk's first record.
    pub(crate) first_record: u64,
}

impl CsvChunks {
    /// Opens `path` and reads its header line; chunks hold at least
    /// `target` bytes of records.
    pub(crate) fn open(path: &Path, target: usize) -> Result<Self> {
        let file = File::open(path).map_err(|error| Error::io(path, error))?;
        let mut chunks = Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            header: Vec::new(),
            carry: Vec::new(),
            next_record: 0,
            target: target.max(1),
            ended: false,
            first: true,
        };
        // The header ends at the first line break outside quotes.
        let mut data = Vec::new();
        loop {
            let mut in_quotes = false;
            let end = data.iter().position(|&byte| {
                if byte == b'"' {
                    in_quotes = !in_quotes;
                }
                byte == b'\n' && !in_quotes
            });
            if let Some(end) = end {
                chunks.carry = data.split_off(end + 1);
                chunks.header = data;
                return Ok(chunks);
            }
            if !chunks.fill(&mut data, 64 << 10)? {
                chunks.header = data;
                return Ok(chunks);
            }
        }
    }

    /// The header line.
    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }

    /// Appends up to `wanted` bytes of the file to `data`; false at its end.
    fn fill(&mut self, data: &mut Vec<u8>, wanted: usize) -> Result<bool> {
        let read =
            (&mut self.reader).take(wanted as u64).read_to_end(data).map_err(|error| Error::io(&self.path, error))?;
        if read == 0 {
            self.ended = true;
        }
        Ok(read > 0)
    }

    /// The next chunk: at least the target's bytes of whole records, or the
    /// rest of the file; the first chunk is handed out even when the file
    /// has no record, so that its columns are known.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<CsvChunk>> {
        let mut data = std::mem::take(&mut self.carry);
        if data.is_empty() && self.ended && !self.first {
            return Ok(None);
        }
        // Scan for the first line break outside quotes at or past the
        // target, reading more until there is one or the file ends.
        let mut in_quotes = false;
        let mut scanned = 0;
        let mut records = 0;
        let mut cut = None;
        while cut.is_none() {
            for (index, &byte) in data.iter().enumerate().skip(scanned) {
                if byte == b'"' {
                    in_quotes = !in_quotes;
                } else if byte == b'\n' && !in_quotes {
                    records += 1;
                    if index + 1 >= self.target {
                        cut = Some(index + 1);
                        break;
                    }
                }
            }
            if cut.is_some() || self.ended {
                break;
            }
            scanned = data.len();
            let wanted = self.target.saturating_sub(data.len()).max(1 << 20);
            self.fill(&mut data, wanted)?;
        }
        let first_record = self.next_record;
        if let Some(end) = cut {
            self.carry = data.split_off(end);
            self.next_record += records;
        }
        if data.is_empty() && !self.first {
            return Ok(None);
        }
        self.first = false;
        let mut bytes = Vec::with_capacity(self.header.len() + data.len());
        bytes.extend_from_slice(&self.header);
        bytes.extend_from_slice(&data);
        Ok(Some(CsvChunk { bytes, header_len: self.header.len(), first_record }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_more_fields_than_the_header_are_found() {
        let text = "a,b,c\n1,2,3\n1,2,3,4\n\"x,y\",2,3\n\n1,\"multi\nline\",3,4\r\n1,2\n1,2,3,4";
        // Records: 0 fits, 1 has four fields, 2 quotes its comma, 3 is blank,
        // 4 spans two lines with four fields, 5 is short, 6 is long without a
        // final line break.
        let (header, data) = text.split_once('\n').unwrap();
        let expected = field_count(header.as_bytes(), b',');
        assert_eq!(expected, 3);
        assert_eq!(ragged_records(data.as_bytes(), 0, expected, b','), [1, 4, 6]);
        assert_eq!(ragged_records(data.as_bytes(), 10, expected, b','), [11, 14, 16]);
        assert_eq!(ragged_records(data.as_bytes(), 0, field_count(header.as_bytes(), b';'), b';'), Vec::<u64>::new());
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

    #[test]
    fn chunks_hold_whole_records_after_the_header() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.csv");
        let header = "a,\"b\nc\"\n";
        let records = ["1,2\n", "\"3\n4\",5\r\n", "\n", "6,\"x\"\"y\"\n", "7,8"];
        std::fs::write(&path, format!("{header}{}", records.concat())).unwrap();
        for target in [1, 5, 9, 1 << 20] {
            let mut chunks = CsvChunks::open(&path, target).unwrap();
            assert_eq!(chunks.header(), header.as_bytes());
            let (mut data, mut firsts) = (Vec::new(), Vec::new());
            while let Some(chunk) = chunks.next_chunk().unwrap() {
                assert_eq!(&chunk.bytes[..chunk.header_len], header.as_bytes());
                let body = &chunk.bytes[chunk.header_len..];
                // Every chunk but the last ends with a record's line break.
                firsts.push(chunk.first_record);
                data.extend_from_slice(body);
            }
            assert_eq!(String::from_utf8(data).unwrap(), records.concat(), "target {target}");
            let expected: &[u64] = match target {
                1 => &[0, 1, 2, 3, 4],
                5 | 9 => &[0, 2, 4],
                _ => &[0],
            };
            assert_eq!(firsts, expected, "target {target}");
        }
        // A file of a header alone gives one chunk, to know its columns.
        std::fs::write(&path, "a,b").unwrap();
        let mut chunks = CsvChunks::open(&path, 4).unwrap();
        let chunk = chunks.next_chunk().unwrap().unwrap();
        assert_eq!((chunk.bytes.as_slice(), chunk.first_record), (&b"a,b"[..], 0));
        assert!(chunks.next_chunk().unwrap().is_none());
    }

    #[test]
    fn records_with_bytes_that_are_not_utf8_are_found() {
        let data = b"ok,1\n\xff,2\n\"\xfe\nx\",3\nfine \xef\xbf\xbd,4\nlast\xc3";
        assert_eq!(invalid_records(data, 5), [6, 7, 9]);
    }
}
