//! Finding input files and reading them into polars frames.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{CsvEncoding, CsvReadOptions, DataFrame, ParquetReader, SerReader};

use crate::format::FileFormat;
use crate::{Error, Result};

/// One data file to read, with the hive partition values its folders give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The file's path.
    pub path: PathBuf,
    /// Its format, from the extension.
    pub format: FileFormat,
    /// `key=value` folder names between the directory given and the file,
    /// outermost first.
    pub partitions: Vec<(String, String)>,
    /// The table itself, when it was handed over in memory rather than
    /// named by a path (then `path` is only its name in reports).
    pub table: Option<MemoryTable>,
}

/// A table handed over in memory ([`FileFormat::Arrow`]), shared rather than
/// copied: cloning it clones a reference.
#[derive(Clone, Debug)]
pub struct MemoryTable {
    /// Its columns.
    pub frame: Arc<DataFrame>,
    /// When the table is a part of a larger one (a partition of a
    /// distributed log), the 0-based index of each of its rows in the whole
    /// table, by which rejected rows are named; otherwise rows are numbered
    /// in order.
    pub records: Option<Arc<[u64]>>,
}

impl PartialEq for MemoryTable {
    /// The same table, not an equal one.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.frame, &other.frame)
    }
}

impl Eq for MemoryTable {}

impl SourceFile {
    /// A table handed over in memory, reported under `name`: its rows are
    /// numbered from 1, like a Parquet file's, in rejects and messages.
    #[must_use]
    pub fn in_memory(name: impl Into<PathBuf>, frame: DataFrame) -> Self {
        Self {
            path: name.into(),
            format: FileFormat::Arrow,
            partitions: Vec::new(),
            table: Some(MemoryTable { frame: Arc::new(frame), records: None }),
        }
    }

    /// A part of a larger table handed over in memory, reported under
    /// `name`: `records[i]` is the 0-based index of row `i` in the whole
    /// table, so a rejected row is named as a run over the whole table names
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when `records` does not give one index per row.
    pub fn in_memory_part(name: impl Into<PathBuf>, frame: DataFrame, records: Vec<u64>) -> Result<Self> {
        if records.len() != frame.height() {
            return Err(Error::Internal(format!(
                "{} row indices for a table of {} rows",
                records.len(),
                frame.height()
            )));
        }
        let mut source = Self::in_memory(name, frame);
        if let Some(table) = &mut source.table {
            table.records = Some(records.into());
        }
        Ok(source)
    }
}

/// Expands the paths given on the command line into data files, sorted by
/// path so that the order never depends on the file system.
///
/// A file must end in `.csv`, `.parquet` or `.pq`. A directory is searched
/// recursively for such files; names starting with `.` or `_` (such as
/// `_SUCCESS` markers and hidden files) are skipped, and `key=value` folder
/// names become partition columns.
///
/// # Errors
///
/// [`Error::Input`] for a path that does not exist, a file of another format
/// or a directory without data files; [`Error::Io`] when a directory cannot be
/// listed.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => {
                Error::Input { path: path.clone(), reason: "no such file or directory".to_owned() }
            }
            _ => Error::io(path, source),
        })?;
        if metadata.is_dir() {
            let before = files.len();
            walk(path, path, &mut files)?;
            if files.len() == before {
                return Err(Error::Input {
                    path: path.clone(),
                    reason: "directory holds no .csv or .parquet file".to_owned(),
                });
            }
        } else {
            let format = FileFormat::from_path(path).ok_or_else(|| Error::Input {
                path: path.clone(),
                reason: "unrecognised file type; expected a .csv or .parquet file".to_owned(),
            })?;
            files.push(SourceFile { path: path.clone(), format, partitions: Vec::new(), table: None });
        }
    }
    files.sort_by(|left, right| left.path.cmp(&right.path));
    files.dedup_by(|left, right| left.path == right.path);
    Ok(files)
}

