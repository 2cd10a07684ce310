//! The same events give the same bytes: whatever the thread count, the row
//! order, the split into files or the file format; and a rerun on the same
//! inputs gives the same bytes, summary included.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use touchpath::FileFormat;
use touchpath::generate::{GenerateOptions, generate};

use crate::support::{Workspace, stderr};

/// Every file of a report, by name, and stdout under `stdout`. The summary's
/// `inputs` (file names, sizes and hashes) differ when the files do, so they
/// are left out unless `keep_inputs`.
fn run(workspace: &Workspace, out: &str, args: &[&str], keep_inputs: bool) -> BTreeMap<String, String> {
    let mut full = vec!["run", "--out", out, "--format", "csv", "--journeys-out"];
    let journeys = format!("{out}-journeys.csv");
    full.push(&journeys);
    full.extend_from_slice(args);
    let output = workspace.touchpath(&full);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(workspace.path(out)).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let mut text = workspace.read(&format!("{out}/{name}"));
        if name == "summary.json" && !keep_inputs {
            let mut summary: serde_json::Value = serde_json::from_str(&text).unwrap();
            summary.as_object_mut().unwrap().remove("inputs");
            text = summary.to_string();
        }
        files.insert(name, text);
    }
    files.insert("journeys.csv".to_owned(), workspace.read(&journeys));
    files.insert("stdout".to_owned(), String::from_utf8(output.stdout).unwrap());
    files
}

fn generated(workspace: &Workspace, format: FileFormat, dirty: bool) -> PathBuf {
    let directory = workspace.path(&format!("{}-{}", format.extension(), if dirty { "dirty" } else { "clean" }));
    generate(&GenerateOptions { users: 3_000, seed: 11, dirty, format, ..GenerateOptions::default() }, &directory)
        .unwrap();
    directory
}

fn assert_same(expected: &BTreeMap<String, String>, actual: &BTreeMap<String, String>, what: &str) {
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>(), "{what}: the same files");
    for (name, want) in expected {
        assert!(want == &actual[name], "{what}: {name} differs");
    }
}

/// A generated log and spend table in CSV, and the report of a one-thread run.
fn baseline(workspace: &Workspace, dirty: bool) -> (PathBuf, PathBuf, BTreeMap<String, String>) {
    let csv = generated(workspace, FileFormat::Csv, dirty);
    let (events, spend) = (csv.join("events.csv"), csv.join("spend.csv"));
    let out = if dirty { "baseline-dirty" } else { "baseline" };
    let args = ["--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap(), "--threads", "1"];
    let files = run(workspace, out, &args, false);
    assert!(files["channels.csv"].lines().count() > 50, "a real report: {}", files["channels.csv"]);
    for name in ["paths.csv", "moments.csv", "removal_effects.csv", "set_aside_users.csv", "journeys.csv"] {
        assert!(files.contains_key(name), "{name} in {:?}", files.keys());
    }
    (events, spend, files)
}

#[test]
fn the_thread_count_does_not_change_the_output() {
    let workspace = Workspace::new();
    let (events, spend, expected) = baseline(&workspace, true);
    assert!(expected["rejects.csv"].lines().count() > 10, "a dirty log: {}", expected["rejects.csv"]);
    let two = ["--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap(), "--threads", "2"];
    assert_same(&expected, &run(&workspace, "two-threads", &two, false), "2 threads");
}

#[test]
fn the_row_order_does_not_change_the_output() {
    let workspace = Workspace::new();
    let (events, spend, expected) = baseline(&workspace, false);
    let shuffled = shuffle_and_split(&events, &workspace.path("shuffled"), 1);
    let args = ["--events", shuffled.to_str().unwrap(), "--spend", spend.to_str().unwrap()];
    assert_same(&expected, &run(&workspace, "shuffled-out", &args, false), "shuffled rows");
}

#[test]
fn the_split_into_files_does_not_change_the_output() {
    let workspace = Workspace::new();
    let (events, spend, expected) = baseline(&workspace, false);
    let split = shuffle_and_split(&events, &workspace.path("split"), 3);
    let args = ["--events", split.to_str().unwrap(), "--spend", spend.to_str().unwrap()];
    assert_same(&expected, &run(&workspace, "parts", &args, false), "3 files");
}

#[test]
fn csv_and_parquet_give_the_same_output() {
    let workspace = Workspace::new();
    let (_, _, expected) = baseline(&workspace, false);
    let parquet = generated(&workspace, FileFormat::Parquet, false);
    let (events, spend) = (parquet.join("events.parquet"), parquet.join("spend.parquet"));
    let args = ["--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap()];
    assert_same(&expected, &run(&workspace, "parquet-out", &args, false), "Parquet");
}

#[test]
fn a_rerun_on_the_same_inputs_gives_the_same_bytes() {
    let workspace = Workspace::new();
    let csv = generated(&workspace, FileFormat::Csv, true);
    let (events, spend) = (csv.join("events.csv"), csv.join("spend.csv"));
    let args = ["--events", events.to_str().unwrap(), "--spend", spend.to_str().unwrap()];
    let first = run(&workspace, "again", &args, true);
    let second = run(&workspace, "again", &args, true);
    assert_same(&first, &second, "a rerun");
    let summary: serde_json::Value = serde_json::from_str(&first["summary.json"]).unwrap();
    assert_eq!(summary["touchpath_version"], env!("CARGO_PKG_VERSION"));
    let hash = summary["inputs"]["events"][0]["blake3"].as_str().unwrap();
    assert_eq!(hash, blake3::hash(&fs::read(&events).unwrap()).to_hex().as_str());
    assert_eq!(summary["config"]["max_events_per_user"], 100_000);
}

/// Writes the rows of a CSV file, shuffled, into `parts` files in `directory`.
fn shuffle_and_split(source: &Path, directory: &Path, parts: usize) -> PathBuf {
    let text = fs::read_to_string(source).unwrap();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let header = lines.remove(0);
    lines.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    fs::create_dir_all(directory).unwrap();
    let size = lines.len().div_ceil(parts);
    for (index, chunk) in lines.chunks(size).enumerate() {
        fs::write(directory.join(format!("part-{index}.csv")), format!("{header}{}", chunk.concat())).unwrap();
    }
    directory.to_owned()
}
