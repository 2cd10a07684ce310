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
pub use self::journeys::{JourneysFile, check_journeys_target, journeys_table};
pub use self::rejects::{write_event_rejects, write_set_aside_users, write_spend_rejects};
use crate::{Error, Result};

/// The file every touchpath output directory holds; its presence is what
/// lets a later run replace the directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// The manifest of a state or credit directory (see [`crate::state`]),
/// which a run writing a state may replace as a report replaces a report.
pub const MANIFEST_FILE: &str = "state.json";

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
    /// non-empty directory without a `summary.json` or a `state.json` (so not
    /// a previous report or state: touchpath never replaces other files);
    /// [`Error::Io`] when the
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
            if !empty && !target.join(SUMMARY_FILE).is_file() && !target.join(MANIFEST_FILE).is_file() {
                return Err(Error::Input {
                    path: target.to_owned(),
                    reason: "is not empty and holds no touchpath report or state (no summary.json or state.json); \
                             refusing to replace it"
                        .to_owned(),
                });
            }
        }
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if let Some(file) = parent.ancestors().find(|ancestor| ancestor.is_file()) {
            return Err(Error::Input {
                path: file.to_owned(),
                reason: format!("is a file, so the output directory {} cannot be created in it", target.display()),
            });
        }
        fs::create_dir_all(&parent).map_err(|error| Error::io(&parent, error))?;
        let name =
            target.file_name().map_or_else(|| "touchpath-out".into(), |name| name.to_string_lossy().into_owned());
        let staging = staging_dir(&parent, &format!(".{name}.tmp-"))?;
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

/// Writes one file atomically: into a temporary file beside `target`, then
/// renamed over it, so that a reader never sees it half-written.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written or moved into place.
pub fn write_file(target: &Path, contents: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let directory = parent_dir(target)?;
    let staging = staging_file(&directory, target)?;
    let mut writer = BufWriter::new(staging.as_file());
    contents(&mut writer).map_err(|error| Error::io(target, error))?;
    writer.flush().map_err(|error| Error::io(target, error))?;
    drop(writer);
    staging.as_file().sync_all().map_err(|error| Error::io(target, error))?;
    staging.persist(target).map_err(|error| Error::io(target, error.error))?;
    Ok(())
}

/// The folder `path` goes in (`.` for a bare name), created if need be.
///
/// # Errors
///
/// [`Error::Io`] when it cannot be created.
pub(crate) fn parent_dir(path: &Path) -> Result<PathBuf> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|error| Error::io(&parent, error))?;
    Ok(parent)
}

/// A temporary folder in `directory`, named `PREFIX-PID-XXXXXX` so that a
/// later call removes it if this run is killed; removed when dropped.
pub(crate) fn staging_dir(directory: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    remove_abandoned(directory, prefix);
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(directory)
        .map_err(|error| Error::io(directory, error))
}

/// A temporary file beside `target`, named `.NAME.tmp-PID-XXXXXX` so that a
/// later run removes it if this one is killed before renaming it.
pub(crate) fn staging_file(directory: &Path, target: &Path) -> Result<tempfile::NamedTempFile> {
    let name = target.file_name().map_or_else(|| "touchpath".into(), |name| name.to_string_lossy().into_owned());
    let prefix = format!(".{name}.tmp-");
    remove_abandoned(directory, &prefix);
    let unique = format!("{prefix}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&unique);
    // A published file is read by others, like the report's files: not the
    // owner-only mode of a temporary file.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(directory).map_err(|error| Error::io(directory, error))
}

/// Removes the staging directories and files of runs that were killed
/// before they could clean up (`.NAME.tmp-PID-XXXXXX` whose process is
/// gone). Best effort: what cannot be removed is left for the next run.
fn remove_abandoned(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.strip_prefix(prefix)).and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        if pid.0.parse::<u32>().is_ok_and(|pid| !process_alive(pid)) {
            let path = entry.path();
            let _ = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
        }
    }
}

/// Whether a process runs; where that cannot be told, it is assumed to run,
/// so that nothing of a live run is ever removed.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
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

    #[cfg(unix)]
    #[test]
    fn a_written_file_can_be_read_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let target = directory.path().join("evaluate.csv");
        write_file(&target, |sink| sink.write_all(b"a,b\n")).unwrap();
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_to_string(&target).unwrap(), "a,b\n");
    }

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
    fn staging_directories_of_dead_runs_are_removed() {
        let root = tempfile::tempdir().unwrap();
        // No process has pid 4 194 305 (above Linux's largest pid).
        let dead = root.path().join(".out.tmp-4194305-abcdef");
        let live = root.path().join(format!(".out.tmp-{}-abcdef", std::process::id()));
        let other = root.path().join(".other.tmp-4194305-abcdef");
        for directory in [&dead, &live, &other] {
            fs::create_dir(directory).unwrap();
            fs::write(directory.join(SUMMARY_FILE), b"partial").unwrap();
        }
        let run = OutputDir::create(&root.path().join("out")).unwrap();
        assert_eq!(!dead.exists(), cfg!(target_os = "linux"));
        assert!(live.exists() && other.exists());
        drop(run);
    }

    #[test]
    fn foreign_directories_are_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("thesis.tex"), b"precious").unwrap();
        let error = OutputDir::create(root.path()).unwrap_err();
        assert!(error.to_string().contains("refusing to replace it"), "{error}");
    }
}