fn walk(root: &Path, directory: &Path, files: &mut Vec<SourceFile>) -> Result<()> {
    let entries = fs::read_dir(directory).map_err(|source| Error::io(directory, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::io(directory, source))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let file_type = entry.file_type().map_err(|source| Error::io(&path, source))?;
        if file_type.is_dir() || (file_type.is_symlink() && path.is_dir()) {
            walk(root, &path, files)?;
        } else if let Some(format) = FileFormat::from_path(&path) {
            let partitions = partitions_of(root, &path);
            files.push(SourceFile { path, format, partitions, table: None });
        }
    }
    Ok(())
}

fn partitions_of(root: &Path, file: &Path) -> Vec<(String, String)> {
    let Ok(relative) = file.strip_prefix(root) else {
        return Vec::new();
    };
    let Some(folders) = relative.parent() else {
        return Vec::new();
    };
    folders
        .components()
        .filter_map(|component| {
            let text = component.as_os_str().to_str()?;
            let (key, value) = text.split_once('=')?;
            Some((key.to_owned(), percent_decode(value)))
        })
        .collect()
}

/// Hive writers percent-encode special characters in partition values.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = value.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file as read.
pub(crate) struct ReadFile {
    /// Its columns.
    pub(crate) frame: DataFrame,
    /// The BLAKE3 hash of its bytes, in hex.
    pub(crate) blake3: String,
    /// The 0-based data records of a CSV file that hold bytes that are not
    /// UTF-8, sorted: those bytes were read as U+FFFD, and these rows are
    /// rejected when a column read holds one.
    pub(crate) invalid: Vec<u64>,
    /// The 0-based data records of a CSV file with more fields than its
    /// header, sorted: they are rejected.
    pub(crate) ragged: Vec<u64>,
}

/// Rows of a file decoded at once (a CSV file's chunks hold about as many):
/// memory holds one chunk of a file's columns at a time, whatever its size.
pub const CHUNK_ROWS: usize = 1 << 20;

/// Reads a file chunk by chunk, handing `each` every chunk with the index of
/// its first row in the file; returns the file's BLAKE3 hash (hex), computed
/// at the same time, and the number of chunks. A Parquet file is read in
/// slices of `rows_per_chunk` rows, a CSV file in chunks of whole records of
/// about `rows_per_chunk` × 64 bytes, a table in memory whole.
///
/// The next chunk is decoded on another thread while `each` works on this
/// one, so that decoding (partly serial) and parsing overlap; memory holds
/// at most two chunks' columns, and a third being decoded.
pub(crate) fn read_chunks(
    source: &SourceFile,
    delimiter: u8,
    rows_per_chunk: usize,
    each: &mut dyn FnMut(ReadFile, usize) -> Result<()>,
) -> Result<(String, usize)> {
    let rows = match (source.format, &source.table) {
        (FileFormat::Parquet, None) => parquet_rows(source)?,
        (FileFormat::Csv, None) => {
            check_not_empty(source)?;
            let target = rows_per_chunk.saturating_mul(CSV_CHUNK_BYTES_PER_ROW);
            return pipelined(source, each, &|send| read_csv_chunks(source, delimiter, target, send));
        }
        _ => 0,
    };
    if rows <= rows_per_chunk {
        let file = read_file(source, delimiter)?;
        let blake3 = file.blake3.clone();
        each(file, 0)?;
        return Ok((blake3, 1));
    }
    pipelined(source, each, &|send| {
        for offset in (0..rows).step_by(rows_per_chunk) {
            let file = fs::File::open(&source.path).map_err(|error| Error::io(&source.path, error))?;
            let frame = ParquetReader::new(file)
                .with_slice(Some((offset, rows_per_chunk)))
                .finish()
                .map_err(|error| parquet_error(source, &error))?;
            if !send(ReadFile { frame, blake3: String::new(), invalid: Vec::new(), ragged: Vec::new() }, offset) {
                break;
            }
        }
        Ok(rows.div_ceil(rows_per_chunk))
    })
}

/// Sends a chunk and the index of its first row; false once nobody takes it.
type SendChunk<'a> = &'a dyn Fn(ReadFile, usize) -> bool;

/// Reads a file's chunks, sending each; returns how many.
type Reader<'a> = dyn Fn(SendChunk<'_>) -> Result<usize> + Sync + 'a;

