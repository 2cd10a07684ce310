use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;
use touchpath::Config;
use touchpath::run::{Report, Request, run};

/// 2026-06-01T00:00:00Z: the "now" of test runs, after every test event.
pub const NOW: i64 = 1_780_272_000_000_000;

/// A scratch directory holding input files and the output directory.
pub struct Workspace {
    pub directory: TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self { directory: tempfile::tempdir().expect("a temporary directory") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// Writes `contents` to `name` (creating folders) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
        fs::write(&path, contents).expect("the file is written");
        path
    }

    /// Runs the library on `events` with `config`, writing to `out/`.
    pub fn run(&self, events: &[PathBuf], spend: &[PathBuf], config: &Config) -> touchpath::Result<Report> {
        let request = Request { spend: spend.to_vec(), now: NOW, ..Request::new(events.to_vec(), self.path("out")) };
        run(&request, config)
    }

    /// The written summary, parsed.
    pub fn summary(&self) -> Value {
        self.summary_of("out")
    }

    /// The summary of the report in `out`, parsed.
    pub fn summary_of(&self, out: &str) -> Value {
        let text = fs::read_to_string(self.path(out).join("summary.json")).expect("summary.json is written");
        serde_json::from_str(&text).expect("summary.json is JSON")
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
    }

    /// Runs the binary in this workspace.
    pub fn touchpath(&self, args: &[&str]) -> Output {
        touchpath_in(self.directory.path(), args)
    }
}

pub fn touchpath_in(directory: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_touchpath"))
        .args(args)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A JSON number as u64.
pub fn count(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("{pointer} is not a count in {value:#}"))
}

/// Every model, in report order.
pub const MODELS: [&str; 9] = [
    "last_click",
    "first_click",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
    "incremental",
];

/// Every file of a directory, by name, with its bytes.
pub fn files(directory: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(directory)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), fs::read(entry.path()).unwrap())
        })
        .collect()
}
