//! Finding input files and reading them into polars frames.

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::{CsvReadOptions, DataFrame, ParquetReader, SerReader};

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
            files.push(SourceFile { path: path.clone(), format, partitions: Vec::new() });
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
            files.push(SourceFile { path, format, partitions });
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

/// Reads a whole file. CSV columns are all read as text, so that every value
/// can be validated (and reported) exactly as written.
pub(crate) fn read_frame(source: &SourceFile) -> Result<DataFrame> {
    let decode = |error: polars::prelude::PolarsError| Error::Decode {
        path: source.path.clone(),
        format: match source.format {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        },
        message: error.to_string(),
    };
    match source.format {
        FileFormat::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_raise_if_empty(false)
            .with_rechunk(true)
            .try_into_reader_with_file_path(Some(source.path.clone()))
            .and_then(SerReader::finish)
            .map_err(decode),
        FileFormat::Parquet => {
            let file = fs::File::open(&source.path).map_err(|error| Error::io(&source.path, error))?;
            ParquetReader::new(file).finish().map_err(decode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
