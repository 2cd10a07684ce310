//! Writing a run's files: all into a fresh directory beside `--out`, moved
//! into place only when everything is written, so a reader sees the previous
//! complete report or the new complete report, never a mix.

mod csv;
mod journeys;
mod rejects;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use self::csv::CsvWriter;
pub use self::journeys::write_journeys;
pub use self::rejects::{write_event_rejects, write_spend_rejects};
use crate::{Error, Result};

/// The file every touchpath output directory holds; its presence is what
/// lets a later run replace the directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// A run's output directory while it is being written.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: tempfile::TempDir,
}

impl OutputDir {
    /// Prepares to write `target`.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when `target` exists but is not a directory, or is a
    /// non-empty directory without a `summary.json` (so not a previous
    /// report: touchpath never replaces other files); [`Error::Io`] when the
    /// staging directory cannot be created.
    pub fn create(target: &Path) -> Result<Self> {
        if target.exists() {
            if !target.is_dir() {
                return Err(Error::Input {
                    path: target.to_owned(),
                    reason: "exists and is not a directory".to_owned(),
                });
            }
            let empty = fs::read_dir(target).map_err(|error| Error::io(target, error))?.next().is_none();
            if !empty && !target.join(SUMMARY_FILE).is_file() {
                return Err(Error::Input {
                    path: target.to_owned(),
                    reason: "is not empty and holds no touchpath report (no summary.json); refusing to replace it"
                        .to_owned(),
                });
            }
        }
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|error| Error::io(&parent, error))?;
        let name =
            target.file_name().map_or_else(|| "touchpath-out".into(), |name| name.to_string_lossy().into_owned());
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(&parent)
            .map_err(|error| Error::io(&parent, error))?;
        Ok(Self { target: target.to_owned(), staging })
    }

    /// Where `name` is written until the directory is committed.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    /// Writes one file through a buffered writer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be created or written.
    pub fn write(&self, name: &str, contents: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        let path = self.path(name);
        let file = fs::File::create(&path).map_err(|error| Error::io(&path, error))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        contents(&mut writer).map_err(|error| Error::io(&path, error))?;
        let file = writer.into_inner().map_err(|error| Error::io(&path, error.into_error()))?;
        file.sync_all().map_err(|error| Error::io(&path, error))
    }

    /// Moves the finished directory into place, replacing the previous report
    /// in one atomic step where the platform allows.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be moved.
    pub fn commit(self) -> Result<PathBuf> {
        let staging = self.staging.keep();
        let io = |error| Error::io(&self.target, error);
        if self.target.exists() {
            swap(&staging, &self.target).map_err(io)?;
            // `staging` now holds the previous report.
            fs::remove_dir_all(&staging).map_err(|error| Error::io(&staging, error))?;
        } else {
            fs::rename(&staging, &self.target).map_err(io)?;
        }
        Ok(self.target)
    }
}

/// Exchanges two directories atomically (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn swap(staging: &Path, target: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, staging, CWD, target, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Elsewhere: two renames, leaving a moment when `target` is absent but never
/// one where it is half-written.
#[cfg(not(target_os = "linux"))]
fn swap(staging: &Path, target: &Path) -> std::io::Result<()> {
    let parked = staging.with_extension("old");
    fs::rename(target, &parked)?;
    fs::rename(staging, target)?;
    fs::rename(&parked, staging)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_previous_report_whole() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = OutputDir::create(&target).unwrap();
        first.write(SUMMARY_FILE, |writer| writer.write_all(b"one")).unwrap();
        first.write("extra.csv", |writer| writer.write_all(b"x")).unwrap();
        first.commit().unwrap();

        let second = OutputDir::create(&target).unwrap();
        second.write(SUMMARY_FILE, |writer| writer.write_all(b"two")).unwrap();
        // Before the commit, readers still see the first report.
        assert_eq!(fs::read(target.join(SUMMARY_FILE)).unwrap(), b"one");
        second.commit().unwrap();
        assert_eq!(fs::read(target.join(SUMMARY_FILE)).unwrap(), b"two");
        assert!(!target.join("extra.csv").exists());
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["out"]);
    }

    #[test]
    fn an_abandoned_run_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let run = OutputDir::create(&target).unwrap();
        run.write(SUMMARY_FILE, |writer| writer.write_all(b"partial")).unwrap();
        drop(run);
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn foreign_directories_are_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("thesis.tex"), b"precious").unwrap();
        let error = OutputDir::create(root.path()).unwrap_err();
        assert!(error.to_string().contains("refusing to replace it"), "{error}");
    }
}