/// Hands what `read` sends ([`ReadFile`] and the index of its first row) to
/// `each`, one chunk ahead: `read` runs on a thread of its own (and
/// `send` returns false once `each` has failed, so that `read` stops),
/// while the file is hashed on a third. Returns the hash and what `read`
/// returns, the number of chunks.
fn pipelined(
    source: &SourceFile,
    each: &mut dyn FnMut(ReadFile, usize) -> Result<()>,
    read: &Reader<'_>,
) -> Result<(String, usize)> {
    std::thread::scope(|scope| {
        let hash = scope.spawn(|| hash_file(&source.path));
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(ReadFile, usize)>(1);
        let reader = scope.spawn(move || read(&|file, offset| sender.send((file, offset)).is_ok()));
        let mut consumed = Ok(());
        for (file, offset) in &receiver {
            consumed = each(file, offset);
            if consumed.is_err() {
                break;
            }
        }
        // The reader stops at its next chunk once nobody receives.
        drop(receiver);
        let chunks = reader.join().map_err(|_| Error::Internal(format!("reading {} failed", source.path.display())))?;
        consumed?;
        Ok((joined(source, hash.join())?, chunks?))
    })
}

/// Bytes of CSV records per row of a chunk's target: a chunk of a CSV file
/// holds about as many bytes as this many times the rows a Parquet chunk
/// holds (a touchpoint log's rows are 60 to 120 bytes long).
const CSV_CHUNK_BYTES_PER_ROW: usize = 64;

/// The hash a hashing thread computed.
fn joined(source: &SourceFile, hash: std::thread::Result<Result<String>>) -> Result<String> {
    hash.map_err(|_| Error::Internal(format!("hashing {} failed", source.path.display())))?
}

/// Reads a CSV file in chunks of whole records of about `target` bytes,
/// sending each with the index of its first record (until `send` returns
/// false); returns the number of chunks.
fn read_csv_chunks(source: &SourceFile, delimiter: u8, target: usize, send: SendChunk<'_>) -> Result<usize> {
    let mut chunks = super::lines::CsvChunks::open(&source.path, target)?;
    let expected = super::lines::field_count(chunks.header(), delimiter);
    let mut count = 0;
    while let Some(chunk) = chunks.next_chunk()? {
        let first = chunk.first_record;
        let file = read_csv_chunk(source, &chunk, delimiter, expected)?;
        // The chunk's bytes go before its rows are parsed.
        drop(chunk);
        let offset = usize::try_from(first).map_err(|_| Error::Internal("record index beyond memory".to_owned()))?;
        count += 1;
        if !send(file, offset) {
            break;
        }
    }
    Ok(count)
}

/// Reads one chunk. Columns are all read as text, so that every value can
/// be validated (and reported) exactly as written. A chunk with bytes that
/// are not UTF-8, or with records of more fields than the header, is read
/// leniently (bytes replaced with U+FFFD, extra fields cut), and the
/// records at fault are listed, so that only they are rejected.
fn read_csv_chunk(
    source: &SourceFile,
    chunk: &super::lines::CsvChunk,
    delimiter: u8,
    expected: u64,
) -> Result<ReadFile> {
    let data = &chunk.bytes[chunk.header_len..];
    // Only a chunk that is not UTF-8 (in a record or in its header) is read
    // leniently, and only then are its records checked one by one.
    let (invalid, encoding) = if std::str::from_utf8(&chunk.bytes).is_ok() {
        (Vec::new(), CsvEncoding::Utf8)
    } else {
        (super::lines::invalid_records(data, chunk.first_record), CsvEncoding::LossyUtf8)
    };
    let read = |truncate: bool| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_raise_if_empty(false)
            .with_rechunk(true)
            .map_parse_options(|options| {
                options.with_separator(delimiter).with_encoding(encoding).with_truncate_ragged_lines(truncate)
            })
            .into_reader_with_file_handle(std::io::Cursor::new(chunk.bytes.as_slice()))
            .finish()
    };
    let decode = |error: polars::prelude::PolarsError| Error::Decode {
        path: source.path.clone(),
        format: "csv",
        message: error.to_string(),
    };
    // Read strictly; only a chunk with records of too many fields is read
    // again, cutting them, so that they can be rejected one by one.
    let (frame, ragged) = match read(false) {
        Ok(frame) => (frame, Vec::new()),
        Err(error) if error.to_string().contains("more fields than defined") => {
            let ragged = super::lines::ragged_records(data, chunk.first_record, expected, delimiter);
            (read(true).map_err(decode)?, ragged)
        }
        Err(error) => return Err(decode(error)),
    };
    Ok(ReadFile { frame, blake3: String::new(), invalid, ragged })
}

/// Rows in a Parquet file, from its footer.
fn parquet_rows(source: &SourceFile) -> Result<usize> {
    let file = fs::File::open(&source.path).map_err(|error| Error::io(&source.path, error))?;
    ParquetReader::new(file).num_rows().map_err(|error| parquet_error(source, &error))
}

fn parquet_error(source: &SourceFile, error: &polars::prelude::PolarsError) -> Error {
    Error::Decode { path: source.path.clone(), format: "parquet", message: error.to_string() }
}

/// Reads a whole file and, at the same time, hashes its bytes (BLAKE3, hex),
/// so that the summary identifies exactly which inputs a report was built on.
pub(crate) fn read_file(source: &SourceFile, delimiter: u8) -> Result<ReadFile> {
    if let Some(table) = &source.table {
        // Columns are shared, not copied; there are no bytes to hash.
        return Ok(ReadFile {
            frame: (*table.frame).clone(),
            blake3: String::new(),
            invalid: Vec::new(),
            ragged: Vec::new(),
        });
    }
    check_not_empty(source)?;
    let (frame, blake3) = rayon::join(|| read_frame(source, delimiter), || hash_file(&source.path));
    Ok(ReadFile { blake3: blake3?, ..frame? })
}

/// An empty file has not even a header: an error rather than no rows.
fn check_not_empty(source: &SourceFile) -> Result<()> {
    let empty = fs::metadata(&source.path).map_err(|error| Error::io(&source.path, error))?.len() == 0;
    if empty {
        return Err(Error::Input {
            path: source.path.clone(),
            reason: "the file is empty; expected a header line naming the columns (or a Parquet file)".to_owned(),
        });
    }
    Ok(())
}

/// The BLAKE3 hash of a file's bytes, in hex.
pub(crate) fn hash_file(path: &Path) -> Result<String> {
    let file = fs::File::open(path).map_err(|error| Error::io(path, error))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).map_err(|error| Error::io(path, error))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Reads a whole file: a CSV file as one chunk (see [`read_csv_chunk`]).
fn read_frame(source: &SourceFile, delimiter: u8) -> Result<ReadFile> {
    match source.format {
        FileFormat::Csv => {
            let mut chunks = super::lines::CsvChunks::open(&source.path, usize::MAX)?;
            let expected = super::lines::field_count(chunks.header(), delimiter);
            let chunk = chunks
                .next_chunk()?
                .ok_or_else(|| Error::Internal(format!("{}: no first chunk", source.path.display())))?;
            read_csv_chunk(source, &chunk, delimiter, expected)
        }
        FileFormat::Parquet | FileFormat::Arrow => {
            let file = fs::File::open(&source.path).map_err(|error| Error::io(&source.path, error))?;
            let frame = ParquetReader::new(file).finish().map_err(|error| parquet_error(source, &error))?;
            Ok(ReadFile { frame, blake3: String::new(), invalid: Vec::new(), ragged: Vec::new() })
        }
    }
}

/// Bytes per row assumed for a CSV file when estimating its events: short
/// for a touchpoint log, so that the estimate errs on the side of more rows.
pub const CSV_BYTES_PER_ROW: u64 = 40;

/// An estimate of the rows in `files`, to plan memory: exact for Parquet
/// (from the footer), the size over [`CSV_BYTES_PER_ROW`] for CSV.
///
/// # Errors
///
/// [`Error::Io`] when a file cannot be opened, [`Error::Decode`] when a
/// Parquet footer cannot be read.
pub fn estimate_events(files: &[SourceFile]) -> Result<u64> {
    let mut rows = 0_u64;
    for source in files {
        let io = |error| Error::io(&source.path, error);
        if let Some(table) = &source.table {
            rows += table.frame.height() as u64;
            continue;
        }
        rows += match source.format {
            FileFormat::Csv => fs::metadata(&source.path).map_err(io)?.len() / CSV_BYTES_PER_ROW,
            FileFormat::Parquet | FileFormat::Arrow => parquet_rows(source)? as u64,
        };
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// A CSV file of `rows` records of about 20 bytes.
    fn csv_file(rows: usize) -> (tempfile::TempDir, SourceFile) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.csv");
        let mut text = String::from("user_id,timestamp\n");
        for row in 0..rows {
            writeln!(text, "u{row:05},2026-01-0{}", row % 9 + 1).unwrap();
        }
        fs::write(&path, text).unwrap();
        let source = SourceFile { path, format: FileFormat::Csv, partitions: Vec::new(), table: None };
        (directory, source)
    }

    #[test]
    fn chunks_arrive_in_order_while_the_next_is_read() {
        let (_directory, source) = csv_file(5_000);
        let mut seen = Vec::new();
        // About 64 rows a chunk.
        let (blake3, chunks) = read_chunks(&source, b',', 1, &mut |file, offset| {
            seen.push((offset, file.frame.height()));
            Ok(())
        })
        .unwrap();
        assert_eq!(blake3, hash_file(&source.path).unwrap());
        assert_eq!(chunks, seen.len());
        assert!(chunks > 10, "{chunks} chunks");
        let mut next = 0;
        for (offset, rows) in seen {
            assert_eq!(offset, next);
            next += rows;
        }
        assert_eq!(next, 5_000);
    }

    #[test]
    fn a_chunk_that_fails_stops_the_reading() {
        let (_directory, source) = csv_file(5_000);
        let mut calls = 0;
        let error = read_chunks(&source, b',', 1, &mut |_, offset| {
            calls += 1;
            if offset > 0 { Err(Error::Internal(format!("failed at {offset}"))) } else { Ok(()) }
        })
        .unwrap_err();
        assert_eq!(calls, 2);
        assert!(error.to_string().contains("failed at"), "{error}");
    }

    #[test]
    fn directories_expand_to_sorted_files_with_partitions() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("date=2026-01-01").join("channel=paid%20search");
        fs::create_dir_all(&nested).unwrap();
        fs::write(nested.join("part-1.parquet"), b"").unwrap();
        fs::write(root.path().join("b.csv"), b"").unwrap();
        fs::write(root.path().join("a.CSV"), b"").unwrap();
        fs::write(root.path().join("_SUCCESS"), b"").unwrap();
        fs::write(root.path().join(".hidden.csv"), b"").unwrap();
        fs::write(root.path().join("notes.txt"), b"").unwrap();

        let files = discover(&[root.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files.iter().map(|file| file.path.strip_prefix(root.path()).unwrap().to_owned()).collect();
        assert_eq!(
            names,
            [
                PathBuf::from("a.CSV"),
                PathBuf::from("b.csv"),
                PathBuf::from("date=2026-01-01/channel=paid%20search/part-1.parquet")
            ]
        );
        assert_eq!(
            files[2].partitions,
            [("date".to_owned(), "2026-01-01".to_owned()), ("channel".to_owned(), "paid search".to_owned())]
        );
    }

    #[test]
    fn files_are_identified_by_their_blake3_hash() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("empty.csv");
        fs::write(&path, b"").unwrap();
        // The published hash of the empty input.
        assert_eq!(hash_file(&path).unwrap(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(hash_file(&path).unwrap(), "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
    }

    #[test]
    fn unusable_paths_are_explained() {
        let root = tempfile::tempdir().unwrap();
        let missing = discover(&[root.path().join("nope.csv")]).unwrap_err();
        assert!(missing.to_string().ends_with("nope.csv: no such file or directory"), "{missing}");
        fs::write(root.path().join("events.json"), b"{}").unwrap();
        let wrong = discover(&[root.path().join("events.json")]).unwrap_err();
        assert!(wrong.to_string().contains("expected a .csv or .parquet file"), "{wrong}");
        let empty = discover(&[root.path().to_path_buf()]).unwrap_err();
        assert!(empty.to_string().contains("holds no .csv or .parquet file"), "{empty}");
    }
}
